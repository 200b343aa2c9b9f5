"""Measure the mapping of EuroSAT RGB's 8-bit renderings to Sentinel-2 reflectance on the real RGB/MS twins.

EuroSAT RGB (JPEG) and EuroSAT MS (13-band GeoTIFF, reflectance x 10,000) hold the same images under the same
``<Class>/<Class>_<n>`` names. For every twin found in the shared data this fits, per band (B04 <- R, B03 <- G,
B02 <- B), ``reflectance = gain * dn`` by least squares over the pixels that are not saturated (dn < 255), and
prints the gains, the residuals and what a saturated pixel (dn = 255) really holds. The ``galileo`` encoder uses
the printed gains (``mining.encoders.galileo.RGB8_GAIN``).

Usage: ``python tools/fit_rgb8.py [--shared ../shared/data]``
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BANDS = (("B04", 3, 0), ("B03", 2, 1), ("B02", 1, 2))  # name, index in the MS file (B01..B12, B8A), RGB channel


def load_twins(shared: Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(MS reflectance (n, 3, 64, 64) for B04, B03, B02; RGB dn (n, 3, 64, 64); names) of the twins found."""
    import rasterio
    from PIL import Image

    ms_root, rgb_root = shared / "eurosat-ms", shared / "eurosat-rgb" / "2750"
    ms, rgb, names = [], [], []
    for tif in sorted(ms_root.glob("*/*.tif")):
        jpg = rgb_root / tif.parent.name / f"{tif.stem}.jpg"
        if not jpg.is_file():
            continue
        with rasterio.open(tif) as src:
            a = src.read()
        ms.append(a[[i for _, i, _ in BANDS]].astype(np.float64))
        with Image.open(jpg) as im:
            rgb.append(np.asarray(im.convert("RGB")).transpose(2, 0, 1)[[c for *_, c in BANDS]].astype(np.float64))
        names.append(f"{tif.parent.name}/{tif.stem}")
    return np.stack(ms), np.stack(rgb), names


def fit(ms: np.ndarray, rgb: np.ndarray) -> list[dict]:
    rows = []
    for k, (name, _, _) in enumerate(BANDS):
        y, x = ms[:, k].ravel(), rgb[:, k].ravel()
        ok = x < 255
        gain = float((x[ok] * y[ok]).sum() / (x[ok] ** 2).sum())
        res = y[ok] - gain * x[ok]
        rel = np.abs(res) / np.maximum(y[ok], 1)
        per_patch = np.nanmedian(np.where(rgb[:, k] < 255, ms[:, k] - gain * rgb[:, k], np.nan).reshape(len(ms), -1),
                                 axis=1)
        rows.append({"band": name, "gain": gain, "r": float(np.corrcoef(x[ok], y[ok])[0, 1]),
                     "rmse": float(np.sqrt((res ** 2).mean())), "median_rel": float(np.median(rel)),
                     "p95_rel": float(np.percentile(rel, 95)), "saturated": float((~ok).mean()),
                     "saturated_refl": np.percentile(y[~ok], [5, 50]) if (~ok).any() else [np.nan, np.nan],
                     "patch_bias_p5_p95": np.percentile(per_patch, [5, 95])})
    return rows


def main() -> None:
    from mining.resources import shared_data_dir

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", type=Path, default=shared_data_dir())
    args = ap.parse_args()
    if args.shared is None or not (args.shared / "eurosat-ms").is_dir() or not (args.shared / "eurosat-rgb").is_dir():
        raise SystemExit("needs the real data: ../shared/data/eurosat-ms and eurosat-rgb (or --shared)")
    ms, rgb, names = load_twins(args.shared)
    print(f"{len(names)} EuroSAT RGB/MS twins, {ms.shape[-1] * ms.shape[-2]:,} pixels each")
    print("band  gain    r       rmse  median|rel|  p95|rel|  saturated  refl at dn=255 (p5, p50)  per-patch bias p5..p95")
    for r in fit(ms, rgb):
        s5, s50 = r["saturated_refl"]
        b5, b95 = r["patch_bias_p5_p95"]
        print(f"{r['band']}   {r['gain']:.3f}  {r['r']:.4f}  {r['rmse']:5.1f}  {r['median_rel']:.3f}        "
              f"{r['p95_rel']:.3f}     {r['saturated']:.4f}     {s5:.0f}, {s50:.0f}                    "
              f"{b5:+.1f} .. {b95:+.1f}")


if __name__ == "__main__":
    main()
