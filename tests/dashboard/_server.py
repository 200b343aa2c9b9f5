"""``eomine serve`` in its own process for the dashboard tests (imported as ``_server``)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(ws: Path, *args: str, env: dict | None = None, timeout: float = 120) -> tuple[subprocess.Popen, str]:
    """``eomine serve WS ARGS`` as a curator runs it; returns (process, base URL) once it answers."""
    port = free_port()
    log_path = ws.parent / f"server-{port}.log"
    log = open(log_path, "w")
    proc = subprocess.Popen([sys.executable, "-m", "eomine.cli", "serve", str(ws), "--port", str(port), *args],
                            stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
                            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})})
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {log_path.read_text()}")
        try:
            urllib.request.urlopen(url + "/eomine/api/history", timeout=2)
            return proc, url
        except urllib.error.HTTPError:
            return proc, url  # answering (e.g. 401 with --auth)
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise RuntimeError(f"server did not start in {timeout:.0f} s")
