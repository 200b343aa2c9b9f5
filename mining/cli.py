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
    """Build the embedded demo workspace (generated, deterministic by seed) when missing, with its embeddings,
    kNN graph, UMAP layout and noise scores."""
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
            _demo_pipeline(out)
            return
        if ws is not None:
            raise click.ClickException(f"{out} holds a different workspace; pass --overwrite to rebuild it")
    if not (out.exists() and not overwrite):
        report = run_ingest(ds, out, overwrite=True)
        click.echo(report.summary())
    _demo_pipeline(out)


def _demo_pipeline(out: Path) -> None:
    """Embeddings (galileo, else spectral), kNN graph, UMAP layout and noise scores of the demo; up-to-date steps are skipped."""
    from .encoders import default_encoder
    from .pipeline import run_pipeline
    from .workspace import Workspace

    run_pipeline(Workspace(out), encoder=default_encoder(), k=30, method="umap", seed=0, echo=click.echo)
    from .noise import score_workspace  # the review queue of the demo needs noise scores

    card, skipped = score_workspace(Workspace(out))
    click.echo(f"score    {'up to date' if skipped else 'done'} ({card['n_flagged']:,} patches flagged)")


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


def _encoder_params(encoder: str, opts: dict) -> dict:
    params = {}
    if encoder == "import":
        if not opts.get("from_file"):
            raise click.UsageError("--encoder import needs --from FILE (.parquet, .npz or .npy)")
        params["path"] = str(opts["from_file"])
        if opts.get("ids"):
            params["ids"] = str(opts["ids"])
    elif opts.get("from_file"):
        raise click.UsageError("--from only applies to --encoder import")
    if encoder == "checkpoint":
        if not opts.get("checkpoint") or not opts.get("bands"):
            raise click.UsageError("--encoder checkpoint needs --checkpoint PATH and --bands B04,B03,...")
        params.update(path=str(opts["checkpoint"]), bands=opts["bands"].split(","))
        if opts.get("arch"):
            params["arch"] = opts["arch"]
    for item in opts.get("param") or ():
        if "=" not in item:
            raise click.UsageError(f"--param expects NAME=VALUE, got {item!r}")
        k, v = item.split("=", 1)
        try:
            params[k] = json.loads(v)
        except json.JSONDecodeError:
            params[k] = v
    return params


_encoder_options = [
    click.option("--encoder", default="auto", show_default=True,
                 type=click.Choice(["auto", "galileo", "spectral", "ssl", "checkpoint", "import", "random"]),
                 help="auto: galileo when its weights are found, else spectral."),
    click.option("--device", default="auto", show_default=True, type=click.Choice(["auto", "cpu", "cuda"])),
    click.option("--batch-size", default="auto", show_default=True),
    click.option("--from", "from_file", type=click.Path(path_type=Path), help="import: embeddings file."),
    click.option("--ids", type=click.Path(path_type=Path), help="import: patch ids for a .npy, one per line."),
    click.option("--checkpoint", type=click.Path(path_type=Path), help="checkpoint: TorchScript or state_dict."),
    click.option("--arch", help="checkpoint: torchvision name (resnet18 ...) or timm:<name> for a state_dict."),
    click.option("--bands", help="checkpoint: store bands in the model's input order, comma-separated."),
    click.option("--param", multiple=True, help="Encoder parameter NAME=VALUE (JSON values), repeatable."),
]


def _with(options):
    def deco(f):
        for opt in reversed(options):
            f = opt(f)
        return f
    return deco


@main.command("embed")
@click.argument("workspace", type=click.Path(path_type=Path))
@_with(_encoder_options)
@click.option("--force", is_flag=True, help="Recompute even if the embeddings are up to date.")
def embed_cmd(workspace, encoder, device, batch_size, force, **opts):
    """Compute embeddings (embeddings.parquet + embeddings.json)."""
    from .encoders import resolve_encoder
    from .pipeline import step_embed
    from .workspace import Workspace

    encoder = resolve_encoder(encoder)
    bs = batch_size if batch_size == "auto" else int(batch_size)
    res = step_embed(Workspace(workspace), encoder, _encoder_params(encoder, opts), device=device, batch_size=bs,
                     force=force)
    click.echo(res.line())
    if not res.skipped and "patches_per_s" in res.card:
        click.echo(f"  {res.card['patches_per_s']:,.0f} patches/s")


@main.command("knn")
@click.argument("workspace", type=click.Path(path_type=Path))
@click.option("--k", default=30, show_default=True, help="Neighbours per patch.")
@click.option("--metric", default="cosine", show_default=True, type=click.Choice(["cosine", "euclidean"]))
@click.option("--method", default="auto", show_default=True, type=click.Choice(["auto", "exact", "nndescent"]),
              help="auto: exact torch on GPU or up to 20,000 points, pynndescent otherwise.")
