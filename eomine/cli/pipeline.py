"""Commands of the pipeline after ingest: ``embed``, ``knn``, ``project``, ``run``, ``report``, ``score``."""

from __future__ import annotations

import json
from pathlib import Path

import click

from mining._internal.validation import Interval
from mining.knn import KNNGraph
from mining.noise import NoiseScorer
from mining.projection import Projection

from ._options import (
    Choice,
    Int,
    StoreUrl,
    backend_options,
    encoder_options,
    force_option,
    json_option,
    option_type,
    ray_cluster,
    seed_option,
    with_options,
    workspace_argument,
)
from .data import FORMATS

__all__ = ["embed_cmd", "knn_cmd", "project_cmd", "run_cmd", "report_cmd", "score_cmd"]


def _encoder_params(encoder: str, opts: dict) -> dict:
    """The encoder's keyword parameters from ``--from``, ``--ids``, ``--checkpoint``, ``--bands``, ``--arch`` and
    ``--param``; an option that does not apply to the encoder, or a ``--param`` it does not take, is a usage
    error."""
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
        params.update(path=str(opts["checkpoint"]), bands=list(opts["bands"]))
        if opts.get("arch"):
            params["arch"] = opts["arch"]
    params.update(dict(opts.get("param") or ()))
    if params:
        known = _encoder_parameters(encoder)
        unknown = sorted(set(params) - set(known))
        if unknown:
            raise click.UsageError(f"--param {unknown[0]}: the {encoder} encoder has no parameter {unknown[0]} "
                                   f"(its parameters: {', '.join(known)})")
    return params


def _resolve(encoder: str, workspace: Path) -> str:
    """``--encoder`` resolved for the workspace: ``auto`` is galileo when its weights are found and the workspace's
    bands fill one of its channel groups, else spectral (:func:`mining.encoders.resolve_encoder`)."""
    from mining.encoders import resolve_encoder
    from mining.workspace import Workspace

    bands = None
    if encoder == "auto" and workspace.exists():
        ws = Workspace(workspace)
        if ws.has_pixels:
            bands = ws.store.bands
    return resolve_encoder(encoder, bands)


def _echo_resolved(encoder: str, resolved: str) -> None:
    """Say which encoder ``auto`` chose (after the options were checked: an error prints nothing else)."""
    if encoder == "auto":
        click.echo(f"encoder  auto -> {resolved}")


def _encoder_parameters(encoder: str) -> list[str]:
    """Names of the keyword parameters of encoder ``encoder``."""
    import importlib
    import inspect

    from mining.encoders import ENCODERS

    module, name = ENCODERS[encoder].split(":")
    cls = getattr(importlib.import_module(module), name)
    return [p for p in inspect.signature(cls.__init__).parameters if p != "self"]


@click.command("embed")
@workspace_argument()
@with_options(encoder_options)
@with_options(backend_options)
@click.option("--shard-rows", type=Int(Interval(int, 1, None)), default=None,
              help="--backend ray: rows per shard (one Parquet file each; default 16384).")
@click.option("--store-url", type=StoreUrl(), default=None,
              help="--backend ray: where the workers read the pixel store (fsspec URL of WS/pixels, e.g. "
                   "s3://bucket/ws/pixels with s3fs); default the workspace's own folder.")
@force_option("Recompute even if the embeddings are up to date.")
def embed_cmd(workspace, encoder, device, batch_size, backend, address, actors, shard_rows, store_url, force,
              **opts):
    """Compute embeddings (embeddings.parquet + embeddings.json)."""
    from mining.pipeline import step_embed
    from mining.workspace import Workspace

    resolved = _resolve(encoder, workspace)
    params = _encoder_params(resolved, opts)
    context = ray_cluster(backend, address, actors, **{"--shard-rows": shard_rows, "--store-url": store_url})
    _echo_resolved(encoder, resolved)
    with context as cluster:
        res = step_embed(Workspace(workspace), resolved, params, device=device, batch_size=batch_size, force=force,
                         cluster=cluster, shard_rows=shard_rows, store_url=store_url)
    click.echo(res.line())
    if not res.skipped and "patches_per_s" in res.card:
        click.echo(f"  {res.card['patches_per_s']:,.0f} patches/s")


