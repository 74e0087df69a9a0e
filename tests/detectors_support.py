"""The second regime generator's assets (bench/detectors_cases.physics_asset) as the
detectors read a user's CSV file: written out, then read back by ``read_csv``."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from bench.detectors_cases import physics_asset
from detectors import load_config
from detectors.history_csv import Frame, read_csv
from detectors.replay import replay
from detectors.scoring import episodes


def physics_frame(
    seed: int, *, degrade: bool = False, rows: int | None = None, every: int = 1
) -> tuple[Frame, int | None]:
    """Asset ``seed`` (its first ``rows`` rows when given) and its degradation's onset; with
    ``every``, as a historian exports it: the mean of each ``every`` minutes."""
    df, onset = physics_asset(seed, degrade=degrade)
    if rows is not None:
        df = df.iloc[:rows]
    if every > 1:
        group = df.index // every
        stamps = df["timestamp"].groupby(group).first()
        df = df.drop(columns=["timestamp"]).groupby(group).mean().round(3)
        df.insert(0, "timestamp", stamps)
        onset = None if onset is None else onset // every
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"physics-{seed}.csv"
        df.to_csv(path, index=False)
        return read_csv(path), onset


def physics_alarms(
    seed: int, *, degrade: bool = False, rows: int | None = None
) -> tuple[list[int], int | None]:
    """The shipped defaults' alarm per row over :func:`physics_frame`, and the onset."""
    frame, onset = physics_frame(seed, degrade=degrade, rows=rows)
    return replay(frame, load_config().for_class("default"), asset="x").alarms, onset


def frame_rows(frame: Frame) -> Iterator[tuple[float, dict[str, float]]]:
    """Each row as a detector's ``update`` takes it: its time and its values by column."""
    for t, row in zip(frame.times.tolist(), frame.values.tolist(), strict=True):
        yield t, dict(zip(frame.columns, row, strict=True))


def openings(alarms: Sequence[int]) -> list[int]:
    """Rows where an alarm episode opened (after the first row)."""
    return [first for first, _ in episodes(alarms) if first > 0]
