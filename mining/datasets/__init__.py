"""Dataset loaders, one class per dataset. :data:`FORMATS` maps ``eomine ingest --format`` to the class."""

from .base import Issue, PatchDataset
from .ben1 import BigEarthNetV1
from .eurosat import EuroSATMS, EuroSATRGB
from .folder import PatchFolder
from .lmdb import ReBENLMDB
from .reben import ReBEN
from .scene import SceneDataset

FORMATS: dict[str, type[PatchDataset]] = {
    "reben": ReBEN,
    "ben1": BigEarthNetV1,
    "lmdb": ReBENLMDB,
    "eurosat": EuroSATMS,
    "eurosat-rgb": EuroSATRGB,
    "folder": PatchFolder,
    "scene": SceneDataset,
}

__all__ = ["FORMATS", "Issue", "PatchDataset", "ReBEN", "BigEarthNetV1", "ReBENLMDB", "EuroSATMS", "EuroSATRGB",
           "PatchFolder", "SceneDataset"]
