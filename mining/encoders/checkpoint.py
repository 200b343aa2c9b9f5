"""``checkpoint``: embeddings from the user's own torch model, read from a local file (nothing is downloaded).

Two kinds of file are accepted:

* a **TorchScript** module (``torch.jit.save``), used as is: it receives the normalised batch and must return
  the embeddings, a tensor of shape (B, D);
* a **state_dict** (``torch.save(model.state_dict())``, also inside a ``{"state_dict": ...}`` or
  ``{"model": ...}`` dict, ``module.`` prefixes of DataParallel removed) together with ``arch``: a torchvision
  architecture name (``"resnet18"``, ``"resnet50"``, ``"efficientnet_b0"``...) or ``"timm:<name>"``. The network is
  built with random weights (``weights=None``: nothing downloaded), the state_dict is loaded (strict by default;
  missing / unexpected keys are listed in the error), the first convolution is adapted to the number of bands
  (rule below), and the classifier is dropped, so the embedding is the pooled feature vector. torchvision / timm
  are imported only then; they are optional dependencies.

First-convolution rule (state_dict + ``arch``)
    Let ``n = len(bands)`` and ``k`` the input channels of the state_dict's first convolution weight. If
    ``k == n`` (a model trained on these bands), the convolution is rebuilt with ``n`` inputs before loading.
    If ``k != n`` (e.g. ImageNet RGB weights, ``k = 3``), the weights are loaded as they are and then replaced by
    their mean over the ``k`` input channels, repeated ``n`` times and scaled by ``k / n``: every band gets the same
    filter (the sum of the ``k`` filters divided by ``n``: timm's rule for 1-band inputs, generalised) and, for
    inputs of similar magnitude, the layer's output keeps its scale. The model sees the bands in the order of
    ``bands``. Fine-tune such a model on the bands for real use: the adapted layer cannot tell bands apart.

Input normalisation
    The bands listed in ``bands`` (model input-channel order) are stacked on a common ``size`` x ``size`` grid
    exactly as :func:`mining.store.stack_bands` does (block mean down, nearest up), on the device. Each channel
    ``c`` is then ``(raw * scale[c] - mean[c]) / std[c]``: ``scale`` converts store units into the model's units
    (default ``1e-4``: uint16 reflectance x 10,000 -> reflectance; use 1 for S1 dB bands), ``mean`` / ``std`` are
    in the model's units (defaults 0 / 1). Nodata pixels (NaN) become 0 after normalisation.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .._internal.artifacts import file_hash
from .._internal.validation import Boolean, Instance, Interval, ListOf, validate_params
from ..errors import DataError, ParameterError
from ._torch_common import resolve_threads, set_threads, to_device_grid
from .base import Encoder

__all__ = ["CheckpointEncoder"]

#: a number, or one per band
_NUMBERS = [Interval(float, None, None), ListOf(Interval(float, None, None))]


def _per_channel(name: str, value, n: int, default: float) -> np.ndarray:
    """A scalar or a list of ``n`` numbers -> float32 array of shape (n,)."""
    if value is None:
        return np.full(n, default, dtype=np.float32)
    arr = np.atleast_1d(np.asarray(value, dtype=np.float32))
    if arr.size == 1:
        arr = np.full(n, float(arr[0]), dtype=np.float32)
    if arr.shape != (n,) or not np.all(np.isfinite(arr)):
        raise ParameterError(name, f"a finite number or a list of {n} (one per band)", value,
                             owner=CheckpointEncoder.__name__)
    return arr


def _unwrap_state_dict(obj, path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a saved state_dict (common wrappers and ``module.`` prefixes removed)."""
    if isinstance(obj, dict):
        for key in ("state_dict", "model", "model_state_dict"):
            if key in obj and isinstance(obj[key], dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise DataError(f"checkpoint {path}: not a state_dict (expected a dict of parameter name -> tensor)")
    if all(k.startswith("module.") for k in obj):
        obj = {k[len("module."):]: v for k, v in obj.items()}
    return obj


def _first_conv(model: nn.Module) -> tuple[nn.Module, str, nn.Conv2d, str]:
    """(parent module, attribute name, the conv, its state_dict key prefix) of the first ``Conv2d``."""
    for name, mod in model.named_modules():
        if isinstance(mod, nn.Conv2d):
            parent_name, _, attr = name.rpartition(".")
            parent = model.get_submodule(parent_name) if parent_name else model
            return parent, attr, mod, name
    raise DataError(f"{type(model).__name__} has no Conv2d layer whose input channels could be adapted")


def _conv_like(conv: nn.Conv2d, in_channels: int) -> nn.Conv2d:
    """A new (randomly initialised) Conv2d like ``conv`` but with ``in_channels`` inputs."""
    if conv.groups != 1:
        raise DataError(f"the first convolution of the model is grouped ({conv.groups} groups); its input "
                        "channels cannot be adapted to the bands")
    return nn.Conv2d(in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding, conv.dilation,
                     1, conv.bias is not None, conv.padding_mode)


def _drop_classifier(model: nn.Module) -> None:
    """Replace the final classification layer by the identity, so the output is the pooled features."""
    if hasattr(model, "reset_classifier"):  # timm
        model.reset_classifier(0)
        return
    for attr in ("fc", "classifier", "head", "heads"):
        layer = getattr(model, attr, None)
        if isinstance(layer, nn.Linear):
            setattr(model, attr, nn.Identity())
            return
        if isinstance(layer, nn.Sequential):
            # keep normalisation / flatten / pooling (convnext, efficientnet...), drop the last Linear
            idx = [i for i, m in enumerate(layer) if isinstance(m, nn.Linear)]
            if idx:
                layer[idx[-1]] = nn.Identity()
                return
    warnings.warn(f"checkpoint: no classifier layer (fc / classifier / head) found on {type(model).__name__}; "
                  "using the model output as the embedding", stacklevel=3)


class CheckpointEncoder(Encoder):
    """Embeddings from a local TorchScript model, or a state_dict + a torchvision / timm architecture.

    See the module docstring for the first-convolution rule and the normalisation.

    Parameters
    ----------
    path : str or Path
        The model file.
    bands : list of str
        Band names of the pixel store in the model's input-channel order (required).
    arch : str, optional
        ``None`` for a TorchScript file; a torchvision model name or ``"timm:<name>"`` for a state_dict.
    mean, std : float or list of float, optional
        Per-channel normalisation in the model's units (defaults 0 and 1).
    scale : float or list of float
        Store units -> model units per channel (default ``1e-4``: S2 reflectance x 10,000 -> reflectance).
    size : int, optional
        Side of the input grid in pixels; default the finest grid among ``bands``.
    strict : bool
        Strict ``load_state_dict`` (missing or unexpected keys are an error; otherwise a warning).
    normalize : bool
        L2-normalise the embeddings.
    amp : bool
        On CUDA, run the model under bf16 autocast with channels_last tensors (the fast path of recent GPUs);
        ``False`` keeps float32. Ignored on the CPU (always float32).
    threads : int, optional
        CPU threads for torch; ``None``: the cores not already busy
        (:func:`~mining.encoders._torch_common.resolve_threads`).

    Attributes
    ----------
    bands_ : list of str
    dim_ : int
    size_ : int
    device_ : str
    mean_, std_, scale_ : ndarray of float32, shape (len(bands),)
    """

    name = "checkpoint"
    _parameter_constraints = {
        "path": [Instance(str, os.PathLike, name="the path of a TorchScript file or of a state_dict (with arch)")],
        "bands": [ListOf(Instance(str, name="a band name of the store (in the model's input-channel order)"))],
        "arch": [Instance(str), None],
        "mean": [*_NUMBERS, None],
        "std": [*_NUMBERS, None],  # and non-zero
        "scale": _NUMBERS,
        "size": [Interval(int, 1, None), None],
        "strict": [Boolean()],
        "normalize": [Boolean()],
        "amp": [Boolean()],
        "threads": [Interval(int, 1, None), None],
    }

    def __init__(self, *, path=None, bands=None, arch: str | None = None, mean=None, std=None,
                 scale=1e-4, size: int | None = None, strict: bool = True, normalize: bool = False,
                 amp: bool = True, threads: int | None = None):
        self.path = path
        self.bands = bands
        self.arch = arch
        self.mean = mean
        self.std = std
        self.scale = scale
        self.size = size
        self.strict = strict
        self.normalize = normalize
        self.amp = amp
        self.threads = threads

    def get_params(self) -> dict:
        p = super().get_params()
        p["path"] = None if self.path is None else str(self.path)
        p["bands"] = None if self.bands is None else list(self.bands)
        return p

    # ------------------------------------------------------------------------------------------ fit
    def fit(self, ws, *, device: str = "cpu", progress: bool = True) -> CheckpointEncoder:
        """Check the band mapping against ``ws``, load the model on ``device`` and probe its output shape."""
        validate_params(self)
        path = Path(self.path).expanduser()
        if not path.is_file():
            raise DataError(f"checkpoint {path}: no such file")
        store = ws.store
        missing = [b for b in self.bands if b not in store.band_group]
        if missing:
            raise DataError(f"checkpoint {path}: band(s) {', '.join(map(repr, missing))} not in workspace "
                            f"{ws.path}; available bands: {', '.join(store.bands)}")
        n = len(self.bands)
        self.bands_ = list(self.bands)
        self.mean_ = _per_channel("mean", self.mean, n, 0.0)
        self.std_ = _per_channel("std", self.std, n, 1.0)
        if np.any(self.std_ == 0):
            raise ParameterError("std", "non-zero", self.std, owner=type(self).__name__)
        self.scale_ = _per_channel("scale", self.scale, n, 1e-4)
        finest = max(store.groups[store.band_group[b]].size for b in self.bands_)
        self.size_ = int(self.size or finest)
        self.store_ = store
        self.device_ = device
        self.path_ = str(path)
        self._threads = resolve_threads(self.threads, device)
        set_threads(self._threads)
        model = self._load_torchscript(path, device) if self.arch is None else self._load_arch(path, n)
        model = model.to(device).eval()
        if device == "cuda" and self.amp:
            try:
                model = model.to(memory_format=torch.channels_last)
            except (RuntimeError, TypeError):  # some TorchScript modules cannot convert; contiguous is fine
                pass
        self.model_ = model
        self._file_hash = file_hash(path)
        probe = torch.zeros((2, n, self.size_, self.size_), device=device)
        try:
            out = self._forward(probe)
        except DataError:
            raise
        except Exception as exc:  # noqa: BLE001 - report the model's own complaint with the file name
            lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
            raise DataError(f"checkpoint {path}: the model fails on an input of shape {tuple(probe.shape)} "
                            f"({len(self.bands_)} bands, {self.size_} x {self.size_} pixels): "
                            f"{lines[-1] if lines else type(exc).__name__}") from None
        self.dim_ = int(out.shape[1])
        return self

    def _load_torchscript(self, path: Path, device: str) -> nn.Module:
        try:
            with warnings.catch_warnings():  # torch >= 2.9 deprecates TorchScript; the files still load
                warnings.simplefilter("ignore", DeprecationWarning)
                return torch.jit.load(str(path), map_location=device)
        except Exception as exc:  # noqa: BLE001 - any failure means "not TorchScript"; tell what it is instead
            msg = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            reason = f"{type(exc).__name__}: {msg.split('. ')[0][:160]}"
        try:
            obj = torch.load(path, map_location="cpu", weights_only=True)
        except Exception:  # noqa: BLE001
            obj = None
        if obj is not None:
            try:
                _unwrap_state_dict(obj, path)
                is_state_dict = True
            except DataError:
                is_state_dict = False
            if is_state_dict:
                raise DataError(f"checkpoint {path}: this is a state_dict, not a TorchScript model; pass "
                                f"arch=<torchvision name> or arch='timm:<name>' to say which network it belongs to")
        raise DataError(f"checkpoint {path}: not a TorchScript model nor a state_dict ({reason})")

    def _load_arch(self, path: Path, n: int) -> nn.Module:
        arch = str(self.arch)
        model = self._build(arch, path)
        try:
            obj = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001
            raise DataError(f"checkpoint {path}: cannot read it as a state_dict for arch={arch!r} "
                            f"({type(exc).__name__}: {exc})") from None
        sd = _unwrap_state_dict(obj, path)
        parent, attr, conv, prefix = _first_conv(model)
        w = sd.get(f"{prefix}.weight")
        k = int(w.shape[1]) if w is not None and w.ndim == 4 else conv.in_channels
        if k == n and conv.in_channels != n:
            setattr(parent, attr, _conv_like(conv, n))
        res = self._load_state(model, sd, path, arch)
        if k != n:
            parent, attr, conv, _ = _first_conv(model)
            new = _conv_like(conv, n)
            with torch.no_grad():
                mean_w = conv.weight.mean(dim=1, keepdim=True) * (conv.in_channels / n)
                new.weight.copy_(mean_w.expand(-1, n, -1, -1))
                if conv.bias is not None:
                    new.bias.copy_(conv.bias)
            setattr(parent, attr, new)
        self.load_report_ = res
        _drop_classifier(model)
        return model

    def _build(self, arch: str, path: Path) -> nn.Module:
        if arch.startswith("timm:"):
            name = arch[len("timm:"):]
            try:
                import timm
            except ImportError:
                raise DataError(f"checkpoint {path}: arch={arch!r} needs timm, which is not installed "
                                f"(pip install timm)") from None
            try:
                return timm.create_model(name, pretrained=False)
            except Exception as exc:  # noqa: BLE001
                raise DataError(f"checkpoint {path}: timm cannot build {name!r} ({exc})") from None
        try:
            import torchvision
        except ImportError:
            raise DataError(f"checkpoint {path}: arch={arch!r} needs torchvision, which is not installed "
                            f"(pip install torchvision: the build matching torch {torch.__version__.split('+')[0]}, "
                            f"or use a TorchScript file, which needs no torchvision)") from None
        try:
            get_model = getattr(torchvision.models, "get_model", None)  # torchvision >= 0.14
            if get_model is not None:
                return get_model(arch, weights=None)
            return getattr(torchvision.models, arch)(weights=None)
        except Exception as exc:  # noqa: BLE001
            raise DataError(f"checkpoint {path}: torchvision has no architecture {arch!r} ({exc})") from None

    def _load_state(self, model: nn.Module, sd: dict, path: Path, arch: str) -> dict:
        try:
            res = model.load_state_dict(sd, strict=self.strict)
        except RuntimeError as exc:
            own = model.state_dict()
            missing = [k for k in own if k not in sd]
            unexpected = [k for k in sd if k not in own]
            shape = [k for k in own if k in sd and own[k].shape != sd[k].shape]
            parts = [f"{label}: {', '.join(keys[:8])}{' ...' if len(keys) > 8 else ''} ({len(keys)})"
                     for label, keys in (("missing keys", missing), ("unexpected keys", unexpected),
                                         ("shape mismatch", shape)) if keys]
            detail = "; ".join(parts) or str(exc).splitlines()[0]
            raise DataError(f"checkpoint {path}: the state_dict does not match arch={arch!r}: {detail}"
                            + ("" if shape else " (strict=False loads what matches)")) from None
        report = {"missing": list(res.missing_keys), "unexpected": list(res.unexpected_keys)}
        if report["missing"] or report["unexpected"]:
            warnings.warn(f"checkpoint {path}: loaded non-strictly; missing keys {report['missing'][:8]}, "
                          f"unexpected keys {report['unexpected'][:8]}", stacklevel=4)
        return report

    # --------------------------------------------------------------------------------------- encode
    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        cuda = x.device.type == "cuda" and bool(self.amp)
        if cuda:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.inference_mode(), torch.autocast("cuda", dtype=torch.bfloat16, enabled=cuda):
            out = self.model_(x)
        if not isinstance(out, torch.Tensor) or out.ndim != 2 or out.shape[0] != x.shape[0]:
            got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise DataError(f"checkpoint {self.path_}: the model must return a tensor of shape (B, D) = "
                            f"({x.shape[0]}, D) for an input of shape {tuple(x.shape)}, got {got}")
        return out.float()

    def inputs(self, batch: dict[str, np.ndarray]) -> torch.Tensor:
        """Normalised model input of a raw batch.

        Returns
        -------
        torch.Tensor of float32, shape (B, len(bands_), size_, size_), on ``device_``
        """
        dev = self.device_
        x = to_device_grid(self.store_, batch, self.bands_, self.size_, dev, mode="stack")
        scale = torch.as_tensor(self.scale_, device=dev).view(1, -1, 1, 1)
        mean = torch.as_tensor(self.mean_, device=dev).view(1, -1, 1, 1)
        std = torch.as_tensor(self.std_, device=dev).view(1, -1, 1, 1)
        return torch.nan_to_num_((x * scale - mean) / std, nan=0.0)

    def encode(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        """Embed a raw batch.

        Parameters
        ----------
        batch : dict of group name -> ndarray, shape (B, n_bands, size, size)

        Returns
        -------
        ndarray of float32, shape (B, dim_)
        """
        if not hasattr(self, "model_"):
            raise ValueError("checkpoint: call fit(ws) before encode()")
        set_threads(self._threads)
        z = self._forward(self.inputs(batch))
        if self.normalize:
            z = torch.nn.functional.normalize(z, dim=1)
        return z.cpu().numpy().astype(np.float32, copy=False)

    def state_hash(self) -> str:
        """Content hash of the model file."""
        return getattr(self, "_file_hash", "")

    def card(self) -> dict:
        return {**super().card(), "path": self.path_ if hasattr(self, "path_") else str(self.path),
                "arch": self.arch, "normalisation": "(raw * scale - mean) / std per band, NaN -> 0",
                "size": getattr(self, "size_", self.size)}
