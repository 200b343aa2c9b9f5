# Sourced by tools/demo.sh and tools/test.sh: make .venv and install eomine into it (idempotent).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${EOMINE_VENV:-$ROOT/.venv}"
PY="${PYTHON:-python3}"

if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
  echo "eomine needs Python >= 3.10 (found: $("$PY" --version 2>&1)); set PYTHON=/path/to/python3.x" >&2
  exit 1
fi
if [ ! -x "$VENV/bin/python" ]; then
  echo "== creating virtual environment $VENV"
  "$PY" -m venv "$VENV"
fi
# reinstall only when the dependency list changed
stamp="$VENV/.eomine-installed"
want="$(sha256sum "$ROOT/pyproject.toml" | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
  echo "== installing eomine and its dependencies into $VENV (a few minutes the first time)"
  "$VENV/bin/python" -m pip install -q --upgrade pip 2>&1 | grep -v '^WARNING: Location' || true
  # torch first and exactly: an unpinned torch would pull a multi-GB CUDA build; 2.13.0 is the CPU wheel.
  "$VENV/bin/python" -m pip install -q "torch==2.13.0" 2>&1 | grep -v '^WARNING: Location' || true
  "$VENV/bin/python" -m pip install -q -e "$ROOT[test]" 2>&1 | grep -v '^WARNING: Location' || true
  "$VENV/bin/python" -c 'import eomine.cli, mining, torch, rasterio, dash, datashader, diskcache, multiprocess, psutil' \
    || { echo "dependency installation failed (see above)" >&2; exit 1; }
  echo "$want" > "$stamp"
fi
export PATH="$VENV/bin:$PATH"

# Debian chromium for the browser tests (installed when missing and we are root; otherwise the browser tests
# are skipped with the reason).
ensure_chromium() {
  if command -v chromium >/dev/null 2>&1; then return 0; fi
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "== installing Debian chromium for the browser tests"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver) \
      >/tmp/eomine-apt.log 2>&1 || echo "chromium install failed (see /tmp/eomine-apt.log); browser tests will skip"
  else
    echo "chromium not found and not root: browser tests will be skipped (apt-get install chromium)"
  fi
}
