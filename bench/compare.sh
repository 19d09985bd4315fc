#!/usr/bin/env bash
# Compares FluxInfer with llama.cpp and/or ik_llama.cpp on one model file: runs `flux bench` and
# each engine's llama-bench interleaved (flux, llama.cpp, ik_llama.cpp, flux, ... for several
# passes, so that a slow spell of a shared machine hits every engine alike), with the same
# thread count and test sizes, then prints each engine's median tokens/s over the passes and the
# ratio FluxInfer ÷ each, for prompt processing (pp) and generation (tg).
#
#   LLAMA_BENCH=/path/to/llama.cpp/build/bin/llama-bench \
#   IK_LLAMA_BENCH=/path/to/ik_llama.cpp/build/bin/llama-bench \
#     bench/compare.sh [-p 512] [-n 128] [-t 2] [-r 3] [--passes 3] MODEL.gguf
#
# Either variable may be left unset; that engine is skipped with a note. FLUX overrides the flux
# binary (default: build/apps/flux/flux in this repository). ik_llama.cpp runs with `-rtr 1`
# (run-time repacking of the weights), its fastest CPU mode. This script never builds anything.
set -euo pipefail

usage() {
  sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
flux_bin="${FLUX:-$repo_root/build/apps/flux/flux}"
n_prompt=512
n_gen=128
threads=2
reps=3
passes=3
model=""

while [[ $# -gt 0 ]]; do
  case "$1" in
    -p) n_prompt="$2"; shift 2 ;;
    -n) n_gen="$2"; shift 2 ;;
    -t) threads="$2"; shift 2 ;;
    -r) reps="$2"; shift 2 ;;
    --passes) passes="$2"; shift 2 ;;
    -h|--help) usage ;;
    -*) echo "compare.sh: unknown option $1" >&2; usage ;;
    *) [[ -z "$model" ]] || { echo "compare.sh: one model file only" >&2; usage; }; model="$1"; shift ;;
  esac
done

die() { echo "compare.sh: $*" >&2; exit 1; }
[[ -n "$model" ]] || usage
[[ -f "$model" ]] || die "model file '$model' does not exist"
for value in "$n_prompt" "$n_gen" "$threads" "$reps" "$passes"; do
  [[ "$value" =~ ^[0-9]+$ ]] || die "-p, -n, -t, -r and --passes take non-negative integers (got '$value')"
done
(( n_prompt + n_gen > 0 )) || die "-p and -n are both 0: nothing to measure"
(( threads >= 1 && reps >= 1 && passes >= 1 )) || die "-t, -r and --passes must be at least 1"
[[ -x "$flux_bin" ]] || die "no flux binary at '$flux_bin' (build it, or set FLUX)"
command -v python3 >/dev/null || die "python3 is needed to read the JSON results"