@click.option("--device", default="auto", show_default=True, type=click.Choice(["auto", "cpu", "cuda"]))
@click.option("--seed", default=0, show_default=True)
@click.option("--force", is_flag=True)
def knn_cmd(workspace, k, metric, method, device, seed, force):
    """Build the kNN graph once (knn/indices.npy, knn/distances.npy, knn/knn.json)."""
    from .pipeline import step_knn
    from .workspace import Workspace

    click.echo(step_knn(Workspace(workspace), k=k, metric=metric, method=method, device=device, seed=seed,
                        force=force).line())


@main.command("project")
@click.argument("workspace", type=click.Path(path_type=Path))
@click.option("--method", default="umap", show_default=True, type=click.Choice(["umap", "pca"]))
@click.option("--seed", default=0, show_default=True)
@click.option("--min-dist", default=0.1, show_default=True)
@click.option("--epochs", "n_epochs", type=int, default=None, help="UMAP epochs (default: umap-learn's: 500 up to 10,000 points, 200 above).")
@click.option("--init", type=click.Choice(["auto", "spectral", "pca"]), default="auto", show_default=True,
              help="UMAP start layout; auto = spectral up to 50,000 points, PCA above.")
@click.option("--reproducible/--parallel", "reproducible", default=None,
              help="Bit-reproducible from --seed (one thread) or parallel (all cores, each run differs a little). "
                   "Default: reproducible up to 50,000 points, parallel above.")
@click.option("--force", is_flag=True)
def project_cmd(workspace, method, seed, min_dist, n_epochs, init, reproducible, force):
    """2-D layout (projection.parquet): UMAP on the stored kNN graph, or PCA as an instant preview."""
    from .pipeline import format_report, step_project, step_report
    from .workspace import Workspace

    ws = Workspace(workspace)
    res = step_project(ws, method=method, seed=seed, min_dist=min_dist, n_epochs=n_epochs, init=init,
                       reproducible="auto" if reproducible is None else reproducible, force=force)
    click.echo(res.line())
    if method == "umap" and res.card.get("reproducible") is False:
        click.echo("         (parallel UMAP: this layout is not bit-reproducible; --reproducible makes it so, "
                   "on one thread)")
    click.echo(format_report(step_report(ws)))


@main.command("run")
@click.argument("workspace", type=click.Path(path_type=Path))
@click.option("--source", type=click.Path(path_type=Path), help="Ingest SOURCE first (when WORKSPACE is missing).")
@click.option("--format", "fmt", type=click.Choice(["reben", "ben1", "lmdb", "eurosat", "eurosat-rgb", "folder"]))
@_with(_encoder_options)
@click.option("--k", default=30, show_default=True)
@click.option("--method", default="umap", show_default=True, type=click.Choice(["umap", "pca"]))
@click.option("--seed", default=0, show_default=True)
@click.option("--force", is_flag=True, help="Recompute every step.")
def run_cmd(workspace, source, fmt, encoder, device, batch_size, k, method, seed, force, **opts):
    """Ingest (optional) -> embed -> knn -> project -> quality report; up-to-date steps are skipped."""
    from .pipeline import run_pipeline
    from .workspace import Workspace

    if source:
        if not fmt:
            raise click.UsageError("--source needs --format")
        if not workspace.exists():
            from .datasets import FORMATS
            from .ingest import ingest as run_ingest

            click.echo(run_ingest(FORMATS[fmt](source), workspace).summary())
        else:
            click.echo(f"ingest   up to date ({workspace} exists; `eomine ingest --overwrite` to redo)")
    from .encoders import resolve_encoder

    encoder = resolve_encoder(encoder)
    run_pipeline(Workspace(workspace), encoder=encoder, encoder_params=_encoder_params(encoder, opts), k=k,
                 method=method, seed=seed, device=device, force=force, echo=click.echo)


@main.command("report")
@click.argument("workspace", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True)
def report_cmd(workspace, as_json):
    """Embedding quality: kNN label agreement vs chance, 2-D trustworthiness."""
    from .pipeline import format_report, step_report
    from .workspace import Workspace

    rep = step_report(Workspace(workspace))
    click.echo(json.dumps(rep, indent=1) if as_json else format_report(rep))


@main.command("score")
@click.argument("workspace", type=click.Path(path_type=Path))
@click.option("--model-weight", default=None,
              help="Weight of the out-of-fold classifier against the neighbour support: 0..1, or auto "
                   "(per class, least log-loss; the default).")
