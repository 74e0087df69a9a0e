"""Customer sign-off against the real app and database: after resolution the tracking page
offers the form, the customer signs (name, tick, a PNG drawn on the canvas), the sign-off is
on the ticket (API, console page, signature image) and in the audit chain. Bad input: signing
before resolution, twice, without a name, with neither tick nor signature, with a text file
or a damaged PNG as the signature, a signature over the size limit, a wrong tracking code,
and the signature image asked for without a login or by another engineer."""

from __future__ import annotations

import base64
import hashlib
import io
from datetime import UTC, datetime

from PIL import Image
from ticketing_helpers import auth, uid

from ticketing.signoff import MAX_SIGNATURE_BYTES

ALL_DAY = [{"days": [0, 1, 2, 3, 4, 5, 6], "start": "00:00", "end": "24:00"}]


def _png() -> bytes:
    img = Image.new("RGBA", (40, 20), (255, 255, 255, 0))
    for x in range(40):
        img.putpixel((x, x // 2), (0, 0, 0, 255))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def _url(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode()


def _ticket(client, tokens, make_asset, make_engineer, engineer_token) -> tuple[dict, dict]:
    cls = f"press_{uid()}"
    asset = make_asset(cls)
    eng = make_engineer("Wang", asset_classes=[cls], shifts=ALL_DAY)
    r = client.post(
        "/tickets",
        headers=auth(tokens["dispatcher"]),
        json={"asset": asset, "priority": "P2", "title": "press leaks", "source": "manual"},
    )
    assert r.status_code == 201, r.text
    t = r.json()["ticket"]
    assert t["engineer_id"] == eng
    return t, auth(engineer_token(eng))


def _resolve(client, t: dict, e: dict) -> None:
    for to in ("accepted", "en_route", "on_site"):
        assert client.post(f"/tickets/{t['id']}/transitions", headers=e, json={"to": to}).is_success
    done = client.post(
        f"/tickets/{t['id']}/transitions",
        headers=e,
        json={"to": "resolved", "resolution_code": "fixed"},
    )
    assert done.status_code == 200, done.text


def test_customer_signs_off_with_name_tick_and_drawn_signature(
    client, tokens, make_asset, make_engineer, engineer_token, clock
) -> None:
    clock.set(datetime(2027, 4, 1, 10, 0, tzinfo=UTC))  # a fresh rate-limit window
    t, e = _ticket(client, tokens, make_asset, make_engineer, engineer_token)
    code, png = t["tracking_code"], _png()
    page = client.get(f"/customer/track/{code}").text
    assert 'id="signoff-form"' not in page  # not resolved yet
    early = client.post(f"/customer/track/{code}/signoff", data={"name": "Li Na", "satisfied": "1"})
    assert early.status_code == 409 and "once it is resolved" in early.text

    _resolve(client, t, e)
    page = client.get(f"/customer/track/{code}").text
    assert 'id="signoff-form"' in page and 'id="signature-pad"' in page
    assert '<script src="/console/static/signature.js"' in page and "<script>" not in page
    assert client.get("/console/static/signature.js").status_code == 200

    r = client.post(
        f"/customer/track/{code}/signoff",
        data={"name": " Li Na ", "satisfied": "1", "signature": _url(png)},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    page = client.get(f"/customer/track/{code}").text
    assert 'id="signoff"' in page and "Li Na" in page and 'id="signoff-form"' not in page
    again = client.post(f"/customer/track/{code}/signoff", data={"name": "X", "satisfied": "1"})
    assert again.status_code == 409 and "already signed off" in again.text

    s = client.get(f"/tickets/{t['id']}/signoff", headers=e).json()
    digest = hashlib.sha256(png).hexdigest()
    assert s["name"] == "Li Na" and s["satisfied"] is True and s["signed"] is True
    assert s["signature_sha256"] == digest
    img = client.get(f"/tickets/{t['id']}/signoff/signature.png", headers=e)
    assert img.status_code == 200 and img.content == png
    assert img.headers["content-type"] == "image/png"

    cookie = {"cookie": f"fw_console={tokens['dispatcher']}"}
    ticket_page = client.get(f"/console/tickets/{t['id']}", headers=cookie).text
    assert 'id="signoff"' in ticket_page and 'id="signoff-signature"' in ticket_page
    assert 'id="signoff-satisfied"' in ticket_page
    console_img = client.get(f"/console/tickets/{t['id']}/signature.png", headers=cookie)
    assert console_img.status_code == 200 and console_img.content == png

    timeline = client.get(f"/tickets/{t['id']}/events", headers=auth(tokens["admin"]))
    assert timeline.status_code == 200, timeline.text
    events = [ev for ev in timeline.json() if ev["action"] == "signed_off"]
    assert len(events) == 1 and events[0]["role"] == "customer"
    assert events[0]["after"] == {"name": "Li Na", "satisfied": True, "signature_sha256": digest}
    verify = client.get("/audit/verify", headers=auth(tokens["admin"]))
    assert verify.status_code == 200 and verify.json()["ok"] is True, verify.text


def test_signoff_refuses_bad_names_signatures_and_strangers(
    client, tokens, make_asset, make_engineer, engineer_token, clock
) -> None:
    clock.set(datetime(2027, 4, 2, 10, 0, tzinfo=UTC))
    t, e = _ticket(client, tokens, make_asset, make_engineer, engineer_token)
    _resolve(client, t, e)
    code = t["tracking_code"]
    url = f"/customer/track/{code}/signoff"
    noname = client.post(url, data={"name": "  ", "satisfied": "1"})
    assert noname.status_code == 422 and "name" in noname.text
    neither = client.post(url, data={"name": "Li"})
    assert neither.status_code == 422 and "satisfied" in neither.text
    text = client.post(url, data={"name": "Li", "signature": "data:text/plain;base64,aGk="})
    assert text.status_code == 415
    fake = client.post(url, data={"name": "Li", "signature": _url(b"not a png at all")})
    assert fake.status_code == 415
    damaged = _url(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
    assert client.post(url, data={"name": "Li", "signature": damaged}).status_code == 415
    junk = client.post(url, data={"name": "Li", "signature": "data:image/png;base64,@@@"})
    assert junk.status_code == 422 and "signature" in junk.text
    big = _url(b"\x89PNG\r\n\x1a\n" + b"\x00" * MAX_SIGNATURE_BYTES)
    assert client.post(url, data={"name": "Li", "signature": big}).status_code == 413
    assert client.post("/customer/track/ABCDEFGH23/signoff", data={"name": "Li"}).status_code in (
        404,
        422,
    )
    nobody = client.get(f"/tickets/{t['id']}/signoff", headers=e)
    assert nobody.status_code == 404  # nothing recorded by all the refusals

    ok = client.post(url, data={"name": "Li", "satisfied": "1"}, follow_redirects=False)
    assert ok.status_code == 303
    s = client.get(f"/tickets/{t['id']}/signoff", headers=e).json()
    assert s["signed"] is False and s["signature_sha256"] is None
    assert client.get(f"/tickets/{t['id']}/signoff/signature.png", headers=e).status_code == 404
    assert client.get(f"/tickets/{t['id']}/signoff").status_code == 401
    cls = f"lathe_{uid()}"
    other = make_engineer("Other", asset_classes=[cls], shifts=ALL_DAY)
    r = client.get(f"/tickets/{t['id']}/signoff", headers=auth(engineer_token(other)))
    assert r.status_code in (403, 404)


def test_customer_signs_on_the_engineers_phone(
    client, tokens, make_asset, make_engineer, engineer_token, clock
) -> None:
    """The console form (urlencoded from the page, multipart from the offline queue). Tried:
    no CSRF token, before resolution, an engineer who does not have the ticket, twice."""
    import re

    t, e = _ticket(client, tokens, make_asset, make_engineer, engineer_token)
    token = e["Authorization"].split()[1]
    cookie = {"cookie": f"fw_console={token}"}
    for to in ("accepted", "en_route", "on_site"):
        client.post(f"/tickets/{t['id']}/transitions", headers=e, json={"to": to})
    page = client.get(f"/console/tickets/{t['id']}", headers=cookie).text
    assert 'id="signoff-form"' in page and 'id="signature-pad"' in page
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    url = f"/console/tickets/{t['id']}/signoff"
    png = _png()
    form = {"name": "Zhang", "signature": _url(png)}
    assert client.post(url, headers=cookie, data=form).status_code == 403  # no CSRF
    early = client.post(url, headers=cookie, data={**form, "csrf": csrf})
    assert early.status_code == 409 and "once it is resolved" in early.text
    _finish = client.post(
        f"/tickets/{t['id']}/transitions",
        headers=e,
        json={"to": "resolved", "resolution_code": "fixed"},
    )
    assert _finish.status_code == 200
    other = make_engineer("Nobody", asset_classes=[f"x_{uid()}"], shifts=ALL_DAY)
    stranger = {"cookie": f"fw_console={engineer_token(other)}"}
    board = client.get("/console/board", headers=stranger).text
    own = re.search(r'name="csrf" value="([^"]+)"', board).group(1)  # a valid token of theirs
    refused = client.post(url, headers=stranger, data={**form, "csrf": own})
    assert refused.status_code == 403 and "not assigned to you" in refused.text
    # as the offline queue sends it: multipart/form-data
    r = client.post(
        url,
        headers=cookie,
        files={k: (None, v) for k, v in {**form, "csrf": csrf}.items()},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    s = client.get(f"/tickets/{t['id']}/signoff", headers=e).json()
    assert s["name"] == "Zhang" and s["signed"] and not s["satisfied"]
    assert s["signature_sha256"] == hashlib.sha256(png).hexdigest()
    events = client.get(f"/tickets/{t['id']}/events", headers=auth(tokens["admin"])).json()
    signed = [ev for ev in events if ev["action"] == "signed_off"]
    assert len(signed) == 1 and signed[0]["role"] == "engineer"  # signed on the phone
    again = client.post(url, headers=cookie, data={**form, "csrf": csrf})
    assert again.status_code == 409
