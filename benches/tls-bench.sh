#!/usr/bin/env bash
# TLS and HTTP/2 cost of the release binary, one worker thread pinned to one core:
#   - TLS handshakes per second of proxy CPU (full handshakes, `openssl s_time -new`),
#   - CPU per request for HTTP/1.1 and HTTP/2, plain and over TLS (h2load for every case, so
#     the client is the same; cache hits, so the origin is out of the picture).
# CPU is the proxy's utime+stime from /proc/<pid>/stat, divided by the work done.
#
#   cargo build --release && benches/tls-bench.sh        # BENCH_SECONDS=10 by default
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${SIGHTLINE_BIN:-$here/target/release/sightline}
secs=${BENCH_SECONDS:-10}
reqs=${BENCH_REQUESTS:-100000}
core=${BENCH_CORE:-0}
dir=$(mktemp -d /tmp/sightline-tls-bench.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$dir"; }
trap cleanup EXIT

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
plain=$(port); tls=$(port); admin=$(port); origin=$(port)

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -keyout "$dir/key.pem" -out "$dir/cert.pem" -subj /CN=bench.test \
    -addext subjectAltName=DNS:bench.test 2>/dev/null

# A cacheable origin: after the first request every answer is a cache hit.
cat >"$dir/origin.py" <<'PY'
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        body = b"x" * 512
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "max-age=3600")
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
python3 "$dir/origin.py" "$origin" & pids+=($!)

cat >"$dir/sightline.toml" <<CONF
[proxy]
listen = "127.0.0.1:$plain"
threads = ${BENCH_THREADS:-1}
grace_period = "1s"
h2c = true
[[proxy.tls]]
listen = "127.0.0.1:$tls"
cert = "$dir/cert.pem"
key = "$dir/key.pem"
[upstreams]
servers = ["127.0.0.1:$origin"]
[upstreams.health_check]
kind = "tcp"
[telemetry]
traces = false
metrics = false
[admin]
listen = "127.0.0.1:$admin"
[dashboard]
console = false
CONF
RUST_LOG=warn taskset -c "$core" "$bin" run -c "$dir/sightline.toml" 2>"$dir/proxy.log" & pid=$!
pids+=($pid)
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$plain/" && break; sleep 0.1; done
curl -s -o /dev/null "http://127.0.0.1:$plain/warm"

tck=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
# Other cores for the clients.
client_cores=$(python3 -c "import os; c=sorted(os.sched_getaffinity(0)-{$core}); print(','.join(map(str,c)) or '$core')")

echo "# sightline TLS/HTTP2 bench: $(nproc) cores, proxy pinned to core $core, clients on $client_cores"
echo
# 1. Full TLS handshakes (no session resumption), one request each.
before=$(cpu)
out=$(taskset -c "$client_cores" openssl s_time -connect "127.0.0.1:$tls" -new -time "$secs" 2>/dev/null | grep -m1 'connections in' || true)
after=$(cpu)
n=$(echo "$out" | awk '{print $1}')
if [ -n "$n" ] && [ "$n" -gt 0 ]; then
    awk -v n="$n" -v c=$((after - before)) -v t="$tck" -v s="$secs" 'BEGIN {
        us = c / t * 1e6 / n;
        printf "TLS handshakes (openssl s_time -new, TLS 1.3, P-256): %d in %d s, proxy CPU %.0f us each = %.0f handshakes/s per core\n", n, s, us, 1e6 / us }'
fi

# 2. CPU per request, the same client (h2load) for every protocol, 32 connections.
run() {
    local label=$1; shift
    local before after
    before=$(cpu)
    local res
    res=$(taskset -c "$client_cores" h2load "$@" -n "$reqs" -c 32 2>&1 | grep -E '^requests:' || true)
    after=$(cpu)
    local done
    done=$(echo "$res" | awk '{print $8}')
    awk -v n="${done:-0}" -v c=$((after - before)) -v t="$tck" -v l="$label" 'BEGIN {
        if (n > 0) printf "%-34s %8d requests  %6.1f us CPU/request\n", l, n, c / t * 1e6 / n;
        else printf "%-34s failed\n", l }'
}
run "HTTP/1.1 plain (h2load --h1)" --h1 "http://127.0.0.1:$plain/hit"
run "HTTP/2 h2c prior knowledge, m=1" -m 1 "http://127.0.0.1:$plain/hit"
run "HTTP/1.1 over TLS (h2load --h1)" --h1 "https://127.0.0.1:$tls/hit"
run "HTTP/2 over TLS (ALPN), m=1" -m 1 "https://127.0.0.1:$tls/hit"
run "HTTP/2 over TLS (ALPN), m=10" -m 10 "https://127.0.0.1:$tls/hit"
