"""Real photo upload: multipart into a directory on disk, a thumbnail, deduplication of a
re-sent photo, and files served only to who may see the ticket. Bad input: a text file
named .jpg, a PNG header on junk, an oversized photo, a form without a file, other roles."""

from __future__ import annotations

import io
import os
import re

import pytest
from PIL import Image
from ticketing_helpers import auth, uid

from ticketing.attachments import AttachmentSettings

ALL_DAY = [{"days": [0, 1, 2, 3, 4, 5, 6], "start": "00:00", "end": "24:00"}]


def jpeg(w: int = 800, h: int = 600, color: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (w, h), color).save(out, "JPEG")
    return out.getvalue()


def noise_png(side: int) -> bytes:
    out = io.BytesIO()
    Image.frombytes("RGB", (side, side), os.urandom(side * side * 3)).save(out, "PNG")
    return out.getvalue()


@pytest.fixture
def photo_dir(app, tmp_path):
    app.state.attachments = AttachmentSettings(directory=str(tmp_path), max_bytes=100_000)
    return tmp_path


def test_photo_is_stored_thumbnailed_deduplicated_and_served_only_to_allowed_roles(
    app, client, tokens, make_asset, make_engineer, engineer_token, photo_dir
) -> None:
    cls = f"crane_{uid()}"
    eng = make_engineer("Ma", asset_classes=[cls], shifts=ALL_DAY)
    other = make_engineer("Hu", asset_classes=["x"], shifts=ALL_DAY)
    t = client.post(
        "/tickets",
        headers=auth(tokens["dispatcher"]),
        json={"asset": make_asset(cls), "title": "cable wear"},
    ).json()["ticket"]
    assert t["engineer_id"] == eng
    e = auth(engineer_token(eng))
    data = jpeg()
    r = client.post(
        f"/tickets/{t['id']}/photos",
        headers=e,
        files={"file": ("site.jpg", data, "image/jpeg")},
        data={"caption": "worn strands"},
    )
    assert r.status_code == 201, r.text
    att = r.json()
    assert att["content_type"] == "image/jpeg" and att["size_bytes"] == len(data)
    assert list(photo_dir.glob(f"{t['id']}/*.jpg"))  # on disk, in the configured directory
    got = client.get(att["url"], headers=e)
    assert got.status_code == 200 and got.content == data
    assert got.headers["x-content-type-options"] == "nosniff"
    thumb = client.get(f"/tickets/{t['id']}/attachments/{att['id']}/thumb", headers=e)
    with Image.open(io.BytesIO(thumb.content)) as im:
        assert im.format == "JPEG" and max(im.size) == 320

    again = client.post(
        f"/tickets/{t['id']}/photos", headers=e, files={"file": ("x.jpg", data, "image/jpeg")}
    )
    assert again.status_code == 200 and again.json()["id"] == att["id"]  # an offline retry
    detail = client.get(f"/tickets/{t['id']}", headers=e).json()
    assert [a["id"] for a in detail["attachments"]] == [att["id"]]
    assert any("worn strands" in c["body"] for c in detail["comments"])

    o = auth(engineer_token(other))
    assert client.get(att["url"], headers=o).status_code == 403
    assert client.get(att["url"]).status_code == 401
    assert client.get(att["url"], headers=auth(tokens["integration"])).status_code == 403
    up = client.post(
        f"/tickets/{t['id']}/photos",
        headers=o,
        files={"file": ("y.jpg", jpeg(10, 10), "image/jpeg")},
    )
    assert up.status_code == 403

    # The console shows the thumbnail and serves it on the session cookie.
    cookie = {"cookie": f"fw_console={tokens['dispatcher']}"}
    page = client.get(f"/console/tickets/{t['id']}", headers=cookie).text
    src = re.search(r'<img src="([^"]+/thumb)"', page).group(1)
    assert client.get(src, headers=cookie).headers["content-type"] == "image/jpeg"
    assert client.get(src, follow_redirects=False).status_code == 303  # no session: login
    csrf = re.search(r'id="photo-form">\s*<input type="hidden" name="csrf" value="([^"]+)"', page)
    r = client.post(
        f"/console/tickets/{t['id']}/photos",
        headers=cookie,
        files={"file": ("c.png", noise_png(20), "image/png")},
        data={"csrf": csrf.group(1)},
        follow_redirects=False,
    )
    assert r.status_code == 303
    bad = client.post(
        f"/console/tickets/{t['id']}/photos",
        headers=cookie,
        files={"file": ("c.png", noise_png(21), "image/png")},
        data={"csrf": "forged"},
    )
    assert bad.status_code == 403


def test_upload_refuses_non_images_and_oversized_files(
    client, tokens, make_asset, photo_dir
) -> None:
    t = client.post(
        "/tickets",
        headers=auth(tokens["dispatcher"]),
        json={"asset": make_asset(f"pump_{uid()}"), "title": "x"},
    ).json()["ticket"]
    h = auth(tokens["dispatcher"])
    url = f"/tickets/{t['id']}/photos"
    text = client.post(
        url, headers=h, files={"file": ("a.jpg", b"hello, not a photo", "image/jpeg")}
    )
    assert text.status_code == 415 and "JPEG, PNG or WebP" in text.json()["detail"]
    junk = client.post(
        url, headers=h, files={"file": ("b.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 200, "image/png")}
    )
    assert junk.status_code == 415 and "not a readable image" in junk.json()["detail"]
    big = noise_png(300)  # ~270 kB against a 100 kB limit
    r = client.post(url, headers=h, files={"file": ("big.png", big, "image/png")})
    assert r.status_code == 413 and "limit is 100000 bytes" in r.json()["detail"]
    near = noise_png(200)  # declared size within the slack, the file itself over the limit
    assert 100_000 < len(near) < 165_000
    r = client.post(url, headers=h, files={"file": ("near.png", near, "image/png")})
    assert r.status_code == 413, r.text
    nofile = client.post(url, headers=h, data={"caption": "only words"})
    assert nofile.status_code in (415, 422)
    nofile = client.post(url, headers=h, files={"other": ("a.jpg", jpeg(5, 5), "image/jpeg")})
    assert nofile.status_code == 422 and "file" in nofile.json()["detail"]
    assert list(photo_dir.rglob("*.*")) == []  # nothing half-written
