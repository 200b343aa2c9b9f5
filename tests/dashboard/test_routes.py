"""The thumbnail route (:mod:`dashboard.routes`) on the demo workspace: PNGs from the packed store, HTTP caching,
and never a file outside the store."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from dashboard.app import create_app
from dashboard.routes import thumb_url

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def eu(demo_ws):
    app = create_app(demo_ws)
    return app, app.server.extensions["eomine"].current


# --------------------------------------------------------------------------- thumbnail route
def test_thumbnail_route_serves_cached_pngs(eu):
    app, data = eu
    c = app.server.test_client()
    pid = str(data.ids[5])
    r = c.get(thumb_url("true_color", pid, 96))
    assert r.status_code == 200 and r.mimetype == "image/png" and r.data.startswith(PNG)
    assert Image.open(io.BytesIO(r.data)).size == (96, 96)
    assert "max-age" in r.headers["Cache-Control"]
    etag = r.headers["ETag"]
    assert etag
    r2 = c.get(thumb_url("true_color", pid, 96), headers={"If-None-Match": etag})
    assert r2.status_code == 304 and r2.data == b""
    # another size or composite is another image
    assert c.get(thumb_url("ndvi", pid, 96)).headers["ETag"] != etag
    assert c.get(thumb_url("true_color", pid, 64)).headers["ETag"] != etag


@pytest.mark.parametrize("path", [
    "/eomine/thumb/true_color/NoSuchPatch_1.png",
    "/eomine/thumb/no_such_composite/{pid}.png",
    "/eomine/thumb/true_color/..%5C..%5Cetc%5Cpasswd.png",
])
def test_thumbnail_route_404_for_unknown_patch_or_composite(eu, path):
    app, data = eu
    r = app.server.test_client().get(path.format(pid=data.ids[0]) + "?size=64")
    assert r.status_code == 404
    assert not r.data.startswith(PNG) and b"root:" not in r.data


TRAVERSAL = [
    "/eomine/thumb/true_color/..%2F..%2Fetc%2Fpasswd.png",
    "/eomine/thumb/true_color/..%2F..%2F..%2F..%2F..%2Fetc%2Fpasswd",
    "/eomine/thumb/..%2F..%2Fetc/passwd.png",
    "/eomine/thumb/true_color/%2e%2e%2f%2e%2e%2fetc%2fpasswd.png",
    "/eomine/thumb/true_color/%2Fetc%2Fpasswd.png",
    "/eomine/thumb/true_color/../../../etc/passwd.png",
]


@pytest.mark.parametrize("path", TRAVERSAL)
def test_thumbnail_route_never_serves_a_file(eu, path):
    app, _ = eu
    r = app.server.test_client().get(path + "?size=64")
    assert not r.data.startswith(PNG)
    assert b"root:" not in r.data
    assert r.status_code == 404


@pytest.mark.parametrize("path", TRAVERSAL)
def test_thumbnail_route_traversal_is_404(eu, path):
    app, _ = eu
    assert app.server.test_client().get(path + "?size=64").status_code == 404


@pytest.mark.parametrize("size", ["abc", "1.5", "", "12px"])
def test_thumbnail_route_rejects_a_bad_size(eu, size):
    app, data = eu
    r = app.server.test_client().get(f"/eomine/thumb/true_color/{data.ids[0]}.png?size={size}")
    assert r.status_code == 400


