#!/usr/bin/env bash
# Installs what FluxInfer needs, builds it, and generates text with a model it finds or makes,
# printing the speed. Usage: scripts/demo.sh [extra flags for `flux run`]
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DFLUX_BUILD_TESTS=OFF >/dev/null
cmake --build build --target flux

shared="${FLUX_SHARED_DIR:-../shared}"
model="$shared/models/stories260K.gguf"
if [[ ! -f "$model" ]]; then
  # No model at hand: make a small synthetic one (random weights, byte vocabulary).
  model="build/demo-small-q8_0.gguf"
  [[ -f "$model" ]] || ./build/apps/flux/flux make-model --preset small --type q8_0 -o "$model"
fi

echo "model: $model"
./build/apps/flux/flux run -m "$model" -p "Once upon a time" -n 64 --temp 0 "$@"
