"""``forewarn replay --csv`` on exports as engineers make them, not as we write them.

Tried: a newest-first export of a developing fault (it used to score nothing at all, a
healthy-looking replay), a European file (``;`` and decimal commas), the same file with a
wrong ``--sep`` (refused, not shifted), a day-first clock over a month, unreadable and
repeated times, a fleet file whose machines each list their cycles backwards, NASA's
headerless blank-aligned fleet file, a headerless file with no machine numbers in it, and a
file whose fields hold no numbers at all.
"""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
from typer.testing import CliRunner

from detectors.cli import app
from detectors.history_csv import read_csv
from detectors.scoring import episodes

runner = CliRunner()
START = 1_767_225_600  # 2026-01-01T00:00:00Z


def rows(n: int = 900, fault_at: int = 600) -> list[tuple[int, float, float]]:
    """Two metrics that follow one load; from ``fault_at`` the second drifts off it."""
    rng = random.Random(5)
    out = []
    for i in range(n):
        load = 50 + 10 * math.sin(i / 40)
        off = 0.0 if i < fault_at else 0.08 * (i - fault_at)
        out.append((START + 60 * i, load + rng.gauss(0, 0.3), 2 * load + rng.gauss(0, 0.5) + off))
    return out


def write(path, data, *, sep=",", decimal=".", clock="%Y-%m-%dT%H:%M:%SZ", header=("time",)):
    import time

    with path.open("w") as fh:
        fh.write(sep.join([*header, "flow", "power"]) + "\n")
        for t, a, b in data:
            cells = [time.strftime(clock, time.gmtime(t)), f"{a:.3f}", f"{b:.3f}"]
            fh.write(sep.join(c.replace(".", decimal) if c[0].isdigit() and ":" not in c
                              else c for c in cells) + "\n")  # fmt: skip
    return path


def replay(path, *args):
    out = path.with_suffix(".out.csv")
    res = runner.invoke(app, ["replay", "--csv", str(path), "--out", str(out), *args])
    return res, out


def onsets(out) -> list[str]:
    lines = out.read_text().splitlines()[1:]
    alarms = [int(ln.rsplit(",", 1)[1]) for ln in lines]
    stamps = [ln.split(",")[0] for ln in lines]
    return [stamps[s] for s, _ in episodes(alarms)]


def test_a_newest_first_export_replays_as_the_same_history(tmp_path):
    data = rows()
    ordered, _ = replay(write(tmp_path / "old_first.csv", data), "--warmup", "300")
    assert ordered.exit_code == 0, ordered.output
    res, out = replay(write(tmp_path / "new_first.csv", data[::-1]), "--warmup", "300")
    assert res.exit_code == 0, res.output
    assert "rows put in time order" in res.output
    first = onsets(tmp_path / "old_first.out.csv")
    assert first and onsets(out) == first  # the fault is seen, at the same time


def test_a_european_file_is_read_and_a_wrong_separator_is_refused(tmp_path):
    data = rows(300)
    plain = read_csv(write(tmp_path / "plain.csv", data))
    euro = write(tmp_path / "euro.csv", data, sep=";", decimal=",")
    frame = read_csv(euro)
    assert frame.columns == ["flow", "power"]
    assert np.array_equal(frame.values, plain.values)
    assert np.array_equal(frame.times, plain.times)
    assert frame.notes == ["fields separated by ';', decimal comma"]
    res, _ = replay(euro, "--sep", ",")
    assert res.exit_code == 2
    assert "more fields than the header" in res.output


def test_a_day_first_clock_is_read_day_first(tmp_path):
    data = rows(31, fault_at=10_000)  # a row a day for 31 days: days past the 12th
    data = [(START + 86_400 * i + 3_600, a, b) for i, (_, a, b) in enumerate(data)]
    iso = read_csv(write(tmp_path / "iso.csv", data))
    dmy = read_csv(write(tmp_path / "dmy.csv", data, clock="%d/%m/%Y %H:%M"))
    assert np.array_equal(dmy.times, iso.times)
    assert "times read day first (dd/mm)" in dmy.notes
    assert not any("order" in n for n in dmy.notes)


