"""Chinese and English for the console and the customer pages, and times in the site's zone.

Messages live in Babel/gettext catalogues (``locale/<lang>/LC_MESSAGES/messages.po``, compiled
``.mo`` committed so a fresh clone works; ``make i18n`` re-extracts and compiles). The
language is the ``fw_lang`` cookie when set (the header's switch), else the browser's
Accept-Language. Times are stored in UTC and shown in the site's time zone.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.support import NullTranslations, Translations
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from pydantic import Field

from forewarn.settings import Section, Settings, section

DIR = Path(__file__).parent / "locale"
LOCALES = ("en", "zh_CN")
COOKIE = "fw_lang"
HTML_LANG = {"en": "en", "zh_CN": "zh-CN"}


class LocaleSettings(Section):
    default_timezone: str = Field("UTC", description="time zone of sites without their own")
    site_timezones: dict[str, str] = Field(
        default_factory=dict, description="site -> IANA time zone, e.g. {plant-sh: Asia/Shanghai}"
    )


def locale_settings(settings: Settings) -> LocaleSettings:
    return section(settings, "locale", LocaleSettings)


def N_(message: str) -> str:
    """Marks a message for extraction; translated where it is shown."""
    return message


# Words made in code and translated in the templates (states, actions, public statuses).
MARKED = [
    N_("new"),
    N_("assigned"),
    N_("accepted"),
    N_("en route"),
    N_("on site"),
    N_("waiting parts"),
    N_("resolved"),
    N_("closed"),
    N_("cancelled"),
    N_("Accept"),
    N_("Decline"),
    N_("En route"),
    N_("On site"),
    N_("Waiting for parts"),
    N_("Resolve"),
    N_("Close"),
    N_("Cancel"),
    N_("Unassign"),
    N_("confirmed"),
    N_("fixed"),
    N_("no fault found"),
    N_("received"),
    N_("scheduled"),
    N_("technician on the way"),
    N_("technician on site"),
    N_("waiting for parts"),
    N_("response"),
    N_("resolution"),
    N_("escalation"),
    N_("manual"),
    N_("customer"),
    N_("scheduled"),
]


@lru_cache(maxsize=8)
def translations(locale: str) -> NullTranslations:
    return Translations.load(str(DIR), [locale], domain="messages")


def accepted(header: str) -> list[str]:
    """Accept-Language tags, best first (q-values honoured, malformed parts skipped)."""
    out: list[tuple[float, int, str]] = []
    for i, part in enumerate(header.split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                continue
        if tag and q > 0:
            out.append((-q, i, tag.strip()))
    return [tag for _, _, tag in sorted(out)]


def pick(request: Request) -> str:
    chosen = request.cookies.get(COOKIE)
    if chosen in LOCALES:
        return str(chosen)
    for tag in accepted(request.headers.get("accept-language", "")):
        primary = tag.lower().split("-")[0]
        if primary == "zh":  # any Chinese reader is better served by zh-CN than English
            return "zh_CN"
        if primary == "en":
            return "en"
    return "en"


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def context(request: Request) -> dict[str, Any]:
    """What every page gets: gettext for its language and ``localtime`` for its sites."""
    locale = pick(request)
    t = translations(locale)
    cfg: LocaleSettings | None = getattr(request.app.state, "locale", None)
    default = cfg.default_timezone if cfg else "UTC"
    sites = cfg.site_timezones if cfg else {}

    def localtime(
        when: datetime | None, site: str | None = None, fmt: str = "%Y-%m-%d %H:%M"
    ) -> str:
        if when is None:
            return ""
        z = zone(sites.get(site or "", default))
        return when.astimezone(z).strftime(fmt) + " " + (when.astimezone(z).tzname() or "")

    return {
        "_": t.gettext,
        "gettext": t.gettext,
        "ngettext": t.ngettext,
        "lang": locale,
        "html_lang": HTML_LANG[locale],
        "localtime": localtime,
    }


router = APIRouter(include_in_schema=False)


@router.get("/lang/{code}")
def switch(code: str, next: str = "/console/board") -> RedirectResponse:
    """Remember the language in a cookie (a year) and go back."""
    safe = next if next.startswith("/") and "//" not in next and "\\" not in next else "/"
    resp = RedirectResponse(safe, status_code=303)
    if code in LOCALES:
        resp.set_cookie(COOKIE, code, max_age=365 * 86400, path="/", samesite="lax")
    return resp
