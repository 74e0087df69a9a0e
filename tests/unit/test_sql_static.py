"""No SQL is built by pasting a runtime value into the query text.

Scans the services' source for calls of execute/all/one/copy (psycopg, sqlite3, our Tx)
whose query is an f-string, a ``%`` format or a ``.format()``. An interpolated piece passes
if it is a module constant (UPPER_CASE), an UPPER_CASE table looked up by key (an allow-list:
an unknown key is a KeyError, never SQL), or one of the reviewed cases below. Anything else
fails, so a new interpolation gets reviewed (or rewritten with psycopg.sql) before it lands.
Queries assembled in a variable first are out of reach of this scan.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ["forewarn", "gateway", "ingest", "detectors", "ticketing", "device_sim", "dashboards"]
CALLS = {"execute", "executemany", "executescript", "all", "one", "copy", "stream"}
# (file, interpolated expression): reviewed, safe.
REVIEWED = {
    # WHERE clauses joined from constant fragments with %(name)s placeholders.
    ("ticketing/reads.py", "' and '.join(where)"),
    # a key of the QUERIES constant, iterated by the code itself
    ("ticketing/sla.py", "where"),
    # sqlite: a run of '?' placeholders, and a setting limited to FULL|NORMAL by its model
    ("gateway/buffer.py", "marks"),
    ("gateway/buffer.py", "synchronous"),
}


def _constant(node: ast.expr) -> bool:
    if isinstance(node, ast.Name):
        return node.id.isupper()
    if isinstance(node, ast.Subscript):
        return _constant(node.value)
    return isinstance(node, ast.Constant)


def _pieces(query: ast.expr) -> list[ast.expr]:
    """The runtime values pasted into a query expression."""
    if isinstance(query, ast.JoinedStr):
        return [v.value for v in query.values if isinstance(v, ast.FormattedValue)]
    if isinstance(query, ast.BinOp) and isinstance(query.op, ast.Mod):
        right = query.right
        return list(right.elts) if isinstance(right, ast.Tuple) else [right]
    if isinstance(query, ast.BinOp) and isinstance(query.op, ast.Add):
        return _pieces(query.left) + _pieces(query.right)
    if (
        isinstance(query, ast.Call)
        and isinstance(query.func, ast.Attribute)
        and query.func.attr == "format"
        and not ast.unparse(query.func.value).startswith(("sql.", "psycopg.sql."))
    ):
        return [*query.args, *(k.value for k in query.keywords)]
    return []


def unsafe() -> list[str]:
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            for node in ast.walk(ast.parse(path.read_text(), rel)):
                if not (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and node.func.attr in CALLS
                    and node.args
                ):
                    continue
                for piece in _pieces(node.args[0]):
                    text = ast.unparse(piece)
                    if not _constant(piece) and (rel, text) not in REVIEWED:
                        found.append(f"{rel}:{node.lineno}: {text}")
    return found


def test_no_runtime_value_is_pasted_into_sql() -> None:
    assert unsafe() == []


def test_the_scan_catches_an_interpolated_value() -> None:
    """The scan itself works: the shapes it must refuse are refused."""
    bad = [
        "conn.execute(f\"select * from t where name = '{name}'\")",
        'tx.all("select * from t where id = %s" % ident)',
        'cur.execute("select {} from t".format(column))',
        'tx.one("select * from t where a = " + f"{value}")',
    ]
    for line in bad:
        call = ast.parse(line).body[0]
        assert isinstance(call, ast.Expr) and isinstance(call.value, ast.Call)
        pieces = _pieces(call.value.args[0])
        assert pieces and not all(_constant(p) for p in pieces), line
    ok = ast.parse('tx.all(f"select {COLS} from t where {OPEN}")').body[0]
    assert isinstance(ok, ast.Expr) and isinstance(ok.value, ast.Call)
    assert all(_constant(p) for p in _pieces(ok.value.args[0]))
