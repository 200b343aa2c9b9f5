"""A real PostgreSQL server for the tests of the shared edit log (imported as ``_postgres``; never a mock).

:func:`server_url` gives, first found: ``$EOMINE_TEST_POSTGRES`` (``tools/test.sh`` starts a server with
``tools/services/postgres.sh`` and exports it), else a temporary cluster of this session (``initdb`` into a
temporary folder, ``pg_ctl`` on 127.0.0.1 and a free port, stopped and deleted at the end; as root it runs as
the ``postgres`` user, since PostgreSQL refuses to run as root), else None with the reason.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

ENV = "EOMINE_TEST_POSTGRES"
_BIN_DIRS = [Path(p) for p in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)]


def _binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    return next((str(d / name) for d in _BIN_DIRS if (d / name).is_file()), None)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """A temporary PostgreSQL cluster (trust authentication, user ``eomine``) on 127.0.0.1."""

    def __init__(self):
        self.initdb, self.pg_ctl = _binary("initdb"), _binary("pg_ctl")
        self.dir = Path(tempfile.mkdtemp(prefix="eomine-pg-"))
        self.port = _free_port()
        self.url = f"postgresql://eomine@127.0.0.1:{self.port}/postgres"
        self._as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def start(self) -> None:
        if self._as:
            shutil.chown(self.dir, "postgres")
        data = self.dir / "data"
        self._run([self.initdb, "-D", str(data), "-U", "eomine", "--auth=trust", "-E", "UTF8", "--no-sync"])
        self._run([self.pg_ctl, "-D", str(data), "-l", str(self.dir / "server.log"), "-w", "-t", "60", "-o",
                   f"-k {self.dir} -h 127.0.0.1 -p {self.port} -c fsync=off", "start"])

    def stop(self) -> None:
        try:
            self._run([self.pg_ctl, "-D", str(self.dir / "data"), "-m", "immediate", "-w", "stop"])
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)

    def _run(self, cmd: list[str]) -> None:
        res = subprocess.run([*self._as, *cmd], capture_output=True, text=True, timeout=120)
        if res.returncode:
            raise RuntimeError(f"{' '.join(cmd[:1])} failed: {res.stderr.strip() or res.stdout.strip()}")


def server_url() -> tuple[str | None, Cluster | None, str]:
    """(URL, the cluster started here or None, why there is none)."""
    url = os.environ.get(ENV, "").strip()
    if url:
        return url, None, ""
    c = Cluster()
    if not (c.initdb and c.pg_ctl):
        shutil.rmtree(c.dir, ignore_errors=True)
        return None, None, (f"no PostgreSQL server: ${ENV} is unset and initdb / pg_ctl are not installed "
                            "(apt-get install postgresql, or run tools/test.sh)")
    if c._as and not shutil.which("runuser"):
        shutil.rmtree(c.dir, ignore_errors=True)
        return None, None, "no PostgreSQL server: running as root without runuser to start one as postgres"
    try:
        c.start()
    except (RuntimeError, OSError, LookupError, subprocess.TimeoutExpired) as exc:
        shutil.rmtree(c.dir, ignore_errors=True)
        return None, None, f"no PostgreSQL server: starting a temporary one failed: {exc}"
    return c.url, c, ""


def with_schema(url: str, schema: str | None = None) -> str:
    """``url`` naming a schema of its own (a fresh one when ``schema`` is None): one log per test."""
    schema = schema or f"t_{uuid.uuid4().hex[:16]}"
    return f"{url}{'&' if '?' in url else '?'}schema={schema}"
