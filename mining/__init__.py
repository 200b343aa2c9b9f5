"""eomine's engine: datasets and ingest, the packed pixel store, composites and (later) embeddings,
kNN, projection, noise detection, tours and the curation log.

Nothing is loaded at import time; every stage is an explicit function or estimator.
"""

__version__ = "0.1.0"
