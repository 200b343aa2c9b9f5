"""Render docs/composites.png: real reBEN / EuroSAT patches in each composite, from a workspace.

Usage: python tools/make_composite_figure.py WORKSPACE [PATCH_ID ...] --out docs/composites.png
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from mining.composites import COMPOSITES, CompositeRenderer
from mining.workspace import Workspace

CELL = 180
PAD = 8
HEAD = 26


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("workspace")
    ap.add_argument("patches", nargs="*")
    ap.add_argument("--composites", default="true_color,false_color,swir,ndvi,ndwi,moisture,s1")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    ws = Workspace(a.workspace)
    r = CompositeRenderer().fit(ws.store)
    cat = ws.catalog.set_index("patch_id")
    ids = a.patches or list(cat.index[:4])
    names = [n for n in a.composites.split(",") if n in r.composites_]
    font = ImageFont.load_default(size=13)
    label_w = 250
    W = label_w + len(names) * (CELL + PAD) + PAD
    H = HEAD + len(ids) * (CELL + PAD) + PAD
    img = Image.new("RGB", (W, H), (250, 250, 250))
    d = ImageDraw.Draw(img)
    for j, n in enumerate(names):
        d.text((label_w + j * (CELL + PAD) + 4, 6), COMPOSITES[n].title.split(" (")[0], fill=(30, 30, 30), font=font)
    for i, pid in enumerate(ids):
        y = HEAD + i * (CELL + PAD)
        rec = cat.loc[pid]
        text = [pid[-28:], f"{rec['country'] or ''} {str(rec['acquired'])[:10]}"] + [
            ws.nomenclature.short[ws.nomenclature.index[lab]] for lab in rec["labels"]]
        for k, t in enumerate(text[:9]):
            d.text((PAD, y + 4 + 15 * k), t, fill=(30, 30, 30) if k < 2 else (70, 70, 120), font=font)
        for j, n in enumerate(names):
            x = label_w + j * (CELL + PAD)
            try:
                tile = Image.open(io.BytesIO(r.png(int(rec["pixel_row"]), n, upscale=CELL)))
                img.paste(tile, (x, y), tile)
            except Exception as exc:  # e.g. no S1 partner: say so in the cell
                d.rectangle([x, y, x + CELL, y + CELL], outline=(200, 200, 200))
                d.text((x + 8, y + CELL // 2 - 7), str(exc).split(" for ")[0][-30:], fill=(150, 60, 60), font=font)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    img.save(a.out, optimize=True)
    print(f"wrote {a.out} ({W}x{H})")


if __name__ == "__main__":
    main()
