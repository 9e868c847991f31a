#!/usr/bin/env bash
# Adapter for the shared comparison harness (../shared/bench/run.sh --proxy-cmd): turns the
# BENCH_* variables it exports into a sightline config and runs the proxy in the foreground.
#
#   ../shared/bench/run.sh --short --proxies nginx,nginx-cache \
#       --proxy-cmd "$PWD/benches/bench-proxy.sh" --proxy-port 6188 --proxy-name sightline
#
# SIGHTLINE_BENCH_TELEMETRY=on exports 100 % of traces and metrics to SIGHTLINE_BENCH_OTLP
# (default http://127.0.0.1:4317: start a collector there, e.g. `rotel start`). Finer:
# SIGHTLINE_BENCH_METRICS=on|off, SIGHTLINE_BENCH_TRACES=on|off, SIGHTLINE_BENCH_SAMPLE=0.01,
# SIGHTLINE_BENCH_EMBEDDED=on (the built-in trace view, fed by the traces).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${SIGHTLINE_BIN:-$here/target/release/sightline}
cfg=$(mktemp /tmp/sightline-bench.XXXXXX.toml)
servers=$(printf '"%s",' ${BENCH_UPSTREAMS//,/ })
telemetry=off
[ "${SIGHTLINE_BENCH_TELEMETRY:-off}" = on ] && telemetry=on
metrics=false traces=false
[ "${SIGHTLINE_BENCH_METRICS:-$telemetry}" = on ] && metrics=true
[ "${SIGHTLINE_BENCH_TRACES:-$telemetry}" = on ] && traces=true
embedded=false
[ "${SIGHTLINE_BENCH_EMBEDDED:-off}" = on ] && embedded=true
cat >"$cfg" <<CONF
[proxy]
listen = "${BENCH_LISTEN:-127.0.0.1:6188}"
threads = ${BENCH_THREADS:-1}
grace_period = "1s"

[upstreams]
servers = [${servers%,}]
keepalive_pool = 2048

[upstreams.health_check]
kind = "tcp"
interval = "2s"

[telemetry]
traces = $traces
metrics = $metrics
sample_ratio = ${SIGHTLINE_BENCH_SAMPLE:-1.0}
embedded_ui = $embedded
otlp_endpoint = "${SIGHTLINE_BENCH_OTLP:-http://127.0.0.1:4317}"

[admin]
listen = "127.0.0.1:${SIGHTLINE_BENCH_ADMIN_PORT:-19190}"

[dashboard]
console = false
CONF
RUST_LOG=${RUST_LOG:-warn} exec "$bin" run -c "$cfg"