# Engines to compare: name, binary, extra flags.
engines=()
add_engine() {  # add_engine NAME VARIABLE EXTRA_FLAGS
  local name="$1" variable="$2" extra="$3" path="${!2:-}"
  if [[ -z "$path" ]]; then
    echo "note: $variable is not set; skipping $name" >&2
  elif [[ ! -x "$path" ]]; then
    die "$variable='$path' is not an executable file"
  else
    engines+=("$name|$path|$extra")
  fi
}
add_engine "llama.cpp" LLAMA_BENCH ""
add_engine "ik_llama.cpp" IK_LLAMA_BENCH "-rtr 1"
[[ ${#engines[@]} -gt 0 ]] || die "set LLAMA_BENCH and/or IK_LLAMA_BENCH to llama-bench binaries to compare with"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# run_or_die LOG_PREFIX COMMAND...: stdout to LOG_PREFIX.json, stderr to LOG_PREFIX.err.
run_or_die() {
  local prefix="$1"; shift
  if ! "$@" >"$prefix.json" 2>"$prefix.err"; then
    echo "compare.sh: failed: $*" >&2
    tail -n 20 "$prefix.err" >&2
    exit 1
  fi
}

echo "model $model | threads $threads | pp$n_prompt tg$n_gen | $reps reps x $passes passes" >&2
for ((pass = 1; pass <= passes; ++pass)); do
  echo "pass $pass/$passes: FluxInfer" >&2
  run_or_die "$work/flux.$pass" "$flux_bin" bench -m "$model" -p "$n_prompt" -n "$n_gen" -t "$threads" -r "$reps" --json
  for engine in "${engines[@]}"; do
    IFS='|' read -r name path extra <<<"$engine"
    echo "pass $pass/$passes: $name" >&2
    # shellcheck disable=SC2086  # $extra is a list of flags
    run_or_die "$work/$name.$pass" "$path" -m "$model" -p "$n_prompt" -n "$n_gen" -t "$threads" -r "$reps" \
      $extra -o json
  done
done

engine_names=("FluxInfer")
for engine in "${engines[@]}"; do engine_names+=("${engine%%|*}"); done

python3 - "$work" "$passes" "$n_prompt" "$n_gen" "${engine_names[@]}" <<'PY'
import json, statistics, sys

work, passes, n_prompt, n_gen = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
names = sys.argv[5:]

flux_bandwidth, flux_fraction = [], []

def flux_rates(path):
    """pp and tg tokens/s from one `flux bench --json` object."""
    with open(path) as f:
        j = json.load(f)
    flux_bandwidth.append(j["bandwidth_gbps"])
    flux_fraction.append(j["tg_bandwidth_fraction"])
    def mean(key):
        return j[key]["mean"] if j.get(key) else None
    return mean("pp_tokens_per_sec"), mean("tg_tokens_per_sec")

def llama_rates(path):
    """pp and tg tokens/s from llama-bench's `-o json` array (one object per test)."""
    with open(path) as f:
        text = f.read()
    tests = json.loads(text[text.index("["):])  # some builds print a line before the array
    pp = tg = None
    for t in tests:
        if t.get("n_prompt", 0) > 0 and t.get("n_gen", 0) == 0:
            pp = t["avg_ts"]
        elif t.get("n_gen", 0) > 0 and t.get("n_prompt", 0) == 0:
            tg = t["avg_ts"]
    return pp, tg

medians = {}
for name in names:
    pp_runs, tg_runs = [], []
    for p in range(1, passes + 1):
        path = f"{work}/{'flux' if name == 'FluxInfer' else name}.{p}.json"
        pp, tg = flux_rates(path) if name == "FluxInfer" else llama_rates(path)
        if pp is not None: pp_runs.append(pp)
        if tg is not None: tg_runs.append(tg)
    medians[name] = (statistics.median(pp_runs) if pp_runs else None,
                     statistics.median(tg_runs) if tg_runs else None)

def cell(v, fmt="{:.2f}"):
    return fmt.format(v) if v is not None else "-"

pp_label, tg_label = f"pp{n_prompt} t/s", f"tg{n_gen} t/s"
print(f"\nmedian tokens/s over {passes} passes")
print(f"| {'engine':<14} | {pp_label:>14} | {tg_label:>14} |")
print(f"| {'-' * 14} | {'-' * 13}: | {'-' * 13}: |")
for name in names:
    pp, tg = medians[name]
    print(f"| {name:<14} | {cell(pp):>14} | {cell(tg):>14} |")

def ratio(a, b):
    return cell(a / b if a is not None and b else None, "{:.2f}x")

flux_pp, flux_tg = medians["FluxInfer"]
print(f"\n| {'FluxInfer ÷':<16} | {'pp' + str(n_prompt):>8} | {'tg' + str(n_gen):>8} |")
print(f"| {'-' * 16} | {'-' * 7}: | {'-' * 7}: |")
for name in names[1:]:
    pp, tg = medians[name]
    print(f"| {name:<16} | {ratio(flux_pp, pp):>8} | {ratio(flux_tg, tg):>8} |")

if flux_tg is not None:
    print(f"\nFluxInfer tg{n_gen} reads its weights at {100 * statistics.median(flux_fraction):.1f}% of the "
          f"measured read bandwidth ({statistics.median(flux_bandwidth):.1f} GB/s; medians over the passes)")
PY