def test_unreadable_and_repeated_times_are_counted(tmp_path):
    path = write(tmp_path / "t.csv", rows(50))
    lines = path.read_text().splitlines()
    lines[10] = "not a time," + lines[10].split(",", 1)[1]
    lines.append(lines[20])  # a repeat, at the end
    path.write_text("\n".join(lines) + "\n")
    frame = read_csv(path)
    assert "1 rows with an unreadable time (not scored)" in frame.notes
    assert "1 rows repeat a time already seen (scored once)" in frame.notes
    assert any("time order" in n for n in frame.notes)
    assert np.isnan(frame.times[-1])  # the unreadable row is placed last, never first
    assert np.all(np.diff(frame.times[:-1]) >= 0)


@pytest.mark.parametrize("units", [2, 3])
def test_each_machine_of_a_fleet_file_is_put_in_order_on_its_own(tmp_path, units):
    path = tmp_path / "fleet.csv"
    with path.open("w") as fh:
        fh.write("unit,cycle,s1\n")
        for u in range(units):
            for c in range(30, 0, -1):  # each machine's cycles listed backwards
                fh.write(f"{u},{c},{100 * u + c}\n")
    frame = read_csv(path)
    assert frame.units is not None
    for u in range(units):
        idx = [i for i, x in enumerate(frame.units) if x == str(u)]
        assert frame.times[idx].tolist() == list(range(1, 31))
        assert frame.values[idx, 0].tolist() == [100.0 * u + c for c in range(1, 31)]


def test_epoch_milliseconds_are_read_as_such(tmp_path):
    path = tmp_path / "ms.csv"
    path.write_text("ts,a\n" + "".join(f"{(START + 60 * i) * 1000},{i % 7}\n" for i in range(20)))
    frame = read_csv(path)
    assert frame.times[1] - frame.times[0] == 60.0
    assert frame.times[0] == START
    assert "times read as epoch milliseconds" in frame.notes
    cycles = tmp_path / "cycles.csv"
    cycles.write_text("cycle,a\n" + "".join(f"{i},{i % 7}\n" for i in range(1, 21)))
    assert read_csv(cycles).times.tolist() == list(range(1, 21))  # counters stay counters


def test_labels_that_are_not_flags_are_refused(tmp_path):
    path = tmp_path / "l.csv"
    path.write_text("time,a,label\n" + "".join(
        f"2026-01-01T00:{i:02d}:00Z,{i},{'true' if i > 15 else 'false'}\n" for i in range(20)
    ))  # fmt: skip
    assert read_csv(path, label_column="label").labels.tolist() == [0] * 16 + [1] * 4
    path.write_text(path.read_text().replace("true", "yes", 1))
    res, _ = replay(path, "--label-column", "label")
    assert res.exit_code == 2
    assert "'yes' (row 18) is not 0/1 or true/false" in res.output.replace("\n", "")


def test_a_windows_export_with_units_in_the_header_is_read(tmp_path):
    """A German historian's export: cp1252 text ("°C", "m³/h"), ';' fields, decimal commas,
    and commas inside the column names, which must not be taken for the separator."""
    path = tmp_path / "export.csv"
    text = "Zeit;Durchfluss, m³/h;Lagertemp, °C\n" + "".join(
        f"2026-01-01 00:{i:02d};{10 + i % 3},5;{40 + i % 2},25\n" for i in range(30)
    )
    path.write_bytes(text.encode("cp1252"))
    frame = read_csv(path, time_column="Zeit")
    assert frame.columns == ["Durchfluss, m³/h", "Lagertemp, °C"]
    assert frame.values[0].tolist() == [10.5, 40.25]
    assert "read as Windows-1252 text (not UTF-8)" in frame.notes
    assert "fields separated by ';', decimal comma" in frame.notes


