"""The ``eomine`` command line."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from . import __version__
from .errors import EomineError
from .resources import default_workspace_dir


def _fail(exc: Exception) -> None:
    click.secho(f"error: {exc}", fg="red", err=True)
    sys.exit(2)


class _Group(click.Group):
    """Turns eomine's own errors into one readable line (exit code 2) instead of a traceback."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except EomineError as exc:
            _fail(exc)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="eomine")
def main():
    """eomine: visual data mining for Earth-observation patch benchmarks."""


@main.command()
@click.argument("source", type=click.Path(path_type=Path))
@click.option("--format", "fmt", required=True,
              type=click.Choice(["reben", "ben1", "lmdb", "eurosat", "eurosat-rgb", "folder"]),
              help="Layout of SOURCE.")
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Workspace directory to create.")
@click.option("--metadata-only", is_flag=True,
              help="Catalog only, no pixels (reBEN/LMDB: footprints from the tile grid for all 549,488 patches).")
@click.option("--metadata", multiple=True, type=click.Path(path_type=Path),
              help="reben/lmdb: metadata Parquet file(s); default: the official files beside SOURCE.")
@click.option("--metadata-dir", type=click.Path(path_type=Path), help="ben1: folder of the official tables.")
@click.option("--table", type=click.Path(path_type=Path), help="folder: CSV/Parquet of patch_id,labels[,lon,lat,split].")
@click.option("--bands", help="folder: comma-separated band names in file order (e.g. B04,B03,B02).")
@click.option("--nomenclature", type=click.Choice(["ben19", "eurosat"]),
              help="folder: validate labels against a shipped nomenclature.")
@click.option("--on-error", type=click.Choice(["skip", "fail"]), default="skip", show_default=True,
              help="skip: drop bad patches and list each with the reason; fail: stop at the first one.")
@click.option("--overwrite", is_flag=True, help="Replace an existing workspace (only once the new one is complete).")
@click.option("--workers", type=int, default=None, help="Reader threads (default: min(4, CPUs)).")
def ingest(source, fmt, out, metadata_only, metadata, metadata_dir, table, bands, nomenclature, on_error,
           overwrite, workers):
    """Ingest SOURCE into a new workspace."""
    from .datasets import FORMATS
    from .ingest import ingest as run_ingest

    cls = FORMATS[fmt]
    kw = {"metadata_only": metadata_only}
    if fmt in ("reben", "lmdb") and metadata:
        kw["metadata"] = list(metadata)
    if fmt == "ben1" and metadata_dir:
        kw["metadata_dir"] = metadata_dir
    if fmt == "folder":
        kw.update(table=table, bands=bands.split(",") if bands else None, nomenclature=nomenclature)
    unused = [name for name, val, fmts in (("--metadata", metadata, ("reben", "lmdb")),
                                           ("--metadata-dir", metadata_dir, ("ben1",)),
                                           ("--table", table, ("folder",)), ("--bands", bands, ("folder",)),
                                           ("--nomenclature", nomenclature, ("folder",)))
              if val and fmt not in fmts]
    if unused:
        raise click.UsageError(f"{unused[0]} does not apply to --format {fmt}")
    report = run_ingest(cls(source, **kw), out, on_error=on_error, overwrite=overwrite, workers=workers)
    click.echo(report.summary())


@main.command()
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Workspace directory [default: data/workspaces/demo or $EOMINE_HOME/demo].")
@click.option("--n", "n", type=int, default=6000, show_default=True, help="Number of patches.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--noise-rate", type=float, default=0.08, show_default=True,
              help="Fraction of patches given a wrong label set (recorded in gt_* columns).")
@click.option("--overwrite", is_flag=True, help="Rebuild even if a demo workspace with these settings exists.")
def demo(out, n, seed, noise_rate, overwrite):
    """Build the embedded demo workspace (generated, deterministic by seed) when missing."""
    from .datasets.demo import DemoDataset
    from .ingest import ingest as run_ingest
    from .workspace import Workspace

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
            return
        if ws is not None:
            raise click.ClickException(f"{out} holds a different workspace; pass --overwrite to rebuild it")
    report = run_ingest(ds, out, overwrite=True)
    click.echo(report.summary())


@main.command()
@click.argument("workspace", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def info(workspace, as_json):
    """Counts per label, split, country and flag; pixel coverage."""
    from .info import format_summary, summarize
    from .workspace import Workspace

    s = summarize(Workspace(workspace))
    click.echo(json.dumps(s, indent=1) if as_json else format_summary(s))


@main.command()
@click.argument("workspace", type=click.Path(path_type=Path))
@click.argument("patch_id")
@click.option("--composite", "-c", default="true_color", show_default=True,
              help="true_color, false_color, swir, ndvi, ndwi, moisture or s1.")
@click.option("--out", "-o", type=click.Path(path_type=Path), required=True, help="PNG file to write.")
@click.option("--size", type=int, default=None, help="Output size in pixels (nearest-neighbour upscale).")
def thumb(workspace, patch_id, composite, out, size):
    """Write one composite of PATCH_ID as a PNG."""
    from .composites import CompositeRenderer
    from .workspace import Workspace

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


@main.command()
@click.argument("workspace", type=click.Path(path_type=Path), required=False)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8050, show_default=True)
def serve(workspace, host, port):
    """Serve the dashboard for WORKSPACE."""
    from .workspace import Workspace

    ws = Workspace(workspace or default_workspace_dir() / "demo")
    click.echo(f"workspace {ws.path} is ready ({ws.meta['n_patches']:,} patches).")
    click.echo("The dashboard arrives in a later version (issue #4); use `eomine info` and `eomine thumb` meanwhile.")


if __name__ == "__main__":
    main()
