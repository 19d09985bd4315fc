#!/usr/bin/env bash
# Installs the Debian 12 packages FluxInfer builds on. Idempotent: quiet when all are present.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config
  libgtest-dev libgmock-dev libbenchmark-dev
  nlohmann-json3-dev libcli11-dev libfmt-dev libspdlog-dev
  libpcre2-dev libxxhash-dev libcpp-httplib-dev
  clang-16 libclang-rt-16-dev
  python3 python3-jinja2
  chromium
)

# Node.js runs the server's integration tests (the official openai client, a headless-Chromium
# dashboard test). Any Node 20+ with npm will do; Debian's is installed only when none is present.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  packages+=(nodejs npm)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  sudo_cmd=()
  if [[ $(id -u) -ne 0 ]]; then sudo_cmd=(sudo); fi
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The integration tests' npm packages (openai, playwright-core), pinned by the lockfile.
# playwright-core never downloads a browser: the tests use Debian's /usr/bin/chromium.
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
integration="$repo_root/tests/integration"
if [[ -f "$integration/package-lock.json" &&
      ! "$integration/node_modules/.package-lock.json" -nt "$integration/package-lock.json" ]]; then
  (cd "$integration" && npm ci --no-audit --no-fund --loglevel=error)
fi