def test_a_wide_file_is_sniffed_from_whole_lines(tmp_path):
    """400 columns of long tag names: the bytes read to guess the separator end inside one of
    the first 20 rows, and that cut row must not make the true separator look unsteady."""
    path = tmp_path / "wide.csv"
    names = [f"AREA{k:03d}.UNIT_{k:03d}.TRANSMITTER, bar" for k in range(400)]
    rows = [";".join(["time", *names])] + [
        ";".join(
            [f"2026-01-01 {i // 60:02d}:{i % 60:02d}"] + [f"{k},{i % 7}0001" for k in range(400)]
        )
        for i in range(60)
    ]
    path.write_text("\n".join(rows) + "\n")
    assert len("\n".join(rows[:20])) > 65536  # the cut falls within the lines looked at
    frame = read_csv(path)
    assert len(frame.columns) == 400 and frame.values[3, 1] == 1.30001
    assert "fields separated by ';', decimal comma" in frame.notes


def nasa_fleet(path, engines: int = 3, cycles: int = 50):
    """NASA's run-to-failure layout: no header, fields aligned by blanks (two trailing),
    engine number, its cycle, then settings and sensors."""
    rng = random.Random(3)
    with path.open("w") as fh:
        for e in range(1, engines + 1):
            for c in range(1, cycles + 1):
                sensors = [518.67, 642.0 + 0.02 * c + rng.gauss(0, 0.1), 1589.0 + rng.gauss(0, 1)]
                fh.write(" ".join([str(e), str(c), "-0.0005", *(f"{v:.4f}" for v in sensors)]))
                fh.write("  \n")
    return path


def test_a_headerless_blank_separated_fleet_file_is_read_as_machines_and_cycles(tmp_path):
    """NASA's raw C-MAPSS file: it used to be refused ("no numeric metric columns"), and
    with ``--sep ' '`` its first row became the header and all engines one machine."""
    path = nasa_fleet(tmp_path / "test_FD003.txt")
    frame = read_csv(path)
    assert "fields separated by blanks" in frame.notes
    assert "no header row: columns named c1 to c6" in frame.notes
    assert "c1 read as the machine and c2 as its cycle" in frame.notes
    assert frame.columns == ["c3", "c4", "c5", "c6"]  # the trailing blanks add no column
    assert frame.units is not None and sorted(set(frame.units)) == ["1", "2", "3"]
    assert len(frame.times) == 150 and frame.times[:3].tolist() == [1.0, 2.0, 3.0]
    assert read_csv(path, sep=" ").columns == frame.columns  # a blank --sep means the same
    res, out = replay(path, "--warmup", "20")
    assert res.exit_code == 0, res.output
    assert len(out.read_text().splitlines()) == 151
    # a warm-up below 30 rows still learns from 30 (MIN_REFERENCE_ROWS)
    assert "learned for 3 of 3 units (median 30 rows)" in " ".join(res.output.split())


def test_numbers_only_files_get_numbered_columns_but_no_guessed_machines(tmp_path):
    """A headerless comma file keeps its first row as data; a first column that is not
    numbered in blocks (a status code, a reading) is never taken for the machine."""
    path = tmp_path / "plain.csv"
    path.write_text("".join(f"{i % 4},{i},{1.5 * i}\n" for i in range(40)))
    frame = read_csv(path)
    assert frame.units is None
    assert frame.columns == ["c1", "c2", "c3"] and frame.values[0].tolist() == [0.0, 0.0, 0.0]
    assert "no header row: columns named c1 to c3" in frame.notes
    named = tmp_path / "named.csv"
    named.write_text("a,b,c\n" + "".join(f"{1 + i // 20},{1 + i % 20},{i}\n" for i in range(40)))
    frame = read_csv(named)
    assert frame.units is None and frame.columns == ["a", "b", "c"]  # names: nothing guessed


def test_a_file_with_no_numbers_in_its_fields_says_how_they_were_split(tmp_path):
    path = tmp_path / "odd.csv"
    path.write_text("time,a b c\n" + "".join(f"{i},x y z\n" for i in range(10)))
    res, _ = replay(path)
    assert res.exit_code == 2
    text = " ".join(res.output.split())
    assert "no numeric metric columns" in text and "separated by commas" in text
    assert "--sep" in text
