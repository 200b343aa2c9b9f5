"""``eomine embed --backend ray``: the pixel store in row shards, read by Ray Data, encoded by an actor pool.

The plan
--------
* The encoder is fitted once, by the command's process (as the local backend does), and shipped to the actors.
* The store's rows are cut into shards of ``shard_rows`` rows (a multiple of the batch size, so every batch is
  the batch the local backend would encode: the same rows, the same results).
* A Ray Data pipeline: ``from_items`` of the batches still to do -> ``map_batches(read)`` (tasks that read the
  byte range of their rows from the store, through fsspec: :class:`mining.store_fs.FsPixelStore`) ->
  ``map_batches(encoder actor, concurrency=actors)`` (one GPU per actor when the cluster has GPUs).
* The command's process collects the embeddings; each shard, once complete, is written as its own Parquet file
  ``WS/embeddings.shards/shard-<start>.parquet`` (atomically). A run that crashes, or loses a node beyond Ray's
  retries, leaves the finished shards, and the next run (same encoder state, catalog and shard size) skips them.
  A killed actor is restarted by Ray Data and its batches retried, within the same run.
* The shards are merged in catalog order into the same ``embeddings.parquet`` + ``embeddings.json`` as the
  local backend; the card records the backend, the cluster and the shards.
"""

from __future__ import annotations

import shutil
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from .. import __version__
from .._internal.artifacts import file_hash, read_card, write_card
from ..embeddings import (
    EMBEDDINGS_FORMAT_VERSION,
    _groups_needed,
    auto_batch_size,
    embed_key,
    resolve_device,
    write_embedding_parts,
)
from ..errors import DataError, WorkspaceError
from ..workspace import Workspace, atomic_write
from .cluster import RayCluster

__all__ = ["embed_ray", "shard_spans", "DEFAULT_SHARD_ROWS"]

#: rows per shard: 16,384 reBEN patches are 4.5 GB of pixels, a few seconds of one GPU
DEFAULT_SHARD_ROWS = 16384
#: CPUs a read task reserves (reading is I/O: it should not hold a whole CPU against the encoders)
READ_CPUS = 0.5


