"""Summaries of a workspace: what a curator checks first."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .workspace import Workspace

__all__ = ["summarize", "format_summary"]


def summarize(ws: Workspace) -> dict:
    """Counts per label, split, country and flag, plus pixel coverage.

    Returns
    -------
    dict
        JSON-serialisable summary.
    """
    c = ws.catalog
    n = len(c)
    labels = pd.Series(np.concatenate([np.asarray(v, dtype=object) for v in c["labels"]]) if n else [],
                       dtype=object)
    per_label = labels.value_counts().reindex(list(ws.nomenclature.classes), fill_value=0)
    per_label = per_label[per_label > 0]
    n_labels = c["labels"].map(len)

    def counts(col):
        return {str(k): int(v) for k, v in c[col].fillna("(unknown)").value_counts().items()}

    out = {
        "workspace": str(ws.path),
        "dataset": ws.name,
        "patches": n,
        "labels": {k: int(v) for k, v in per_label.items()},
        "labels_per_patch": {"mean": float(n_labels.mean()) if n else 0.0, "max": int(n_labels.max()) if n else 0,
                             "unlabelled": int((n_labels == 0).sum())},
        "split": counts("split"),
        "country": counts("country"),
        "flags": {"cloud_or_shadow": int(c["cloud_or_shadow"].sum()),
                  "seasonal_snow": int(c["seasonal_snow"].sum())},
        "pixels": {"with_s2": int(c["has_s2"].sum()), "with_s1": int(c["has_s1"].sum()),
                   "without_pixels": int((c["pixel_row"] < 0).sum()),
                   "bands": ws.meta.get("bands", [])},
        "geolocated": int(c["lon"].notna().sum()),
        "s1_pairs_named": int(c["s1_id"].notna().sum()),
        "made_by": ws.meta.get("made_by", {}),
    }
    if "gt_label_error" in c:
        out["ground_truth_label_errors"] = int(c["gt_label_error"].sum())
    return out


def format_summary(s: dict) -> str:
    """Human-readable text of :func:`summarize`."""
    n = max(s["patches"], 1)
    lines = [f"{s['dataset']} workspace at {s['workspace']}", f"  patches        {s['patches']:,}"]
    px = s["pixels"]
    lines.append(f"  pixels         S2 {px['with_s2']:,} ({100 * px['with_s2'] / n:.1f} %), "
                 f"S1 {px['with_s1']:,} ({100 * px['with_s1'] / n:.1f} %), none {px['without_pixels']:,}")
    if px["bands"]:
        lines.append(f"  bands          {', '.join(px['bands'])}")
    lines.append(f"  geolocated     {s['geolocated']:,}; S1 pairs named {s['s1_pairs_named']:,}")
    lpp = s["labels_per_patch"]
    lines.append(f"  labels/patch   mean {lpp['mean']:.2f}, max {lpp['max']}, unlabelled {lpp['unlabelled']:,}")
    for title, key in (("split", "split"), ("country", "country")):
        lines.append(f"  {title:<14} " + ", ".join(f"{k} {v:,}" for k, v in s[key].items()))
    fl = s["flags"]
    lines.append(f"  flags          cloud/shadow {fl['cloud_or_shadow']:,}, seasonal snow {fl['seasonal_snow']:,}")
    if "ground_truth_label_errors" in s:
        lines.append(f"  injected label errors (ground truth, demo only) {s['ground_truth_label_errors']:,}")
    lines.append("  patches per label:")
    width = max((len(k) for k in s["labels"]), default=0)
    for k, v in s["labels"].items():
        lines.append(f"    {k:<{width}}  {v:>9,}  {100 * v / n:5.1f} %")
    return "\n".join(lines)
