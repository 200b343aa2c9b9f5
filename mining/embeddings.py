"""Compute, store and load embeddings (``embeddings.parquet`` + ``embeddings.json``).

``embed`` streams the pixel store batch by batch, so peak memory is bounded by the batch, not by the number
of patches. Results are written in chunks (``embeddings.partial/part-<start>.npy``, each atomic); an
interrupted run resumes from the chunks already written when the encoder and its fitted state are
unchanged, and gives byte-identical output.
"""

from __future__ import annotations

import shutil
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from . import __version__
from ._internal.artifacts import file_hash, load_card, params_hash, read_card, write_card
from .errors import DataError, WorkspaceError
from .store import read_rows
from .workspace import Workspace, atomic_write, save_npy

__all__ = ["embed", "load_embeddings", "load_embedding_ids", "load_embeddings_card", "embeddings_key",
           "write_embeddings", "write_embedding_parts", "embed_key", "EMBEDDINGS_FORMAT_VERSION", "resolve_device"]

EMBEDDINGS_FORMAT_VERSION = 1


def resolve_device(device: str = "auto") -> str:
    """``auto`` -> ``cuda`` when torch sees a GPU, else ``cpu``; validates explicit choices."""
    if device not in ("auto", "cpu", "cuda"):
        raise ValueError(f"device must be auto, cpu or cuda, got {device!r}")
    if device == "cpu":
        return "cpu"
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if device == "cuda":
        raise DataError("--device cuda requested but torch sees no CUDA GPU")
    return "cpu"


def auto_batch_size(encoder, device: str) -> int:
    return 1024 if device == "cuda" else 256


def embed(ws: Workspace, encoder, *, device: str = "auto", batch_size: int | str = "auto",
          chunk_size: int = 8192, progress: bool = True, fit: bool = True) -> dict:
    """Embed every patch with pixels and write ``embeddings.parquet`` + ``embeddings.json``.

    Parameters
    ----------
    ws : Workspace
    encoder : Encoder
        Unfitted (``fit=True``) or already fitted.
    device : {"auto", "cpu", "cuda"}
    batch_size : int or "auto"
    chunk_size : int
        Rows per resumable chunk file.
    progress : bool
        tqdm bar with patches/s.

    Returns
    -------
    dict
        The embedding card (also written to ``embeddings.json``).
    """
    from tqdm.auto import tqdm

    dev = resolve_device(device)
    if not encoder.needs_pixels:
        raise ValueError(f"encoder {encoder.name!r} does not compute from pixels; use write_embeddings")
    if not ws.has_pixels:
        raise WorkspaceError(f"{ws.path} has no pixels (metadata-only ingest): use `eomine embed --encoder import`")
    t0 = time.perf_counter()
    if fit:
        encoder.fit(ws, device=dev, progress=progress)
    bs = auto_batch_size(encoder, dev) if batch_size == "auto" else int(batch_size)
    if bs < 1:
        raise ValueError(f"batch_size must be >= 1, got {bs}")
    store = ws.store
    n = store.n_rows
    key = embed_key(ws, encoder)
    part = ws.files.embeddings_partial
    meta = read_card(ws.files.embeddings_partial_card)
    if meta is None or meta.get("key") != key:
        shutil.rmtree(part, ignore_errors=True)
        part.mkdir()
        write_card(ws.files.embeddings_partial_card, {"key": key})
    done = {int(p.stem.split("-")[1]) for p in part.glob("part-*.npy")}
    groups = _groups_needed(encoder, store)
    with tqdm(total=n, desc=f"embed ({encoder.name}, {dev})", unit="patch", disable=not progress,
              smoothing=0.05) as bar:
        todo = []
        for start in range(0, n, chunk_size):
            stop = min(start + chunk_size, n)
            if start in done:
                bar.update(stop - start)
            else:
                todo.append((start, stop))
        # one read-ahead stream over every batch still to do (it does not drain at chunk boundaries)
        spans = [(b0, min(b0 + bs, stop)) for start, stop in todo for b0 in range(start, stop, bs)]
        batches = prefetch_rows(store, spans, groups, pinned=dev == "cuda")
        try:
            for start, stop in todo:
                out = np.empty((stop - start, encoder.dim_), dtype=np.float32)
                for b0 in range(start, stop, bs):
                    b1 = min(b0 + bs, stop)
                    batch = next(batches)  # encoders with uses_rows (galileo: acquisition months) get the rows
                    out[b0 - start:b1 - start] = (encoder.encode(batch, rows=(b0, b1))
                                                  if getattr(encoder, "uses_rows", False) else encoder.encode(batch))
                    bar.update(b1 - b0)
                save_npy(ws.files.embeddings_chunk(start), out)
        finally:
            batches.close()
    dim = int(encoder.dim_)
    write_embedding_parts(ws, dim, (np.load(ws.files.embeddings_chunk(start)) for start in range(0, n, chunk_size)))
    card = {"format": "eomine-embeddings", "version": EMBEDDINGS_FORMAT_VERSION, **encoder.card(),
            "device": dev, "batch_size": bs, "n": int(n), "dim": dim, "seconds": round(time.perf_counter() - t0, 2),
            "patches_per_s": round(n / max(time.perf_counter() - t0, 1e-9), 1), "eomine": __version__,
            "catalog_hash": file_hash(ws.catalog_path), "key": key}
    write_card(ws.files.embeddings_card, card)
    shutil.rmtree(part, ignore_errors=True)
    return card


