"""``ssl``: a compact CNN trained self-supervised (SimCLR) on the workspace's own patches.

Why SimCLR (NT-Xent) rather than BYOL / SimSiam
-----------------------------------------------
The training budget is small (a minute or so on a 2-core CPU by default), so the objective must learn useful
structure in a few hundred steps. The contrastive NT-Xent loss gets a strong, stable gradient from every other
patch of the batch (2 x 127 negatives at the default batch size) from the very first step, has a single
temperature to tune and cannot collapse. BYOL / SimSiam avoid negatives, but rely on a predictor and a momentum
(or stop-gradient) asymmetry that needs many more steps to leave the near-collapsed start, and are touchier to
tune at small batch sizes. Land-cover scenes repeat a lot, so "false negatives" (two distinct patches of the same
classes) are common, but they only slow learning a little at the moderate temperature used (0.2; 0.1 and 0.3
were measured slightly worse on the demo).

Input and normalisation
-----------------------
All Sentinel-2 bands of the workspace (canonical order :data:`~mining.encoders.base.S2_ORDER`) are brought to a
``grid`` x ``grid`` raster on the device: the raw ``uint16`` arrays go to the device, nodata (0) becomes NaN,
finer bands are area-averaged (NaN-aware) and coarser bands nearest-neighbour enlarged, and each band is mapped
to ``[-1, 1]`` by its dataset-wide 2nd / 98th percentiles (``pixels/stats.json``, measured at ingest; measured
on a sample when absent), clamped to ``[-3, 3]``; NaN -> 0. When the workspace has Sentinel-1 (``VV`` and
``VH``) and ``s1`` allows it, the two backscatter bands (dB, normalised the same way) and a validity mask are
appended as three more channels; patches (or pixels) without S1 get zeros and mask 0.

Augmentations (torch, on the device, per sample)
-----------------------------------------------
Random resized crop (``crop_min``..``crop_max`` of the area, aspect 3/4..4/3, bilinear, output ``view`` pixels),
one of the eight flips / 90-degree rotations (all orientations are equivalent from orbit), band-wise brightness
(an additive offset) and contrast (a gain about the band's patch mean) jitter, and Gaussian noise. The two views
of a patch are two different small crops, so what they share is mostly the patch's land-cover composition and
its spectral conditions, which is what label-level neighbours share too. The spectral jitter is deliberately
mild (``jitter`` = 0.05): the spectrum is what tells land cover apart, and the strong colour jitter of
natural-image SimCLR would teach the network to ignore it.

Architecture
------------
A small ResNet with a spectral stem: two 1 x 1 convolutions (per-pixel spectral features, ``pixel_widths``) ->
four stages of one basic residual block each (``widths`` 32-64-128-256, stride 2: 12, 6, 3, 2 pixels at
``grid`` = 24), BatchNorm. The global average of the stem's map and of every stage's map are concatenated and
square-rooted (power normalisation, as for bag-of-words histograms: a class covering a small part of the patch
still counts) -> a linear layer to ``dim``: the embedding. A two-layer MLP projection head is used by the loss
only (the representation before the head keeps more of what the augmentations hide; SimCLR, Chen et al. 2020).
Embeddings are L2-normalised. On the 2,000-patch demo the square root added 0.014 of kNN label agreement
(0.490 -> 0.504 after 300 steps), and a plain ResNet pooling only its last stage stayed near 0.40-0.42 in short
CPU runs, against 0.43 for this network before any training.

Checkpoints
-----------
The trained weights, the normalisation, the parameters and the training log (loss per epoch, seconds, device,
threads) are saved to ``WS/encoders/ssl-<key>.pt`` (atomic write), ``key`` hashing the training parameters with
the catalog's content hash and the pixel-store shape. A later :meth:`SSLEncoder.fit` with the same parameters on
the same catalog loads it instead of training (on any device); ``retrain=True`` trains again and replaces it.

Speed and determinism
---------------------
On the CPU the auto schedule (``cpu_pairs`` = 64,000 training pairs, 500 steps of 128) took 80 s on one core of a
busy 2-core machine (2,000-patch demo), less with both cores free. The grid is 24 pixels because it learns more
per second than 32 pixels (2,000-patch demo, kNN label agreement: 0.510 at 24 px with 64,000 pairs in 80 s, 0.507
at 32 px with 48,000 pairs in 120 s). ``time_budget_s`` (120 s on the CPU) stops training earlier on a loaded
machine, with a warning, and the result then depends on the machine's speed (the log says
``"stopped": "time_budget"``). When the schedule completes, CPU training is bit-reproducible for a given ``seed``
and thread count (``threads``: the auto choice depends on the machine's load, so pin it to reproduce a run
exactly). On CUDA (bf16 autocast, channels_last, 1,000,000 pairs by default) only the seeds are fixed: cuDNN
kernels are not bit-reproducible.
"""

