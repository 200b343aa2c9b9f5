"""Commands that make and read workspaces: ``ingest``, ``demo``, ``info``, ``thumb``."""

from __future__ import annotations

import json
from pathlib import Path

import click

from mining._internal.validation import Interval
from mining.composites import COMPOSITES, PNG_SIZE
from mining.datasets.demo import MAX_PATCHES, DemoDataset
from mining.errors import EomineError
from mining.resources import default_workspace_dir

from ._options import (
    BandList,
    Choice,
    Float,
    Int,
    NameList,
    ScaleList,
    json_option,
    option_type,
    range_type,
    seed_option,
    workspace_argument,
)

__all__ = ["ingest", "demo", "info", "thumb", "FORMATS", "DEMO_K"]

#: ``--format`` of ingest (the keys of :data:`mining.datasets.FORMATS`, which imports every loader)
FORMATS = ("reben", "ben1", "lmdb", "eurosat", "eurosat-rgb", "folder", "scene")
#: neighbours of the demo's kNN graph: a demo needs at least DEMO_K + 1 patches
DEMO_K = 30


@click.command()
@click.argument("source", type=click.Path(path_type=Path))
@click.option("--format", "fmt", required=True, type=Choice(FORMATS), help="Layout of SOURCE.")
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Workspace directory to create.")
@click.option("--metadata-only", is_flag=True,
              help="Catalog only, no pixels (reBEN/LMDB: footprints from the tile grid for all 549,488 patches).")
@click.option("--metadata", multiple=True, type=click.Path(path_type=Path),
              help="reben/lmdb: metadata Parquet file(s); default: the official files beside SOURCE.")
@click.option("--metadata-dir", type=click.Path(path_type=Path), help="ben1: folder of the official tables.")
@click.option("--table", type=click.Path(path_type=Path), help="folder: CSV/Parquet of patch_id,labels[,lon,lat,split].")
@click.option("--bands", type=BandList(), help="folder: comma-separated band names in file order (e.g. B04,B03,B02).")
@click.option("--nomenclature", type=Choice(["ben19", "eurosat"]),
              help="folder: validate labels against a shipped nomenclature.")
@click.option("--on-error", type=Choice(["skip", "fail"]), default="skip", show_default=True,
              help="skip: drop bad patches and list each with the reason; fail: stop at the first one.")
@click.option("--overwrite", is_flag=True, help="Replace an existing workspace (only once the new one is complete).")
@click.option("--workers", type=Int(Interval(int, 1, None)), default=None,
              help="Reader threads (default: min(4, CPUs)).")
@click.option("--patch-size", type=Float(Interval(float, 0, None, closed="neither")), default=None,
              help="scene: patch side in metres (default 1200).")
@click.option("--scales", type=ScaleList(), default=None,
              help="scene: several patch sizes in metres, e.g. 4800,2400,1200 (each patch knows its parent).")
@click.option("--assets", type=click.Path(path_type=Path), help="scene (STAC item): folder of the asset files.")
@click.option("--s1", type=click.Path(path_type=Path), help="scene: a Sentinel-1 GeoTIFF (VV, VH) paired by footprint.")
@click.option("--max-nodata", type=Float(Interval(float, 0, 1)), default=None,
              help="scene: skip patches with a larger nodata share (default 0.1).")
@click.option("--classes", type=NameList(),
              help="folder without a label table: the class names of the unlabelled pool (or --nomenclature).")
@click.option("--drop-labels", is_flag=True,
              help="Make an unlabelled pool (for active learning): labels kept aside in true_labels for "
                   "evaluation and `eomine learn --oracle catalog`.")
def ingest(source, fmt, out, metadata_only, metadata, metadata_dir, table, bands, nomenclature, on_error,
           overwrite, workers, patch_size, scales, assets, s1, max_nodata, classes, drop_labels):
    """Ingest SOURCE into a new workspace."""
    from mining.datasets import FORMATS as LOADERS
    from mining.ingest import ingest as run_ingest

    cls = LOADERS[fmt]
    kw = {"metadata_only": metadata_only}
    if fmt in ("reben", "lmdb") and metadata:
        kw["metadata"] = list(metadata)
    if fmt == "ben1" and metadata_dir:
        kw["metadata_dir"] = metadata_dir
    if fmt == "folder":
        kw.update(table=table, bands=bands, nomenclature=nomenclature, classes=classes)
    if fmt == "scene":
        if patch_size is not None and scales:
            raise click.UsageError("give --patch-size or --scales, not both")
        kw.update(patch_size=patch_size or 1200.0, scales=scales, assets=assets, s1=s1, nomenclature=nomenclature,
                  classes=classes, max_nodata=0.1 if max_nodata is None else max_nodata)
    unused = [name for name, val, fmts in (("--metadata", metadata, ("reben", "lmdb")),
                                           ("--metadata-dir", metadata_dir, ("ben1",)),
                                           ("--table", table, ("folder",)), ("--bands", bands, ("folder",)),
                                           ("--nomenclature", nomenclature, ("folder", "scene")),
                                           ("--classes", classes, ("folder", "scene")),
                                           ("--patch-size", patch_size, ("scene",)), ("--scales", scales, ("scene",)),
                                           ("--assets", assets, ("scene",)), ("--s1", s1, ("scene",)),
                                           ("--max-nodata", max_nodata, ("scene",)))
              if val and fmt not in fmts]
    if unused:
        raise click.UsageError(f"{unused[0]} does not apply to --format {fmt}")
    report = run_ingest(cls(source, **kw), out, on_error=on_error, overwrite=overwrite, workers=workers,
                        drop_labels=drop_labels)
    click.echo(report.summary())


