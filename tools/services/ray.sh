# Sourced by tools/test.sh: a local Ray cluster for the tests of `--backend ray` (tests/mining/test_ray.py).
# Starts a head node on 127.0.0.1 with 2 CPUs and a small object store, exports EOMINE_TEST_RAY=127.0.0.1:PORT for
# the tests, and stops it when the script exits. Without ray installed it does nothing (the tests skip, saying so).
# EOMINE_TEST_RAY already set (a cluster of your own): used as it is, not started or stopped here.
if [ -z "${EOMINE_TEST_RAY:-}" ] && python -c 'import ray' 2>/dev/null; then
  _ray_port="$(python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  echo "== ray: starting a local test cluster on 127.0.0.1:$_ray_port (2 CPUs)"
  # the workers import this checkout's eomine (PYTHONPATH), whatever else the environment has installed
  if PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO=0 ray start --head \
      --node-ip-address 127.0.0.1 --port "$_ray_port" --num-cpus 2 --num-gpus 0 \
      --object-store-memory 300000000 --include-dashboard=false --disable-usage-stats >/tmp/eomine-ray.log 2>&1; then
    export EOMINE_TEST_RAY="127.0.0.1:$_ray_port"
    _ray_stop='echo "== ray: stopping the test cluster"; ray stop --force >/dev/null 2>&1 || true'
    # after whatever an earlier service registered (tools/services/postgres.sh), never instead of it
    _prev_trap="$(trap -p EXIT | sed -E "s/^trap -- '(.*)' EXIT$/\1/")"
    trap -- "${_prev_trap:+$_prev_trap; }$_ray_stop" EXIT
  else
    echo "ray start failed (see /tmp/eomine-ray.log); the Ray tests will start their own cluster"
  fi
fi
