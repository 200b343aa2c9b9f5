"""The stages after ingest, each skipped when its inputs and parameters are unchanged.

embed -> knn -> project -> quality report. Every artifact's card (``*.json``) records the key it was
built from: a hash of the step's parameters and of its inputs' content (catalog + pixel store for
``embed``, the embeddings for ``knn``, the graph for ``project``). A step whose key matches is skipped.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._internal.artifacts import file_hash, load_card, params_hash, write_card
from .workspace import Workspace

__all__ = ["StepResult", "step_embed", "step_knn", "step_project", "step_report", "run_pipeline"]


@dataclass
class StepResult:
    step: str
    skipped: bool
    card: dict

    def line(self) -> str:
        c = self.card
        if self.skipped:
            return f"{self.step:<8} up to date ({_describe(self.step, c)})"
        return f"{self.step:<8} done in {c.get('seconds', 0):.1f} s ({_describe(self.step, c)})"


def _describe(step: str, c: dict) -> str:
    on_ray = _on_ray(c)
    if step == "embed":
        return f"{c.get('encoder')} dim {c.get('dim')} on {c.get('device')}{on_ray}, {c.get('n', 0):,} patches"
    if step == "knn":
        recall = f", recall {c['recall']:.3f}" if "recall" in c else ""
        return f"k={c['params']['k']} {c['params']['metric']}, {c.get('method')} on {c.get('device')}{on_ray}{recall}"
    if step == "project":
        return f"{c['params']['method']} seed {c['params']['seed']}"
    return ""


def _on_ray(c: dict) -> str:
    if c.get("backend") != "ray":
        return ""
    cl = c.get("cluster", {})
    return f" (Ray {cl.get('address')}: {cl.get('actors')} actors, {cl.get('nodes')} node(s))"


def _embed_run_key(ws: Workspace, name: str, params: dict) -> str:
    inputs = {"catalog": file_hash(ws.catalog_path)}
    if ws.has_pixels:
        inputs["store"] = file_hash(ws.files.store_card)
    if name == "import":
        from pathlib import Path

        inputs["file"] = file_hash(Path(params["path"]))
    return params_hash({"encoder": name, "params": params, "inputs": inputs})


def step_embed(ws: Workspace, name: str = "spectral", params: dict | None = None, *, device: str = "auto",
               batch_size="auto", force: bool = False, progress: bool = True, cluster=None,
               shard_rows: int | None = None, store_url: str | None = None) -> StepResult:
    """Embed (skipped when up to date). With ``cluster`` (an entered :class:`mining.distributed.RayCluster`) the
    pixels are embedded on Ray (:func:`mining.distributed.embed.embed_ray`, ``shard_rows`` rows per shard, the
    workers reading the store at ``store_url``); the result, and so the run key, is the local backend's."""
    from .embeddings import embed, load_embeddings_card, write_embeddings
    from .encoders import make_encoder

    params = dict(params or {})
    run_key = _embed_run_key(ws, name, params)
    card = load_embeddings_card(ws)
    if not force and card and card.get("run_key") == run_key and ws.files.embeddings.is_file():
        return StepResult("embed", True, card)
    enc = make_encoder(name, **params)
    if enc.needs_pixels and cluster is not None:
        from .distributed.embed import DEFAULT_SHARD_ROWS, embed_ray

        card = embed_ray(ws, enc, cluster, device=device, batch_size=batch_size, progress=progress,
                         shard_rows=shard_rows or DEFAULT_SHARD_ROWS, store_url=store_url)
    elif enc.needs_pixels:
        card = embed(ws, enc, device=device, batch_size=batch_size, progress=progress)
    else:
        import time

        t0 = time.perf_counter()
        enc.fit(ws)
        card = write_embeddings(ws, enc.patch_ids_, enc.X_, {**enc.card(), "seconds": time.perf_counter() - t0})
    card["run_key"] = run_key
    write_card(ws.files.embeddings_card, card)
    return StepResult("embed", False, card)


def step_knn(ws: Workspace, *, k: int = 30, metric: str = "cosine", method: str = "auto", device: str = "auto",
             seed: int = 0, force: bool = False, cluster=None, nprobe: int = 16) -> StepResult:
    """Build the kNN graph (skipped when up to date); on Ray with ``cluster``
    (:class:`mining.distributed.knn.RayKNNGraph`)."""
    from .embeddings import embeddings_key, load_embeddings
    from .knn import KNNGraph, load_knn_card, save_knn

    ekey = embeddings_key(ws)
    if cluster is None:
        graph = KNNGraph(k, metric=metric, method=method, device=device, seed=seed, nprobe=nprobe)
    else:
        from .distributed.knn import RayKNNGraph

        graph = RayKNNGraph(k, cluster=cluster, metric=metric, method=method, device=device, seed=seed,
                            nprobe=nprobe)
    key = params_hash({"params": graph.get_params(), "embeddings_key": ekey})
    card = load_knn_card(ws)
    if not force and card and card.get("key") == key:
        return StepResult("knn", True, card)
    _, X = load_embeddings(ws)
    graph.fit(X)
    return StepResult("knn", False, save_knn(ws, graph, embeddings_key=ekey))