@click.command()
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Workspace directory [default: data/workspaces/demo or $EOMINE_HOME/demo].")
@click.option("--n", "n", type=Int(Interval(int, DEMO_K + 1, MAX_PATCHES)), default=6000, show_default=True,
              help=f"Number of patches (its kNN graph has k = {DEMO_K}).")
@seed_option(DemoDataset)
@click.option("--noise-rate", type=option_type(DemoDataset, "noise_rate"), default=0.08, show_default=True,
              help="Fraction of patches given a wrong label set (recorded in gt_* columns).")
@click.option("--overwrite", is_flag=True, help="Rebuild even if a demo workspace with these settings exists.")
def demo(out, n, seed, noise_rate, overwrite):
    """Build the embedded demo workspace (generated, deterministic by seed) when missing, with its embeddings
    (galileo when its weights are found, else spectral), kNN graph, UMAP layout and noise scores."""
    from mining.ingest import ingest as run_ingest
    from mining.workspace import Workspace

    out = out or default_workspace_dir() / "demo"
    ds = DemoDataset(n=n, seed=seed, noise_rate=noise_rate)
    if out.exists() and not overwrite:
        try:
            ws = Workspace(out)
        except EomineError:
            ws = None
        want = ds.made_by()
        if ws is not None and all(ws.meta.get("made_by", {}).get(k) == v for k, v in want.items()):
            click.echo(f"demo workspace up to date: {out} ({ws.meta['n_patches']:,} patches)")
            _demo_pipeline(out)
            return
        if ws is not None:
            raise click.ClickException(f"{out} holds a different workspace; pass --overwrite to rebuild it")
    if not (out.exists() and not overwrite):
        report = run_ingest(ds, out, overwrite=True)
        click.echo(report.summary())
    _demo_pipeline(out)


def _demo_pipeline(out: Path) -> None:
    """Embeddings (:func:`~mining.encoders.default_encoder`: galileo when its weights are found, else spectral),
    kNN graph, UMAP layout and noise scores of the demo; up-to-date steps are skipped."""
    from mining.encoders import default_encoder
    from mining.pipeline import run_pipeline
    from mining.workspace import Workspace

    run_pipeline(Workspace(out), encoder=default_encoder(), k=DEMO_K, method="umap", seed=0, echo=click.echo)
    from mining.noise import score_workspace  # the review queue of the demo needs noise scores

    card, skipped = score_workspace(Workspace(out))
    click.echo(f"score    {'up to date' if skipped else 'done'} ({card['n_flagged']:,} patches flagged)")


@click.command()
@workspace_argument()
@json_option
def info(workspace, as_json):
    """Counts per label, split, country and flag; pixel coverage."""
    from mining.info import format_summary, summarize
    from mining.workspace import Workspace

    s = summarize(Workspace(workspace))
    click.echo(json.dumps(s, indent=1) if as_json else format_summary(s))


@click.command()
@workspace_argument()
@click.argument("patch_id")
@click.option("--composite", "-c", default="true_color", show_default=True, type=Choice(list(COMPOSITES)),
              help="true_color, false_color, swir, ndvi, ndwi, moisture or s1.")
@click.option("--out", "-o", type=click.Path(path_type=Path), required=True, help="PNG file to write.")
@click.option("--size", type=range_type(PNG_SIZE), default=None,
              help="Output size in pixels (nearest-neighbour upscale).")
def thumb(workspace, patch_id, composite, out, size):
    """Write one composite of PATCH_ID as a PNG."""
    from mining.composites import CompositeRenderer
    from mining.workspace import Workspace

    ws = Workspace(workspace)
    try:
        row = int(ws.catalog["pixel_row"].iat[ws.row_of(patch_id)])
    except KeyError as exc:
        raise click.ClickException(str(exc.args[0])) from None
    if row < 0:
        raise click.ClickException(f"patch {patch_id} was ingested without pixels")
    png = CompositeRenderer().fit(ws.store).png(row, composite, upscale=size)
    out.write_bytes(png)
    click.echo(f"wrote {out}")
