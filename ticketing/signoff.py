"""Customer sign-off on completion: the customer confirms the work on the tracking page.

A name plus the "done to my satisfaction" tick, or a signature drawn on a canvas (PNG), or
both. Once per ticket, only after resolution; the row keeps the PNG and the audit chain
keeps its SHA-256, so a later swap of the image is detectable.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
from typing import Any

from PIL import Image, UnidentifiedImageError

from ticketing import customer as C
from ticketing.errors import Conflict, Invalid, TicketingError
from ticketing.records import summary
from ticketing.store import Actor, Row, Tx

MAX_SIGNATURE_BYTES = 200_000  # a drawn signature is a few kB; a photo is not a signature
MAX_SIGNATURE_PIXELS = 2000 * 1000
DATA_URL = "data:image/png;base64,"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class NotPng(TicketingError):
    status = 415


def form_cap(base: int) -> int:
    """The largest sign-off form: a base64 signature (4/3 of its bytes) plus the fields."""
    return max(base, MAX_SIGNATURE_BYTES * 4 // 3 + 4096)


def signature_png(text: str) -> bytes | None:
    """The PNG from the canvas's data URL ('' means no signature); 413 / 415 otherwise."""
    text = text.strip()
    if not text:
        return None
    if not text.startswith(DATA_URL):
        raise NotPng("signature: expected a PNG drawn on the page (data:image/png;base64,…)")
    try:
        data = base64.b64decode(text[len(DATA_URL) :], validate=True)
    except (binascii.Error, ValueError):
        raise Invalid("signature: not valid base64", field="signature") from None
    if len(data) > MAX_SIGNATURE_BYTES:
        raise C.TooLarge(f"signature: larger than {MAX_SIGNATURE_BYTES} bytes")
    if not data.startswith(PNG_MAGIC):
        raise NotPng("signature: not a PNG image")
    try:
        with Image.open(io.BytesIO(data)) as img:
            if img.format != "PNG" or img.width * img.height > MAX_SIGNATURE_PIXELS:
                raise NotPng("signature: not a PNG image of a sensible size")
            img.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise NotPng("signature: the PNG image is damaged") from None
    return data


def parse(form: dict[str, str]) -> tuple[str, bool, bytes | None]:
    """Name, tick and signature from the posted form; 422 naming the field when wrong."""
    name = form.get("name", "").strip()
    if not name or len(name) > 200 or "\x00" in name:
        raise Invalid("name: write your name (1 to 200 characters)", field="name")
    satisfied = form.get("satisfied") == "1"
    png = signature_png(form.get("signature", ""))
    if not satisfied and png is None:
        raise Invalid(
            "satisfied: tick 'work done to my satisfaction' or sign in the box", field="satisfied"
        )
    return name, satisfied, png


def sign(
    tx: Tx, code: str, name: str, satisfied: bool, png: bytes | None, client: str, per_hour: int
) -> Row:
    """Record the sign-off once, on a resolved or closed ticket, in the table and the audit."""
    C.limit(tx, client, ("signoff", "reply", "rating"), per_hour)
    return record(tx, C.by_code(tx, code, lock=True), name, satisfied, png, C.CUSTOMER)


def record(tx: Tx, row: Row, name: str, satisfied: bool, png: bytes | None, actor: Actor) -> Row:
    """The sign-off of the locked ticket ``row``; ``actor``: the customer on the tracking
    page, or the engineer whose phone the customer signed on (the audit says which)."""
    if row["state"] not in ("resolved", "closed"):
        raise Conflict("the work can be signed off once it is resolved")
    digest = hashlib.sha256(png).hexdigest() if png is not None else None
    new = tx.one(
        "insert into ticket_signoffs (ticket_id, name, satisfied, signature, signature_sha256,"
        " created_at) values (%s, %s, %s, %s, %s, %s) on conflict (ticket_id) do nothing"
        " returning ticket_id, name, satisfied, signature_sha256, created_at",
        (row["id"], name, satisfied, png, digest, tx.now),
    )
    if new is None:
        raise Conflict("this job was already signed off; thank you")
    after = {"name": name, "satisfied": satisfied, "signature_sha256": digest}
    tx.audit(actor, "signed_off", "ticket", row["id"], None, after)
    tx.emit("ticket.signed_off", row["site"], row["id"], {**summary(row), **after})
    return new


def get(tx: Tx, ticket_id: int) -> dict[str, Any] | None:
    """The sign-off without the image bytes (``signed``: whether a signature was drawn)."""
    return tx.one(
        "select ticket_id, name, satisfied, signature is not null as signed, signature_sha256,"
        " created_at from ticket_signoffs where ticket_id = %s",
        (ticket_id,),
    )


def image(tx: Tx, ticket_id: int) -> bytes | None:
    row = tx.one("select signature from ticket_signoffs where ticket_id = %s", (ticket_id,))
    return bytes(row["signature"]) if row and row["signature"] is not None else None