def embed_key(ws: Workspace, encoder) -> str:
    """Identity of an embedding run: the fitted encoder (card and state), the store's row count, the catalog."""
    return params_hash({"card": encoder.card(), "state": _state_hash(encoder), "n": ws.store.n_rows,
                        "catalog": file_hash(ws.catalog_path)})


def write_embedding_parts(ws: Workspace, dim: int, parts) -> None:
    """Write ``embeddings.parquet`` (atomically) from the embeddings of pixel rows 0, 1, ... in consecutive parts.

    The patch ids are the catalog's patches with pixels in pixel-row order (the catalog order of an ingest); one
    row group per part, so memory is bounded by a part.

    Parameters
    ----------
    ws : Workspace
    dim : int
    parts : iterable of ndarray of float32, shape (rows of the part, dim)
        Consecutive pixel rows, all ``store.n_rows`` of them in all.
    """
    cat = ws.catalog
    rows = cat["pixel_row"].to_numpy()
    have = rows >= 0
    order = np.argsort(rows[have], kind="stable")  # catalog rows with pixels, sorted by pixel row
    ids = cat["patch_id"].to_numpy()[have][order]
    schema = pa.schema([("patch_id", pa.string()), ("embedding", pa.list_(pa.float32(), dim))])

    def write(tmp):
        start = 0
        with pq.ParquetWriter(tmp, schema, compression="zstd") as w:
            for arr in parts:
                flat = pa.array(np.ascontiguousarray(arr, dtype=np.float32).ravel(), type=pa.float32())
                emb = pa.FixedSizeListArray.from_arrays(flat, dim)
                w.write_table(pa.table({"patch_id": pa.array(ids[start:start + len(arr)]), "embedding": emb},
                                       schema=schema))
                start += len(arr)
        if start != len(ids):
            raise DataError(f"{ws.path}: embeddings of {start} pixel rows for {len(ids)} patches with pixels")

    atomic_write(ws.files.embeddings, write)


def prefetch_rows(store, spans, groups, *, pinned: bool = False, depth: int = 2):
    """Yield the raw batches ``read_rows(store, b0, b1, groups)`` for ``spans``, read ahead by a thread pool.

    The pixel store is memory-mapped, so a batch is only read from disk when its bytes are touched; here reader
    threads copy the next ``depth`` batches into memory (NumPy releases the GIL while copying) while the encoder
    works on the current one. With ``pinned=True`` (CUDA) the copies land in page-locked host memory, so the
    encoder's host-to-device transfer is a single asynchronous DMA instead of a second copy on the main thread.

    Parameters
    ----------
    store : PixelStore
    spans : sequence of (int, int)
        ``(start, stop)`` row ranges, in the order they are wanted.
    groups : list of str
    pinned : bool
    depth : int
        Batches read ahead.

    Yields
    ------
    dict of group name -> ndarray, shape (stop - start, n_bands, size, size)
    """
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor

    def read(b0: int, b1: int) -> dict[str, np.ndarray]:
        raw = read_rows(store, b0, b1, groups)
        if not pinned:
            return {g: np.array(a) for g, a in raw.items()}
        import torch

        out = {}
        for g, a in raw.items():
            view = np.int16 if a.dtype == np.uint16 else a.dtype  # torch has no uint16 pinned buffers < 2.3
            buf = torch.empty(a.shape, dtype=torch.from_numpy(np.empty(0, view)).dtype, pin_memory=True)
            dst = buf.numpy().view(a.dtype)
            np.copyto(dst, a)
            out[g] = dst
        return out

    spans = list(spans)
    with ThreadPoolExecutor(max_workers=depth, thread_name_prefix="eomine-read") as pool:
        pending = deque(pool.submit(read, *sp) for sp in spans[:depth])
        for i in range(len(spans)):
            batch = pending.popleft().result()
            if i + depth < len(spans):
                pending.append(pool.submit(read, *spans[i + depth]))
            yield batch


