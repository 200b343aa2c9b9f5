"""Embedding quality report: can a curator trust this embedding and its 2-D layout?

* kNN label agreement: mean Jaccard similarity between a patch's label set and each of its k nearest
  neighbours' label sets (multi-label aware; 1 = neighbours carry exactly the same labels);
* chance level: the same with random neighbours;
* trustworthiness of the 2-D layout (``sklearn.manifold.trustworthiness`` on a sample): how well 2-D
  neighbourhoods reflect embedding neighbourhoods (1 = perfect).
"""

from __future__ import annotations

import numpy as np

__all__ = ["label_matrix", "label_lists", "knn_label_agreement", "quality_report"]


def label_matrix(labels, classes) -> np.ndarray:
    """Multi-hot matrix of label lists.

    Parameters
    ----------
    labels : sequence of sequences of str, pandas Series, or pyarrow (Chunked)Array of list<string>
        Arrow input (or an Arrow-backed Series) takes a vectorised path with no per-row Python.
    classes : sequence of str

    Returns
    -------
    ndarray of bool, shape (n, n_classes)
    """
    import pyarrow as pa

    if isinstance(labels, pa.Array | pa.ChunkedArray):
        arrow = lambda: labels  # noqa: E731
    else:
        arrow = getattr(getattr(labels, "array", None), "__arrow_array__", None)
    if arrow is not None:  # Arrow-backed column (as read from Parquet): offsets + codes, no per-row Python
        import pandas as pd

        lists = arrow()
        if isinstance(lists, pa.ChunkedArray):
            lists = lists.combine_chunks()
        if pa.types.is_list(lists.type) or pa.types.is_large_list(lists.type):
            lens = np.diff(lists.offsets.to_numpy())
            enc = lists.flatten().dictionary_encode()  # a handful of distinct names: map those, not every label
            names = enc.dictionary.to_pylist()
            known = pd.Index(list(classes)).get_indexer(names)
            if (known < 0).any():
                raise ValueError(f"label {names[int(np.argmin(known))]!r} is not one of the {len(classes)} classes")
            codes = known[enc.indices.to_numpy(zero_copy_only=False)]
            Y = np.zeros((len(lens), len(classes)), dtype=bool)
            Y[np.repeat(np.arange(len(lens)), lens), codes] = True
            return Y
    idx = {c: i for i, c in enumerate(classes)}
    Y = np.zeros((len(labels), len(classes)), dtype=bool)
    for r, labs in enumerate(labels):
        for lab in labs:
            Y[r, idx[lab]] = True
    return Y


def label_lists(Y: np.ndarray, classes) -> list[list[str]]:
    """Label lists of a multi-hot matrix (the inverse of :func:`label_matrix`), vectorised over the matrix.

    Parameters
    ----------
    Y : ndarray of bool, shape (n, n_classes)
    classes : sequence of str

    Returns
    -------
    list of list of str, length n (in the order of ``classes``)
    """
    cls = np.asarray(list(classes), dtype=object)
    rows, cols = np.nonzero(Y)
    split = np.searchsorted(rows, np.arange(1, len(Y)))
    return [list(x) for x in np.split(cls[cols], split)] if len(Y) else []


def knn_label_agreement(Y: np.ndarray, indices: np.ndarray, k: int | None = None) -> float:
    """Mean Jaccard between each labelled row's labels and its first ``k`` labelled neighbours' labels.

    Pairs where either patch has no label are left out (an unlabelled pool has nothing to agree on).

    Parameters
    ----------
    Y : ndarray of bool, shape (n, c)
    indices : ndarray of int, shape (n, >= k)

    Returns
    -------
    float
        NaN when no pair of labelled patches is left.
    """
    k = k or indices.shape[1]
    Yi = Y.astype(np.uint8)
    has = Y.any(1)
    total, count = 0.0, 0
    for j in range(k):
        col = indices[:, j]
        ok = has & (col >= 0) & has[np.clip(col, 0, None)]
        if not ok.any():
            continue
        a, nb = Yi[ok], Yi[col[ok]]
        total += float(((a & nb).sum(1) / (a | nb).sum(1)).sum())
        count += int(ok.sum())
    return total / count if count else float("nan")


def quality_report(X: np.ndarray, Y: np.ndarray, indices: np.ndarray, layout: np.ndarray | None = None, *,
                   k: int = 10, sample: int = 2000, seed: int = 0) -> dict:
    """Numbers a curator reads to tell a good embedding from a bad one.

    Parameters
    ----------
    X : ndarray, shape (n, d)
        Embeddings.
    Y : ndarray of bool, shape (n, c)
        Multi-hot labels.
    indices : ndarray, shape (n, >= k)
        Stored kNN graph.
    layout : ndarray, shape (n, 2), optional
        2-D projection.
    """
    from sklearn.manifold import trustworthiness

    rng = np.random.default_rng(seed)
    k = min(k, indices.shape[1])
    n = len(X)
    rand = rng.integers(0, n, size=(n, k))
    agree, chance = knn_label_agreement(Y, indices, k), knn_label_agreement(Y, rand, k)
    out = {"n": int(n), "k": int(k), "n_labelled": int(Y.any(1).sum()),
           "knn_label_agreement": None if agree != agree else round(agree, 4),
           "chance_label_agreement": None if chance != chance else round(chance, 4)}
    if layout is not None:
        s = rng.choice(n, size=min(sample, n), replace=False)
        out["trustworthiness"] = round(float(trustworthiness(X[s], layout[s], n_neighbors=min(10, len(s) // 2 - 1))), 4)
        out["trustworthiness_sample"] = int(len(s))
    return out
