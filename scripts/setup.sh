#!/usr/bin/env bash
# Sets up chatwire on a fresh Debian 12 machine: system packages (apt), npm
# dependencies, the Node addon, the WebAssembly module and the JS bundles.
# Safe to rerun: installed packages are skipped and builds are incremental.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n== setup: %s\n' "$*"; }

# ---------------------------------------------------------------- system packages
PACKAGES=(
  build-essential cmake pkg-config python3 git ca-certificates
  libssl-dev                                            # wss:// client, tickets (HMAC)
  rapidjson-dev libsqlite3-dev                          # core: JSON, store (SQLite linked statically)
  libgtest-dev libgmock-dev libbenchmark-dev            # C++ tests and benchmarks
  clang libclang-rt-14-dev                              # libFuzzer and sanitizers
  emscripten                                            # WebAssembly build
  chromium                                              # browser tests (tests/e2e)
  python3-matplotlib                                    # bench/plot.py (npm run bench)
  sox ffmpeg opus-tools vorbis-tools lame               # audio fixtures (scripts/make-audio-fixtures.sh)
)
command -v node >/dev/null || PACKAGES+=(nodejs npm)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  log "installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  log "system packages present"
fi

node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then
  echo "setup: chatwire needs Node.js >= 20 (found $(node --version))" >&2
  exit 1
fi

# ---------------------------------------------------------------- npm + builds
# node-gyp (for chatwire's addon and any dependency built from source) uses the
# headers that ship beside Node instead of downloading them: offline builds.
node_prefix=$(node -p 'require("path").resolve(process.execPath, "../..")')
if [ -f "$node_prefix/include/node/node.h" ]; then export npm_config_nodedir="$node_prefix"; fi

# `npm ci` runs the package's own `install` script, the addon (node-gyp, offline
# against Node's bundled headers), then `prepare`, the CommonJS bundles (dist/*.cjs).
log "npm dependencies and the Node addon"
npm ci --no-audit --no-fund --foreground-scripts

log "WebAssembly module"
npm run --silent build:wasm

log "example widget"
npm run --silent build:widget --if-present

log "done: npm start (demo) and npm test (every suite)"
