"""``eomine audit``: how much the splits leak (test patches next to training patches, near-duplicates)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from mining._internal.validation import Interval

from ._options import Float, json_option, workspace_argument

__all__ = ["audit_cmd"]


@click.command("audit")
@workspace_argument()
@click.option("--split-table", type=click.Path(path_type=Path),
              help="CSV / Parquet of patch_id,split to audit instead of the catalog's splits.")
@click.option("--duplicate-distance", type=Float(Interval(float, 0, None)), default=None,
              help="Embedding distance below which a neighbour counts as nearly identical (default: the 1st "
                   "percentile of the nearest-neighbour distances).")
@json_option
def audit_cmd(workspace, split_table, duplicate_distance, as_json):
    """Split leakage: per split pair, the share of patches within 1 and 3 patch widths of a patch of the
    reference split, the median ground distance to it, and near-duplicates in the embedding."""
    from mining.audit import audit_workspace

    res = audit_workspace(workspace, split_table=split_table, duplicate_distance=duplicate_distance)
    sp, emb = res["spatial"], res["embedding"]
    if emb is not None:
        sp = sp.merge(emb[["reference", "audited", "near_duplicates"]], on=["reference", "audited"], how="left")
    if as_json:
        click.echo(json.dumps({"width_km": res["width_km"], "threshold": res["threshold"], "counts": res["counts"],
                               "pairs": sp.to_dict(orient="records")}, indent=1, default=str))
        return
    counts = ", ".join(f"{k} {v:,}" for k, v in res["counts"].items() if k is not None)
    click.echo(f"{res['n_patches']:,} patches with a split ({counts}); patch width {res['width_km'] * 1000:,.0f} m")
    head = (f"{'reference -> audited':<24} {'patches':>9} {'same place':>10} {'within 1 w':>10} {'within 3 w':>10} "
            f"{'median km':>10}")
    if emb is not None:
        head += f" {'near-dup.':>9}"
    click.echo(head)
    for r in sp.itertuples():
        line = (f"{r.reference + ' -> ' + r.audited:<24} {r.n:>9,} {r.same_place:>10.1%} {r.within_1w:>10.1%} "
                f"{r.within_3w:>10.1%} {r.median_km:>10.2f}")
        if emb is not None:
            line += f" {r.near_duplicates:>9.1%}"
        click.echo(line)
    if emb is not None:
        click.echo(f"near-duplicate: nearest stored neighbour of the reference split closer than "
                   f"{res['threshold']:.4g} in the embedding")
