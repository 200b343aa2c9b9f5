"""``galileo``: the pretrained Galileo-nano encoder (Tseng et al. 2025), one 128-d embedding per patch.

Galileo is a multimodal vision transformer pretrained self-supervised on Sentinel-1/2 (and other inputs) of
127,155 places worldwide. The nano model (1.04 M parameters, MIT) ships in ``data/weights/galileo-nano/`` (see its
SOURCE.md). This module is eomine's own implementation of its encoder's forward pass; it loads ``encoder.pt``
strictly (every key and every shape must match, else a :class:`~mining.errors.DataError` names the file).

The network (4 transformer blocks over the tokens of every channel group present, embedding = mean output token)
and its strict weights loading are in :mod:`mining.encoders._galileo_net`; the channel tables and band names in
:mod:`mining.encoders._galileo_bands`. This module maps a workspace's bands onto the groups, prepares the inputs
(resampling, normalisation, nodata, months) and runs the network in batches.

Channel groups and how each dataset maps onto them
--------------------------------------------------

============  ==================  ==========================================================================
group         bands               source
============  ==================  ==========================================================================
S1            VV, VH              Sentinel-1 backscatter in dB (reBEN / BigEarthNet / demo, when paired)
S2_RGB        B02, B03, B04       Sentinel-2 reflectance x 10,000 (or an 8-bit rendering, see below)
S2_Red_Edge   B05, B06, B07       20 m bands, resampled to the patch's finest grid
S2_NIR_10m    B08
S2_NIR_20m    B8A                 EuroSAT MS stores it as its last band on disk: the loader names it B8A
S2_SWIR       B11, B12
NDVI          (B08 - B04) / (B08 + B04), computed here where both bands exist
============  ==================  ==========================================================================

B01, B09 and B10 have no group and are not read. A group is used when the workspace has every one of its bands
(a folder of GeoTIFFs names them in its band descriptions or with ``--bands``; ``B2`` / ``b8a`` / ``vv`` are
understood as ``B02`` / ``B8A`` / ``VV``). A group the workspace lacks, or has only in part, is **masked**: its
tokens are left out of the sequence, never filled with zeros. A workspace without every band of at least one
group is refused, and so is one missing a group named in ``groups``. Within a used group, nodata pixels (S2 value
0, S1 NaN: a reBEN patch without an S1 partner) are handled per token: a token with at least half of its pixels
valid is kept and its missing pixels take the token's mean; any other token is masked for that patch only.
So: reBEN / BigEarthNet use all 7 groups (S1 where paired); EuroSAT MS 6 (no S1); EuroSAT RGB 1 (S2_RGB); the demo
7; a folder what its band names give.

Inputs and normalisation
------------------------
All bands are brought to one square grid, on the device: the raw ``uint16`` arrays go there (as for ``ssl``),
coarser bands are enlarged by nearest neighbour (each 20 m pixel covers 2 x 2 pixels of the 10 m grid, as in the
pre-training exports), finer ones area-averaged. The 12 S1/S2 channels are normalised as in pre-training,
``x' = (x - (mean - 2 std)) / (4 std)`` with ``normalization.json["13"]`` (S2 as reflectance x 10,000, S1 in
dB); NDVI is used as is.

The month code is June for every patch by default (``month=6``), so that the embedding depends on the pixels
only and patches that look alike are neighbours whatever their date. ``month="auto"`` feeds each patch's
acquisition month from the catalog instead (``fallback_month`` where it has none), as in pre-training; on the
generated demo (1,500 patches, 10-NN label agreement) that gave 0.441 against 0.467 with June throughout: the
month code pulls patches of the same date together.

8-bit renderings (EuroSAT RGB, PNG / JPEG folders)
--------------------------------------------------
Bands stored as ``uint8`` are 8-bit renderings, not reflectance. They are mapped to reflectance x 10,000 by
``reflectance = gain x dn`` with gains measured on the 115 EuroSAT RGB / MS twins of the shared data (same image,
JPEG and 13-band GeoTIFF; ``tools/fit_rgb8.py``): B04 10.790, B03 10.755, B02 10.734 (EuroSAT's rendering is
close to ``dn = reflectance x 255 / 2750``). Over the 470,000 unsaturated pixels per band the fit has r = 0.997 /
0.995 / 0.991, an RMS residual of 42 / 38 / 41 (0.4 % reflectance), a median relative error of 2.0 / 0.9 / 1.3 %
(JPEG noise), and per-patch median biases within -13..+4. Saturated pixels (dn = 255: 1.1 / 0.3 / 0.4 % of the
pixels, truly 2,750 - 4,100) become 255 x gain, a lower bound. Other 8-bit renderings are mapped with the same
gains (any other uint8 band with their mean, 10.76): an approximation, as their stretch is unknown.

Patch size
----------
``patch_size`` (1-8 pixels per token side) defaults to ``min(8, size // 8)`` for patches of ``size`` pixels: about
8 x 8 tokens per group, the scale of pre-training (4-12 tokens per side). 64 px EuroSAT -> 8 (8 x 8 tokens),
120 px reBEN -> 8 (15 x 15), the 60 px demo -> 7 (8 x 8 on a 56 px grid), 32 px -> 4. When ``size`` is not a
multiple of the patch size, the grid is area-resampled to ``tokens x patch_size`` pixels (the token's ground size,
which the position code uses, is computed from the patch's real extent).

Speed
-----
Batches run under ``torch.inference_mode``; on the CPU with ``threads`` torch threads (auto: the cores not already
busy, see :func:`~mining.encoders._torch_common.resolve_threads`), on CUDA in bf16 autocast after the same
device-side preparation as ``ssl`` (pinned read-ahead, raw ``uint16`` to the device, masking, resampling and
normalisation there). Attention costs grow with the square of the tokens per patch: 64 tokens for EuroSAT RGB,
384 for EuroSAT MS, 1,575 for a 120 px reBEN patch with S1 at ``patch_size`` 8 (7 groups x 225). A batch goes
through the network in steps of at most 32,768 tokens on the CPU (1,048,576 on CUDA), so memory stays bounded.
Figures in bench/RESULTS.md.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .._internal.validation import PATH, Boolean, Constraint, Interval, Options, validate_params
from ..errors import DataError, ParameterError
from ._galileo_bands import (
    CHANNELS,
    GROUP_BANDS,
    GROUPS,
    RGB8_GAIN,
    RGB8_GAIN_OTHER,
    canonical_band,
    default_patch_size,
    group_names,
)
from ._galileo_net import PUBLISHED_SHA256, GalileoNano, load_galileo
from ._torch_common import resolve_threads, set_threads, to_device_grid
from .base import Encoder

__all__ = ["GalileoEncoder", "GalileoNano", "CHANNELS", "GROUPS", "GROUP_BANDS", "PUBLISHED_SHA256", "RGB8_GAIN",
           "load_galileo", "default_patch_size", "canonical_band"]


#: months, 1 = January
_MONTH = Interval(int, 1, 12)


class _GroupNames(Constraint):
    """Names of Galileo channel groups: a non-empty list, or one comma-separated string."""

    def is_satisfied_by(self, value: object) -> bool:
        if not isinstance(value, str | list | tuple):
            return False
        names = group_names(value)
        return bool(names) and all(n in GROUPS for n in names)

    def __str__(self) -> str:
        return f"channel group names among {', '.join(GROUPS)} (a list or one comma-separated string)"


# ----------------------------------------------------------------------------------------------------- encoder
class GalileoEncoder(Encoder):
    """Pretrained Galileo-nano embeddings (see the module docstring).

    Parameters
    ----------
    weights : str, optional
        Folder of ``encoder.pt`` + ``config.json`` + ``normalization.json`` (or the ``encoder.pt`` itself);
        default ``$EOMINE_GALILEO_WEIGHTS``, else the shipped ``data/weights/galileo-nano/``.
    patch_size : int, optional
        Pixels per token side, 1-8; default :func:`default_patch_size` of the patch's size in pixels.
    groups : "auto" or list of str
        Channel groups to use: ``"auto"`` = every group whose bands the workspace has; a list (or a comma-separated
        string) names groups that must be present (a missing one is refused, naming it and its bands).
    ndvi : bool
        Add the NDVI group where B04 and B08 exist.
    month : int or "auto"
        Month fed to the model, 1-12, for every patch (default June); ``"auto"``: each patch's acquisition month
        from the catalog, ``fallback_month`` where it has none.
    fallback_month : int
        1-12, with ``month="auto"``, for patches without a date (EuroSAT has none).
    threads : int, optional
        CPU threads for torch (process-wide); ``None``: the cores not already busy.

    Attributes
    ----------
    bands_ : list of str
        Pixel-store bands read (store names), in input order.
    groups_ : list of str
        Groups used, in the model's order.
    masked_groups_ : dict
        Groups not used, with the reason.
    patch_size_, tokens_, grid_ : int
        Pixels per token side, tokens per side, side of the grid the bands are resampled to (``tokens_ x
        patch_size_``).
    token_gsd_ratio_ : float
        Ground size of a token / 10 m.
    dim_ : int
    device_ : str
    net_ : GalileoNano
    weights_ : dict
        Path, sha256 and whether it is the published file.
    """

    name = "galileo"
    _parameter_constraints = {
        "weights": [PATH, None],
        "patch_size": [Interval(int, 1, 8), None],  # and at most the model's max_patch_size (8 in nano)
        "groups": [Options(("auto",)), _GroupNames(), None],  # NDVI only with ndvi=True
        "ndvi": [Boolean()],
        "month": [Options(("auto",)), _MONTH],
        "fallback_month": [_MONTH],
        "threads": [Interval(int, 1, None), None],
    }

    def __init__(self, *, weights: str | os.PathLike | None = None, patch_size: int | None = None,
                 groups: str | list[str] | None = "auto", ndvi: bool = True, month: int | str = 6,
                 fallback_month: int = 6, threads: int | None = None):
        self.weights = weights
        self.patch_size = patch_size
        self.groups = groups
        self.ndvi = ndvi
        self.month = month
        self.fallback_month = fallback_month
        self.threads = threads

    #: :func:`mining.embeddings.embed` passes the batch's pixel rows (for the acquisition months)
    uses_rows = True

    # ------------------------------------------------------------------------------------------------ fit
    def _wanted_groups(self) -> list[str] | None:
        """The groups named in ``groups`` (checked by :func:`validate_params`), or None for ``auto``."""
        names = group_names(self.groups)
        if names is not None and "NDVI" in names and not self.ndvi:
            raise ParameterError("groups", "without NDVI when ndvi is false", self.groups, owner=type(self).__name__)
        return names

    def _resolve_groups(self, ws, store) -> None:
        have: dict[str, str] = {}
        for b in store.bands:
            c = canonical_band(b)
            if c is not None and c not in have:
                have[c] = b
        wanted = self._wanted_groups()
        use, masked = [], {}
        for g, need in GROUP_BANDS.items():
            if g == "NDVI" and not self.ndvi:
                masked[g] = "ndvi=false"
                continue
            lacking = [b for b in need if b not in have]
            if wanted is not None and g not in wanted:
                masked[g] = "not in groups"
            elif not lacking:
                use.append(g)
            elif wanted is not None:
                raise DataError(f"galileo: {ws.path} lacks {', '.join(lacking)}, which group {g} needs "
                                f"({', '.join(need)}); the workspace has {', '.join(store.bands)}")
            else:
                masked[g] = f"no {', '.join(lacking)}"
                if len(lacking) < len(need) and g != "NDVI":
                    warnings.warn(f"galileo: group {g} is masked: the workspace has "
                                  f"{', '.join(b for b in need if b in have)} but not {', '.join(lacking)}",
                                  stacklevel=3)
        if not use:
            need = "; ".join(f"{g} needs {', '.join(b)}" for g, b in GROUP_BANDS.items() if g != "NDVI")
            raise DataError(f"galileo: {ws.path} has no band set of any Galileo channel group ({need}); it has "
                            f"{', '.join(store.bands)} (name a folder's bands at ingest with --bands)")
        self.groups_ = use
        self.masked_groups_ = masked
        bands = []
        for g in use:
            for b in GROUP_BANDS[g]:
                if have[b] not in bands:
                    bands.append(have[b])
        self.bands_ = bands
        self._canon = {canonical_band(b): i for i, b in enumerate(bands)}

    def fit(self, ws, *, device: str = "cpu", progress: bool = True) -> GalileoEncoder:
        validate_params(self)
        self._wanted_groups()
        store = ws.store
        net, info = load_galileo(self.weights)
        self._resolve_groups(ws, store)
        # the grid: the finest of the groups read
        g0 = max((store.groups[store.band_group[b]] for b in self.bands_), key=lambda g: g.size)
        size, extent = g0.size, g0.size * g0.resolution
        p = int(self.patch_size) if self.patch_size is not None else default_patch_size(size)
        if p > net.max_patch:
            raise ParameterError("patch_size", f"at most the model's max_patch_size ({net.max_patch})", p,
                                 owner=type(self).__name__)
        if p > size:
            raise ParameterError("patch_size", f"at most the patches' size ({size} pixels in {ws.path})", p,
                                 owner=type(self).__name__)
        self.patch_size_ = p
        self.tokens_ = size // p
        self.grid_ = self.tokens_ * p
        self.token_gsd_ratio_ = float(extent / self.tokens_ / 10.0)
        # raw units -> reflectance x 10,000: 8-bit renderings (uint8 bands) get the measured gains
        gain = []
        for b in self.bands_:
            dt = store.groups[store.band_group[b]].dtype
            gain.append(RGB8_GAIN.get(canonical_band(b), RGB8_GAIN_OTHER) if dt == "uint8" else 1.0)
        self.rgb8_ = [b for b, gn in zip(self.bands_, gain, strict=True) if gn != 1.0]
        self.shift_ = info["shift"]
        self.div_ = info["div"]
        # months per pixel row (0 = January)
        months = np.full(store.n_rows, int(self.fallback_month) - 1, dtype=np.int64)
        self.dated_ = None
        if self.month != "auto":
            months[:] = int(self.month) - 1
        else:
            cat = ws.catalog
            self.dated_ = 0
            if "acquired" in cat:
                rows = cat["pixel_row"].to_numpy()
                acq = cat["acquired"]
                ok = (rows >= 0) & acq.notna().to_numpy()
                months[rows[ok]] = acq[ok].dt.month.to_numpy().astype(np.int64) - 1
                self.dated_ = int(ok.sum())
        self._months = months
        self.store_ = store
        self.device_ = device
        self._threads = resolve_threads(self.threads, device)
        set_threads(self._threads)
        self.net_ = net.to(device)
        self.weights_ = {k: info[k] for k in ("path", "sha256", "published")}
        self.dim_ = int(info["arch"]["embedding_size"])
        with torch.inference_mode():
            self._kernels = self.net_.kernels(p)
        self._gain = torch.tensor(gain, dtype=torch.float32, device=device)[None, :, None, None]
        self._shift = torch.from_numpy(self.shift_).to(device)
        self._div = torch.from_numpy(self.div_).to(device)
        self._warned_empty = False
        self._token_budget = 1 << 20 if device == "cuda" else 1 << 15
        return self

    # --------------------------------------------------------------------------------------------- encode
    def _group_input(self, x: torch.Tensor, g: str) -> torch.Tensor:
        """Channels of group ``g`` from the grid of raw reflectance / dB, normalised (NaN kept)."""
        idx = self._canon
        if g == "NDVI":
            nir, red = x[:, idx["B08"]], x[:, idx["B04"]]
            s = nir + red
            v = torch.where(s > 0, (nir - red) / s.clamp_min(1e-6), torch.zeros((), device=x.device))
            return torch.where(torch.isnan(s), s, v)[:, None]
        ch = [CHANNELS.index(c) for c in GROUPS[g]]
        sel = x[:, [idx[c] for c in GROUPS[g]]]
        return (sel - self._shift[ch][None, :, None, None]) / self._div[ch][None, :, None, None]

    def _fill(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Nodata of one group: (x with NaN pixels = their token's mean, visible tokens (B, tokens²) or None)."""
        bad = torch.isnan(x)
        if not bool(bad.any()):
            return x, None
        p = self.patch_size_
        ok = ~bad
        pix = ok.all(dim=1, keepdim=True).to(x.dtype)                               # pixel valid in every band
        visible = (F.avg_pool2d(pix, p) >= 0.5).flatten(1)                          # (B, tokens²)
        zero = torch.zeros((), dtype=x.dtype, device=x.device)
        s = F.avg_pool2d(torch.where(ok, x, zero), p)
        c = F.avg_pool2d(ok.to(x.dtype), p)
        mean = torch.where(c > 0, s / c.clamp_min(1e-12), zero)
        mean = mean.repeat_interleave(p, dim=2).repeat_interleave(p, dim=3)
        return torch.where(ok, x, mean), visible

    def encode(self, batch: dict[str, np.ndarray], rows=None) -> np.ndarray:
        """Embeddings of a raw batch, shape (B, dim_), float32.

        ``rows``: the batch's pixel-store rows (``(start, stop)`` or an array), for the acquisition months; without
        it every patch gets ``fallback_month`` (or ``month``).
        """
        if not hasattr(self, "net_"):
            raise ValueError("galileo: call fit(ws) before encode()")
        dev = self.device_
        set_threads(self._threads)
        B = next(iter(batch.values())).shape[0]
        if rows is None:
            m = np.full(B, int(self.fallback_month if self.month == "auto" else self.month) - 1, np.int64)
        else:
            r = np.arange(*rows) if isinstance(rows, tuple) else np.asarray(rows)
            m = self._months[r]
        with torch.inference_mode():
            x = to_device_grid(self.store_, batch, self.bands_, self.grid_, dev, mode="area")
            if self.rgb8_:
                x = x * self._gain
            inputs = []
            for g in self.groups_:
                xg, vis = self._fill(self._group_input(x, g))
                if vis is not None and not bool(vis.any()):
                    continue  # the whole batch lacks this group (e.g. no S1 partner at all)
                inputs.append((g, xg, vis))
            months = torch.from_numpy(m).to(dev)
            if not inputs:
                z = torch.full((B, self.dim_), float("nan"), device=dev)
            else:
                # at most ``token_budget`` tokens through the network at once: bounded memory (the MLP's hidden
                # activations are 4 x the tokens), whatever the batch size and the patches' token count
                step = max(1, self._token_budget // (len(inputs) * self.tokens_ ** 2))
                parts = []
                with torch.autocast("cuda", dtype=torch.bfloat16, enabled=dev == "cuda"):
                    for s in range(0, B, step):
                        sub = [(g, xg[s:s + step], None if v is None else v[s:s + step]) for g, xg, v in inputs]
                        parts.append(self.net_(sub, months[s:s + step], self.patch_size_, self.token_gsd_ratio_,
                                               self._kernels).float())
                z = torch.cat(parts)
            z = z.float()
            empty = torch.isnan(z).any(dim=1)
            if bool(empty.any()):
                z = torch.where(empty[:, None], torch.zeros((), device=dev), z)
                if not self._warned_empty:
                    warnings.warn(f"galileo: {int(empty.sum())} patch(es) of a batch have no valid pixels in any "
                                  "group; their embedding is all zeros", stacklevel=2)
                    self._warned_empty = True
        return z.cpu().numpy().astype(np.float32, copy=False)

    def to_device(self, device: str) -> GalileoEncoder:
        super().to_device(device)
        self._token_budget = 1 << 20 if self.device_ == "cuda" else 1 << 15
        return self

    def state_hash(self) -> str:
        """The weights' sha256 and the months (used by :func:`mining.embeddings.embed` to resume safely)."""
        h = hashlib.sha256(getattr(self, "weights_", {}).get("sha256", "").encode())
        if hasattr(self, "_months"):
            h.update(self._months.tobytes())
        return h.hexdigest()[:16]

    def card(self) -> dict:
        w = getattr(self, "weights_", {})
        norm = "S1/S2: (x - (mean - 2 std)) / (4 std) with normalization.json[\"13\"]; NDVI as is"
        if getattr(self, "rgb8_", None):
            norm = f"8-bit bands {', '.join(self.rgb8_)} x measured gain (tools/fit_rgb8.py), then " + norm
        months = (f"acquisition month (fallback {self.fallback_month})" if self.month == "auto"
                  else f"fixed {self.month}")
        return {**super().card(), "groups": list(getattr(self, "groups_", [])),
                "masked_groups": dict(getattr(self, "masked_groups_", {})),
                "patch_size": getattr(self, "patch_size_", None), "tokens": getattr(self, "tokens_", None),
                "grid": getattr(self, "grid_", None), "token_gsd_ratio": getattr(self, "token_gsd_ratio_", None),
                "months": months, "normalisation": norm, "rgb8_bands": list(getattr(self, "rgb8_", [])),
                "weights": {"file": Path(w["path"]).name if w else None, "sha256": w.get("sha256"),
                            "published": w.get("published")}}
