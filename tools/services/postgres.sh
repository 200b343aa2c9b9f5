# Sourced by tools/test.sh: a real PostgreSQL server for the tests of the shared edit log
# (tests/mining/curation/, tests/dashboard/test_shared_log.py). `start_postgres` installs Debian's postgresql
# when it is missing and we are root, creates a cluster in a temporary folder (trust authentication, user
# eomine), starts it on 127.0.0.1 and a free port, exports EOMINE_TEST_POSTGRES=postgresql://eomine@127.0.0.1:PORT/postgres
# and stops and deletes it when the calling script exits. A server given in EOMINE_TEST_POSTGRES is used as is.
# Without PostgreSQL the tests start their own cluster when they can, or skip with the reason.

_pg_bin() {  # the PostgreSQL program $1: on PATH, else the newest /usr/lib/postgresql/*/bin
  command -v "$1" 2>/dev/null || { ls -1 /usr/lib/postgresql/*/bin/"$1" 2>/dev/null | sort -V | tail -n 1; } || true
}

_pg_as_owner() {  # PostgreSQL refuses to run as root: as root, run its programs as the postgres user
  if [ "$(id -u)" = "0" ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

_add_exit_trap() {  # run $1 on exit, after whatever an earlier service registered
  local prev
  prev="$(trap -p EXIT | sed -E "s/^trap -- '(.*)' EXIT$/\1/")"
  trap -- "${prev:+$prev; }$1" EXIT
}

stop_postgres() {
  if [ -n "${EOMINE_PG_DIR:-}" ] && [ -d "$EOMINE_PG_DIR" ]; then
    _pg_as_owner "$(_pg_bin pg_ctl)" -D "$EOMINE_PG_DIR/data" -m immediate -w stop >/dev/null 2>&1 || true
    rm -rf "$EOMINE_PG_DIR"
  fi
}

start_postgres() {
  if [ -n "${EOMINE_TEST_POSTGRES:-}" ]; then
    echo "== PostgreSQL: using EOMINE_TEST_POSTGRES"
    return 0
  fi
  if [ -z "$(_pg_bin initdb)" ] && [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "== installing Debian postgresql for the shared edit-log tests"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql) \
      >/tmp/eomine-apt-postgresql.log 2>&1 || echo "postgresql install failed (see /tmp/eomine-apt-postgresql.log)"
  fi
  local initdb pg_ctl port
  initdb="$(_pg_bin initdb)"
  pg_ctl="$(_pg_bin pg_ctl)"
  if [ -z "$initdb" ] || [ -z "$pg_ctl" ]; then
    echo "PostgreSQL not found and not installable here: the PostgreSQL edit-log tests will skip (apt-get install postgresql)"
    return 0
  fi
  EOMINE_PG_DIR="$(mktemp -d "${TMPDIR:-/tmp}/eomine-pg.XXXXXX")"
  export EOMINE_PG_DIR
  _add_exit_trap stop_postgres
  if [ "$(id -u)" = "0" ]; then chown postgres "$EOMINE_PG_DIR"; fi
  port="$(python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  _pg_as_owner "$initdb" -D "$EOMINE_PG_DIR/data" -U eomine --auth=trust -E UTF8 --no-sync \
    >"$EOMINE_PG_DIR/initdb.log" 2>&1 || { echo "initdb failed:" >&2; cat "$EOMINE_PG_DIR/initdb.log" >&2; return 1; }
  # fsync off: a test server (the tests kill clients, never the server); 127.0.0.1 only, socket in the temp folder
  _pg_as_owner "$pg_ctl" -D "$EOMINE_PG_DIR/data" -l "$EOMINE_PG_DIR/server.log" -w -t 60 \
    -o "-k $EOMINE_PG_DIR -h 127.0.0.1 -p $port -c fsync=off" start >/dev/null \
    || { echo "PostgreSQL did not start:" >&2; cat "$EOMINE_PG_DIR/server.log" >&2; return 1; }
  export EOMINE_TEST_POSTGRES="postgresql://eomine@127.0.0.1:$port/postgres"
  echo "== PostgreSQL $("$pg_ctl" --version | awk '{print $3}') on 127.0.0.1:$port (temporary cluster $EOMINE_PG_DIR)"
}
