#!/usr/bin/env bash
# benches/bench-proxy.sh with N idle GET /api/stream clients (default 1000) held by
# benches/stream-clients.py in its own session (so run.sh neither counts its CPU in the proxy's
# process group nor pins it to the proxy core: it runs on the load core). For ../shared/bench/run.sh:
#
#   ../shared/bench/run.sh --short --warmup 10 --proxies nginx --proxy-no-cache \
#       --proxy-cmd "$PWD/benches/bench-proxy-streams.sh" --proxy-port 6188 --proxy-name sightline+1000sse
#
# Not for instructions.sh (callgrind traces children): start stream-clients.py beside it instead.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
port=${SIGHTLINE_BENCH_ADMIN_PORT:-19190}
setsid taskset -c "${SIGHTLINE_BENCH_CLIENTS_CPU:-1}" python3 "$here/stream-clients.py" \
  --admin "127.0.0.1:$port" --clients "${SIGHTLINE_BENCH_STREAM_CLIENTS:-1000}" \
  --seconds "${SIGHTLINE_BENCH_CLIENTS_SECONDS:-600}" </dev/null >&2 &
exec "$here/bench-proxy.sh"
