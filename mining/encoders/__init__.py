"""Encoders: ``galileo`` (pretrained Galileo-nano), ``spectral`` (training-free), ``ssl`` (self-supervised CNN),
``checkpoint`` (your model), ``import`` (your embeddings) and ``random`` (the baseline)."""

from __future__ import annotations

from .base import Encoder

__all__ = ["Encoder", "ENCODERS", "make_encoder", "default_encoder", "resolve_encoder"]

#: encoder name -> "module:Class" (imported lazily: torch loads only for the encoders that need it)
ENCODERS = {
    "galileo": "mining.encoders.galileo:GalileoEncoder",
    "spectral": "mining.encoders.spectral:SpectralEncoder",
    "ssl": "mining.encoders.ssl:SSLEncoder",
    "checkpoint": "mining.encoders.checkpoint:CheckpointEncoder",
    "import": "mining.encoders.imported:ImportedEmbeddings",
    "random": "mining.encoders.random:RandomProjectionEncoder",
}


def make_encoder(name: str, **params) -> Encoder:
    """Instantiate an encoder by name with its keyword parameters."""
    import importlib

    if name not in ENCODERS:
        raise ValueError(f"unknown encoder {name!r} (choose from {', '.join(ENCODERS)})")
    mod, cls = ENCODERS[name].split(":")
    return getattr(importlib.import_module(mod), cls)(**params)


def default_encoder() -> str:
    """``galileo`` when its weights are found (``data/weights/galileo-nano/`` or ``$EOMINE_GALILEO_WEIGHTS``) and
    torch is installed, else ``spectral`` (the dependency-free fallback)."""
    from ._weights import galileo_available

    return "galileo" if galileo_available() else "spectral"


def resolve_encoder(name: str | None, bands=None) -> str:
    """The encoder ``name`` stands for: ``auto`` / None -> :func:`default_encoder`, except that a workspace whose
    ``bands`` fill none of Galileo's channel groups (say only B01 and B09) gets ``spectral``; any other name
    unchanged.

    Parameters
    ----------
    name : str or None
        ``auto``, None or an encoder of :data:`ENCODERS`.
    bands : iterable of str, optional
        The workspace's pixel-store bands; None when unknown (no workspace yet, or no pixels).
    """
    if name not in (None, "auto"):
        return name
    enc = default_encoder()
    if enc == "galileo" and bands is not None:
        from ._galileo_bands import groups_of_bands

        if not groups_of_bands(bands):
            return "spectral"
    return enc
