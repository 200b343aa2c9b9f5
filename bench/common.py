"""Shared helpers of the benches: label-conditioned embeddings, fast multi-hot labels, peak RSS.

``label_conditioned_embeddings`` stands in for a decent encoder at full reBEN scale, where only the
metadata (labels, ids) of the 549,488 patches is available here, not their pixels. The kNN / UMAP / dashboard /
noise benches need embeddings whose neighbourhoods follow the land cover the way a good encoder's do, but
are not trivially clustered: see the function's docstring for the recipe and its parameters.
"""

from __future__ import annotations

import resource
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

#: where generated bench data lives (gitignored)
BENCH_DIR = ROOT / ".bench"

REBEN_FILES = ("metadata.parquet", "metadata_for_patches_with_snow_cloud_or_shadow.parquet")

__all__ = ["BENCH_DIR", "ROOT", "label_conditioned_embeddings", "multi_hot", "read_reben_labels",
           "catalog_labels", "scenes_from_ids", "peak_rss_mib", "reben_root", "ben19_classes"]


def peak_rss_mib() -> float:
    """Peak resident set size of this process so far, in MiB.

    Linux: ``VmHWM`` of ``/proc/self/status`` (the high-water mark of this program's own address space).
    ``getrusage().ru_maxrss`` is not used there because it survives ``exec``: a child started by a big
    parent (``subprocess`` forks first) reports the parent's size at fork when that is larger than its own.
    Elsewhere: ``ru_maxrss`` (bytes on macOS, KiB on the other BSDs).
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024


def reben_root() -> Path:
    """The real reBEN folder of the shared data (raises ``SystemExit`` with a message when absent)."""
    from mining.resources import shared_data_dir

    shared = shared_data_dir()
    if shared is None or not (shared / "bigearthnet-v2-reben" / REBEN_FILES[0]).is_file():
        raise SystemExit("this bench needs the real data in ../shared/data (bigearthnet-v2-reben/)")
    return shared / "bigearthnet-v2-reben"


def ben19_classes() -> tuple[str, ...]:
    """The 19 BigEarthNet classes in their official order."""
    from mining.nomenclature import load_nomenclature

    return tuple(load_nomenclature("ben19").classes)


def multi_hot(labels, classes) -> np.ndarray:
    """Vectorised multi-hot matrix of a ``list<string>`` column.

    Parameters
    ----------
    labels : pyarrow ListArray / ChunkedArray of list<string>, or a sequence of label lists
    classes : sequence of str
        Column order of the result.

    Returns
    -------
    ndarray of bool, shape (n, len(classes))

    Raises
    ------
    ValueError
        Naming a label that is not in ``classes``.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    if not isinstance(labels, pa.Array | pa.ChunkedArray):
        labels = pa.array(list(labels), type=pa.list_(pa.string()))
    if isinstance(labels, pa.ChunkedArray):
        labels = labels.combine_chunks()
    labels = labels.fill_null([])
    n = len(labels)
    classes = list(classes)
    flat = labels.flatten()
    cls = pc.index_in(flat, value_set=pa.array(classes, type=pa.string()))
    if cls.null_count:
        bad = pc.filter(flat, pc.is_null(cls))[0].as_py()
        raise ValueError(f"label {bad!r} is not one of the {len(classes)} classes")
    row = pc.list_parent_indices(labels).to_numpy()
    Y = np.zeros((n, len(classes)), dtype=bool)
    Y[row, cls.to_numpy()] = True
    return Y


def read_reben_labels(root=None, classes=None) -> tuple[np.ndarray, np.ndarray]:
    """Patch ids and multi-hot labels of the official reBEN metadata (both files, 549,488 rows, ~1 s).

    Returns
    -------
    patch_ids : ndarray of object (str), shape (n,)
    Y : ndarray of bool, shape (n, 19), columns in the official BigEarthNet-19 order (or ``classes``)
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    root = Path(root) if root is not None else reben_root()
    t = pa.concat_tables([pq.read_table(root / f, columns=["patch_id", "labels"]) for f in REBEN_FILES
                          if (root / f).is_file()])
    Y = multi_hot(t.column("labels"), classes or ben19_classes())
    return t.column("patch_id").to_numpy(zero_copy_only=False).astype(object), Y


def catalog_labels(ws) -> tuple[np.ndarray, np.ndarray]:
    """Patch ids and multi-hot labels of a workspace's catalog, in catalog order (vectorised)."""
    import pyarrow.parquet as pq

    t = pq.read_table(ws.catalog_path, columns=["patch_id", "labels"])
    Y = multi_hot(t.column("labels"), ws.nomenclature.classes)
    return t.column("patch_id").to_numpy(zero_copy_only=False).astype(object), Y


def scenes_from_ids(patch_ids) -> np.ndarray:
    """Scene index per patch from reBEN ids: the Sentinel-2 product + tile (the id without ``_<col>_<row>``).

    Patches of one scene share acquisition date, illumination and season, which is what the per-scene latent
    of :func:`label_conditioned_embeddings` stands for.
    """
    import pandas as pd

    prefix = pd.Series(np.asarray(patch_ids, dtype=object)).str.rsplit("_", n=2).str[0]
    return pd.factorize(prefix)[0].astype(np.int64)


