"""Issue 14 item 3: a chunked body (no Content-Length) is bounded by ``max_body_bytes`` too,
before authentication, over a real socket to a real uvicorn server.

Fault tried: an unauthenticated client streams a 48 MB chunked POST to ``/tickets`` (the
limit is the default 1 MB). Before the fix the server read all of it and then said 401; now
it answers 413 after about the limit and stops reading, so the client cannot send the rest.
"""

from __future__ import annotations

import select
import socket
from urllib.parse import urlsplit

CHUNK = 64 * 1024
TOTAL = 48 * 1024 * 1024
LIMIT = 1_000_000  # TicketingSettings.max_body_bytes default


def _stream(base: str, path: str, token: str | None = None) -> tuple[bytes, int]:
    """Send a chunked POST until the server answers or stops reading; (answer, bytes sent)."""
    url = urlsplit(base)
    sock = socket.create_connection((url.hostname, url.port), timeout=20)
    head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    if token:
        head += f"Authorization: Bearer {token}\r\n"
    sock.sendall((head + "Transfer-Encoding: chunked\r\n\r\n").encode())
    chunk = f"{CHUNK:x}\r\n".encode() + b"[" * CHUNK + b"\r\n"
    sent = 0
    try:
        while sent < TOTAL:
            readable, _, _ = select.select([sock], [], [], 0)
            if readable:
                break  # the server answered mid-body
            sock.sendall(chunk)
            sent += CHUNK
        else:
            sock.sendall(b"0\r\n\r\n")
    except (BrokenPipeError, ConnectionResetError, TimeoutError):
        pass  # the server closed the connection instead of reading the rest: what we want
    answer = b""
    try:
        while data := sock.recv(65536):
            answer += data
            if b"\r\n\r\n" in answer and answer.rstrip().endswith(b"}"):
                break
    except (ConnectionResetError, TimeoutError):
        pass
    sock.close()
    return answer, sent


def test_chunked_body_without_token_gets_413_before_it_is_read(live_server: str) -> None:
    answer, sent = _stream(live_server, "/tickets")
    status_line = answer.split(b"\r\n", 1)[0]
    assert b" 413 " in status_line, answer[:300]
    assert b"larger than" in answer
    # The server stopped reading: the client could not push the whole body through
    # (socket buffers let a few MB more through; nowhere near 48 MB).
    assert sent < TOTAL // 2, f"client sent {sent} bytes before the server answered"


def test_chunked_body_under_the_limit_still_reaches_the_route(live_server: str) -> None:
    """Control: a small chunked body is read whole and answered by the route (401, no token)."""
    url = urlsplit(live_server)
    with socket.create_connection((url.hostname, url.port), timeout=20) as sock:
        body = b'{"asset": "x"}'
        sock.sendall(
            b"POST /tickets HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
            + f"{len(body):x}\r\n".encode()
            + body
            + b"\r\n0\r\n\r\n"
        )
        answer = b""
        while data := sock.recv(65536):
            answer += data
    assert b" 401 " in answer.split(b"\r\n", 1)[0], answer[:300]
