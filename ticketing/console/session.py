"""Console sessions: the API token in an HttpOnly, SameSite=Strict cookie, resolved to an
Actor through the API's own token check; CSRF tokens derived from the session.

The cookie holds the token itself (it is already a 256-bit secret and revocable with
``forewarn tickets token revoke``), so there is no second session table to keep in sync.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from fastapi import HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials
from starlette.responses import Response

from ticketing.auth import current_actor
from ticketing.store import Actor

COOKIE = "fw_console"
LOGIN_CSRF = "fw_login_csrf"
PATH = "/console"
MAX_AGE = 12 * 3600


class NotLoggedIn(Exception):
    """No session, or its token is unknown or revoked."""


def actor_for_token(request: Request, token: str) -> Actor:
    """The API's own lookup (``ticketing.auth.current_actor``), fed from the cookie."""
    try:
        return current_actor(
            request, HTTPAuthorizationCredentials(scheme="Bearer", credentials=token)
        )
    except HTTPException as exc:
        raise NotLoggedIn(str(exc.detail)) from None


def session_actor(request: Request) -> Actor:
    token = request.cookies.get(COOKIE)
    if not token or len(token) > 200:
        raise NotLoggedIn("please log in")
    return actor_for_token(request, token)


def csrf_token(request: Request) -> str:
    """Bound to the session token: a page from another session cannot post here."""
    token = request.cookies.get(COOKIE, "")
    return hmac.new(token.encode(), b"forewarn-console-csrf", hashlib.sha256).hexdigest()


def csrf_ok(request: Request, sent: str | None) -> bool:
    return bool(sent) and hmac.compare_digest(csrf_token(request), sent or "")


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def set_session(request: Request, response: Response, token: str) -> None:
    response.set_cookie(
        COOKIE,
        token,
        max_age=MAX_AGE,
        path=PATH,
        httponly=True,
        samesite="strict",
        secure=_secure(request),
    )
    response.delete_cookie(LOGIN_CSRF, path=PATH)


def clear_session(response: Response) -> None:
    response.delete_cookie(COOKIE, path=PATH)


def login_csrf(request: Request) -> str:
    return request.cookies.get(LOGIN_CSRF) or secrets.token_urlsafe(24)


def set_login_csrf(request: Request, response: Response, value: str) -> None:
    response.set_cookie(
        LOGIN_CSRF, value, path=PATH, httponly=True, samesite="strict", secure=_secure(request)
    )


def login_csrf_ok(request: Request, sent: str | None) -> bool:
    cookie = request.cookies.get(LOGIN_CSRF)
    return bool(cookie and sent) and hmac.compare_digest(cookie or "", sent or "")
