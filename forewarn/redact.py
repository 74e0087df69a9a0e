"""Secrets out of logs: URLs lose their userinfo and query values wherever they are logged.

Webhook and broker URLs carry credentials (``https://user:pass@host/``) and tokens
(``?token=...``). One function redacts a URL, one redacts every URL inside a text, and
:func:`install` puts a log-record factory in place so that *every* record, from our
loggers or a library's (httpx logs each request line at INFO), is redacted before any
handler sees it, whatever handlers the service configured.
"""

from __future__ import annotations

import logging
import re
from typing import Any
from urllib.parse import SplitResult, parse_qsl, urlsplit

MASK = "***"
# scheme://anything up to white space or a quote/bracket that ends it in prose or JSON
URL_RE = re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]{0,20}://[^\s\"'<>`]+")
_installed = False


def redact_url(url: str) -> str:
    """``url`` with its userinfo replaced by ``***`` and every query value (and a fragment)
    masked; the scheme, host, port, path and query keys stay, for debugging."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if "@" in netloc:
            netloc = MASK + "@" + netloc.rsplit("@", 1)[1]
        query = parts.query
        if query:
            pairs = parse_qsl(query, keep_blank_values=True)
            query = "&".join(f"{k}={MASK}" for k, _ in pairs) if pairs else MASK
        fragment = MASK if parts.fragment else ""
        return SplitResult(parts.scheme, netloc, parts.path, query, fragment).geturl()
    except ValueError:  # unparsable (e.g. a bad IPv6 literal): keep the scheme only
        return url.split("://", 1)[0] + "://" + MASK


def redact_text(text: str) -> str:
    """Every URL in ``text`` redacted (see :func:`redact_url`)."""
    if "://" not in text:
        return text
    return URL_RE.sub(lambda m: redact_url(m.group(0)), text)


def _redact_record(record: logging.LogRecord) -> None:
    try:
        message = record.getMessage()
    except Exception:  # a bad format/args pair: leave it to logging's own error report
        return
    clean = redact_text(message)
    if clean != message:
        record.msg, record.args = clean, None


def install() -> None:
    """Redact URLs in every log record of this process (idempotent)."""
    global _installed
    if _installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        _redact_record(record)
        return record

    logging.setLogRecordFactory(factory)
    _installed = True
