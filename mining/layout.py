"""The layout of a workspace on disk: the one module that names its files.

Every artifact has one owner: the stage that writes it also loads it (with the check of its format version),
and every reader goes through that owner's ``load_*`` function. Only the paths are kept here::

    WS/
      workspace.json          Workspace (mining.workspace)        written last by ingest
      catalog.parquet         ingest                              one row per patch
      ingest_report.parquet   ingest
      pixels/                 PixelStore (mining.store)           store.json, stats.json, <group>.npy
      embeddings.parquet      mining.embeddings                   + embeddings.json, embeddings.partial/
      embeddings.shards/      mining.distributed.embed            a running `embed --backend ray`: shard-*.parquet
      encoders/               encoders that train on the workspace (ssl checkpoints)
      knn/                    mining.knn                          indices.npy, distances.npy, knn.json
      projection.parquet      mining.projection                   + projection.json
      quality.json            mining.pipeline (step_report)
      scores.parquet          mining.noise                        + scores.json, .score.lock
      edits.sqlite            mining.curation                     + edits.json (and SQLite's -wal / -shm)
      active/                 mining.labelling                    state.json (rounds, check set), predictions.parquet
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["WorkspaceFiles", "EDIT_LOG_FILES", "STORE_CARD", "STORE_STATS", "PARTIAL_SUFFIX"]

#: inside ``pixels/`` (the store's own files; :mod:`mining.store` reads them relative to its folder)
STORE_CARD = "store.json"
STORE_STATS = "stats.json"
#: a workspace under construction is ``<WS>.partial/`` until it is complete
PARTIAL_SUFFIX = ".partial"
#: the curation log's files: curators' work, never deleted with a replaced workspace
EDIT_LOG_FILES = ("edits.sqlite", "edits.sqlite-wal", "edits.sqlite-shm", "edits.json")


@dataclass(frozen=True)
class WorkspaceFiles:
    """The path of every artifact of the workspace at ``root``.

    Parameters
    ----------
    root : Path
        The workspace directory.
    """

    root: Path

    # ------------------------------------------------------------------ ingest
    @property
    def workspace_card(self) -> Path:
        return self.root / "workspace.json"

    @property
    def catalog(self) -> Path:
        return self.root / "catalog.parquet"

    @property
    def ingest_report(self) -> Path:
        return self.root / "ingest_report.parquet"

    @property
    def pixels(self) -> Path:
        return self.root / "pixels"

    @property
    def store_card(self) -> Path:
        return self.pixels / STORE_CARD

    @property
    def partial(self) -> Path:
        """Where an ingest builds this workspace before renaming it into place."""
        return self.root.with_name(self.root.name + PARTIAL_SUFFIX)

    # ------------------------------------------------------------------ embeddings, kNN, layout
    @property
    def embeddings(self) -> Path:
        return self.root / "embeddings.parquet"

    @property
    def embeddings_card(self) -> Path:
        return self.root / "embeddings.json"

    @property
    def embeddings_partial(self) -> Path:
        """Resumable chunks of a running ``embed`` (``part-<start>.npy`` + ``partial.json``)."""
        return self.root / "embeddings.partial"

    @property
    def embeddings_partial_card(self) -> Path:
        return self.embeddings_partial / "partial.json"

    def embeddings_chunk(self, start: int) -> Path:
        return self.embeddings_partial / f"part-{start:09d}.npy"

    @property
    def embeddings_shards(self) -> Path:
        """Finished shards of a running ``embed --backend ray`` (``shard-<start>.parquet`` + ``shards.json``)."""
        return self.root / "embeddings.shards"

    @property
    def embeddings_shards_card(self) -> Path:
        return self.embeddings_shards / "shards.json"

    def embeddings_shard(self, start: int) -> Path:
        return self.embeddings_shards / f"shard-{start:09d}.parquet"

    @property
    def encoders(self) -> Path:
        """Checkpoints of encoders trained on this workspace."""
        return self.root / "encoders"

    @property
    def knn(self) -> Path:
        return self.root / "knn"

    @property
    def knn_indices(self) -> Path:
        return self.knn / "indices.npy"

    @property
    def knn_distances(self) -> Path:
        return self.knn / "distances.npy"

    @property
    def knn_card(self) -> Path:
        return self.knn / "knn.json"

    @property
    def projection(self) -> Path:
        return self.root / "projection.parquet"

    @property
    def projection_card(self) -> Path:
        return self.root / "projection.json"

    @property
    def quality_card(self) -> Path:
        return self.root / "quality.json"

    # ------------------------------------------------------------------ noise scores, curation
    @property
    def scores(self) -> Path:
        return self.root / "scores.parquet"

    @property
    def scores_card(self) -> Path:
        return self.root / "scores.json"

    @property
    def score_lock(self) -> Path:
        return self.root / ".score.lock"

    @property
    def edits(self) -> Path:
        return self.root / EDIT_LOG_FILES[0]

    @property
    def edits_card(self) -> Path:
        return self.root / EDIT_LOG_FILES[3]

    # ------------------------------------------------------------------ active learning (mining.labelling)
    @property
    def active(self) -> Path:
        return self.root / "active"

    @property
    def active_state(self) -> Path:
        return self.root / "active" / "state.json"

    @property
    def predictions(self) -> Path:
        return self.root / "active" / "predictions.parquet"