@click.command("knn")
@workspace_argument()
@click.option("--k", default=30, show_default=True, type=option_type(KNNGraph, "k"),
              help="Neighbours per patch (fewer than the embedded patches).")
@click.option("--metric", default="cosine", show_default=True, type=option_type(KNNGraph, "metric"))
@click.option("--method", default="auto", show_default=True, type=option_type(KNNGraph, "method"),
              help="auto: exact torch on GPU or up to 20,000 points, pynndescent otherwise (FAISS on Ray); "
                   "faiss: approximate FAISS index, its recall measured on 1,000 rows.")
@click.option("--device", default="auto", show_default=True, type=option_type(KNNGraph, "device"))
@click.option("--nprobe", default=16, show_default=True, type=option_type(KNNGraph, "nprobe"),
              help="--method faiss: inverted lists searched per query.")
@seed_option(KNNGraph)
@with_options(backend_options)
@force_option()
def knn_cmd(workspace, k, metric, method, device, nprobe, seed, backend, address, actors, force):
    """Build the kNN graph once (knn/indices.npy, knn/distances.npy, knn/knn.json)."""
    from mining.pipeline import step_knn
    from mining.workspace import Workspace

    with ray_cluster(backend, address, actors) as cluster:
        click.echo(step_knn(Workspace(workspace), k=k, metric=metric, method=method, device=device, seed=seed,
                            force=force, cluster=cluster, nprobe=nprobe).line())


@click.command("project")
@workspace_argument()
@click.option("--method", default="umap", show_default=True, type=option_type(Projection, "method"))
@seed_option(Projection)
@click.option("--min-dist", default=0.1, show_default=True, type=option_type(Projection, "min_dist"))
@click.option("--epochs", "n_epochs", type=option_type(Projection, "n_epochs"), default=None,
              help="UMAP epochs (default: umap-learn's: 500 up to 10,000 points, 200 above).")
@click.option("--init", type=option_type(Projection, "init"), default="auto", show_default=True,
              help="UMAP start layout; auto = spectral up to 50,000 points, PCA above.")
@click.option("--reproducible/--parallel", "reproducible", default=None,
              help="Bit-reproducible from --seed (one thread) or parallel (all cores, each run differs a little). "
                   "Default: reproducible up to 50,000 points, parallel above.")
@force_option()
def project_cmd(workspace, method, seed, min_dist, n_epochs, init, reproducible, force):
    """2-D layout (projection.parquet): UMAP on the stored kNN graph, or PCA as an instant preview."""
    from mining.pipeline import format_report, step_project, step_report
    from mining.workspace import Workspace

    ws = Workspace(workspace)
    res = step_project(ws, method=method, seed=seed, min_dist=min_dist, n_epochs=n_epochs, init=init,
                       reproducible="auto" if reproducible is None else reproducible, force=force)
    click.echo(res.line())
    if method == "umap" and res.card.get("reproducible") is False:
        click.echo("         (parallel UMAP: this layout is not bit-reproducible; --reproducible makes it so, "
                   "on one thread)")
    click.echo(format_report(step_report(ws)))


