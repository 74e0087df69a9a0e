"""The committed message catalogues: every message has a Chinese translation, and the
compiled .mo files match their .po sources (so a fresh clone shows Chinese without a build
step). Fails when someone adds a string to a template and forgets `make i18n`."""

from __future__ import annotations

import re
from pathlib import Path

from babel.messages import mofile, pofile
from babel.messages.extract import extract_from_dir

from ticketing import i18n

ROOT = Path(i18n.__file__).parent.parent
METHODS = [("**/templates/**.html", "jinja2"), ("**.py", "python")]


def _catalog(lang: str):
    with open(i18n.DIR / lang / "LC_MESSAGES" / "messages.po", "rb") as f:
        return pofile.read_po(f, locale=lang)


def test_every_message_in_the_code_has_a_chinese_translation() -> None:
    found = {
        msg[2] if isinstance(msg[2], str) else msg[2][0]
        for msg in extract_from_dir(
            str(ROOT),
            METHODS,
            keywords={"_": None, "N_": None},
            options_map={"**/templates/**.html": {"extensions": "jinja2.ext.i18n"}},
        )
    }
    zh = _catalog("zh_CN")
    missing = sorted(m for m in found if not (zh.get(m) and zh.get(m).string))
    assert missing == [], f"run `make i18n` and translate: {missing}"


def test_compiled_catalogues_match_their_sources() -> None:
    for lang in ("zh_CN", "en"):
        po = _catalog(lang)
        with open(i18n.DIR / lang / "LC_MESSAGES" / "messages.mo", "rb") as f:
            mo = mofile.read_mo(f)
        want = {m.id: m.string for m in po if m.id and m.string}
        got = {m.id: m.string for m in mo if m.id and m.string}
        assert got == want, f"{lang}: run `make i18n` to recompile"


def test_accept_language_order_and_q_values() -> None:
    assert i18n.accepted("en;q=0.5, zh-CN, fr;q=0") == ["zh-CN", "en"]
    assert i18n.accepted("de;q=oops, en") == ["en"]
    assert i18n.accepted("") == []
    assert re.match(r"^[a-z]", i18n.HTML_LANG["zh_CN"])
