#!/usr/bin/env bash
# Serving: `flux serve` against llama.cpp's `llama-server` on the same model file, the same number
# of slots (sequences decoded together) and threads, both loaded by `flux bench-serve` with C
# concurrent streaming requests of P prompt and N generated tokens (ignore_eos). Passes
# alternate between the servers, so a slow spell of a shared machine hits both; medians over
# passes are printed with the ratio FluxInfer / llama-server for output tokens/s and TTFT p50,
# and the failed requests of all passes.
#
#   LLAMA_SERVER=/path/to/llama.cpp/build/bin/llama-server \
#     bench/serve_compare.sh [-c 8] [--requests 32] [-p 64] [-n 64] [-t 2] [--passes 2] MODEL.gguf
#
# Without LLAMA_SERVER only FluxInfer runs. FLUX overrides the flux binary (default:
# build/apps/flux/flux). Servers listen on free loopback ports and are stopped with SIGTERM.
# This script never builds anything.
set -euo pipefail

usage() {
  sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
flux_bin="${FLUX:-$repo_root/build/apps/flux/flux}"
concurrency=8
requests=32
n_prompt=64
n_gen=64
threads=2
passes=2
model=""

while [[ $# -gt 0 ]]; do
  case "$1" in
    -c) concurrency="$2"; shift 2 ;;
    --requests) requests="$2"; shift 2 ;;
    -p) n_prompt="$2"; shift 2 ;;
    -n) n_gen="$2"; shift 2 ;;
    -t) threads="$2"; shift 2 ;;
    --passes) passes="$2"; shift 2 ;;
    -h|--help) usage ;;
    -*) echo "serve_compare.sh: unknown option $1" >&2; usage ;;
    *) [[ -z "$model" ]] || { echo "serve_compare.sh: one model file only" >&2; usage; }; model="$1"; shift ;;
  esac
done

die() { echo "serve_compare.sh: $*" >&2; exit 1; }
[[ -n "$model" ]] || usage
[[ -f "$model" ]] || die "model file '$model' does not exist"
for value in "$concurrency" "$requests" "$n_prompt" "$n_gen" "$threads" "$passes"; do
  [[ "$value" =~ ^[0-9]+$ ]] && (( value >= 1 )) || die "every option takes a positive integer (got '$value')"
done
[[ -x "$flux_bin" ]] || die "no flux binary at '$flux_bin' (build it, or set FLUX)"
command -v python3 >/dev/null || die "python3 is needed to read the results"
command -v curl >/dev/null || die "curl is needed to wait for the servers"
llama="${LLAMA_SERVER:-}"
[[ -z "$llama" || -x "$llama" ]] || die "LLAMA_SERVER='$llama' is not executable"
[[ -n "$llama" ]] || echo "note: LLAMA_SERVER is not set; running FluxInfer only" >&2

results="$(mktemp)"
server_log="$(mktemp)"
server_pid=""
stop_server() {
  if [[ -n "$server_pid" ]]; then
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
  fi
}
trap 'stop_server; rm -f "$results" "$server_log"' EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# Waits until GET /health answers 200 (both servers answer 503 while loading).
wait_ready() {
  local port="$1"
  for _ in $(seq 1 600); do
    kill -0 "$server_pid" 2>/dev/null || { cat "$server_log" >&2; die "the server exited while starting"; }
    [[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/health")" == 200 ]] && return 0
    sleep 0.2
  done
  die "the server on port $port was not ready after 120 s"
}

# Every slot holds one request's prompt and output, with room to spare.
slot_ctx=$(( n_prompt * 2 + n_gen + 64 ))

run_load() {
  local engine="$1" port="$2"
  echo "pass $pass/$passes: $engine" >&2
  local out
  out="$("$flux_bin" bench-serve --url "http://127.0.0.1:$port" --concurrency "$concurrency" --requests "$requests" \
           -p "$n_prompt" -n "$n_gen" --stream --json)"
  # A failed request (llama-server ends a stream with an error when a random-weight model emits
  # bytes that are not UTF-8) is counted, not fatal: the figures cover the requests that worked.
  python3 -c 'import json,sys; j=json.loads(sys.argv[2]); [print(f"{sys.argv[1]}: {e}", file=sys.stderr) for e in j["errors"]]; print(sys.argv[1], j["output_tokens_per_sec"], j["ttft_ms"]["p50"], j["itl_ms"]["p50"], j["e2e_ms"]["p50"], j["failed"])' \
    "$engine" "$out" >> "$results"
}

for (( pass = 1; pass <= passes; ++pass )); do
  port="$(free_port)"
  "$flux_bin" serve -m "$model" --port "$port" --max-seqs "$concurrency" --ctx "$slot_ctx" -t "$threads" \
    > "$server_log" 2>&1 &
  server_pid=$!
  wait_ready "$port"
  run_load flux "$port"
  stop_server
  if [[ -n "$llama" ]]; then
    port="$(free_port)"
    "$llama" -m "$model" --port "$port" -np "$concurrency" -c $(( concurrency * slot_ctx )) -t "$threads" \
      > "$server_log" 2>&1 &
    server_pid=$!
    wait_ready "$port"
    run_load llama-server "$port"
    stop_server
  fi
done

python3 - "$results" "$model" "$concurrency" "$requests" "$n_prompt" "$n_gen" "$threads" <<'PY'
import statistics, sys
path, model, c, requests, p, n, t = sys.argv[1:]
runs = {}
for line in open(path):
    engine, *values = line.split()
    runs.setdefault(engine, []).append([float(v) for v in values])
print(f"{model}: {c} concurrent streams, {requests} requests of {p} prompt + {n} generated tokens, {t} threads, "
      f"{c} slots (medians of {len(next(iter(runs.values())))} passes)")
names = ["output tok/s", "TTFT p50 ms", "ITL p50 ms", "e2e p50 ms", "failed"]
print("| engine       | " + " | ".join(f"{name:>12}" for name in names) + " |")
print("| ------------ | " + " | ".join("-" * 12 for _ in names) + " |")
median = {e: [statistics.median(col) for col in zip(*rows)][:-1] + [sum(r[-1] for r in rows)] for e, rows in runs.items()}
for engine, values in median.items():
    print(f"| {engine:<12} | " + " | ".join(f"{v:12.2f}" for v in values) + " |")
if "flux" in median and "llama-server" in median:
    f, l = median["flux"], median["llama-server"]
    print(f"flux / llama-server: output tok/s {f[0] / l[0]:.2f}x, TTFT p50 {f[1] / l[1]:.2f}x (lower is better)")
PY
