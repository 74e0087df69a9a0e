"""The one Chromium set-up of the browser tests: Debian's chromium (Playwright cannot download
one here), headless, with the background networking a closed machine refuses turned off."""

from __future__ import annotations

from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--headless=new",
]
SHOTS = Path(__file__).parents[2] / "artifacts" / "screenshots"
WAIT_MS = 15_000
