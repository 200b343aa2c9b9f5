"""Build data/basemap/countries-50m-europe.geojson from world-atlas's Natural Earth TopoJSON.

Natural Earth 1:50m Admin 0 countries (public domain), redistributed as TopoJSON by the npm package
world-atlas 2.0.2 (ISC). Run once, offline afterwards:

    npm pack world-atlas@2.0.2 && tar xzf world-atlas-2.0.2.tgz
    python tools/make_basemap.py package/countries-50m.json data/basemap/countries-50m-europe.geojson
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

BBOX = (-32.0, 26.0, 50.0, 73.0)  # lon_min, lat_min, lon_max, lat_max: every reBEN / BigEarthNet country


def decode_arcs(topo: dict) -> list[list[tuple[float, float]]]:
    sx, sy = topo["transform"]["scale"]
    tx, ty = topo["transform"]["translate"]
    arcs = []
    for arc in topo["arcs"]:
        x = y = 0
        pts = []
        for dx, dy in arc:
            x += dx
            y += dy
            pts.append((round(x * sx + tx, 3), round(y * sy + ty, 3)))
        arcs.append(pts)
    return arcs


def ring(arcs, refs) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    for r in refs:
        pts = arcs[r] if r >= 0 else arcs[~r][::-1]
        out.extend(pts if not out else pts[1:])
    return out


def main(src: str, dst: str) -> None:
    topo = json.loads(Path(src).read_text())
    arcs = decode_arcs(topo)
    feats = []
    for g in topo["objects"]["countries"]["geometries"]:
        polys = [g["arcs"]] if g["type"] == "Polygon" else g.get("arcs", []) if g["type"] == "MultiPolygon" else []
        rings = [[ring(arcs, r) for r in poly] for poly in polys]
        keep = [p for p in rings if any(BBOX[0] <= x <= BBOX[2] and BBOX[1] <= y <= BBOX[3] for x, y in p[0])]
        if keep:
            feats.append({"type": "Feature", "properties": {"name": g.get("properties", {}).get("name")},
                          "geometry": {"type": "MultiPolygon", "coordinates": [[list(map(list, r)) for r in p]
                                                                               for p in keep]}})
    doc = {"type": "FeatureCollection",
           "source": "Natural Earth 4.1.0 Admin 0 countries 1:50m (public domain), via npm world-atlas 2.0.2 (ISC)",
           "bbox_filter": BBOX, "features": feats}
    Path(dst).write_text(json.dumps(doc, separators=(",", ":")))
    print(f"wrote {dst}: {len(feats)} countries")


if __name__ == "__main__":
    main(*sys.argv[1:3])
