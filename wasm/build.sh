#!/usr/bin/env bash
# Builds the WebAssembly module into dist/wasm/ (chatwire_wasm.mjs, .cjs, .wasm).
# Incremental: objects live in out/wasm (SQLite's object is reused across builds).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

# Emscripten 3.1.6 (Debian) needs Debian's acorn on NODE_PATH.
export NODE_PATH=/usr/share/nodejs${NODE_PATH:+:$NODE_PATH}
command -v emcmake >/dev/null || { echo "wasm/build.sh: emscripten not found (run scripts/setup.sh)" >&2; exit 1; }

SQLITE_DIR=$ROOT/node_modules/better-sqlite3/deps/sqlite3
[ -f "$SQLITE_DIR/sqlite3.c" ] || { echo "wasm/build.sh: $SQLITE_DIR/sqlite3.c missing (npm install)" >&2; exit 1; }

# Never -I/usr/include (it pulls glibc headers into the wasm build): RapidJSON is
# reached through a private include folder holding only a link to it.
INC=$ROOT/out/wasm/include
mkdir -p "$INC" "$ROOT/dist/wasm"
ln -sfn /usr/include/rapidjson "$INC/rapidjson"

SOURCES=$(node scripts/sources.mjs portable | paste -sd ';' -)
emcmake cmake -S wasm -B out/wasm/build -DCMAKE_BUILD_TYPE=Release \
  -DCHATWIRE_SOURCES="$SOURCES" -DSQLITE_DIR="$SQLITE_DIR" -DCHATWIRE_INCLUDE="$INC" \
  -DCHATWIRE_DIST="$ROOT/dist/wasm" >/dev/null
cmake --build out/wasm/build -j "${CHATWIRE_JOBS:-2}"
ls -l dist/wasm/