def label_weight_shares(Y: np.ndarray, *, dim: int = 64, seed: int = 0, weight_spread: float = 1.0) -> np.ndarray:
    """Each label's share of its patch's content in :func:`label_conditioned_embeddings` (same arguments).

    Replays the generator's first two draws (class directions, then label weights), so it matches only
    embeddings generated with ``flip=0``. Returns float64 ``(n, c)``, rows summing to 1 (0 where no label).
    """
    Y = np.asarray(Y, dtype=bool)
    rng = np.random.default_rng(seed)
    rng.standard_normal((Y.shape[1], dim))  # the class directions
    W = np.exp(weight_spread * rng.standard_normal(Y.shape)) * Y
    return W / np.maximum(W.sum(1, keepdims=True), 1e-12)


def label_conditioned_embeddings(Y: np.ndarray, *, dim: int = 64, seed: int = 0, noise: float = 1.0,
                                 scene_scale: float = 0.5, scenes=None, n_scenes: int | None = None,
                                 weight_spread: float = 1.0, flip: float = 0.0,
                                 return_flipped: bool = False):
    """Reproducible embeddings that behave like a decent encoder's, generated from multi-hot labels.

    Recipe (all random draws from ``numpy.random.default_rng(seed)``, so the same arguments give the same
    float32 array on any machine):

    1. Each class ``c`` gets a random unit direction ``d_c`` in ``R^dim``.
    2. Each patch gets a positive weight per label (``w = exp(weight_spread * N(0, 1))``, a stand-in for the
       labels' unequal area fractions); its *content* vector is ``sum_c w_c d_c`` normalised to unit length
       (patches without labels get a zero content vector).
    3. Each patch belongs to a *scene* (``scenes``; for reBEN, :func:`scenes_from_ids` = the Sentinel-2
       product, i.e. one acquisition: same date, illumination, season), and each scene has a random latent
       ``s`` with ``|s| ~ scene_scale``. It is added to the content, so patches with identical label sets from
       different scenes spread apart, as they do with a real encoder (which sees the season and the
       atmosphere, not only the land cover).
    4. Isotropic Gaussian noise of total norm ``~noise`` is added, then the row is normalised to unit length
       (cosine and Euclidean neighbours then agree).

    With the defaults (dim 64, noise 1.0, scene 0.5, weight spread 1.0) on the 549,488 reBEN patches (scenes
    from :func:`scenes_from_ids`, 115 of them), the 10 exact cosine neighbours of a patch have a mean label
    Jaccard of 0.62 (0.17 for random neighbours); 26 % of them carry exactly its label set and 50 % differ by at
    most one label: a decent encoder, far from perfect. The noise makes the intrinsic dimension high, which
    is the hard case for approximate kNN (pynndescent recall@31 ~0.96 on 100k; noise 0.8 -> ~0.97).

    Parameters
    ----------
    Y : ndarray of bool, shape (n, c)
        Multi-hot labels.
    dim : int
        Embedding dimension.
    seed : int
    noise : float
        Norm of the per-patch Gaussian noise relative to the unit content vector.
    scene_scale : float
        Norm of the per-scene latent relative to the unit content vector (0: no scene effect).
    scenes : array of int, shape (n,), optional
        Scene index of each patch. Default: patches drawn at random into ``n_scenes`` scenes.
    n_scenes : int, optional
        Number of random scenes when ``scenes`` is not given (default ``max(1, n // 500)``).
    weight_spread : float
        Log-normal spread of the per-label weights (0: every label weighs the same).
    flip : float
        Fraction of rows (exactly ``round(flip * n)``) whose content is computed from the labels of another,
        random patch instead of their own: encoder mistakes (e.g. a cloud-covered patch that looks like
        water). Their scene and noise are kept.
    return_flipped : bool
        Also return the bool mask of the flipped rows.

    Returns
    -------
    X : ndarray of float32, shape (n, dim), unit rows
    flipped : ndarray of bool, shape (n,)
        Only with ``return_flipped=True``.
    """
    Y = np.asarray(Y, dtype=bool)
    if Y.ndim != 2:
        raise ValueError(f"Y must be 2-D (n, c), got shape {Y.shape}")
    if not 0.0 <= flip <= 1.0:
        raise ValueError(f"flip must be in [0, 1], got {flip}")
    n, c = Y.shape
    rng = np.random.default_rng(seed)
    D = rng.standard_normal((c, dim))
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    W = np.exp(weight_spread * rng.standard_normal((n, c))) * Y
    n_flip = int(round(flip * n))
    flipped = np.zeros(n, dtype=bool)
    if n_flip:
        rows = rng.choice(n, size=n_flip, replace=False)
        flipped[rows] = True
        W[rows] = W[rng.integers(0, n, size=n_flip)]
    X = np.empty((n, dim), dtype=np.float32)
    if scenes is None:
        scenes = rng.integers(0, n_scenes or max(1, n // 500), size=n)
    scenes = np.asarray(scenes, dtype=np.int64)
    if scenes.shape != (n,):
        raise ValueError(f"scenes must have shape ({n},), got {scenes.shape}")
    S = rng.standard_normal((int(scenes.max()) + 1 if n else 1, dim)) * (scene_scale / np.sqrt(dim))
    chunk = 65536
    for s in range(0, n, chunk):  # bounded float64 temporaries at 549k x 64
        content = W[s:s + chunk] @ D
        norm = np.linalg.norm(content, axis=1, keepdims=True)
        content = np.divide(content, norm, out=np.zeros_like(content), where=norm > 0)
        x = content + S[scenes[s:s + chunk]]
        x += rng.standard_normal(x.shape) * (noise / np.sqrt(dim))
        x /= np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
        X[s:s + chunk] = x
    return (X, flipped) if return_flipped else X
