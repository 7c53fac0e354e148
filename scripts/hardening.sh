#!/usr/bin/env bash
# The CI subset of the hardening work (npm run test:hardening; `npm test` runs
# it after the other suites). Meant to stay well under 10 minutes on 2 cores:
#   1. ASan + UBSan build of the core, the GoogleTest suite and the fuzz
#      targets (clang, one build dir: out/asan), then the whole suite via CTest;
#   2. every fuzz target for FUZZ_SECONDS (default 20) after replaying its
#      saved crashes (scripts/fuzz.sh, same build);
#   3. the short chaos run (500 turns, server restarts, socket cuts, reloads,
#      two clients over the HTTP fallback;
#      lost = 0 and duplicated = 0);
#   4. the bad-input corpus against a real server (tests/js/bad-input.test.js).
# Needs the Node addon and the WASM module built (scripts/setup.sh does both).
set -euo pipefail
cd "$(dirname "$0")/.."

FUZZ_SECONDS=${FUZZ_SECONDS:-20}
CHAOS_TURNS=${CHAOS_TURNS:-500}
BUILD=${CHATWIRE_ASAN_DIR:-out/asan}
JOBS=${CHATWIRE_JOBS:-2}
start=$SECONDS
step() { printf '\n== hardening [%ds]: %s\n' "$((SECONDS - start))" "$*"; }

command -v clang++ >/dev/null || { echo "hardening: clang++ not found (scripts/setup.sh installs clang)" >&2; exit 1; }

step "ASan+UBSan build (clang) of the core, the C++ tests and the fuzz targets in $BUILD"
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_C_COMPILER=clang \
  -DCHATWIRE_SANITIZE=ON -DCHATWIRE_FUZZ=ON >/dev/null
# Only what runs here (not the benchmarks).
cmake --build "$BUILD" -j "$JOBS" --target chatwire_tests fuzz_frame_decoder fuzz_base64 fuzz_image \
  fuzz_client_engine fuzz_server_hub fuzz_wire >/dev/null

step "GoogleTest suite under ASan+UBSan (CTest)"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir "$BUILD" --output-on-failure -j "$JOBS" | tail -4

step "fuzz targets, ${FUZZ_SECONDS}s each"
CHATWIRE_FUZZ_DIR=$BUILD bash scripts/fuzz.sh "$FUZZ_SECONDS"

step "chaos, $CHAOS_TURNS turns"
node tests/chaos/chaos.mjs --turns "$CHAOS_TURNS" --clients 8 --wasm 2 --http 2 --server-restarts 4

step "bad-input corpus against a real server"
npx jest tests/js/bad-input.test.js

step "done"
