"""Connecting to a Ray cluster for one command: a local cluster started for it, or an existing one.

``RayCluster(address=None)`` starts a local Ray instance (``ray.init``) when the command begins and stops it at
the end; ``RayCluster("10.0.0.1:6379")`` (or ``ray://host:10001``, Ray Client) joins a cluster started with
``ray start`` and only disconnects at the end. A process already connected to Ray (a notebook, the test suite)
keeps its connection: the command runs on it and leaves it open.
"""

from __future__ import annotations

import os
import re

from .._internal.validation import Constraint, Interval, Options, validate_params
from ..errors import DataError

__all__ = ["RayCluster", "RayAddress", "BACKENDS", "ray_available"]

#: ``--backend``
BACKENDS = ("local", "ray")

_ADDRESS = re.compile(r"(?:ray://)?(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252}[A-Za-z0-9])?|\[[0-9A-Fa-f:]+\]):"
                      r"(?:[1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])")


class RayAddress(Constraint):
    """A Ray cluster address: ``HOST:PORT`` (the GCS of ``ray start --head``), ``ray://HOST:PORT`` (Ray Client)
    or ``auto`` (the cluster this machine's ``ray start`` joined)."""

    def is_satisfied_by(self, value: object) -> bool:
        return isinstance(value, str) and (value == "auto" or _ADDRESS.fullmatch(value) is not None)

    def __str__(self) -> str:
        return "HOST:PORT, ray://HOST:PORT or auto"


def ray_available() -> bool:
    """Whether ``ray`` (with Ray Data) can be imported."""
    import importlib.util

    return importlib.util.find_spec("ray") is not None and importlib.util.find_spec("ray.data") is not None


class RayCluster:
    """A Ray connection for the duration of a ``with`` block.

    Parameters
    ----------
    address : str or None
        None: start a local cluster for the command (stopped at the end). ``HOST:PORT``, ``ray://HOST:PORT``
        or ``auto``: join an existing cluster.
    actors : int or "auto"
        Size of the actor pools (encoders, kNN searchers). ``auto``: one per GPU when the cluster has GPUs,
        else one per CPU but one (a CPU is left to the readers).
    num_cpus : int or None
        CPUs of a local cluster (None: all of this machine's). Ignored when joining a cluster.
    object_store_memory : int or None
        Bytes of a local cluster's object store (None: Ray's default, 30 % of memory).

    Attributes
    ----------
    address_ : str
        Where the command ran (``local`` for a cluster started for it).
    started_ : bool
        Whether this object started the cluster (and stops it).
    cpus_, gpus_ : float
        The cluster's total resources at connection time.
    nodes_ : int
        Alive nodes.
    """

    _parameter_constraints = {
        "address": [RayAddress(), None],
        "actors": [Interval(int, 1, None), Options(("auto",))],
        "num_cpus": [Interval(int, 1, None), None],
        "object_store_memory": [Interval(int, 78_643_200, None), None],  # Ray's minimum is 75 MiB
    }

    def __init__(self, address: str | None = None, *, actors: int | str = "auto", num_cpus: int | None = None,
                 object_store_memory: int | None = None):
        self.address = address
        self.actors = actors
        self.num_cpus = num_cpus
        self.object_store_memory = object_store_memory

    def __enter__(self) -> RayCluster:
        validate_params(self)
        if not ray_available():
            raise DataError("--backend ray needs Ray: pip install 'ray[data]' (see pyproject.toml for the version)")
        import ray

        self.started_ = False
        self._connected = False
        if ray.is_initialized():
            ctx = ray.get_runtime_context()
            self.address_ = ctx.gcs_address
        else:
            # workers inherit this environment: the same eomine checkout, and no progress bars from Ray itself
            os.environ.setdefault("RAY_DEDUP_LOGS", "0")
            os.environ.setdefault("RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO", "0")
            kw = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
            if self.address is None:
                ray.init(num_cpus=self.num_cpus, object_store_memory=self.object_store_memory, **kw)
                self.started_ = True
                self.address_ = "local"
            else:
                try:
                    ray.init(address=self.address, **kw)
                except (ConnectionError, RuntimeError) as exc:
                    raise DataError(f"--address {self.address}: cannot connect to a Ray cluster there "
                                    f"({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") from None
                self.address_ = self.address
            self._connected = True
        res = ray.cluster_resources()
        self.cpus_ = float(res.get("CPU", 0))
        self.gpus_ = float(res.get("GPU", 0))
        self.nodes_ = sum(1 for n in ray.nodes() if n.get("Alive"))
        import logging

        from ray.data import DataContext

        logging.getLogger("ray.data").setLevel(logging.WARNING)

        ctx = DataContext.get_current()
        ctx.enable_progress_bars = False
        ctx.print_on_execution_start = False
        return self

    def __exit__(self, *exc) -> None:
        if self._connected:
            import ray

            ray.shutdown()

    @property
    def n_actors(self) -> int:
        """Actors of a pool: ``actors``, or one per GPU, or one per CPU but one (at least one)."""
        if self.actors != "auto":
            return int(self.actors)
        if self.gpus_ >= 1:
            return int(self.gpus_)
        return max(1, int(self.cpus_) - 1)

    @property
    def use_gpus(self) -> bool:
        return self.gpus_ >= 1

    def card(self, **extra) -> dict:
        """What the cards record about the cluster a step ran on."""
        import ray

        return {"backend": "ray", "address": self.address_, "nodes": self.nodes_, "cpus": self.cpus_,
                "gpus": self.gpus_, "actors": self.n_actors, "ray": ray.__version__, **extra}
