"""Photos on a ticket, stored on disk: checked by their bytes, thumbnailed, deduplicated.

The type is decided by the file's magic bytes and Pillow opening it, never by the declared
content type or name (415 otherwise); size is capped (413). Files are written under a
configurable directory by content hash, atomically (temp file + rename), before the row
that points at them commits, so a row never points at a missing file; the same photo sent
twice (an offline queue retrying) returns the first copy.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, ImageOps
from pydantic import Field

from forewarn.settings import Section, Settings, section
from ticketing.errors import TicketingError
from ticketing.records import add_attachment
from ticketing.store import Actor, Row, Tx

MAGIC = {
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/webp": (b"RIFF",),  # and "WEBP" at offset 8
}
PIL_FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
EXT = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}
THUMB_PX = 320
Image.MAX_IMAGE_PIXELS = 60_000_000  # a decompression bomb beyond this is refused


class AttachmentSettings(Section):
    directory: str = Field(".run/attachments", description="where photos are stored")
    max_bytes: int = Field(10_000_000, ge=1024, le=200_000_000, description="larger: 413")


def attachment_settings(settings: Settings) -> AttachmentSettings:
    return section(settings, "attachments", AttachmentSettings)


class TooLarge(TicketingError):
    status = 413


class Unsupported(TicketingError):
    status = 415


class LengthRequired(TicketingError):
    status = 411


@dataclass
class Checked:
    data: bytes
    content_type: str
    sha256: str
    width: int
    height: int


def sniff(data: bytes) -> str | None:
    for ctype, prefixes in MAGIC.items():
        if any(data.startswith(p) for p in prefixes):
            if ctype == "image/webp" and data[8:12] != b"WEBP":
                continue
            return ctype
    return None


def check(data: bytes, max_bytes: int) -> Checked:
    if len(data) > max_bytes:
        raise TooLarge(f"the photo is {len(data)} bytes; the limit is {max_bytes} bytes")
    if not data:
        raise Unsupported("the file is empty; send a JPEG, PNG or WebP photo")
    ctype = sniff(data)
    if ctype is None:
        raise Unsupported("only JPEG, PNG or WebP photos are accepted (checked by content)")
    try:
        with Image.open(io.BytesIO(data)) as im:
            im.verify()
        with Image.open(io.BytesIO(data)) as im:
            fmt, (w, h) = im.format, im.size
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise Unsupported(f"the file is not a readable image ({type(exc).__name__})") from None
    if PIL_FORMATS.get(fmt or "") != ctype:
        raise Unsupported("the image's content does not match its header")
    return Checked(data, ctype, hashlib.sha256(data).hexdigest(), w, h)


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".up-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def thumbnail(data: bytes) -> bytes:
    with Image.open(io.BytesIO(data)) as im:
        upright = ImageOps.exif_transpose(im)
        upright.thumbnail((THUMB_PX, THUMB_PX))
        out = io.BytesIO()
        upright.convert("RGB").save(out, "JPEG", quality=80)
        return out.getvalue()


def store_photo(
    tx: Tx, actor: Actor, row: Row, photo: Checked, filename: str, root: Path
) -> tuple[Row, bool]:
    """(attachment, created): writes the files, then the row; a known hash returns the first."""
    known = tx.one(
        "select * from attachments where ticket_id = %s and sha256 = %s and storage_key is not null",
        (row["id"], photo.sha256),
    )
    if known is not None:
        return known, False
    key = f"{row['id']}/{photo.sha256}.{EXT[photo.content_type]}"
    thumb_key = f"{row['id']}/{photo.sha256}.thumb.jpg"
    _write(root / key, photo.data)
    _write(root / thumb_key, thumbnail(photo.data))
    meta: dict[str, Any] = {
        "filename": filename[:255] or f"photo.{EXT[photo.content_type]}",
        "content_type": photo.content_type,
        "size_bytes": len(photo.data),
        "sha256": photo.sha256,
    }
    att = add_attachment(tx, actor, row, meta)
    new = tx.one(
        "update attachments set storage_key = %s, thumb_key = %s, width = %s, height = %s,"
        " url = %s where id = %s returning *",
        (
            key,
            thumb_key,
            photo.width,
            photo.height,
            f"/tickets/{row['id']}/attachments/{att['id']}/file",
            att["id"],
        ),
    )
    assert new is not None
    return new, True


def path_of(root: Path, key: str) -> Path:
    """The file for a stored key, refusing anything that would leave the directory."""
    p = (root / key).resolve()
    if root.resolve() not in p.parents:
        raise TicketingError("bad storage key")
    return p
