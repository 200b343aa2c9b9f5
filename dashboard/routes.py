"""The app's own Flask routes: patch thumbnails from the packed pixel store, and :func:`thumb_url` to link them.

``/eomine/thumb/<composite>/<patch_id>.png?size=N`` renders one band composite of one patch (16-512 px) with
HTTP caching (``ETag`` from the workspace build, the patch, the composite and the size; ``Cache-Control``).
The patch id is looked up in the catalog and never joined into a path: nothing outside the store is reachable.
"""

from __future__ import annotations

import hashlib
from urllib.parse import quote

from .data import AppState

__all__ = ["THUMB_ROUTE", "thumb_url", "register_routes"]

THUMB_ROUTE = "/eomine/thumb/<composite>/<patch_id>.png"


def thumb_url(composite: str, patch_id: str, size: int = 128) -> str:
    """URL of the ``composite`` thumbnail of ``patch_id`` at ``size`` pixels."""
    return f"/eomine/thumb/{composite}/{quote(str(patch_id), safe='')}.png?size={size}"


def register_routes(server, state: AppState) -> None:
    """Install the thumbnail routes on the Flask ``server`` of the app whose state is ``state``."""
    from flask import Response, abort, request

    from mining.composites import COMPOSITES

    data = state.current  # the pixels, the catalog and the renderer never change while serving
    stamp = data.ws.meta.get("created", "")

    @server.route(THUMB_ROUTE)
    def thumbnail(composite: str, patch_id: str):
        if composite not in COMPOSITES:
            abort(404, f"unknown composite {composite!r}")
        row = data.find(patch_id)
        if row is None:
            abort(404, f"unknown patch {patch_id!r}")
        prow = int(data.pixel_row[row])
        if prow < 0 or data.renderer is None:
            abort(404, f"patch {patch_id} has no pixels in this workspace")
        try:
            size = min(max(int(request.args.get("size", 128)), 16), 512)
        except ValueError:
            abort(400, "size must be an integer")
        etag = hashlib.sha1(f"{stamp}|{patch_id}|{composite}|{size}".encode()).hexdigest()[:20]
        if request.if_none_match and etag in request.if_none_match:
            return Response(status=304, headers={"ETag": f'"{etag}"'})
        try:
            png = data.renderer.png(prow, composite, upscale=size)
        except Exception as exc:  # e.g. a patch without an S1 partner asked for the s1 composite
            abort(404, str(exc))
        return Response(png, mimetype="image/png",
                        headers={"Cache-Control": "public, max-age=86400", "ETag": f'"{etag}"'})

    @server.route("/eomine/thumb/<path:rest>")
    def thumbnail_bad_path(rest: str):
        # anything else under the thumbnail prefix (e.g. an encoded "../") is a 404, never the app page
        abort(404, "not a thumbnail URL")
