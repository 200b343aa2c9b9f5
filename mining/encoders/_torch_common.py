"""Helpers shared by the torch encoders: threads, determinism, and raw pixel batches -> device tensors.

The pixel store keeps S2 as ``uint16`` (reflectance x 10,000) and S1 as ``float32`` dB. The torch encoders move the
*raw* arrays to the device and do the nodata masking, resampling to a common grid and normalisation there, so on a
GPU only 2 bytes per S2 pixel cross the bus and the float work runs on the accelerator. ``uint16`` tensors have
only partial support in torch (and none before 2.3), so the arrays travel re-interpreted as ``int16`` and are
widened back to unsigned on the device (``int32 & 0xFFFF``).
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..store import PixelStore

__all__ = ["cpu_threads", "deterministic", "resolve_threads", "set_threads", "to_device_grid", "weights_hash"]


def cpu_threads() -> int:
    """Cores usable by this process (the affinity mask when the OS reports one, else ``os.cpu_count()``)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def resolve_threads(threads: int | None, device: str) -> int:
    """CPU threads for torch: ``threads`` when given, else the usable cores not already busy.

    ``None`` (auto) takes the cores of the affinity mask minus the 1-minute load average (rounded), at least 1.
    On a shared machine this matters a lot: with the small convolutions of these encoders, 2 torch threads on a
    2-core machine already running other work were measured 5x *slower* than 1 thread (the OpenMP workers wait
    for each other), while on an idle machine every core helps. On CUDA the CPU does little: 1 thread when auto.
    """
    if threads is not None:
        if isinstance(threads, bool) or not isinstance(threads, int | np.integer) or threads < 1:
            raise ValueError(f"threads must be None (auto) or a positive integer, got {threads!r}")
        return int(threads)
    if device == "cuda":
        return 1
    n = cpu_threads()
    try:
        busy = os.getloadavg()[0]
    except (AttributeError, OSError):  # pragma: no cover - no load average on this OS
        busy = 0.0
    return max(1, min(n, n - int(busy + 0.5)))


def set_threads(n: int) -> None:
    """``torch.set_num_threads(n)`` unless already so (the setting is process-wide)."""
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)


@contextlib.contextmanager
def deterministic(seed: int, device: str) -> Iterator[torch.Generator]:
    """Seed torch and, on the CPU, turn on deterministic algorithms for the duration of the block.

    The global RNG state and the deterministic-algorithms setting are restored afterwards, so the caller's
    process is left as it was. On CUDA the kernels chosen by cuDNN / atomics are not bit-reproducible (forcing them
    would need ``CUBLAS_WORKSPACE_CONFIG`` and slower kernels), so there only the seeds are fixed.

    Yields
    ------
    torch.Generator
        A generator on ``device`` seeded with ``seed``, for every random draw of the caller (the global generator
        is seeded too, for weight initialisation).
    """
    devices = [torch.cuda.current_device()] if device == "cuda" else []
    before = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        if device == "cpu":
            torch.use_deterministic_algorithms(True, warn_only=True)
        gen = torch.Generator(device=device)
        gen.manual_seed(seed)
        try:
            yield gen
        finally:
            torch.use_deterministic_algorithms(before, warn_only=warn_only)


def _from_numpy(arr: np.ndarray) -> torch.Tensor:
    """``torch.from_numpy`` without the copy nor the warning for read-only (memory-mapped) arrays.

    The tensor is only read (every caller converts it to a new tensor before any in-place operation).
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return torch.from_numpy(arr)


def _raw_to_device(arr: np.ndarray, device: str, nodata) -> torch.Tensor:
    """Raw group array -> float32 tensor on ``device``, nodata -> NaN (masked on the device).

    Parameters
    ----------
    arr : ndarray, shape (B, C, S, S)
        ``uint16`` or floating point.
    """
    arr = np.ascontiguousarray(arr)
    if arr.dtype == np.uint16:
        t = _from_numpy(arr.view(np.int16))
        if device == "cuda":
            t = t.pin_memory()
        t = t.to(device, non_blocking=True).to(torch.int32) & 0xFFFF
        bad = t == int(nodata) if nodata is not None else None
        x = t.to(torch.float32)
    else:
        t = _from_numpy(arr)
        if device == "cuda":
            t = t.pin_memory()
        x = t.to(device, non_blocking=True).to(torch.float32)
        bad = x == float(nodata) if nodata is not None and not np.isnan(nodata) else None
    if bad is not None:
        x = x.masked_fill(bad, float("nan"))
    return x


def _resize(x: torch.Tensor, size: int, mode: str) -> torch.Tensor:
    """Resample (B, C, n, n) to (B, C, size, size).

    ``mode="stack"`` reproduces :func:`mining.store.stack_bands` exactly (block mean when ``n`` is a multiple of
    ``size``, nearest neighbour otherwise, NaN propagating); ``mode="area"`` takes NaN-aware area means when
    shrinking (adaptive average pooling, whatever the ratio) and nearest neighbour when enlarging.
    """
    n = x.shape[-1]
    if n == size:
        return x
    if n > size and mode == "area":
        valid = ~torch.isnan(x)
        total = F.adaptive_avg_pool2d(torch.where(valid, x, torch.zeros((), device=x.device)), size)
        frac = F.adaptive_avg_pool2d(valid.to(x.dtype), size)
        return torch.where(frac > 0, total / frac.clamp_min(1e-12), torch.full((), float("nan"), device=x.device))
    if n > size and n % size == 0:
        f = n // size
        return x.reshape(*x.shape[:2], size, f, size, f).mean(dim=(3, 5))
    idx = torch.div(torch.arange(size, device=x.device) * n, size, rounding_mode="floor")
    return x[:, :, idx][:, :, :, idx]


def to_device_grid(store: PixelStore, batch: dict[str, np.ndarray], bands: Sequence[str], size: int,
                   device: str, *, mode: str = "area") -> torch.Tensor:
    """Stack ``bands`` of a raw batch on a ``size`` x ``size`` grid, on ``device``.

    Parameters
    ----------
    store : PixelStore
        Gives the band groups (which array holds a band, its grid and nodata value).
    batch : dict of group name -> ndarray, shape (B, n_bands, s, s)
        Raw pixel-store values.
    bands : sequence of str
    size : int
    device : str
    mode : {"area", "stack"}
        See :func:`_resize`.

    Returns
    -------
    torch.Tensor of float32, shape (B, len(bands), size, size)
        Raw units (reflectance x 10,000, dB); nodata is NaN.
    """
    first = next(iter(batch.values()))
    out = torch.empty((first.shape[0], len(bands), size, size), dtype=torch.float32, device=device)
    by_group: dict[str, list[tuple[int, int]]] = {}
    for i, b in enumerate(bands):
        g = store.band_group[b]
        by_group.setdefault(g, []).append((i, store.groups[g].bands.index(b)))
    for gname, pairs in by_group.items():
        g = store.groups[gname]
        src = [j for _, j in pairs]
        arr = batch[gname]
        arr = arr if src == list(range(arr.shape[1])) else arr[:, src]
        x = _resize(_raw_to_device(arr, device, g.nodata), size, mode)
        out[:, [i for i, _ in pairs]] = x
    return out


def weights_hash(module: torch.nn.Module) -> str:
    """sha256 (16 hex digits) of a module's parameters and buffers, in ``state_dict`` order."""
    import hashlib

    h = hashlib.sha256()
    for k, v in module.state_dict().items():
        h.update(k.encode())
        h.update(v.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes()
                 if v.numel() else b"")
    return h.hexdigest()[:16]
