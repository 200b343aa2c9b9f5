"""The encoder interface: pixels of a batch of patches -> one vector per patch."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

__all__ = ["Encoder", "S2_ORDER"]

#: Sentinel-2 bands an encoder may use, canonical order (B10 only exists in L1C data such as EuroSAT)
S2_ORDER = ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B11", "B12")


class Encoder:
    """Base class of the encoders (scikit-learn habits: parameters in ``__init__``, work in ``fit``).

    Subclasses implement :meth:`fit` (set ``bands_``, ``dim_`` and whatever they learn) and :meth:`encode`.

    Attributes
    ----------
    bands_ : list of str
        Bands read from the pixel store, in the order the encoder uses them.
    dim_ : int
        Embedding dimension.
    device_ : str
        Where encoding runs (``cpu`` or ``cuda``).
    """

    #: key of ``eomine embed --encoder``
    name: ClassVar[str] = ""
    #: encoders that need pixels (all but ``import``)
    needs_pixels: ClassVar[bool] = True

    def get_params(self) -> dict:
        """Constructor parameters (recorded in the embedding card and in the cache key)."""
        import inspect

        sig = inspect.signature(type(self).__init__)
        return {k: getattr(self, k) for k in sig.parameters if k != "self" and hasattr(self, k)}

    def fit(self, ws, *, device: str = "cpu", progress: bool = True) -> Encoder:
        """Prepare (or train) the encoder on workspace ``ws``."""
        raise NotImplementedError

    def encode(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        """Embed one batch.

        Parameters
        ----------
        batch : dict of group name -> ndarray, shape (B, n_bands, size, size)
            Raw pixel-store values (uint16 reflectance, float32 dB) for B patches.

        Returns
        -------
        ndarray of float32, shape (B, dim_)
        """
        raise NotImplementedError

    def to_device(self, device: str) -> Encoder:
        """Move a fitted encoder's torch state (modules and tensors among its attributes) to ``device``.

        A Ray actor on a GPU gets the encoder fitted by the command's process, which may have no GPU. Encoders
        without torch state (``spectral``, ``random``) run where they are and are returned unchanged.
        """
        if getattr(self, "device_", "cpu") == device:
            return self
        import torch

        moved = False
        for key, value in list(vars(self).items()):
            if isinstance(value, torch.nn.Module | torch.Tensor):
                setattr(self, key, value.to(device))
                moved = True
        if moved:
            self.device_ = device
            if hasattr(self, "_threads") and hasattr(self, "threads"):
                from ._torch_common import resolve_threads

                self._threads = resolve_threads(self.threads, device)
        return self

    def card(self) -> dict:
        """Description stored beside the embeddings."""
        return {"encoder": self.name, "params": self.get_params(), "bands": list(getattr(self, "bands_", [])),
                "dim": int(getattr(self, "dim_", 0)), "device": getattr(self, "device_", "cpu")}
