"""Encoders: ``spectral`` (training-free), ``ssl`` (self-supervised CNN), ``checkpoint`` (your model),
``import`` (your embeddings) and ``random`` (the baseline)."""

from __future__ import annotations

from .base import Encoder

__all__ = ["Encoder", "ENCODERS", "make_encoder"]

#: encoder name -> "module:Class" (imported lazily: torch loads only for the encoders that need it)
ENCODERS = {
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
