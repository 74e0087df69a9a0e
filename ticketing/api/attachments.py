"""Photo upload and download (API with a bearer token; console with its session).

Upload is ``multipart/form-data`` with one ``file`` part (and an optional ``caption``):
413 over the size limit, 415 for anything that is not a JPEG, PNG or WebP by its bytes.
Files are served only to the roles that may see the ticket (engineers: their own).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.datastructures import UploadFile

from ticketing import attachments as A
from ticketing import tickets as T
from ticketing.api.common import TicketId, role_router, roles, store
from ticketing.auth import WORKERS
from ticketing.console import pages, session
from ticketing.errors import Invalid, NotFound, TicketingError
from ticketing.records import add_comment
from ticketing.schemas import MAX_ID, Attachment
from ticketing.store import Actor, Row, Tx

router = role_router(prefix="/tickets", tags=["tickets"])
console = APIRouter(prefix="/console", include_in_schema=False)
UPLOAD_DOC: dict[int | str, dict[str, Any]] = {
    200: {"model": Attachment, "description": "the same photo was already on the ticket"},
    411: {"description": "the upload must declare its Content-Length"},
    413: {"description": "the photo is larger than the limit"},
    415: {"description": "not a JPEG, PNG or WebP image (checked by its bytes)"},
}


def _cfg(request: Request) -> A.AttachmentSettings:
    cfg: A.AttachmentSettings = request.app.state.attachments
    return cfg


async def _read_upload(request: Request) -> tuple[bytes, str, str, dict[str, str]]:
    """(bytes, filename, caption, other fields) of a one-file multipart form, size-capped."""
    cap = _cfg(request).max_bytes
    declared = request.headers.get("content-length", "")
    if not declared.isdigit():
        raise A.LengthRequired("send the photo with a Content-Length header")
    if int(declared) > cap + 65536:
        raise A.TooLarge(f"the upload is {declared} bytes; the limit is {cap} bytes")
    ctype = request.headers.get("content-type", "")
    if not ctype.startswith("multipart/form-data"):
        raise A.Unsupported("send the photo as multipart/form-data with a 'file' part")
    try:
        form = await request.form(max_files=1, max_fields=5)
    except Exception as exc:  # malformed multipart
        raise Invalid(f"the form could not be read: {exc}"[:200]) from None
    file = form.get("file")
    if not isinstance(file, UploadFile):
        raise Invalid("file: a 'file' part with the photo is required", field="file")
    data = await file.read(cap + 1)
    caption = form.get("caption")
    if isinstance(caption, str) and len(caption) > 2000:
        raise Invalid("caption: at most 2000 characters", field="caption")
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    return data, file.filename or "", caption if isinstance(caption, str) else "", fields


def _save(
    request: Request, actor: Actor, ticket_id: int, data: bytes, name: str, caption: str
) -> tuple[Row, bool]:
    photo = A.check(data, _cfg(request).max_bytes)
    root = Path(_cfg(request).directory)
    caption = caption.strip().replace("\x00", "")

    def fn(tx: Tx) -> tuple[Row, bool]:
        row = T.get_for(tx, actor, ticket_id, lock=True)
        att, created = A.store_photo(tx, actor, row, photo, name.replace("\x00", ""), root)
        if created and caption:
            add_comment(tx, actor, row, f"📷 {att['filename']}: {caption}", True)
        return att, created

    return store(request).run(fn)


@router.post(
    "/{ticket_id}/photos",
    response_model=Attachment,
    status_code=201,
    responses=UPLOAD_DOC,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["file"],
                        "properties": {
                            "file": {"type": "string", "format": "binary"},
                            "caption": {"type": "string", "maxLength": 2000},
                        },
                    }
                }
            },
        },
    },
)
async def upload_photo(
    request: Request, ticket_id: TicketId, actor: Actor = roles(*WORKERS)
) -> Any:
    """A photo for the ticket (multipart ``file``, optional ``caption``), stored on disk with
    a thumbnail; the same photo sent again returns the first copy (200)."""
    try:
        data, name, caption, _ = await _read_upload(request)
        att, created = await asyncio.to_thread(
            _save, request, actor, ticket_id, data, name, caption
        )
    except TicketingError as exc:
        return JSONResponse({"detail": exc.message, **exc.data}, status_code=exc.status)
    body = Attachment.model_validate(att).model_dump(mode="json")
    return JSONResponse(body, status_code=201 if created else 200)


def _file(request: Request, actor: Actor, ticket_id: int, att_id: int, thumb: bool) -> Response:
    if not 0 < att_id <= MAX_ID:
        raise NotFound("attachment", att_id)

    def fn(tx: Tx) -> Row:
        T.get_for(tx, actor, ticket_id)
        att = tx.one(
            "select * from attachments where id = %s and ticket_id = %s and storage_key is not null",
            (att_id, ticket_id),
        )
        if att is None:
            raise NotFound("stored attachment", f"{att_id} of ticket {ticket_id}")
        return att

    att = store(request).read(fn)
    path = A.path_of(Path(_cfg(request).directory), att["thumb_key" if thumb else "storage_key"])
    if not path.is_file():
        raise NotFound("stored file of attachment", att_id)
    return FileResponse(
        path,
        media_type="image/jpeg" if thumb else att["content_type"],
        headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "private, max-age=3600"},
    )


@router.get(
    "/{ticket_id}/attachments/{attachment_id}/file",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}, "image/png": {}, "image/webp": {}}}},
)
def photo_file(
    request: Request, ticket_id: TicketId, attachment_id: int, actor: Actor = roles(*WORKERS)
) -> Response:
    return _file(request, actor, ticket_id, attachment_id, False)


@router.get(
    "/{ticket_id}/attachments/{attachment_id}/thumb",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}}},
)
def photo_thumb(
    request: Request, ticket_id: TicketId, attachment_id: int, actor: Actor = roles(*WORKERS)
) -> Response:
    return _file(request, actor, ticket_id, attachment_id, True)


# ---- the console (session cookie) ---------------------------------------------------------


def _ids(ticket_id: str, att_id: str = "1") -> tuple[int, int] | None:
    t, a = pages.ticket_id_of(ticket_id), pages.ticket_id_of(att_id)
    return (t, a) if t and a else None


@console.get("/tickets/{ticket_id}/photos/{att_id}/{kind}")
def console_photo(request: Request, ticket_id: str, att_id: str, kind: str) -> Response:
    actor = pages.current(request, WORKERS)
    if not isinstance(actor, Actor):
        return actor
    ids = _ids(ticket_id, att_id)
    if ids is None or kind not in ("file", "thumb"):
        return pages.error_page(request, 404, "no such photo", actor)
    try:
        return _file(request, actor, ids[0], ids[1], kind == "thumb")
    except TicketingError as exc:
        return pages.error_page(request, exc.status, exc.message, actor)


@console.post("/tickets/{ticket_id}/photos", response_class=HTMLResponse)
async def console_upload(request: Request, ticket_id: str) -> Response:
    actor = pages.current(request, WORKERS)
    if not isinstance(actor, Actor):
        return actor
    ids = _ids(ticket_id)
    if ids is None:
        return pages.error_page(request, 404, "no such ticket", actor)
    try:
        data, name, caption, fields = await _read_upload(request)
        if not session.csrf_ok(request, fields.get("csrf")):
            return pages.error_page(request, 403, "the form expired; reload the page", actor)
        await asyncio.to_thread(_save, request, actor, ids[0], data, name, caption)
    except TicketingError as exc:
        return pages.error_page(request, exc.status, exc.message, actor)
    return RedirectResponse(f"/console/tickets/{ids[0]}#photos", status_code=303)
