"""Draw the panel layout of each Grafana dashboard to a PNG (Grafana cannot run here)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.patches import FancyBboxPatch

HERE = Path(__file__).resolve().parent
COLOURS = {"timeseries": "#2f6f9f", "table": "#4f8a4f"}


def draw(out: Path) -> None:
    boards = [json.loads(p.read_text()) for p in sorted((HERE / "json").glob("*.json"))]
    fig, axes = plt.subplots(1, len(boards), figsize=(5.2 * len(boards), 6.5))
    for ax, board in zip(axes, boards, strict=True):
        height = max(p["gridPos"]["y"] + p["gridPos"]["h"] for p in board["panels"])
        ax.set_xlim(0, 24)
        ax.set_ylim(height, 0)
        ax.set_axis_off()
        ax.set_title(board["title"], fontsize=13, fontweight="bold")
        for panel in board["panels"]:
            g = panel["gridPos"]
            box = FancyBboxPatch(
                (g["x"] + 0.3, g["y"] + 0.3),
                g["w"] - 0.6,
                g["h"] - 0.6,
                boxstyle="round,pad=0.1",
                facecolor=COLOURS.get(panel["type"], "#777"),
                alpha=0.85,
            )
            ax.add_patch(box)
            words = panel["title"].split()
            lines, line = [], ""
            for w in words:
                if len(line) + len(w) > 18:
                    lines.append(line)
                    line = w
                else:
                    line = f"{line} {w}".strip()
            lines.append(line)
            ax.text(
                g["x"] + g["w"] / 2,
                g["y"] + g["h"] / 2,
                "\n".join(lines) + f"\n({panel['type']})",
                ha="center",
                va="center",
                color="white",
                fontsize=8.5,
            )
    fig.suptitle("Forewarn Grafana dashboards (provisioned from dashboards/json)", fontsize=14)
    fig.tight_layout()
    fig.savefig(out, dpi=80)


if __name__ == "__main__":
    draw(
        Path(sys.argv[1])
        if len(sys.argv) > 1
        else HERE.parent / "docs" / "img" / "grafana-layout.png"
    )