@click.option("--prior-weight", type=float, default=None,
              help="How much label co-occurrence discounts 'spurious' evidence, 0..1 (default 0.75).")
@click.option("--folds", type=int, default=None, help="Folds of the out-of-fold classifier (default 5).")
@click.option("--flag-threshold", type=float, default=None, help="Score at which a patch is flagged (default 0.6).")
@click.option("--outlier-weight", type=float, default=None,
              help="Weight of the class-conditional distance ('outlier') evidence, 0..1 (default 0.3).")
@click.option("--missing-start", type=float, default=None,
              help="Multi-label: 'missing' evidence starts at this fraction of a class's typical support "
                   "(default 0.7).")
@click.option("--missing-gain", type=float, default=None,
              help="Multi-label: slope of the 'missing' evidence above its start (default 1.5).")
@click.option("--refine", type=int, default=None,
              help="Refinement passes in which flagged neighbours vote with their suggested labels (default 1).")
@click.option("--seed", default=0, show_default=True)
@click.option("--force", is_flag=True, help="Recompute even if scores.parquet is up to date.")
def score_cmd(workspace, model_weight, prior_weight, folds, flag_threshold, outlier_weight, missing_start,
              missing_gain, refine, seed, force):
    """Noisy-label scores (scores.parquet): suspicion, rank, evidence per label, suggested labels."""
    from .noise import score_workspace
    from .workspace import Workspace

    params = {"prior_weight": prior_weight, "n_folds": folds, "flag_threshold": flag_threshold,
              "outlier_weight": outlier_weight, "missing_start": missing_start, "missing_gain": missing_gain,
              "refine": refine, "seed": seed}
    if model_weight is not None:
        try:
            params["model_weight"] = model_weight if model_weight == "auto" else float(model_weight)
        except ValueError:
            raise click.BadParameter(f"--model-weight must be a number in [0, 1] or auto, got {model_weight!r}") \
                from None
    ws = Workspace(workspace)
    try:
        card, skipped = score_workspace(ws, force=force, progress=click.echo,
                                        **{k: v for k, v in params.items() if v is not None})
    except ValueError as exc:
        if isinstance(exc, EomineError):
            raise
        raise click.BadParameter(str(exc)) from None  # a parameter out of range
    state = "up to date" if skipped else f"done in {sum(card['seconds'].values()):.1f} s"
    click.echo(f"score    {state} ({card['n_flagged']:,} of {card['n']:,} patches flagged, "
               f"{card['n_flagged'] / max(card['n'], 1):.1%}; review them in the dashboard's Review tab)")


@main.command("export")
@click.argument("workspace", type=click.Path(path_type=Path))
@click.option("--format", "fmt", required=True, type=click.Choice(["parquet", "csv", "reben", "geoparquet"]),
              help="parquet/csv: curated catalog; reben: reBEN-compatible metadata.parquet; geoparquet: footprints.")
@click.option("--out", required=True, type=click.Path(path_type=Path), help="File to write (history goes beside it).")
@click.option("--drop-excluded", is_flag=True, help="Leave excluded patches out (default: keep them, marked).")
@click.option("--overwrite", is_flag=True, help="Replace an existing export.")
def export_cmd(workspace, fmt, out, drop_excluded, overwrite):
    """Export the labels after the edits, the curation state and the edit history."""
    from .export import export_workspace

    card = export_workspace(workspace, fmt, out, drop_excluded=drop_excluded, overwrite=overwrite)
    click.echo(f"exported {card['n_rows']:,} patches to {out} ({card['n_changed']:,} relabelled, "
               f"{card['n_excluded']:,} excluded, {card['n_dropped']:,} dropped; edit log version "
               f"{card['edits_version']}); history: {card['n_events']:,} events in {card['history']}")


