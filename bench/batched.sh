#!/usr/bin/env bash
# Batched decoding: FluxInfer's engine against llama.cpp's llama-batched-bench at the same batch
# sizes. For each number of parallel sequences B, both engines start B sequences of P prompt
# tokens together and generate N tokens each; the figure compared is the aggregate decode
# throughput (llama-batched-bench's S_TG; for FluxInfer B x 1000 / the median time per output
# token, measured by `flux bench --concurrency B --requests B`). Passes alternate between the
# engines so a slow spell of a shared machine hits both; medians over passes are printed, with
# the scaling B vs 1 of each engine and the ratio FluxInfer / llama.cpp.
#
#   LLAMA_BATCHED_BENCH=/path/to/llama.cpp/build/bin/llama-batched-bench \
#     bench/batched.sh [-p 64] [-n 64] [-t 2] [--npl 1,8] [--passes 3] MODEL.gguf
#
# Without LLAMA_BATCHED_BENCH only FluxInfer runs. FLUX overrides the flux binary (default:
# build/apps/flux/flux). This script never builds anything.
set -euo pipefail

usage() {
  sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
flux_bin="${FLUX:-$repo_root/build/apps/flux/flux}"
n_prompt=64
n_gen=64
threads=2
npl="1,8"
passes=3
model=""

while [[ $# -gt 0 ]]; do
  case "$1" in
    -p) n_prompt="$2"; shift 2 ;;
    -n) n_gen="$2"; shift 2 ;;
    -t) threads="$2"; shift 2 ;;
    --npl) npl="$2"; shift 2 ;;
    --passes) passes="$2"; shift 2 ;;
    -h|--help) usage ;;
    -*) echo "batched.sh: unknown option $1" >&2; usage ;;
    *) [[ -z "$model" ]] || { echo "batched.sh: one model file only" >&2; usage; }; model="$1"; shift ;;
  esac
done

die() { echo "batched.sh: $*" >&2; exit 1; }
[[ -n "$model" ]] || usage
[[ -f "$model" ]] || die "model file '$model' does not exist"
for value in "$n_prompt" "$n_gen" "$threads" "$passes"; do
  [[ "$value" =~ ^[0-9]+$ ]] || die "-p, -n, -t and --passes take non-negative integers (got '$value')"
done
[[ "$npl" =~ ^[0-9]+(,[0-9]+)*$ ]] || die "--npl takes a comma-separated list of batch sizes (got '$npl')"
(( n_prompt >= 1 && n_gen >= 2 && threads >= 1 && passes >= 1 )) || die "-p >= 1, -n >= 2, -t and --passes >= 1"
[[ -x "$flux_bin" ]] || die "no flux binary at '$flux_bin' (build it, or set FLUX)"
command -v python3 >/dev/null || die "python3 is needed to read the results"
llama="${LLAMA_BATCHED_BENCH:-}"
[[ -z "$llama" || -x "$llama" ]] || die "LLAMA_BATCHED_BENCH='$llama' is not executable"
[[ -n "$llama" ]] || echo "note: LLAMA_BATCHED_BENCH is not set; running FluxInfer only" >&2

results="$(mktemp)"
trap 'rm -f "$results"' EXIT
IFS=',' read -r -a batches <<< "$npl"
max_batch=0
for b in "${batches[@]}"; do (( b > max_batch )) && max_batch=$b; done
ctx=$(( max_batch * (n_prompt + n_gen) + 16 ))

for (( pass = 1; pass <= passes; ++pass )); do
  for b in "${batches[@]}"; do
    echo "pass $pass/$passes: flux B=$b" >&2
    out="$("$flux_bin" bench -m "$model" --json --concurrency "$b" --requests "$b" -p "$n_prompt" -n "$n_gen" -t "$threads")"
    python3 -c 'import json,sys; j=json.loads(sys.argv[2]); print("flux", sys.argv[1], sys.argv[3] and int(sys.argv[1]) * 1000.0 / j["tpot_ms"]["p50"])' \
      "$b" "$out" 1 >> "$results"
  done
  if [[ -n "$llama" ]]; then
    echo "pass $pass/$passes: llama-batched-bench B=$npl" >&2
    # Markdown table rows: | PP | TG | B | N_KV | T_PP s | S_PP t/s | T_TG s | S_TG t/s | T s | S t/s |
    # It does not warm up, and its first row runs cold (measured: 5 t/s instead of thousands on
    # stories260K): a leading B=1 row warms it and is dropped.
    "$llama" -m "$model" -c "$ctx" -b 2048 -ub 512 -npp "$n_prompt" -ntg "$n_gen" -npl "1,$npl" -t "$threads" 2>/dev/null |
      awk -F'|' 'NF > 10 && $2 ~ /[0-9]/ && ++rows > 1 { gsub(/ /, "", $4); gsub(/ /, "", $9); print "llama", $4, $9 }' >> "$results"
  fi
done

python3 - "$results" "$n_prompt" "$n_gen" "$threads" "$model" <<'PY'
import statistics, sys
path, n_prompt, n_gen, threads, model = sys.argv[1:]
runs = {}
for line in open(path):
    engine, batch, tps = line.split()
    runs.setdefault((engine, int(batch)), []).append(float(tps))
batches = sorted({b for _, b in runs})
median = {k: statistics.median(v) for k, v in runs.items()}
print(f"aggregate decode tokens/s (median of passes), {model}, -p {n_prompt} -n {n_gen}, {threads} threads")
print(f"| {'B':>3} | {'flux':>9} | {'llama.cpp':>9} | {'flux/llama':>10} |")
print(f"| {'-'*3:>3} | {'-'*9:>9} | {'-'*9:>9} | {'-'*10:>10} |")
for b in batches:
    f = median.get(("flux", b)); l = median.get(("llama", b))
    ratio = f"{f / l:.2f}x" if f and l else "-"
    print(f"| {b:>3} | {f or 0:9.2f} | {(l or 0):9.2f} | {ratio:>10} |")
if len(batches) > 1:
    lo, hi = batches[0], batches[-1]
    for engine in ("flux", "llama"):
        if (engine, lo) in median and (engine, hi) in median:
            print(f"{engine}: B={hi} is {median[(engine, hi)] / median[(engine, lo)]:.2f}x B={lo}")
PY