from __future__ import annotations

import math
import time
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .._internal.artifacts import file_hash, params_hash
from .._internal.validation import SEED, Boolean, Interval, ListOf, Options, validate_params
from ..errors import DataError, ParameterError
from ..store import PixelStore, read_rows, stack_bands
from ..workspace import atomic_write
from ._torch_common import deterministic, resolve_threads, set_threads, to_device_grid, weights_hash
from .base import S2_ORDER, Encoder

__all__ = ["SSLEncoder", "CHECKPOINT_FORMAT_VERSION"]

CHECKPOINT_FORMAT_VERSION = 1
S1_BANDS = ("VV", "VH")

#: parameters that do not change the trained weights (left out of the checkpoint key)
_NOT_IN_KEY = ("retrain", "threads")


# ------------------------------------------------------------------------------------------------- network
class _Block(nn.Module):
    """Basic residual block: conv3x3-BN-ReLU-conv3x3-BN + (projected) shortcut, ReLU."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.short = (nn.Identity() if stride == 1 and c_in == c_out else
                      nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.conv1(x)), inplace=True)
        y = self.bn2(self.conv2(y))
        return F.relu(y + self.short(x), inplace=True)


class _Net(nn.Module):
    """Spectral pixel stem + four strided residual stages, multi-scale power-normalised pooling -> ``dim``.

    Input (B, in_ch, S, S) normalised (any S: the network is fully convolutional); :meth:`forward` returns
    (B, dim), not normalised; :meth:`project` adds the training-only MLP head, (B, proj_dim).
    """

    def __init__(self, in_ch: int, pixel_widths: tuple[int, ...], widths: tuple[int, ...], dim: int, proj_dim: int):
        super().__init__()
        layers, c = [], in_ch
        for w in pixel_widths:
            layers += [nn.Conv2d(c, w, 1, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True)]
            c = w
        self.pixel = nn.Sequential(*layers)
        blocks, pooled = [], c
        for w in widths:
            blocks.append(_Block(c, w, 2))
            c = w
            pooled += w
        self.stages = nn.ModuleList(blocks)
        self.fc = nn.Linear(pooled, dim)
        self.head = nn.Sequential(nn.Linear(dim, 2 * proj_dim), nn.BatchNorm1d(2 * proj_dim), nn.ReLU(inplace=True),
                                  nn.Linear(2 * proj_dim, proj_dim))

    def pooled(self, x: torch.Tensor) -> torch.Tensor:
        """Square root of the global means of the stem's and every stage's (ReLU) maps, (B, sum of widths)."""
        h = self.pixel(x)
        feats = [h.mean(dim=(2, 3))]
        for stage in self.stages:
            h = stage(h)
            feats.append(h.mean(dim=(2, 3)))
        return torch.cat(feats, dim=1).float().clamp_min(0).add(1e-6).sqrt()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.pooled(x))

    def project(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.forward(x))


def _nt_xent(z: torch.Tensor, temperature: float) -> torch.Tensor:
    """NT-Xent loss of 2B projections, views ``i`` and ``i + B`` being the positive pairs.

    Parameters
    ----------
    z : Tensor, shape (2B, d)
    """
    z = F.normalize(z.float(), dim=1)
    n = z.shape[0] // 2
    sim = z @ z.T / temperature
    sim = sim.masked_fill(torch.eye(2 * n, dtype=torch.bool, device=z.device), float("-inf"))
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)
    return F.cross_entropy(sim, target)


# ------------------------------------------------------------------------------------------------- encoder
class SSLEncoder(Encoder):
    """Self-supervised CNN embeddings learned on the workspace itself (see the module docstring).

    Parameters
    ----------
    dim : int
        Embedding dimension.
    epochs : float, optional
        Passes over the training patches (a fixed number of steps: reproducible). ``None`` (auto): ``cpu_pairs``
        training pairs on the CPU (about a minute on 2 cores), ``gpu_pairs`` on CUDA, and at most
        ``max_auto_epochs`` passes over the patches of a small workspace.
    batch_size : int
        Patches per step (two views each; at most the number of patches). 128 rather than the usual 256:
        on a CPU budget more, smaller steps learn more per second (measured on the demo).
    lr : float
        Peak AdamW learning rate (linear warm-up over 5 % of the steps, cosine decay to 0).
    weight_decay : float
    temperature : float
        NT-Xent temperature.
    seed : int
        Seeds the weights, the sampling and the augmentations.
    grid : int
        Side of the common grid, in pixels, that every patch is resampled to for encoding.
    view : int, optional
        Side of the training views in pixels; default ``grid // 2``. A view is a random crop of
        ``crop_min``..``crop_max`` of the patch area resampled to ``view`` x ``view``: with the defaults about the
        native scale of the ``grid`` raster, at a quarter of the cost of full-size views. The network is fully
        convolutional with global pooling, so it then encodes whole ``grid`` x ``grid`` patches.
    pixel_widths : tuple of int
        Channels of the 1 x 1 (per-pixel, spectral) stem layers.
    widths : tuple of int
        Channels of the residual stages (one basic block each, stride 2).
    proj_dim : int
        Output dimension of the projection head (training only).
    crop_min, crop_max : float
        Range of the area fraction of the random crops.
    jitter : float
        Amplitude of the band-wise brightness offset (normalised units) and contrast gain (relative).
    noise : float
        Standard deviation of the additive Gaussian noise (normalised units).
    s1 : {"auto", True, False}
        Use Sentinel-1 VV / VH + a mask as extra channels: ``"auto"`` when the workspace has both bands and at
        least one patch with S1; ``True`` requires them.
    max_patches : int
        Training uses at most this many patches (a fixed random sample, kept in memory as float16 on the device);
        encoding uses all of them.
    cpu_pairs, gpu_pairs : int
        Training pairs (steps x batch size) of the auto schedule on the CPU / on CUDA.
    max_auto_epochs : int
        Cap of the auto schedule in passes over the patches (small workspaces).
    time_budget_s : float, optional
        Safety stop: end training after this many seconds (checked every step), with a warning; the result then
        depends on the machine's speed. ``None``: 120 s on the CPU, 1800 s on CUDA; ``0`` or less: no limit.
    threads : int, optional
        CPU threads for torch (process-wide ``torch.set_num_threads``); ``None``: the cores not already busy
        (see :func:`~mining.encoders._torch_common.resolve_threads`). CPU results are bit-reproducible for a
        given seed *and* thread count; pin it (e.g. ``threads=1``) to reproduce a run exactly on a shared machine.
    retrain : bool
        Train even if a checkpoint with the same key exists (and replace it).

    Attributes
    ----------
    bands_ : list of str
        S2 bands used, in input-channel order.
    s1_ : list of str
        S1 bands used (``[]`` or ``["VV", "VH"]``; a mask channel follows them).
    lo_, hi_ : ndarray of float32, shape (n_bands,)
        Per-band 2nd / 98th percentiles (raw units) for ``bands_ + s1_``.
    dim_ : int
    device_ : str
    net_ : torch.nn.Module
        The trained network, in eval mode, on ``device_``.
    checkpoint_ : str
        Path of the checkpoint the weights came from / were saved to.
    train_log_ : dict
        ``epochs`` (mean loss, steps and cumulative seconds per epoch), ``steps``, ``planned_steps``,
        ``seconds``, ``device``, ``threads``, ``stopped`` (``None`` or ``"time_budget"``), and ``reused``
        (True when this fit loaded the checkpoint instead of training).
    """

    name = "ssl"
    _parameter_constraints = {
        "dim": [Interval(int, 1, None)],
        "epochs": [Interval(float, 0, None, closed="neither"), None],
        "batch_size": [Interval(int, 1, None)],
        "lr": [Interval(float, 0, None, closed="neither")],
        "weight_decay": [Interval(float, 0, None)],
        "temperature": [Interval(float, 0, None, closed="neither")],
        "seed": [SEED],
        "grid": [Interval(int, 8, None)],
        "view": [Interval(int, 4, None), None],
        "pixel_widths": [ListOf(Interval(int, 1, None))],
        "widths": [ListOf(Interval(int, 1, None))],
        "proj_dim": [Interval(int, 1, None)],
        "crop_min": [Interval(float, 0, 1, closed="right")],  # and at most crop_max
        "crop_max": [Interval(float, 0, 1, closed="right")],
        "jitter": [Interval(float, 0, None)],
        "noise": [Interval(float, 0, None)],
        "s1": [Options(("auto",)), Boolean()],
        "max_patches": [Interval(int, 1, None)],
        "cpu_pairs": [Interval(int, 1, None)],
        "gpu_pairs": [Interval(int, 1, None)],
        "max_auto_epochs": [Interval(int, 1, None)],
        "time_budget_s": [Interval(float, None, None), None],  # <= 0: no limit
        "threads": [Interval(int, 1, None), None],
        "retrain": [Boolean()],
    }

    def __init__(self, *, dim: int = 128, epochs: float | None = None, batch_size: int = 128, lr: float = 4e-3,
                 weight_decay: float = 1e-4, temperature: float = 0.2, seed: int = 0, grid: int = 24,
                 view: int | None = None, pixel_widths: tuple[int, ...] = (64, 64),
                 widths: tuple[int, ...] = (32, 64, 128, 256), proj_dim: int = 128, crop_min: float = 0.15,
                 crop_max: float = 0.5, jitter: float = 0.05, noise: float = 0.01, s1: str | bool = "auto",
                 max_patches: int = 50_000, cpu_pairs: int = 64_000, gpu_pairs: int = 1_000_000,
                 max_auto_epochs: int = 100, time_budget_s: float | None = None, threads: int | None = None,
                 retrain: bool = False):
        self.dim = dim
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.temperature = temperature
        self.seed = seed
        self.grid = grid
        self.view = view
        self.pixel_widths = pixel_widths
        self.widths = widths
        self.proj_dim = proj_dim
        self.crop_min = crop_min
        self.crop_max = crop_max
        self.jitter = jitter
        self.noise = noise
        self.s1 = s1
        self.max_patches = max_patches
        self.cpu_pairs = cpu_pairs
        self.gpu_pairs = gpu_pairs
        self.max_auto_epochs = max_auto_epochs
        self.time_budget_s = time_budget_s
        self.threads = threads
        self.retrain = retrain

    # -------------------------------------------------------------------------------------------- fit
    def _key(self, ws) -> str:
        params = {k: v for k, v in self.get_params().items() if k not in _NOT_IN_KEY}
        params["widths"] = [int(w) for w in params["widths"]]
        params["pixel_widths"] = [int(w) for w in params["pixel_widths"]]
        return params_hash({"params": params, "catalog": file_hash(ws.catalog_path), "rows": ws.store.n_rows,
                            "bands": list(ws.store.bands), "version": CHECKPOINT_FORMAT_VERSION})

    def fit(self, ws, *, device: str = "cpu", progress: bool = True) -> SSLEncoder:
        """Train (or load the checkpoint of) the network on the patches of ``ws``.

        Parameters
        ----------
        ws : Workspace
        device : {"cpu", "cuda"}
        progress : bool
            tqdm bar over the training steps.
        """
        validate_params(self)
        if self.crop_max < self.crop_min:
            raise ParameterError("crop_max", f"at least crop_min ({self.crop_min:g})", self.crop_max,
                                 owner=type(self).__name__)
        if device not in ("cpu", "cuda"):
            raise ValueError(f"ssl: device must be cpu or cuda, got {device!r}")
        store = ws.store
        self.bands_ = [b for b in S2_ORDER if b in store.band_group]
        if not self.bands_:
            raise DataError(f"{ws.path}: the ssl encoder needs Sentinel-2 bands; the pixel store has "
                            f"{', '.join(store.bands)}")
        have_s1 = all(b in store.band_group for b in S1_BANDS)
        if self.s1 is True and not have_s1:
            raise DataError(f"{ws.path}: s1=True but the pixel store has no VV / VH bands ({', '.join(store.bands)})")
        use_s1 = have_s1 and self.s1 is not False and (
            self.s1 is True or bool(store.filled(store.band_group["VV"]).any()))
        self.s1_ = list(S1_BANDS) if use_s1 else []
        self.store_ = store
        self.device_ = device
        self.dim_ = int(self.dim)
        self._threads = resolve_threads(self.threads, device)
        set_threads(self._threads)
        self.lo_, self.hi_ = self._band_ranges(store)
        in_ch = len(self.bands_) + (len(self.s1_) + 1 if self.s1_ else 0)

        key = self._key(ws)
        path = Path(ws.path) / "encoders" / f"ssl-{key}.pt"
        self.checkpoint_ = str(path)
        with deterministic(self.seed, device) as gen:
            net = _Net(in_ch, tuple(int(w) for w in self.pixel_widths), tuple(int(w) for w in self.widths),
                       self.dim_, int(self.proj_dim))
            ckpt = None if self.retrain else self._load(path, key)
            if ckpt is not None:
                net.load_state_dict(ckpt["state_dict"])
                # the normalisation the weights were trained with
                self.lo_ = np.asarray(ckpt["lo"], dtype=np.float32)
                self.hi_ = np.asarray(ckpt["hi"], dtype=np.float32)
                log = dict(ckpt["log"], reused=True)
            else:
                net = net.to(device)
                log = self._train(net, store, device, gen, progress)
                log["reused"] = False
                self._save(path, key, net, log)
        # channels_last: the fast layout of cuDNN (bf16 tensor cores) and of oneDNN on the CPU (measured 1.5x)
        net = net.to(device, memory_format=torch.channels_last).eval()
        self.net_ = net
        self.train_log_ = log
        self._weights = weights_hash(net)
        return self

    def _band_ranges(self, store: PixelStore) -> tuple[np.ndarray, np.ndarray]:
        """2nd / 98th percentiles per band from ``stats.json``; measured on a sample when absent."""
        bands = self.bands_ + self.s1_
        lo = np.empty(len(bands), dtype=np.float32)
        hi = np.empty(len(bands), dtype=np.float32)
        missing = [b for b in bands if not {"p2", "p98"} <= set(store.stats.get(b, {}))]
        measured = {}
        if missing:
            n = min(store.n_rows, 512)
            rows = np.sort(np.random.default_rng(self.seed).choice(store.n_rows, size=n, replace=False))
            batch = {g: np.asarray(store.array(g)[rows]) for g in {store.band_group[b] for b in missing}}
            x = stack_bands(store, batch, missing, 8)
            for i, b in enumerate(missing):
                v = x[:, i][np.isfinite(x[:, i])]
                measured[b] = np.percentile(v, [2, 98]) if v.size else np.array([0.0, 1.0])
        for i, b in enumerate(bands):
            p2, p98 = measured[b] if b in measured else (store.stats[b]["p2"], store.stats[b]["p98"])
            lo[i], hi[i] = p2, max(p98, p2 + 1e-3)
        return lo, hi

    # ----------------------------------------------------------------------------------------- inputs
    def _inputs(self, batch: dict[str, np.ndarray], device: str) -> torch.Tensor:
        """Raw batch -> normalised network input on ``device``, shape (B, in_ch, grid, grid), float32."""
        store, g = self.store_, int(self.grid)
        bands = self.bands_ + self.s1_
        x = to_device_grid(store, batch, bands, g, device, mode="area")
        lo = torch.as_tensor(self.lo_, device=device).view(1, -1, 1, 1)
        hi = torch.as_tensor(self.hi_, device=device).view(1, -1, 1, 1)
        x = ((x - lo) / (hi - lo) * 2 - 1).clamp_(-3, 3)
        if self.s1_:
            k = len(self.bands_)
            mask = torch.isfinite(x[:, k:]).all(dim=1, keepdim=True).to(x.dtype)
            x = torch.cat([x, mask], dim=1)
        return torch.nan_to_num_(x, nan=0.0)

    def _training_data(self, store: PixelStore, device: str, gen: torch.Generator) -> torch.Tensor:
        """Normalised inputs of (a fixed sample of) the patches, float16, shape (N, in_ch, grid, grid)."""
        n = store.n_rows
        if n > self.max_patches:
            rng = np.random.default_rng(self.seed)
            rows = np.sort(rng.choice(n, size=self.max_patches, replace=False))
        else:
            rows = np.arange(n)
        groups = sorted({store.band_group[b] for b in self.bands_ + self.s1_})
        parts, chunk = [], 1024
        for start in range(0, n, chunk):
            stop = min(start + chunk, n)
            sel = rows[(rows >= start) & (rows < stop)] - start
            if not len(sel):
                continue
            raw = read_rows(store, start, stop, groups)
            if len(sel) < stop - start:
                raw = {k: v[sel] for k, v in raw.items()}
            parts.append(self._inputs(raw, device).to(torch.float16))
        return torch.cat(parts)

    # ----------------------------------------------------------------------------------------- augment
    def _augment(self, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        """One random view of each patch: x (B, C, g, g) normalised -> (B, C, view, view)."""
        B, C, g, _ = x.shape
        dev = x.device
        out = int(self.view or max(4, g // 2))

        def rand(*shape):
            return torch.rand(*shape, generator=gen, device=dev)

        # random resized crop + dihedral orientation as one affine map (output coords -> input coords)
        area = self.crop_min + (self.crop_max - self.crop_min) * rand(B)
        logr = (rand(B) * 2 - 1) * math.log(4 / 3)
        sx = torch.sqrt(area * torch.exp(logr)).clamp(max=1.0)
        sy = torch.sqrt(area / torch.exp(logr)).clamp(max=1.0)
        k = torch.floor(rand(B) * 4)  # rotation by k * 90 degrees
        odd = k % 2 == 1  # a quarter turn swaps the crop's extents along x and y
        tx = (rand(B) * 2 - 1) * (1 - torch.where(odd, sy, sx))
        ty = (rand(B) * 2 - 1) * (1 - torch.where(odd, sx, sy))
        cos = torch.cos(k * math.pi / 2).round()
        sin = torch.sin(k * math.pi / 2).round()
        flip = torch.where(rand(B) < 0.5, -1.0, 1.0)
        theta = torch.stack([torch.stack([cos * sx * flip, -sin * sy, tx], 1),
                             torch.stack([sin * sx * flip, cos * sy, ty], 1)], 1)
        grid = F.affine_grid(theta, [B, C, out, out], align_corners=False)
        v = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
        # band-wise contrast (gain about the band's patch mean) and brightness (offset) on the optical bands
        ns2 = len(self.bands_)
        s2 = v[:, :ns2]
        mean = s2.mean(dim=(2, 3), keepdim=True)
        gain = 1 + self.jitter * (rand(B, ns2, 1, 1) * 2 - 1)
        offset = self.jitter * (rand(B, ns2, 1, 1) * 2 - 1)
        s2 = (s2 - mean) * gain + mean + offset
        noise = self.noise * torch.randn(s2.shape, generator=gen, device=dev)
        parts = [s2 + noise]
        if self.s1_:
            s1 = v[:, ns2:ns2 + len(self.s1_)]
            m = v[:, -1:]
            parts += [(s1 + self.noise * torch.randn(s1.shape, generator=gen, device=dev)) * (m > 0.5), m]
        return torch.cat(parts, dim=1)

    # ----------------------------------------------------------------------------------------- train
    def _schedule(self, n: int, device: str) -> tuple[int, int, float]:
        """(batch size, total steps, time budget in s; inf = none) for ``n`` training patches."""
        bs = min(int(self.batch_size), n)
        if self.epochs is not None:
            steps = max(1, round(self.epochs * n / bs))
        else:
            pairs = min(self.gpu_pairs if device == "cuda" else self.cpu_pairs, self.max_auto_epochs * n)
            steps = max(1, round(pairs / bs))
        budget = self.time_budget_s
        if budget is None:
            budget = 1800.0 if device == "cuda" else 120.0
        return bs, steps, (math.inf if budget <= 0 else float(budget))

    def _train(self, net: _Net, store: PixelStore, device: str, gen: torch.Generator, progress: bool) -> dict:
        from tqdm.auto import tqdm

        t0 = time.perf_counter()
        data = self._training_data(store, device, gen)
        n = data.shape[0]
        if n < 2:
            raise DataError(f"ssl: self-supervised training needs at least 2 patches with pixels, got {n}")
        bs, steps, budget = self._schedule(n, device)
        per_epoch = max(1, n // bs)
        warm = max(1, steps // 20)
        opt = torch.optim.AdamW(net.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda s: min(1.0, (s + 1) / warm) * 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps)))
        cuda = device == "cuda"
        net.to(memory_format=torch.channels_last)
        net.train()
        epochs: list[dict] = []
        stopped, step, pos = None, 0, 0
        # losses stay on the device and are read once per epoch: no host sync per step (GPU throughput)
        run_loss, run_steps = torch.zeros((), device=device), 0
        perm = torch.randperm(n, generator=gen, device=device)

        def close_epoch() -> None:
            nonlocal run_loss, run_steps
            mean = (run_loss / max(run_steps, 1)).item()
            if not math.isfinite(mean):
                raise DataError(f"ssl: training diverged (loss {mean}) before step {step}; try a lower lr")
            epochs.append({"epoch": len(epochs) + 1, "steps": step, "loss": round(mean, 5),
                           "seconds": round(time.perf_counter() - t0, 2)})
            bar.set_postfix(loss=f"{mean:.3f}")
            run_loss, run_steps = torch.zeros((), device=device), 0

        with tqdm(total=steps, desc=f"ssl train ({device})", unit="step", disable=not progress) as bar:
            while step < steps:
                if pos + bs > n:
                    perm = torch.randperm(n, generator=gen, device=device)
                    pos = 0
                x = data[perm[pos:pos + bs]].float()
                pos += bs
                views = torch.cat([self._augment(x, gen), self._augment(x, gen)])
                views = views.contiguous(memory_format=torch.channels_last)
                with torch.autocast("cuda", dtype=torch.bfloat16, enabled=cuda):
                    z = net.project(views)
                loss = _nt_xent(z, self.temperature)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                step += 1
                run_loss += loss.detach()
                run_steps += 1
                bar.update(1)
                if step % per_epoch == 0 or step == steps:
                    close_epoch()
                if time.perf_counter() - t0 > budget and step < steps:
                    stopped = "time_budget"
                    if run_steps:
                        close_epoch()
                    warnings.warn(f"ssl: training stopped by the time budget ({budget:g} s) after {step} of "
                                  f"{steps} steps; raise time_budget_s or lower epochs for a reproducible run",
                                  stacklevel=3)
                    break
        net.eval()
        return {"epochs": epochs, "steps": step, "planned_steps": steps, "batch_size": bs, "patches": n,
                "seconds": round(time.perf_counter() - t0, 2), "device": device,
                "torch": str(torch.__version__), "threads": torch.get_num_threads(), "stopped": stopped}

    # ------------------------------------------------------------------------------------- checkpoint
    def _load(self, path: Path, key: str) -> dict | None:
        if not path.is_file():
            return None
        try:
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - a damaged checkpoint is retrained, not fatal
            warnings.warn(f"ssl: ignoring unreadable checkpoint {path} ({exc}); training again", stacklevel=3)
            return None
        if (not isinstance(ckpt, dict) or ckpt.get("format") != "eomine-ssl" or ckpt.get("key") != key
                or ckpt.get("bands") != self.bands_ or ckpt.get("s1") != self.s1_
                or len(ckpt.get("lo", ())) != len(self.lo_)):
            warnings.warn(f"ssl: {path} is not a matching ssl checkpoint; training again", stacklevel=3)
            return None
        return ckpt

    def _save(self, path: Path, key: str, net: _Net, log: dict) -> None:
        params = dict(self.get_params(), widths=[int(w) for w in self.widths],
                      pixel_widths=[int(w) for w in self.pixel_widths])
        doc = {"format": "eomine-ssl", "version": CHECKPOINT_FORMAT_VERSION, "key": key, "params": params,
               "bands": self.bands_, "s1": self.s1_, "lo": self.lo_.tolist(), "hi": self.hi_.tolist(),
               "state_dict": {k: v.detach().cpu() for k, v in net.state_dict().items()}, "log": log}
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(path, lambda tmp: torch.save(doc, tmp))
        except OSError as exc:
            warnings.warn(f"ssl: could not save the checkpoint {path} ({exc}); the next fit will train again",
                          stacklevel=3)

    # ----------------------------------------------------------------------------------------- encode
    def encode(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        """L2-normalised embeddings of a raw batch.

        Parameters
        ----------
        batch : dict of group name -> ndarray, shape (B, n_bands, size, size)

        Returns
        -------
        ndarray of float32, shape (B, dim_)
        """
        if not hasattr(self, "net_"):
            raise ValueError("ssl: call fit(ws) before encode()")
        dev = self.device_
        cuda = dev == "cuda"
        set_threads(self._threads)
        with torch.inference_mode():
            x = self._inputs(batch, dev)
            x = x.contiguous(memory_format=torch.channels_last)
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=cuda):
                z = self.net_(x)
            z = F.normalize(z.float(), dim=1)
        return z.cpu().numpy().astype(np.float32, copy=False)

    def state_hash(self) -> str:
        """Hash of the trained weights (used by :func:`mining.embeddings.embed` to resume safely)."""
        return getattr(self, "_weights", "")

    def card(self) -> dict:
        log = getattr(self, "train_log_", {})
        return {**super().card(), "s1": list(getattr(self, "s1_", [])),
                "normalisation": "per band (x - p2) / (p98 - p2) * 2 - 1 from pixels/stats.json, clamp [-3, 3], "
                                 "NaN -> 0; embeddings L2-normalised",
                "checkpoint": Path(self.checkpoint_).name if hasattr(self, "checkpoint_") else None,
                "training": {k: log.get(k) for k in ("steps", "planned_steps", "batch_size", "patches", "device",
                                                      "stopped")}
                | {"final_loss": log["epochs"][-1]["loss"] if log.get("epochs") else None}}
