#!/usr/bin/env bash
# Installs what FluxInfer needs, builds it, and runs every test: the Release suite (with the Node
# integration tests of the server and its dashboard), the suite again under AddressSanitizer +
# UndefinedBehaviorSanitizer, and a short fuzzing run of the GGUF reader when clang is available.
set -euo pipefail
cd "$(dirname "$0")/.."

jobs="${FLUX_JOBS:-$(nproc)}"
export FLUX_SHARED_DIR="${FLUX_SHARED_DIR:-$(cd .. && pwd)/shared}"

bash scripts/install-deps.sh

echo "== Release build and tests"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$jobs"
ctest --test-dir build -j "$jobs" --output-on-failure --timeout 900

# The Node integration tests (OpenAI client, headless-Chromium dashboard) drive the Release
# server; under ASan the same server code is covered by the unit tests and the request fuzzer.
echo "== AddressSanitizer + UBSan build and tests (heavy model tests and Node integration tests excluded)"
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFLUX_SANITIZE=ON >/dev/null
cmake --build build-asan -j "$jobs"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan -j "$jobs" --output-on-failure --timeout 900 -LE "heavy|integration"

if command -v clang++-16 >/dev/null; then
  echo "== libFuzzer smoke run of the GGUF reader"
  CXX=clang++-16 cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFLUX_BUILD_FUZZERS=ON \
    -DFLUX_BUILD_TESTS=OFF >/dev/null
  cmake --build build-fuzz -j "$jobs" --target gguf_fuzzer
  corpus="$(mktemp -d)"
  trap 'rm -rf "$corpus"' EXIT
  cp "$FLUX_SHARED_DIR"/models/*.gguf "$corpus"/ 2>/dev/null || true
  ./build-fuzz/fuzz/gguf_fuzzer -max_total_time=30 -rss_limit_mb=4096 -print_final_stats=1 "$corpus" 2>&1 | tail -n 3
fi
