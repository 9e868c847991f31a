#!/usr/bin/env bash
# The perf gate: user-space instructions per request (callgrind, repeatable to < 1 %) for
# sightline in each telemetry mode, beside nginx / nginx proxy_cache and a bare pingora load
# balancer (benches/bare_lb.rs), all through ../shared/bench/instructions.sh (read its README).
#
#   benches/instructions.sh                 # full matrix, ~3 min after the release build
#   benches/instructions.sh --quick         # references + sightline telemetry off only
#
# Modes: off (no metrics, no traces), metrics (OTLP metrics on, traces off: the harness
# default in the issue), traces-1 (1 % sampled traces + metrics), traces-100 (every request traced),
# view-100 (traces-100 with the built-in trace view on).
# Traced modes export to a real collector: rotel (pip install rotel) with its blackhole exporter
# on 127.0.0.1:4317, started here and stopped at the end. Prints one markdown table; the per-run
# tables land in /tmp/bench/instructions/<timestamp>/ as usual.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
shared=${SIGHTLINE_BENCH_SHARED:-$root/../shared/bench}
quick=0
[ "${1:-}" = --quick ] && quick=1

cargo build --release --quiet --bin sightline --example bare_lb --manifest-path "$root/Cargo.toml"

work=$(mktemp -d /tmp/sightline-instr.XXXXXX)
trap 'kill "${collector:-}" 2>/dev/null || true; rm -rf "$work"' EXIT

# One wrapper per mode: the harness runs a command that ends by exec-ing the proxy.
wrapper() { # mode metrics traces ratio [embedded]
  cat >"$work/$1.sh" <<SH
#!/usr/bin/env bash
export SIGHTLINE_BIN=$root/target/release/sightline SIGHTLINE_BENCH_METRICS=$2 \
  SIGHTLINE_BENCH_TRACES=$3 SIGHTLINE_BENCH_SAMPLE=$4 SIGHTLINE_BENCH_EMBEDDED=${5:-off}
exec $root/benches/bench-proxy.sh
SH
  chmod +x "$work/$1.sh"
}
wrapper off off off 1.0
wrapper metrics on off 1.0
wrapper traces-1 on on 0.01
wrapper traces-100 on on 1.0
wrapper view-100 on on 1.0 on

measure() { # name cmd port [extra args]
  local name=$1 cmd=$2 port=$3
  shift 3
  flock /tmp/callgrind.lock "$shared/instructions.sh" --proxy-cmd "$cmd" --proxy-port "$port" \
    --proxy-name "$name" "$@" | tee "$work/$name.out" >&2
}

measure bare-pingora "$root/target/release/examples/bare_lb" 6190 --proxy-no-cache
modes=(off)
[ $quick = 1 ] || modes=(off metrics traces-1 traces-100 view-100)
for m in "${modes[@]}"; do
  if [[ $m == *-1* && -z ${collector:-} ]]; then
    agent=$(python3 -c 'import os, rotel; print(os.path.join(os.path.dirname(rotel.__file__), "rotel-agent"))')
    "$agent" start --otlp-grpc-endpoint 127.0.0.1:4317 --otlp-http-endpoint 127.0.0.1:4318 \
      --exporter blackhole >"$work/rotel.log" 2>&1 &
    collector=$!
  fi
  measure "sightline-$m" "$work/$m.sh" 6188 --proxies ''
done

echo
echo "| proxy | scenario | instructions/request | vs reference |"
echo "|---|---|---:|---:|"
cat "$work"/*.out | grep -E '^\| [a-z]' | grep -v '^| proxy' | sort -u