@click.command("run")
@workspace_argument()
@click.option("--source", type=click.Path(path_type=Path), help="Ingest SOURCE first (when WORKSPACE is missing).")
@click.option("--format", "fmt", type=Choice(FORMATS))
@with_options(encoder_options)
@click.option("--k", default=30, show_default=True, type=option_type(KNNGraph, "k"))
@click.option("--method", default="umap", show_default=True, type=option_type(Projection, "method"))
@seed_option(Projection)
@with_options(backend_options)
@force_option("Recompute every step.")
def run_cmd(workspace, source, fmt, encoder, device, batch_size, k, method, seed, backend, address, actors, force,
            **opts):
    """Ingest (optional) -> embed -> knn -> project -> quality report; up-to-date steps are skipped."""
    from mining.encoders import resolve_encoder
    from mining.pipeline import run_pipeline
    from mining.workspace import Workspace

    if source and not fmt:
        raise click.UsageError("--source needs --format")
    context = ray_cluster(backend, address, actors)
    _encoder_params(resolve_encoder(encoder), opts)  # a bad --param is an error before anything is ingested
    if source:
        if not workspace.exists():
            from mining.datasets import FORMATS as LOADERS
            from mining.ingest import ingest as run_ingest

            click.echo(run_ingest(LOADERS[fmt](source), workspace).summary())
        else:
            click.echo(f"ingest   up to date ({workspace} exists; `eomine ingest --overwrite` to redo)")
    resolved = _resolve(encoder, workspace)  # auto looks at the ingested bands
    params = _encoder_params(resolved, opts)
    _echo_resolved(encoder, resolved)
    with context as cluster:
        run_pipeline(Workspace(workspace), encoder=resolved, encoder_params=params, k=k, method=method, seed=seed,
                     device=device, force=force, echo=click.echo, cluster=cluster)


@click.command("report")
@workspace_argument()
@json_option
def report_cmd(workspace, as_json):
    """Embedding quality: kNN label agreement vs chance, 2-D trustworthiness."""
    from mining.pipeline import format_report, step_report
    from mining.workspace import Workspace

    rep = step_report(Workspace(workspace))
    click.echo(json.dumps(rep, indent=1) if as_json else format_report(rep))


def _scorer_option(flag: str, name: str, help: str):
    return click.option(flag, name, type=option_type(NoiseScorer, name), default=None, help=help)


@click.command("score")
@workspace_argument()
@_scorer_option("--model-weight", "model_weight",
                "Weight of the out-of-fold classifier against the neighbour support: 0..1, or auto "
                "(per class, least log-loss; the default).")
@_scorer_option("--prior-weight", "prior_weight",
                "How much label co-occurrence discounts 'spurious' evidence, 0..1 (default 0.75).")
@_scorer_option("--folds", "n_folds", "Folds of the out-of-fold classifier (default 5).")
@_scorer_option("--flag-threshold", "flag_threshold", "Score at which a patch is flagged (default 0.6).")
@_scorer_option("--outlier-weight", "outlier_weight",
                "Weight of the class-conditional distance ('outlier') evidence, 0..1 (default 0.3).")
@_scorer_option("--missing-start", "missing_start",
                "Multi-label: 'missing' evidence starts at this fraction of a class's typical support "
                "(default 0.7).")
@_scorer_option("--missing-gain", "missing_gain",
                "Multi-label: slope of the 'missing' evidence above its start (default 1.5).")
@_scorer_option("--refine", "refine",
                "Refinement passes in which flagged neighbours vote with their suggested labels (default 1).")
@seed_option(NoiseScorer)
@with_options(backend_options)
@force_option("Recompute even if scores.parquet is up to date.")
def score_cmd(workspace, seed, backend, address, actors, force, **params):
    """Noisy-label scores (scores.parquet): suspicion, rank, evidence per label, suggested labels."""
    from mining.noise import score_workspace
    from mining.workspace import Workspace

    ws = Workspace(workspace)
    with ray_cluster(backend, address, actors) as cluster:
        card, skipped = score_workspace(ws, force=force, progress=click.echo, seed=seed, cluster=cluster,
                                        **{k: v for k, v in params.items() if v is not None})
    state = "up to date" if skipped else f"done in {sum(card['seconds'].values()):.1f} s"
    click.echo(f"score    {state} ({card['n_flagged']:,} of {card['n']:,} patches flagged, "
               f"{card['n_flagged'] / max(card['n'], 1):.1%}; review them in the dashboard's Review tab)")
