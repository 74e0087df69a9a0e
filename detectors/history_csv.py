"""Reading a history CSV for replay as the engineer's export is, not as we would write it.

Exports differ: a European one separates fields with ``;`` and writes ``1,5`` for 1.5; a
historian or a web page lists the newest row first; a day-first clock (``13/01/2026``)
reads as month-first to pandas; NASA's run-to-failure files have no header and align their
fields with blanks (they were refused, or read as one machine). Each of these once replayed silently wrong (no alarm, a
misread column), which a reliability engineer would take for a healthy machine. So the
separator and decimal mark are read off the file unless given, times are tried both ways
round, rows are put in time order (each machine's on its own), and what was done is kept
in :attr:`Frame.notes` for the summary. A file that still cannot be read is refused with
the reason.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from forewarn.errors import ForewarnError

SEPARATORS = (",", ";", "\t", "|")
WHITESPACE = r"\s+"  # runs of blanks (NASA's files), as pandas takes it
_HEAD_BYTES = 65536  # read to guess the encoding and the separator
_DECIMAL_COMMA = re.compile(r"^\s*-?\d+,\d+\s*$")
_TIME_NAMES = ("time", "timestamp", "datetime", "ts", "date", "cycle", "cycles", "time_cycles")
_UNIT_NAMES = ("unit", "unit_id", "unit_number", "unit_nr", "engine", "engine_id", "machine",
               "machine_id", "asset", "asset_id")  # fmt: skip


class ReplayError(ForewarnError):
    """The input cannot be replayed (missing file or column, no numeric data)."""

    def __init__(self, reason: str, *, path: str | None = None) -> None:
        super().__init__(reason if path is None else f"{path}: {reason}")
        self.reason = reason
        self.path = path


@dataclass
class Frame:
    """A loaded CSV: epoch seconds, the metric matrix, optional labels, raw time strings."""

    times: np.ndarray
    stamps: list[str]
    columns: list[str]
    values: np.ndarray
    labels: np.ndarray | None = None
    units: list[str] | None = None  # one machine per distinct value (multi-unit files)
    notes: list[str] = field(default_factory=list)  # what reading did to the file

    @property
    def clock(self) -> bool:
        """The times are a clock (epoch seconds after 1973), not a cycle or row counter."""
        return len(self.times) > 0 and float(np.nanmin(self.times)) > 1e8


def sniff(head: str) -> tuple[str, str]:
    """The field separator and decimal mark of a file, from its first lines.

    >>> sniff("time;a;b\\n2026-01-01 00:00;1,5;2,25\\n")
    (';', ',')
    >>> sniff("time,a\\n2026-01-01,1.5\\n")
    (',', '.')
    >>> sniff("time;flow, m3/h;dp, bar\\n2026-01-01;1.5;0.2\\n")  # commas in the names
    (';', '.')
    >>> sniff("1 1 -0.0017 518.67  \\n1 2 0.0006 518.67\\n")  # NASA's run-to-failure files
    ('\\\\s+', '.')
    """
    lines = [ln for ln in head.splitlines() if ln.strip()][:20]
    header = lines[0] if lines else ""
    # the separator splits every line into as many fields as the header; a comma may do so
    # by chance (decimal commas, commas in column names), the others hardly ever
    steady = [s for s in SEPARATORS if header.count(s) and all(
        ln.count(s) == header.count(s) for ln in lines)]  # fmt: skip
    pool = [s for s in steady if s != ","] or steady or [s for s in SEPARATORS if s in header]
    if not pool and _steady_blanks(lines):
        return WHITESPACE, "."
    sep = max(pool, key=header.count) if pool else ","
    cells = [c for ln in lines[1:] for c in ln.split(sep)]
    comma = sep != "," and any(_DECIMAL_COMMA.match(c) for c in cells)
    return sep, "," if comma else "."


def _steady_blanks(lines: Sequence[str]) -> bool:
    """Runs of blanks split every line into the same number (two or more) of fields."""
    counts = {len(ln.split()) for ln in lines}
    return len(counts) == 1 and counts.pop() >= 2


def _headless(line: str, sep: str, decimal: str) -> bool:
    """The first line is data, not names: every field of it is a number."""
    cells = line.split() if sep == WHITESPACE else line.strip().split(sep)
    if len(cells) < 2:
        return False
    try:
        for c in cells:
            float(c.replace(decimal, "."))
    except ValueError:
        return False
    return True


def _runs(df: pd.DataFrame) -> tuple[str, str] | None:
    """In a file without names, the layout of run-to-failure sets (NASA's C-MAPSS, PHM08):
    the first column numbers the machines in blocks, the second counts each one's cycles
    from its first. Read only when both hold exactly, so a status code is never a machine."""
    if df.shape[1] < 3:
        return None
    a, b = (pd.to_numeric(df[c], errors="coerce") for c in df.columns[:2])
    if a.isna().any() or b.isna().any() or (a % 1).any() or (b % 1).any():
        return None
    da, db = a.diff().iloc[1:], b.diff().iloc[1:]
    new = da != 0
    if (da < 0).any() or not new.any() or (db[~new] != 1).any() or (db[new] >= 0).any():
        return None
    return str(df.columns[0]), str(df.columns[1])


def read_csv(
    path: str | Path,
    *,
    sep: str | None = None,
    time_column: str | None = None,
    columns: Sequence[str] | None = None,
    label_column: str | None = None,
    unit_column: str | None = None,
) -> Frame:
    """Load a CSV for replay; non-numeric cells become NaN (skipped, never a crash).

    A column called unit/engine/machine/asset (or ``unit_column``) splits the file into
    machines, each replayed by its own detector; a cycle counter serves as time. ``sep``
    None reads the separator (and a decimal comma) off the file.
    """
    p = Path(path)
    df, notes, sep, named = _frame(p, sep)
    time_column = time_column or _named(df, _TIME_NAMES)
    unit_column = unit_column or _named(df, _UNIT_NAMES)
    runs = None if named else _runs(df)
    if runs is not None and time_column is None and unit_column is None:
        unit_column, time_column = runs
        notes.append(f"{unit_column} read as the machine and {time_column} as its cycle")
    wanted = [time_column, label_column, unit_column, *(columns or [])]
    missing = [c for c in wanted if c is not None and c not in df.columns]
    if missing:
        raise ReplayError(
            f"no column(s) {', '.join(missing)}; the file has {', '.join(map(str, df.columns))}",
            path=str(p),
        )
    if time_column is not None:
        times = _times(df[time_column], notes)
        df = _in_order(df, times, unit_column, notes)
        times = times[df.index.to_numpy()]
        df = df.reset_index(drop=True)
        stamps = df[time_column].astype(str).tolist()
    else:
        times = np.arange(len(df), dtype=float)
        stamps = [str(i) for i in range(len(df))]
    if columns is None:
        skip = {time_column, label_column, unit_column, "anomaly", "changepoint", "label"}
        columns = [c for c in df.columns if c not in skip]
    data = df[list(columns)].apply(pd.to_numeric, errors="coerce")
    data = data.loc[:, data.notna().any()]
    if data.shape[1] == 0:
        seps = {",": "commas", WHITESPACE: "blanks"}
        raise ReplayError(
            f"no numeric metric columns to replay (fields read as separated by "
            f"{seps.get(sep, repr(sep))}: give --sep if they are not)",
            path=str(p),
        )
    labels = None
    if label_column is not None:
        labels = _labels(df[label_column], str(p))
    units = None if unit_column is None else df[unit_column].astype(str).tolist()
    cols = [str(c) for c in data.columns]
    return Frame(times, stamps, cols, data.to_numpy(float), labels, units, notes)


def _named(df: pd.DataFrame, names: Sequence[str]) -> str | None:
    """The first column called one of ``names`` (any case, spaces around ignored)."""
    return next((c for c in df.columns if str(c).strip().lower() in names), None)


def _labels(col: pd.Series, path: str) -> np.ndarray:
    """0/1 (or true/false) ground truth; anything else is refused, not read as 0."""
    if pd.api.types.is_bool_dtype(col):
        return col.to_numpy().astype(int)
    text = col.astype(str).str.strip().str.lower()
    flags = text.map({"true": 1.0, "false": 0.0})
    values = pd.to_numeric(col, errors="coerce").fillna(flags)
    bad = col.notna() & values.isna()
    if bad.any():
        raise ReplayError(
            f"label column {col.name!r}: {col[bad].iloc[0]!r} (row {int(bad.idxmax()) + 2}) is "
            "not 0/1 or true/false",
            path=path,
        )
    return (values.fillna(0).to_numpy() > 0).astype(int)


def _frame(p: Path, sep: str | None) -> tuple[pd.DataFrame, list[str], str, bool]:
    """The file as a table, what reading it did, its separator, and whether its first line
    names the columns (a file of numbers only gets c1, c2, ...)."""
    notes: list[str] = []
    try:
        with p.open("rb") as fh:
            raw = fh.read(_HEAD_BYTES)
    except FileNotFoundError:
        raise ReplayError("file not found", path=str(p)) from None
    except IsADirectoryError:
        raise ReplayError("a directory, not a CSV file", path=str(p)) from None
    try:
        raw.decode("utf-8")
        encoding = "utf-8-sig"
    except UnicodeDecodeError as exc:  # a cut multi-byte character at the end is still UTF-8
        encoding = "utf-8-sig" if exc.start >= len(raw) - 3 else "cp1252"
    if encoding == "cp1252":  # a Windows export: "°C", "m³/h" in the header
        notes.append("read as Windows-1252 text (not UTF-8)")
    lines = raw.decode(encoding, errors="replace").splitlines(keepends=True)
    if len(raw) == _HEAD_BYTES and len(lines) > 1:
        lines.pop()  # cut in the middle: fewer fields than it has
    head = "".join(lines[:20])
    decimal = "."
    if sep is None:
        sep, decimal = sniff(head)
        if sep != "," or decimal != ".":
            shown = "blanks" if sep == WHITESPACE else repr(sep)
            notes.append(
                f"fields separated by {shown}" + (", decimal comma" if decimal == "," else "")
            )
    elif not sep.strip():  # --sep ' ' on a file aligned with runs of blanks
        sep = WHITESPACE
    first = next((ln for ln in lines if ln.strip()), "")
    named = not _headless(first, sep, decimal)
    try:
        with warnings.catch_warnings():
            # more fields in a row than in the header: pandas would shift them silently
            warnings.simplefilter("error", pd.errors.ParserWarning)
            df = pd.read_csv(
                p, sep=sep, decimal=decimal, index_col=False, encoding=encoding,
                encoding_errors="replace",  # cp1252 leaves five bytes undefined
                header=0 if named else None,
            )  # fmt: skip
    except pd.errors.ParserWarning:
        raise ReplayError(
            f"rows have more fields than the header (separator {sep!r}): a decimal comma in a "
            "comma-separated file, or the wrong --sep",
            path=str(p),
        ) from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ReplayError(f"not a readable CSV: {exc}", path=str(p)) from None
    if not named:
        df.columns = [f"c{k + 1}" for k in range(df.shape[1])]
        notes.append(f"no header row: columns named c1 to c{df.shape[1]}")
    return df, notes, sep, named


def _times(col: pd.Series, notes: list[str]) -> np.ndarray:
    """Epoch seconds of a time column (a cycle counter or epoch number as it is); a text
    clock is read month-first and day-first, and the reading that places more rows (then
    keeps more of them in order) wins."""
    if pd.api.types.is_numeric_dtype(col):
        return _epoch(pd.to_numeric(col, errors="coerce").to_numpy(float), notes)
    best: tuple[int, int, bool, np.ndarray] | None = None
    for dayfirst in (False, True):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "could not infer format"
            parsed = pd.to_datetime(col, errors="coerce", utc=True, dayfirst=dayfirst)
        secs = (parsed - pd.Timestamp(0, tz="UTC")).dt.total_seconds().to_numpy(float)
        placed = int(np.isfinite(secs).sum())
        ok = secs[np.isfinite(secs)]
        ordered = int((np.diff(ok) >= 0).sum())
        if best is None or (placed, ordered) > best[:2]:
            best = (placed, ordered, dayfirst, secs)
    assert best is not None
    placed, _, dayfirst, secs = best
    if placed == 0:  # no clock at all: perhaps numbers written as text
        return pd.to_numeric(col, errors="coerce").to_numpy(float)
    if dayfirst:
        notes.append("times read day first (dd/mm)")
    if placed < len(col):
        notes.append(f"{len(col) - placed} rows with an unreadable time (not scored)")
    return secs


def _epoch(values: np.ndarray, notes: list[str]) -> np.ndarray:
    """Numbers as they are (cycles, epoch seconds), unless they are epoch milli-, micro- or
    nanoseconds: a minute read as 60,000 s would end a day's commissioning at once."""
    typical = float(np.nanmedian(np.abs(values))) if np.isfinite(values).any() else 0.0
    for unit, per_s in (("nanoseconds", 1e9), ("microseconds", 1e6), ("milliseconds", 1e3)):
        if typical > 1e9 * per_s / 10:  # 1973 onwards in that unit (year 5138+ in seconds)
            notes.append(f"times read as epoch {unit}")
            return values / per_s
    return values


def _in_order(
    df: pd.DataFrame, times: np.ndarray, unit_column: str | None, notes: list[str]
) -> pd.DataFrame:
    """The rows in time order, each machine's on its own (a detector is causal: a row older
    than the last one it saw is dropped, so a newest-first export scored nothing)."""
    units = df[unit_column].astype(str) if unit_column is not None else pd.Series([""] * len(df))
    key = pd.DataFrame({"u": pd.factorize(units)[0], "t": times})
    repeats = int(key.dropna().duplicated().sum())
    if repeats:
        notes.append(f"{repeats} rows repeat a time already seen (scored once)")
    back = int(key.groupby("u")["t"].diff().lt(0).sum())
    if not back:
        return df
    order = key.sort_values(["u", "t"], kind="stable", na_position="last").index
    notes.append(f"rows put in time order ({back} stood before an earlier row)")
    return df.loc[order]


__all__ = ["SEPARATORS", "Frame", "ReplayError", "read_csv", "sniff"]
