"""eomine's engine: datasets and ingest, the packed pixel store, band composites, encoders and embeddings, the
kNN graph, 2-D projection, rasterising, noise detection, the curation log, exports and tours.

Nothing is loaded at import time; every stage is an explicit function or estimator, and each stage loads and
saves its own artifacts (:mod:`mining.layout` names their files). The engine never imports the app.
"""

__version__ = "0.1.0"
