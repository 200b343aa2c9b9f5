"""Scale-out on Ray (``--backend ray``): sharded embedding, kNN search and scoring, same results as local.

* :mod:`.cluster`: the connection (a local cluster started for a command, or an existing one);
* :mod:`.embed`: the pixel store in row shards, read by Ray Data, encoded by an actor pool, resumable per shard;
* :mod:`.knn`: exact search in blocks of query rows over actors, or a FAISS index with its recall measured;
* :mod:`.score`: the noise scorer's out-of-fold models and neighbour evidence as Ray tasks.

Ray is imported only when a step runs on it, so the local backend never needs it.
"""

from .cluster import BACKENDS, RayAddress, RayCluster, ray_available

__all__ = ["BACKENDS", "RayAddress", "RayCluster", "ray_available"]