@main.command("history")
@click.argument("workspace", type=click.Path(path_type=Path))
@click.option("--patch", "patch_id", help="The events of one patch instead of the batches.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def history_cmd(workspace, patch_id, as_json):
    """The edit batches (id, time, author, kind, patches, active, note), oldest first."""
    from .curation import EditLog

    log = EditLog(workspace, create=False)
    df = log.events(patch_id=patch_id) if patch_id else log.batches()
    if as_json:
        click.echo(df.astype(object).where(df.notna(), None).to_json(orient="records", indent=1))
        return
    if df.empty:
        click.echo(f"no edits of {patch_id}" if patch_id else f"no edits in {workspace}")
        return
    if patch_id:
        for e in df.itertuples():
            lab = e.label if isinstance(e.label, str) else ""
            click.echo(f"{e.id:>7}  {e.time[:19]}  batch {e.batch:<5} {e.author:<16} {e.op:<8} {lab}  {e.note}")
        return
    click.echo(f"{'batch':>6}  {'time (UTC)':<19}  {'author':<16} {'kind':<10} {'patches':>8}  {'state':<7} note")
    for b in df.itertuples():
        kind = b.kind if b.kind == "edit" else f"{b.kind} {b.target}"
        state = ("active" if b.active else "undone") if b.kind == "edit" else ""
        click.echo(f"{b.id:>6}  {b.time[:19]:<19}  {b.author[:16]:<16} {kind:<10} {b.n_events:>8,}  {state:<7} "
                   f"{b.note}{f'  [{b.source}]' if b.source not in ('app', '') else ''}")


@main.command()
@click.argument("workspace", type=click.Path(path_type=Path), required=False)
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Interface to bind. Anything but a loopback address requires --auth.")
@click.option("--port", default=8050, show_default=True)
@click.option("--read-only", is_flag=True, help="Presentation mode: no edit controls, every edit refused (403).")
@click.option("--auth", "auth", metavar="env:VAR|file:PATH",
              help="HTTP basic auth on every request; user:password from an environment variable or a file.")
@click.option("--debug", is_flag=True, help="Dash's development server with reloader and error overlay (development only).")
def serve(workspace, host, port, read_only, auth, debug):
    """Serve the dashboard for WORKSPACE (default: the demo workspace) on http://HOST:PORT."""
    from dashboard.access import is_loopback, load_credentials

    from .workspace import Workspace

    ws = Workspace(workspace or default_workspace_dir() / "demo")
    credentials = load_credentials(auth) if auth else None
    if not is_loopback(host) and credentials is None:
        raise click.UsageError(f"refusing to bind {host} without authentication: pass --auth env:VAR or "
                               "--auth file:PATH (user:password), or serve on 127.0.0.1")
    from dashboard.app import serve as run_server

    mode = " read-only," if read_only else ""
    login = f" login {credentials.user}," if credentials else ""
    click.echo(f"eomine: {ws.name}, {ws.meta['n_patches']:,} patches,{mode}{login} -> http://{host}:{port}/  "
               "(Ctrl-C stops)")
    run_server(ws.path, host=host, port=port, read_only=read_only, debug=debug, credentials=credentials)


@main.command("tour")
@click.argument("workspace", type=click.Path(path_type=Path))
@click.option("--strategy", type=click.Choice(["random", "grand", "boundary", "class"]), default="random",
              show_default=True, help="random walk, grand tour, class-border tour, or a tour within one class.")
@click.option("--start", "start", default=None, help="Patch id of the first stop (default: chosen by the seed).")
@click.option("--steps", default=50, show_default=True,
              help="Stops (grand tour by cluster: the number of clusters; by class: ignored).")
@click.option("--label", default=None, help="class: the class to tour.")
@click.option("--by", type=click.Choice(["class", "cluster"]), default="class", show_default=True,
              help="grand: one stop per class or per cluster of the 2-D layout.")
@click.option("--seed", default=0, show_default=True)
@click.option("--max-run", default=25, show_default=True, help="random/boundary: teleport after this many steps.")
@click.option("--export", "export", required=True, type=click.Path(path_type=Path),
              help="Self-contained HTML player to write (plays offline).")
@click.option("--gif", type=click.Path(path_type=Path), help="Also write an animated GIF.")
@click.option("-c", "--composite", default="true_color", show_default=True, help="Band composite of the images.")
@click.option("--size", default=384, show_default=True, help="Image size in the HTML (pixels).")
@click.option("--interval", default=2.0, show_default=True, help="Seconds per stop when playing.")
def tour_cmd(workspace, strategy, start, steps, label, by, seed, max_run, export, gif, composite, size, interval):
    """A tour through the kNN graph, exported as an offline HTML player (and optionally a GIF)."""
    from .tour_export import export_gif, export_html
    from .tours import Tour, TourGraph
    from .workspace import Workspace

    ws = Workspace(workspace)
    graph = TourGraph.from_workspace(ws)
    tour = Tour(strategy, steps=steps, start=start, label=label, seed=seed, by=by, max_run=max_run).fit(graph)
    out = export_html(tour, ws, export, composite=composite, size=size, interval=interval)
    jumps = int(tour.jumps_[1:].sum())
    click.echo(f"tour     {len(tour.rows_)} stops ({strategy}, seed {seed}, {jumps} jumps) computed in "
               f"{tour.seconds_ * 1e3:.0f} ms -> {out} ({out.stat().st_size / 1e6:.1f} MB)")
    if gif:
        g = export_gif(tour, ws, gif, composite=composite, interval=min(interval, 5.0))
        click.echo(f"gif      -> {g} ({g.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