def _groups_needed(encoder, store) -> list[str]:
    bands = list(getattr(encoder, "bands_", [])) + list(getattr(encoder, "s1_", []))
    gs = {store.band_group[b] for b in bands if b in store.band_group}
    return [g for g in store.groups if g in gs] or list(store.groups)


def _state_hash(encoder) -> str:
    """Hash of an encoder's fitted arrays, so a resumed run uses exactly the same encoder."""
    import hashlib

    h = hashlib.sha256()
    for k in sorted(vars(encoder)):
        if k.endswith("_") and not k.startswith("_"):
            v = getattr(encoder, k)
            if isinstance(v, np.ndarray):
                h.update(k.encode() + np.ascontiguousarray(v).tobytes())
            elif isinstance(v, str | int | float | list | tuple):
                h.update(k.encode() + repr(v).encode())
    state = getattr(encoder, "state_hash", None)
    if callable(state):
        h.update(state().encode())
    return h.hexdigest()[:16]


def write_embeddings(ws: Workspace, patch_ids, X: np.ndarray, card: dict) -> dict:
    """Store embeddings computed elsewhere (``import`` encoder, bench generators) in the standard format."""
    X = np.ascontiguousarray(X, dtype=np.float32)
    n, dim = X.shape
    schema = pa.schema([("patch_id", pa.string()), ("embedding", pa.list_(pa.float32(), dim))])
    table = pa.table({"patch_id": pa.array(np.asarray(patch_ids, dtype=object)),
                      "embedding": pa.FixedSizeListArray.from_arrays(pa.array(X.ravel(), type=pa.float32()), dim)},
                     schema=schema)
    atomic_write(ws.files.embeddings, lambda tmp: pq.write_table(table, tmp, compression="zstd"))
    full = {"format": "eomine-embeddings", "version": EMBEDDINGS_FORMAT_VERSION, **card, "n": int(n), "dim": int(dim),
            "eomine": __version__, "catalog_hash": file_hash(ws.catalog_path)}
    full["key"] = params_hash({k: v for k, v in full.items() if k not in ("seconds", "patches_per_s")})
    write_card(ws.files.embeddings_card, full)
    return full


def load_embeddings(ws: Workspace) -> tuple[np.ndarray, np.ndarray]:
    """Read ``embeddings.parquet`` (after checking its card's format version).

    Returns
    -------
    patch_ids : ndarray of str, shape (n,)
    X : ndarray of float32, shape (n, dim)
    """
    path = ws.files.embeddings
    if not path.is_file():
        raise WorkspaceError(f"{ws.path} has no embeddings yet: run `eomine embed {ws.path}`")
    load_embeddings_card(ws)
    t = pq.read_table(path)
    col = t.column("embedding").combine_chunks()
    dim = col.type.list_size
    X = col.values.to_numpy(zero_copy_only=False).reshape(-1, dim).astype(np.float32, copy=False)
    return t.column("patch_id").to_numpy(zero_copy_only=False).astype(object), X


def load_embedding_ids(ws: Workspace) -> np.ndarray:
    """The patch ids of ``embeddings.parquet`` in its row order, object array of shape (n,) (only that column)."""
    path = ws.files.embeddings
    if not path.is_file():
        raise WorkspaceError(f"{ws.path} has no embeddings yet: run `eomine embed {ws.path}`")
    load_embeddings_card(ws)
    return pq.read_table(path, columns=["patch_id"]).column(0).to_numpy(zero_copy_only=False).astype(object)


def load_embeddings_card(ws: Workspace) -> dict | None:
    """``embeddings.json`` (format version checked), or None when there are no embeddings yet."""
    return load_card(ws.files.embeddings_card, version=EMBEDDINGS_FORMAT_VERSION, what="embeddings")


def embeddings_key(ws: Workspace) -> str:
    """Identity of the current embeddings (their card's key, else the file's content hash)."""
    card = load_embeddings_card(ws) or {}
    return card.get("key") or file_hash(ws.files.embeddings)
