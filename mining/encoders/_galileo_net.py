"""The Galileo-nano network (eomine's own implementation of its encoder's forward pass) and the strict loading of
its published weights.

The model
---------
Input channels are in groups (:data:`~mining.encoders._galileo_bands.GROUPS`). Each group present in a patch is
cut into ``p`` x ``p`` pixel patches ("tokens"), projected linearly to 128-d (a per-group convolution of kernel
and stride ``p``; its 8 x 8 pretrained kernel is resampled to ``p`` x ``p`` by the pseudo-inverse resize of
FlexiViT, Beyer et al. 2023), and 4 sinusoidal / learnt codes of 32-d each are added: the group (channel
embedding), the time step (one here), the month, and the token's position on the ground (2-D sine-cosine of the
token's column and row, scaled by the token's size over 10 m). All tokens of all groups then go through 4
transformer blocks (pre-norm, 8 heads, MLP x4, GELU) and a final LayerNorm. The embedding is the mean of the
output tokens, over the tokens that are not masked.

The weights
-----------
:func:`load_galileo` builds the model from ``config.json`` and loads ``encoder.pt`` strictly: every key and every
shape must match, else a :class:`~mining.errors.DataError` names the file. The normalisation of the 12 S1/S2
channels comes from ``normalization.json``. A file whose sha256 differs from the published one is used with a
warning.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import warnings
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import DataError
from ._galileo_bands import CHANNELS, GROUPS, SPACE_GROUPS, STATIC_GROUPS, TIME_GROUPS
from ._weights import GALILEO_FILES, GALILEO_HOWTO, galileo_weights_dir

__all__ = ["GalileoNano", "PUBLISHED_SHA256", "load_galileo"]

#: sha256 of the published ``encoder.pt`` (nasaharvest/galileo d048229, data/models/nano/encoder.pt)
PUBLISHED_SHA256 = "eab6acacf527886a508a555bc24efe4b4a2cf91b162e84cd1c4a1807e942180c"

_ARCH_KEYS = ("embedding_size", "depth", "num_heads", "mlp_ratio", "max_patch_size", "max_sequence_length")


# ----------------------------------------------------------------------------------------------------- network
class _Attention(nn.Module):
    """Multi-head self-attention with separate q, k, v projections (the published names), run as one matmul.

    ``mask`` (B, 1, 1, N) bool: True where a key token may be attended to; None: every token.
    """

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.q = nn.Linear(dim, dim)
        self.k = nn.Linear(dim, dim)
        self.v = nn.Linear(dim, dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        B, N, D = x.shape
        # one matmul for q, k and v
        w = torch.cat([self.q.weight, self.k.weight, self.v.weight])
        b = torch.cat([self.q.bias, self.k.bias, self.v.bias])
        qkv = F.linear(x, w, b).view(B, N, 3, self.heads, D // self.heads).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2], attn_mask=mask)
        return self.proj(y.transpose(1, 2).reshape(B, N, D))


class _Mlp(nn.Module):
    """``fc2(GELU(fc1(x)))``, hidden width ``hidden``."""

    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class _Block(nn.Module):
    """Pre-norm transformer block: x + attn(LN(x)), then x + MLP(LN(x))."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = _Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = _Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        x = x + self.attn(self.norm1(x), mask)
        return x + self.mlp(self.norm2(x))


class _PatchEmbed(nn.Module):
    """Holds one group's patch projection (a convolution of kernel and stride ``patch``); :meth:`GalileoNano.kernels`
    reads its weights, resampled to the patch size in use."""

    def __init__(self, channels: int, dim: int, patch: int):
        super().__init__()
        self.proj = nn.Conv2d(channels, dim, patch, patch)


def _resize_matrix(old: int, new: int) -> torch.Tensor:
    """(old², new²): row i = the ``old`` x ``old`` basis image i resized to ``new`` x ``new`` (bicubic, antialiased)."""
    basis = torch.eye(old * old, dtype=torch.float32).view(old * old, 1, old, old)
    return F.interpolate(basis, size=(new, new), mode="bicubic", antialias=True, align_corners=False).view(
        old * old, new * new)