def shard_spans(n: int, shard_rows: int, batch_size: int) -> list[tuple[int, int]]:
    """``(start, stop)`` of each shard: ``shard_rows`` rounded up to a multiple of ``batch_size``.

    Examples
    --------
    >>> shard_spans(1000, 300, 256)
    [(0, 512), (512, 1000)]
    """
    rows = -(-int(shard_rows) // batch_size) * batch_size
    return [(s, min(s + rows, n)) for s in range(0, n, rows)]


def _read_rows(item: dict, *, url: str, groups: list[str], storage_options: dict) -> dict:
    """Ray Data map: batch descriptors ``{start, stop}`` -> the raw pixels of those rows (one ranged read per
    band group, through fsspec), plus the row numbers."""
    from ..store_fs import FsPixelStore

    store = FsPixelStore(url, storage_options=storage_options)
    out = {"row": [], **{g: [] for g in groups}}
    for b0, b1 in zip(item["start"], item["stop"], strict=True):
        raw = store.rows(int(b0), int(b1), groups)
        out["row"].append(np.arange(b0, b1, dtype=np.int64))
        for g in groups:
            out[g].append(raw[g])
    return {k: np.concatenate(v) for k, v in out.items()}


class _Encode:
    """Ray Data actor: holds the fitted encoder (on its GPU when it has one) and embeds batches of rows."""

    def __init__(self, encoder_blob: bytes, device: str, groups: list[str], batch_size: int):
        import pickle

        self.encoder = pickle.loads(encoder_blob).to_device(device)
        self.groups, self.batch_size = groups, batch_size

    def __call__(self, batch: dict) -> dict:
        rows = np.asarray(batch["row"], dtype=np.int64)
        out = np.empty((len(rows), self.encoder.dim_), dtype=np.float32)
        # encode exactly the local backend's batches (rows b*bs .. (b+1)*bs), whatever Ray Data bundled
        cuts = np.flatnonzero(np.diff(rows // self.batch_size) != 0) + 1
        for sel in np.split(np.arange(len(rows)), cuts):
            part = {g: np.ascontiguousarray(batch[g][sel]) for g in self.groups}
            b0, b1 = int(rows[sel[0]]), int(rows[sel[-1]]) + 1
            if b1 - b0 != len(sel):
                raise DataError(f"rows {b0}:{b1} of a batch are not contiguous")
            out[sel] = (self.encoder.encode(part, rows=(b0, b1)) if getattr(self.encoder, "uses_rows", False)
                        else self.encoder.encode(part))
        return {"row": rows, "embedding": out}


def _write_shard(path, X: np.ndarray) -> None:
    dim = X.shape[1]
    table = pa.table({"embedding": pa.FixedSizeListArray.from_arrays(pa.array(X.ravel(), type=pa.float32()), dim)})
    atomic_write(path, lambda tmp: pq.write_table(table, tmp, compression="zstd"))


def _read_shard(path, dim: int) -> np.ndarray:
    col = pq.read_table(path).column("embedding").combine_chunks()
    return col.values.to_numpy(zero_copy_only=False).reshape(-1, dim).astype(np.float32, copy=False)


def embed_ray(ws: Workspace, encoder, cluster: RayCluster, *, device: str = "auto", batch_size: int | str = "auto",
              shard_rows: int = DEFAULT_SHARD_ROWS, store_url: str | None = None,
              storage_options: dict | None = None, progress: bool = True, fit: bool = True,
              retries: int = 2) -> dict:
    """Embed every patch with pixels on a Ray cluster; same files as :func:`mining.embeddings.embed`.

    Parameters
    ----------
    ws : Workspace
    encoder : Encoder
        Unfitted (``fit=True``: fitted here, on this process's device) or fitted.
    cluster : RayCluster
        Entered (connected).
    device : {"auto", "cpu", "cuda"}
        The actors' device: ``auto`` = one GPU per actor when the cluster has GPUs (for encoders with torch
        state), else CPU.
    batch_size : int or "auto"
        Rows per encoder call (``auto``: as the local backend on the actors' device).
    shard_rows : int
        Rows per shard (rounded up to a multiple of the batch size).
    store_url : str, optional
        Where the workers read the pixel store (fsspec URL of the ``pixels/`` folder); default the workspace's
        own folder as ``file://`` (a local cluster, or a workspace on a file system every node mounts at the
        same path).
    storage_options : dict, optional
        fsspec options of ``store_url``.
    retries : int
        Times the remaining shards are resubmitted when the Ray pipeline fails (actor restarts exhausted, a lost
        node); finished shards are never recomputed.

    Returns
    -------
    dict
        The embedding card (``embeddings.json``), with ``backend``, ``cluster`` and ``shards``.
    """
    import pickle

    import ray
    import ray.data

    from ..store_fs import FsPixelStore, store_url_of

    if not encoder.needs_pixels:
        raise ValueError(f"encoder {encoder.name!r} does not compute from pixels; use write_embeddings")
    if not ws.has_pixels:
        raise WorkspaceError(f"{ws.path} has no pixels (metadata-only ingest): use `eomine embed --encoder import`")
    if device == "cuda" and not cluster.use_gpus:
        raise DataError("--device cuda requested but the Ray cluster has no GPU")
    t0 = time.perf_counter()
    here = resolve_device("cpu" if device == "cpu" else "auto")
    if fit:
        encoder.fit(ws, device=here, progress=progress)
    on_gpu = device != "cpu" and cluster.use_gpus
    actor_dev = "cuda" if on_gpu else "cpu"
    bs = auto_batch_size(encoder, actor_dev) if batch_size == "auto" else int(batch_size)
    if bs < 1:
        raise ValueError(f"batch_size must be >= 1, got {bs}")
    store = ws.store
    n = store.n_rows
    url = store_url or store_url_of(ws.files.pixels)
    remote = FsPixelStore(url, storage_options=storage_options)
    if not remote.matches(store):
        raise WorkspaceError(f"--store-url {url}: not the pixel store of {ws.path} (rows or band groups differ)")
    groups = _groups_needed(encoder, store)
    spans = shard_spans(n, shard_rows, bs)
    key = {"embed": embed_key(ws, encoder), "shards": spans[0][1] if spans else 0, "batch_size": bs}
    shards_dir = ws.files.embeddings_shards
    if (read_card(ws.files.embeddings_shards_card) or {}).get("key") != key:
        shutil.rmtree(shards_dir, ignore_errors=True)
        shards_dir.mkdir()
        write_card(ws.files.embeddings_shards_card, {"key": key})
    done = {s for s, _ in spans if ws.files.embeddings_shard(s).is_file()}
    skipped = len(done)
    dim = int(encoder.dim_)
    blob = pickle.dumps(encoder)
    # an actor that dies fails the pipeline (max_restarts=0) and the loop below resubmits the shards not yet
    # written: Ray Data's own actor restart can leave a pipeline waiting forever on the restarted actor (seen
    # with Ray 2.52 when an actor was killed between two batches)
    actor_args = {"num_gpus": 1, "num_cpus": 1} if on_gpu else {"num_cpus": 1}
    actor_args["max_restarts"] = 0
    # readers get the CPUs the actors leave: otherwise a restarted actor (after a crash) can find every CPU held
    # by read tasks that wait for it to consume their output, and the pipeline stalls
    n_read = max(1, int((cluster.cpus_ - cluster.n_actors) / READ_CPUS))
    attempts = 0
    lost: list[str] = []
    while len(done) < len(spans):
        todo = [(s, e) for s, e in spans if s not in done]
        items = [{"start": b0, "stop": min(b0 + bs, e)} for s, e in todo for b0 in range(s, e, bs)]
        ds = ray.data.from_items(items, override_num_blocks=min(len(items), max(1, 4 * cluster.n_actors)))
        ds = ds.map_batches(_read_rows, fn_kwargs={"url": url, "groups": groups,
                                                   "storage_options": dict(storage_options or {})},
                            batch_size=1, num_cpus=READ_CPUS, compute=ray.data.TaskPoolStrategy(size=n_read))
        ds = ds.map_batches(_Encode, fn_constructor_kwargs={"encoder_blob": blob, "device": actor_dev,
                                                            "groups": groups, "batch_size": bs},
                            batch_size=bs, compute=ray.data.ActorPoolStrategy(size=cluster.n_actors),
                            **actor_args)
        pending = {s: (e, np.empty((e - s, dim), np.float32), np.zeros(e - s, bool)) for s, e in todo}
        starts = np.array([s for s, _ in todo])
        try:
            for batch in ds.iter_batches(batch_size=None, batch_format="numpy"):
                rows, emb = batch["row"], batch["embedding"]
                owner = starts[np.searchsorted(starts, rows, side="right") - 1]
                for s in np.unique(owner):
                    e, buf, seen = pending[int(s)]
                    sel = owner == s
                    buf[rows[sel] - s] = emb[sel]
                    seen[rows[sel] - s] = True
                    if seen.all():
                        _write_shard(ws.files.embeddings_shard(int(s)), buf)
                        done.add(int(s))
                        del pending[int(s)]
        except Exception as exc:  # a dead actor or node, as whichever exception Ray Data wraps it in
            attempts += 1
            if attempts > retries:
                raise DataError(f"embed on Ray failed {attempts} times ({type(exc).__name__}); {len(done)} of "
                                f"{len(spans)} shards are saved in {shards_dir}: run the command again to "
                                "finish") from exc
            lost.append(f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}")
            continue
        if len(done) < len(spans):
            raise DataError(f"embed on Ray ended with {len(spans) - len(done)} shard(s) incomplete")
    write_embedding_parts(ws, dim, (_read_shard(ws.files.embeddings_shard(s), dim) for s, _ in spans))
    seconds = time.perf_counter() - t0
    card = {"format": "eomine-embeddings", "version": EMBEDDINGS_FORMAT_VERSION, **encoder.card(),
            "device": actor_dev, "batch_size": bs, "n": int(n), "dim": dim, "seconds": round(seconds, 2),
            "patches_per_s": round(n / max(seconds, 1e-9), 1), "eomine": __version__,
            "catalog_hash": file_hash(ws.catalog_path), "key": key["embed"],
            "backend": "ray",
            "cluster": cluster.card(store_url=url, retries_used=attempts, failures=lost),
            "shards": {"n": len(spans), "rows": spans[0][1] if spans else 0, "skipped": skipped}}
    write_card(ws.files.embeddings_card, card)
    shutil.rmtree(shards_dir, ignore_errors=True)
    return card
