"""Build the full-scale reBEN workspace (549,488 patches) that the scale benches share.

Steps, each skipped when already done with the same parameters:

1. metadata-only ingest of the REAL official reBEN metadata (``ReBEN(root, metadata_only=True)``);
2. generated label-conditioned embeddings (:func:`bench.common.label_conditioned_embeddings`, scenes = the
   Sentinel-2 product of each patch), stored with :func:`mining.embeddings.write_embeddings` and the card
   ``encoder: generated-label-conditioned`` + the generator's parameters;
3. ``mining.pipeline.step_knn`` (k=30, cosine; pynndescent on the CPU at this size);
4. ``mining.pipeline.step_project`` (UMAP fed the stored graph), unless ``--no-project``.

Usage: python bench/make_reben_workspace.py [--out .bench/reben549k] [--k 30] [--dim 64] [--no-project]

From another bench: ``from bench.make_reben_workspace import build; ws = build()`` (or import this file by path).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import (  # noqa: E402
    BENCH_DIR,
    catalog_labels,
    label_conditioned_embeddings,
    reben_root,
    scenes_from_ids,
)

DEFAULT_OUT = BENCH_DIR / "reben549k"
ENCODER_NAME = "generated-label-conditioned"

__all__ = ["build", "DEFAULT_OUT", "ENCODER_NAME", "generator_params"]


def generator_params(dim: int = 64, seed: int = 0, **overrides) -> dict:
    """The generator's parameters as recorded in the embedding card (defaults of the generator + overrides)."""
    import inspect

    sig = inspect.signature(label_conditioned_embeddings)
    params = {k: p.default for k, p in sig.parameters.items()
              if p.kind is p.KEYWORD_ONLY and k not in ("scenes", "return_flipped", "n_scenes")}
    params.update(dim=dim, seed=seed, **overrides)
    params["scenes"] = "s2-product"  # scenes_from_ids: patches of one Sentinel-2 product share a scene
    return params


def _ensure_workspace(out: Path, echo):
    from mining.datasets import ReBEN
    from mining.errors import WorkspaceError
    from mining.ingest import ingest
    from mining.workspace import Workspace

    try:
        ws = Workspace(out)
        if ws.meta.get("n_patches"):
            echo(f"ingest   up to date ({ws.meta['n_patches']:,} patches in {out})")
            return ws
    except WorkspaceError:
        pass
    t0 = time.perf_counter()
    rep = ingest(ReBEN(reben_root(), metadata_only=True), out, overwrite=True, progress=False)
    echo(f"ingest   done in {time.perf_counter() - t0:.1f} s ({rep.n_patches:,} patches, metadata only, "
         f"{len(rep.issues)} skipped)")
    return Workspace(out)


def _ensure_embeddings(ws, params: dict, echo, force: bool) -> None:
    from mining._internal.artifacts import file_hash, read_card
    from mining.embeddings import write_embeddings

    card = read_card(ws.path / "embeddings.json") or {}
    if (not force and card.get("encoder") == ENCODER_NAME and card.get("params") == params
            and card.get("catalog_hash") == file_hash(ws.catalog_path)
            and (ws.path / "embeddings.parquet").is_file()):
        echo(f"embed    up to date ({ENCODER_NAME}, dim {card['dim']}, {card['n']:,} patches)")
        return
    t0 = time.perf_counter()
    ids, Y = catalog_labels(ws)
    gen = {k: v for k, v in params.items() if k != "scenes"}
    X = label_conditioned_embeddings(Y, scenes=scenes_from_ids(ids), **gen)
    dt = time.perf_counter() - t0
    write_embeddings(ws, ids, X, card={"encoder": ENCODER_NAME, "params": params, "device": "cpu",
                                       "seconds": round(dt, 2)})
    echo(f"embed    done in {dt:.1f} s + {time.perf_counter() - t0 - dt:.1f} s write "
         f"({ENCODER_NAME}, dim {X.shape[1]}, {len(X):,} patches)")


def build(out=DEFAULT_OUT, *, k: int = 30, dim: int = 64, seed: int = 0, project: bool = True,
          force: bool = False, echo=print, **generator):
    """Build (or bring up to date) the 549,488-patch reBEN workspace and return it.

    Parameters
    ----------
    out : path-like
        Workspace directory (default ``.bench/reben549k``).
    k : int
        Neighbours of the kNN graph.
    dim, seed : int
        Embedding dimension and generator seed.
    project : bool
        Also compute the UMAP layout (the slowest step).
    force : bool
        Regenerate the embeddings and recompute kNN / UMAP even when up to date (the ingest is kept).
    echo : callable
        Where progress lines go (``print``; ``lambda *a: None`` for silence).
    **generator
        Other :func:`bench.common.label_conditioned_embeddings` parameters (``noise``, ``flip``, ...).

    Returns
    -------
    mining.workspace.Workspace
    """
    from mining.pipeline import step_knn, step_project

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    ws = _ensure_workspace(out, echo)
    _ensure_embeddings(ws, generator_params(dim, seed, **generator), echo, force)
    echo(step_knn(ws, k=k, seed=seed, force=force).line())
    if project:
        echo(step_project(ws, method="umap", seed=seed, force=force).line())
    return ws


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--k", type=int, default=30)
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-project", action="store_true", help="stop after the kNN graph")
    ap.add_argument("--force", action="store_true", help="regenerate embeddings, recompute kNN and UMAP")
    opts = ap.parse_args(argv)
    t0 = time.perf_counter()
    ws = build(opts.out, k=opts.k, dim=opts.dim, seed=opts.seed, project=not opts.no_project, force=opts.force)
    print(f"workspace {ws.path} ready in {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