def step_project(ws: Workspace, *, method: str = "umap", seed: int = 0, min_dist: float = 0.1,
                 n_epochs: int | None = None, init: str = "auto", reproducible: bool | str = "auto",
                 force: bool = False) -> StepResult:
    from .embeddings import embeddings_key, load_embeddings
    from .knn import load_knn
    from .projection import Projection, load_projection_card, save_projection

    proj = Projection(method, seed=seed, min_dist=min_dist, n_epochs=n_epochs, init=init,
                      reproducible=reproducible)
    if method == "umap":
        ind, dist, kcard = load_knn(ws)
        upstream = kcard["key"]
    else:
        ind = dist = None
        upstream = embeddings_key(ws)
    key = params_hash({"params": proj.get_params(), "knn_key": upstream})
    card = load_projection_card(ws)
    if not force and card and card.get("key") == key:
        return StepResult("project", True, card)
    ids, X = load_embeddings(ws)
    proj.fit(X, (ind, dist) if ind is not None else None)
    return StepResult("project", False, save_projection(ws, ids, proj, knn_key=upstream))


QUALITY_FORMAT_VERSION = 1


def step_report(ws: Workspace, *, k: int = 10) -> dict:
    """Compute, store (``quality.json``) and return the embedding quality report."""
    from .embeddings import load_embeddings, load_embeddings_card
    from .knn import load_knn
    from .projection import load_projection, load_projection_card
    from .quality import label_matrix, quality_report

    ids, X = load_embeddings(ws)
    ind, _, kcard = load_knn(ws)
    labels = ws.catalog["labels"].to_numpy(object)[ws.rows_of(ids)]
    Y = label_matrix(labels, ws.nomenclature.classes)
    layout = None
    pcard = load_projection_card(ws)
    if pcard is not None and ws.files.projection.is_file():
        p = load_projection(ws)
        if len(p) == len(ids) and (p["patch_id"].to_numpy() == ids).all():
            layout = p[["x", "y"]].to_numpy(np.float32)
    rep = quality_report(X, Y, ind, layout, k=k)
    ecard = load_embeddings_card(ws) or {}
    rep.update({"format": "eomine-quality", "version": QUALITY_FORMAT_VERSION, "encoder": ecard.get("encoder"),
                "embeddings_key": ecard.get("key"), "knn_key": kcard.get("key"),
                "projection": (pcard or {}).get("params")})
    write_card(ws.files.quality_card, rep)
    return rep


def load_quality_report(ws: Workspace) -> dict | None:
    """``quality.json`` (format version checked), or None before the first report."""
    return load_card(ws.files.quality_card, version=QUALITY_FORMAT_VERSION, what="quality report")


def format_report(rep: dict) -> str:
    lines = [f"embedding quality ({rep.get('encoder')}, {rep['n']:,} patches, k={rep['k']}):"]
    if rep.get("knn_label_agreement") is None:
        lines.append("  kNN label agreement (Jaccard)  -       (no labelled patches: an unlabelled pool)")
    else:
        labelled = rep.get("n_labelled", rep["n"])
        lines.append(f"  kNN label agreement (Jaccard)  {rep['knn_label_agreement']:.3f}   "
                     f"(random neighbours: {rep['chance_label_agreement']:.3f}"
                     + (f"; {labelled:,} labelled patches" if labelled < rep["n"] else "") + ")")
    if "trustworthiness" in rep:
        lines.append(f"  2-D trustworthiness            {rep['trustworthiness']:.3f}   "
                     f"(sample of {rep['trustworthiness_sample']:,}; 1 = perfect)")
    return "\n".join(lines)


def run_pipeline(ws: Workspace, *, encoder: str = "spectral", encoder_params: dict | None = None, k: int = 30,
                 method: str = "umap", seed: int = 0, device: str = "auto", force: bool = False,
                 progress: bool = True, echo=print, cluster=None) -> dict:
    """embed -> knn -> project -> report, skipping up-to-date steps (embed and knn on Ray with ``cluster``).
    Returns the quality report."""
    for res in (step_embed(ws, encoder, encoder_params, device=device, force=force, progress=progress,
                           cluster=cluster),):
        echo(res.line())
    echo(step_knn(ws, k=k, device=device, seed=seed, force=force, cluster=cluster).line())
    echo(step_project(ws, method=method, seed=seed, force=force).line())
    rep = step_report(ws)
    echo(format_report(rep))
    return rep


