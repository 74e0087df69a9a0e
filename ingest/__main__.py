"""``python -m ingest``: the ingest CLI without the umbrella ``forewarn`` command."""

from forewarn.errors import ForewarnError
from ingest.cli import app

if __name__ == "__main__":
    try:
        app()
    except ForewarnError as exc:
        raise SystemExit(f"error: {exc}") from None