def _sincos(pos: torch.Tensor, dim: int) -> torch.Tensor:
    """(M,) positions -> (M, dim): [sin(pos w_k), cos(pos w_k)], w_k = 10000^(-k / (2 dim)), k < dim / 2."""
    k = torch.arange(dim // 2, dtype=torch.float64, device=pos.device)
    a = pos.to(torch.float64)[:, None] * torch.pow(10000.0, -k / (2 * dim))[None]
    return torch.cat([torch.sin(a), torch.cos(a)], dim=1)


class GalileoNano(nn.Module):
    """Galileo's encoder, with the parameter names and shapes of the published state_dict.

    Parameters
    ----------
    dim, depth, heads, mlp_ratio, max_patch, max_seq
        ``config.json["model"]["encoder"]``: embedding_size, depth, num_heads, mlp_ratio, max_patch_size,
        max_sequence_length.
    """

    def __init__(self, dim: int = 128, depth: int = 4, heads: int = 8, mlp_ratio: float = 4, max_patch: int = 8,
                 max_seq: int = 24):
        super().__init__()
        q = dim // 4
        self.dim, self.max_patch = dim, max_patch
        self.pos_embed = nn.Parameter(torch.zeros(max_seq, q), requires_grad=False)
        self.month_embed = nn.Embedding(12, q)
        self.s_t_channel_embed = nn.Parameter(torch.zeros(len(GROUPS), q))
        self.sp_channel_embed = nn.Parameter(torch.zeros(len(SPACE_GROUPS), q))
        self.t_channel_embed = nn.Parameter(torch.zeros(len(TIME_GROUPS), q))
        self.st_channel_embed = nn.Parameter(torch.zeros(len(STATIC_GROUPS), q))
        self.blocks = nn.ModuleList([_Block(dim, heads, mlp_ratio) for _ in range(depth)])
        self.space_time_embed = nn.ModuleDict({g: _PatchEmbed(len(c), dim, max_patch) for g, c in GROUPS.items()})
        self.space_embed = nn.ModuleDict({g: _PatchEmbed(n, dim, max_patch) for g, n in SPACE_GROUPS.items()})
        self.time_embed = nn.ModuleDict({g: nn.Linear(n, dim) for g, n in TIME_GROUPS.items()})
        self.static_embed = nn.ModuleDict({g: nn.Linear(n, dim) for g, n in STATIC_GROUPS.items()})
        self.norm = nn.LayerNorm(dim)

    def kernels(self, patch: int) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """Per group (weight (D, C, patch, patch), bias) of the patch projection for ``patch`` pixels per token."""
        out = {}
        if patch == self.max_patch:
            return {g: (m.proj.weight, m.proj.bias) for g, m in self.space_time_embed.items()}
        pinv = torch.linalg.pinv(_resize_matrix(self.max_patch, patch)).to(self.pos_embed.device)  # (p², P²)
        for g, m in self.space_time_embed.items():
            w = m.proj.weight
            out[g] = ((w.flatten(2) @ pinv.T).reshape(*w.shape[:2], patch, patch).contiguous(), m.proj.bias)
        return out

    def position_code(self, tokens: int, token_gsd_ratio: float) -> torch.Tensor:
        """(tokens², D/4) ground-position code of a ``tokens`` x ``tokens`` grid, row-major.

        The first half encodes the token's column, the second its row, both times ``token_gsd_ratio`` (the token's
        ground size / 10 m), each as :func:`_sincos` of D/8 dimensions.
        """
        q = self.dim // 4
        idx = torch.arange(tokens, device=self.pos_embed.device, dtype=torch.float64) * float(token_gsd_ratio)
        col, row = idx.repeat(tokens), idx.repeat_interleave(tokens)
        return torch.cat([_sincos(col, q // 2), _sincos(row, q // 2)], dim=1).float()

    def forward(self, inputs: list[tuple[str, torch.Tensor, torch.Tensor | None]], months: torch.Tensor,
                patch: int, token_gsd_ratio: float, kernels: dict | None = None) -> torch.Tensor:
        """Mean output token per patch.

        Parameters
        ----------
        inputs : list of (group, x, visible)
            ``x`` (B, C, S, S) normalised channels of the group, S a multiple of ``patch``; ``visible`` (B, tokens)
            bool (row-major token order) or None when every token is visible.
        months : (B,) int64, 0 = January
        patch : int
        token_gsd_ratio : float
        kernels : dict, optional
            :meth:`kernels` of ``patch`` (computed when not given).

        Returns
        -------
        (B, D) tensor; patches without any visible token give NaN.
        """
        kernels = kernels or self.kernels(patch)
        names = list(GROUPS)
        B = months.shape[0]
        q = self.dim // 4
        month = self.month_embed(months)[:, None, :]                          # (B, 1, q)
        parts, vis = [], []
        for g, x, v in inputs:
            w, b = kernels[g]
            t = F.conv2d(x, w.to(x.dtype), b.to(x.dtype), stride=patch)       # (B, D, h, h)
            n = t.shape[-1]
            t = t.flatten(2).transpose(1, 2)                                    # (B, h*h, D)
            code = torch.cat([self.s_t_channel_embed[names.index(g)].expand(n * n, q),
                              self.pos_embed[0].expand(n * n, q)], dim=1)      # (h*h, q + q)
            enc = torch.cat([code.expand(B, n * n, 2 * q), month.expand(B, n * n, q),
                             self.position_code(n, token_gsd_ratio).to(t.dtype).expand(B, n * n, q)], dim=2)
            parts.append(t + enc.to(t.dtype))
            vis.append(v if v is not None else torch.ones((B, n * n), dtype=torch.bool, device=t.device))
        x = torch.cat(parts, dim=1)
        keep = torch.cat(vis, dim=1)                                            # (B, N)
        mask = None if bool(keep.all()) else keep[:, None, None, :]
        if mask is not None:
            empty = ~keep.any(dim=1)
            if bool(empty.any()):  # nothing to attend to: computed unmasked, reported as NaN below
                mask = (keep | empty[:, None])[:, None, None, :]
        for blk in self.blocks:
            x = blk(x, mask)
        x = self.norm(x)
        k = keep.to(x.dtype)[..., None]
        return (x * k).sum(dim=1) / k.sum(dim=1)


# ----------------------------------------------------------------------------------------------------- weights
def _one_line(exc: BaseException) -> str:
    """``Type: first line of the message`` of ``exc`` (for the one-line errors)."""
    msg = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {msg[0]}" if msg else type(exc).__name__


def _weight_files(weights: str | os.PathLike | None) -> tuple[Path, Path, Path]:
    """``encoder.pt``, ``config.json`` and ``normalization.json`` of ``weights`` (see :func:`load_galileo`)."""
    folder = galileo_weights_dir(weights)
    pt = Path(weights).expanduser() if weights and Path(weights).suffix == ".pt" else folder / GALILEO_FILES[0]
    return pt, folder / GALILEO_FILES[1], folder / GALILEO_FILES[2]


def _read_json(path: Path) -> dict:
    """The JSON object in ``path``; :class:`DataError` naming the file when it is missing, unreadable or not one."""
    if not path.is_file():
        raise DataError(f"galileo weights: {path} is missing; {GALILEO_HOWTO}")
    try:
        doc = json.loads(path.read_text())
    except OSError as exc:
        raise DataError(f"galileo weights: cannot read {path} ({_one_line(exc)})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"galileo weights: {path} is not valid JSON ({_one_line(exc)})") from None
    if not isinstance(doc, dict):
        raise DataError(f"galileo weights: {path} holds no JSON object")
    return doc


def _architecture(path: Path, doc: dict) -> dict:
    """``config.json``'s ``model.encoder`` sizes (:data:`_ARCH_KEYS`), checked; ``path`` names the file in errors."""
    try:
        enc = doc["model"]["encoder"]
        arch = {k: enc[k] for k in _ARCH_KEYS}
    except (KeyError, TypeError) as exc:
        raise DataError(f"galileo weights: {path} has no model.encoder.{exc.args[0] if exc.args else '?'} "
                        f"(needs {', '.join(_ARCH_KEYS)})") from None
    ints = [k for k in _ARCH_KEYS if k != "mlp_ratio"]
    bad = [k for k in ints if isinstance(arch[k], bool) or not isinstance(arch[k], int) or arch[k] < 1]
    if bad or not isinstance(arch["mlp_ratio"], int | float) or arch["mlp_ratio"] <= 0:
        raise DataError(f"galileo weights: {path}: model.encoder.{(bad or ['mlp_ratio'])[0]} must be a positive "
                        f"number, got {arch[(bad or ['mlp_ratio'])[0]]!r}")
    if arch["embedding_size"] % 8 or arch["embedding_size"] % arch["num_heads"]:
        raise DataError(f"galileo weights: {path}: embedding_size {arch['embedding_size']} must be a multiple of 8 "
                        f"and of num_heads ({arch['num_heads']})")
    return arch


def _normalisation(path: Path, doc: dict) -> tuple[np.ndarray, np.ndarray]:
    """(shift, div) of the 12 S1/S2 channels: mean - 2 std and 4 std of ``doc["13"]``."""
    try:
        mean = np.asarray(doc["13"]["mean"], dtype=np.float64)
        std = np.asarray(doc["13"]["std"], dtype=np.float64)
    except (KeyError, TypeError, ValueError) as exc:
        raise DataError(f"galileo weights: {path} has no numeric \"13\".mean / .std ({_one_line(exc)})") from None
    if mean.shape != (13,) or std.shape != (13,) or not np.isfinite(mean).all() or not (std[:12] > 0).all():
        raise DataError(f"galileo weights: {path}: \"13\" must hold 13 finite means and 13 positive stds "
                        f"({', '.join(CHANNELS)})")
    return (mean[:12] - 2 * std[:12]).astype(np.float32), (4 * std[:12]).astype(np.float32)


def load_galileo(weights: str | os.PathLike | None = None) -> tuple[GalileoNano, dict]:
    """Build the model from ``config.json`` and load ``encoder.pt`` strictly.

    Parameters
    ----------
    weights : path-like, optional
        A folder with ``encoder.pt``, ``config.json`` and ``normalization.json``, or an ``encoder.pt`` beside the two
        JSON files; default ``$EOMINE_GALILEO_WEIGHTS``, else ``data/weights/galileo-nano/``.

    Returns
    -------
    net : GalileoNano
        In eval mode, on the CPU.
    info : dict
        ``path``, ``sha256``, ``published`` (the sha256 is that of the published file), ``arch``, ``shift``, ``div``.

    Raises
    ------
    DataError
        One line naming the file: missing, unreadable, not a state_dict, a key missing or unexpected, a shape that
        differs from the model's, non-finite values, or a malformed config / normalisation file.
    """
    pt, cfg_path, norm_path = _weight_files(weights)
    if not pt.is_file():
        raise DataError(f"galileo weights: {pt} is missing; {GALILEO_HOWTO}")
    arch = _architecture(cfg_path, _read_json(cfg_path))
    shift, div = _normalisation(norm_path, _read_json(norm_path))
    try:
        data = pt.read_bytes()
    except OSError as exc:
        raise DataError(f"galileo weights: cannot read {pt} ({_one_line(exc)})") from None
    sha = hashlib.sha256(data).hexdigest()
    try:
        sd = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises many kinds for a truncated / corrupt / foreign file
        raise DataError(f"galileo weights: {pt} is not a readable PyTorch state_dict (truncated or corrupt?): "
                        f"{_one_line(exc)}") from None
    if not isinstance(sd, Mapping) or not all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                              for k, v in sd.items()):
        raise DataError(f"galileo weights: {pt} is not a state_dict of named tensors ({type(sd).__name__})")
    net = GalileoNano(arch["embedding_size"], arch["depth"], arch["num_heads"], arch["mlp_ratio"],
                      arch["max_patch_size"], arch["max_sequence_length"])
    want = net.state_dict()
    missing = [k for k in want if k not in sd]
    extra = [k for k in sd if k not in want]

    def few(keys: list[str]) -> str:
        return ", ".join(keys[:3]) + (f" (+{len(keys) - 3} more)" if len(keys) > 3 else "")

    if missing or extra:
        what = "; ".join(s for s in (f"missing {few(missing)}" if missing else "",
                                     f"unexpected {few(extra)}" if extra else "") if s)
        raise DataError(f"galileo weights: {pt} does not match the Galileo encoder of {cfg_path.name} ({what})")
    for k, v in want.items():
        if tuple(sd[k].shape) != tuple(v.shape):
            raise DataError(f"galileo weights: {pt}: {k} has shape {tuple(sd[k].shape)}, the model of "
                            f"{cfg_path.name} needs {tuple(v.shape)}")
        if not sd[k].is_floating_point() or not bool(torch.isfinite(sd[k]).all()):
            raise DataError(f"galileo weights: {pt}: {k} is not finite floating point")
    try:
        net.load_state_dict(sd, strict=True)
    except RuntimeError as exc:  # pragma: no cover - everything it checks was checked above
        raise DataError(f"galileo weights: {pt} does not load: {_one_line(exc)}") from None
    net.eval()
    if sha != PUBLISHED_SHA256:
        warnings.warn(f"galileo: {pt} is not the published Galileo-nano encoder.pt (sha256 {sha[:12]}…); using it",
                      stacklevel=3)
    return net, {"path": str(pt), "sha256": sha, "published": sha == PUBLISHED_SHA256, "arch": arch,
                 "shift": shift, "div": div}
