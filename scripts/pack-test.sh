#!/usr/bin/env bash
# CI (npm run test:pack): chatwire installed the way a user installs it, with no
# compiler. Packs the repository (npm pack: `prepack` builds the WebAssembly
# module and the prebuilt addon prebuilds/linux-x64-glibc/chatwire.node,
# `prepare` the JS bundles), checks the tarball's contents and size budget, then
# installs it twice into an empty project, once normally and once with
# --ignore-scripts, offline, with nothing but the package's own "dependencies"
# (packed from this repository's node_modules, the versions package-lock.json
# pins) and with PATH replaced by a folder of symlinks to node, npm, npx and the
# basic coreutils the install and Chromium's wrapper script use: no gcc, g++,
# cc, c++, clang*, make, cmake, python3 or pkg-config (checked). In each: no
# addon was compiled (nothing in build/), ldd of the shipped addon lists nothing
# beyond glibc, libstdc++, libgcc and OpenSSL 3, tests/pack/smoke.mjs carries a
# message through a ChatServer from each entry point (import and require of
# 'chatwire' and 'chatwire/wasm'), and tests/pack/browser.mjs bundles a page
# importing 'chatwire' with Vite and runs its WASM client through a turn in
# Chromium (Vite and playwright-core run from this repository's node_modules;
# neither is installed into the project). Last, building from source under that
# PATH (CHATWIRE_BUILD_FROM_SOURCE=1 npm rebuild chatwire) must fail with the
# one sentence that names the Debian packages.
# Packing needs what scripts/setup.sh installs (compiler, Emscripten, ...).
# CHATWIRE_PACK_KEEP=1 keeps the temporary folder; it is kept on failure too.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
WORK=$(mktemp -d "${TMPDIR:-/tmp}/chatwire-pack.XXXXXX")
mkdir -p "$WORK/deps"

log() { printf '== pack-test: %s\n' "$*"; }
fail() {
  printf 'pack-test: FAILED: %s\n' "$1" >&2
  [ -n "${2:-}" ] && [ -f "$2" ] && { echo "--- last lines of $2:" >&2; tail -n 40 "$2" >&2; }
  echo "pack-test: files kept in $WORK" >&2
  exit 1
}
seconds() { echo $(( $(date +%s) - $1 )); }

# Nothing of the repository may leak into the project: no module path, no prefix.
unset NODE_PATH NODE_OPTIONS
NPM_FLAGS=(--no-audit --no-fund --foreground-scripts --loglevel=warn)
T0=$(date +%s)

# ------------------------------------------------------------------ pack
t=$(date +%s)
timeout 900 npm pack --pack-destination "$WORK" "${NPM_FLAGS[@]}" >"$WORK/pack.log" 2>&1 \
  || fail "npm pack" "$WORK/pack.log"
TARBALL=$(ls "$WORK"/chatwire-*.tgz)
tar -tzf "$TARBALL" | sed 's|^package/||' | sort >"$WORK/contents.txt"
for f in package.json binding.gyp scripts/build.mjs scripts/sources.mjs scripts/install.mjs prebuilds/linux-x64-glibc/chatwire.node js/node.mjs js/wasm-node.mjs js/index.d.ts \
         dist/node.cjs dist/wasm.cjs dist/wasm/chatwire_wasm.cjs dist/wasm/chatwire_wasm.mjs dist/wasm/chatwire_wasm.wasm; do
  grep -qx "$f" "$WORK/contents.txt" || fail "the tarball lacks $f" "$WORK/contents.txt"
done
# Every source binding.gyp compiles must be in the tarball.
for f in $(node scripts/sources.mjs core) $(ls src/node/*.cc src/node/*.h); do
  grep -qx "$f" "$WORK/contents.txt" || fail "the tarball lacks $f (binding.gyp builds it)" "$WORK/contents.txt"
done
if grep -E '^(build|out|node_modules|tests)/' "$WORK/contents.txt" >"$WORK/unwanted.txt"; then
  fail "the tarball holds build output or tests" "$WORK/unwanted.txt"
fi
# The size budget (docs/packaging.md "What the tarball holds"): a prebuild more, or a
# stray folder, shows here first.
BUDGET=${CHATWIRE_PACK_BUDGET:-2400000}
SIZE=$(stat -c %s "$TARBALL")
[ "$SIZE" -le "$BUDGET" ] || fail "the tarball is $SIZE bytes, over its budget of $BUDGET (docs/packaging.md)" "$WORK/contents.txt"
log "packed $(basename "$TARBALL"): $SIZE bytes (budget $BUDGET), $(wc -l <"$WORK/contents.txt") files ($(seconds "$t") s)"

# ------------------------------------------------------------------ dependencies, offline
DEPS=()
for name in $(node -p 'Object.keys(require("./package.json").dependencies || {}).join("\n")'); do
  [ -d "node_modules/$name" ] || fail "dependency $name is not in node_modules (npm ci first)"
  (cd "$WORK/deps" && npm pack "$ROOT/node_modules/$name" --ignore-scripts --loglevel=warn >>"$WORK/deps.log" 2>&1) \
    || fail "npm pack of dependency $name" "$WORK/deps.log"
done
for f in "$WORK"/deps/*.tgz; do [ -e "$f" ] && DEPS+=("$f"); done

# ------------------------------------------------------------------ a PATH with no compiler
# Symlinks to just what installing and running need; every build tool is absent.
BIN=$WORK/bin
mkdir -p "$BIN"
for t in node npm npx sh env cat ls mkdir rm cp mv ln chmod touch uname dirname basename readlink realpath \
         sed grep tr head tail cut find mktemp expr date sleep timeout true false; do
  p=$(command -v "$t") || fail "no $t on this machine"
  ln -s "$(readlink -f "$p")" "$BIN/$t"
done
for t in gcc g++ cc c++ clang clang++ clang-14 clang-16 make cmake python3 python pkg-config ld; do
  if PATH=$BIN command -v "$t" >/dev/null 2>&1; then fail "$t is still on the stripped PATH"; fi
done
bare() { env PATH="$BIN" "$@"; }
WS_FLAG=()
node -e 'process.exit(typeof WebSocket === "function" ? 0 : 1)' || WS_FLAG=(--experimental-websocket)

# ------------------------------------------------------------------ install into an empty project, twice
ALLOWED='^(linux-vdso\.so\.1|libc\.so\.6|libm\.so\.6|libdl\.so\.2|libpthread\.so\.0|libstdc\+\+\.so\.6|libgcc_s\.so\.1|libssl\.so\.3|libcrypto\.so\.3|/lib(64)?/ld-linux-x86-64\.so\.2)$'
install_and_use() { # name, npm install flags...
  local name=$1; shift
  local app=$WORK/$name
  mkdir -p "$app"
  t=$(date +%s)
  (cd "$app" && bare npm init -y >/dev/null) || fail "npm init ($name)"
  (cd "$app" && bare timeout 300 npm install --offline "${NPM_FLAGS[@]}" "$@" "$TARBALL" "${DEPS[@]}") >"$WORK/$name-install.log" 2>&1 \
    || fail "npm install $* of the tarball in an empty project, no compiler on PATH ($name)" "$WORK/$name-install.log"
  local pkg=$app/node_modules/chatwire
  [ ! -e "$pkg/build" ] || fail "the install compiled an addon although a prebuild matches ($name)" "$WORK/$name-install.log"
  [ ! -e "$app/node_modules/esbuild" ] || fail "esbuild (a devDependency) was installed ($name)" "$WORK/$name-install.log"
  if [ $# -eq 0 ]; then
    grep -q 'chatwire: using the prebuilt addon prebuilds/linux-x64-glibc/chatwire.node' "$WORK/$name-install.log" \
      || fail "the install script did not take the prebuild ($name)" "$WORK/$name-install.log"
  fi
  log "$name: installed with npm install ${*:-(scripts run)}: $(ls "$app/node_modules" | wc -l) packages, nothing compiled ($(seconds "$t") s)"

  # What the shipped addon links: only glibc (libc, libm, the loader, vdso, the
  # libdl/libpthread stubs), libstdc++, libgcc_s and OpenSSL 3.
  local addon=$pkg/prebuilds/linux-x64-glibc/chatwire.node
  ldd "$addon" >"$WORK/$name-ldd.txt" 2>&1 || fail "ldd of the addon ($name)" "$WORK/$name-ldd.txt"
  if awk '{print $1}' "$WORK/$name-ldd.txt" | grep -vE "$ALLOWED" >"$WORK/$name-ldd-extra.txt" || grep -q 'not found' "$WORK/$name-ldd.txt"; then
    cat "$WORK/$name-ldd.txt" >>"$WORK/$name-ldd-extra.txt"
    fail "the addon links libraries beyond glibc, libstdc++, libgcc and OpenSSL 3 ($(awk '{print $1}' "$WORK/$name-ldd-extra.txt" | head -n 5 | paste -sd' '))" "$WORK/$name-ldd-extra.txt"
  fi
  log "$name: the addon links only $(awk '{print $1}' "$WORK/$name-ldd.txt" | sed 's|.*/||' | paste -sd' ')"

  cp tests/pack/smoke.mjs tests/pack/browser.mjs "$app/"
  (cd "$app" && bare timeout 60 node "${WS_FLAG[@]}" smoke.mjs) >"$WORK/$name-smoke.log" 2>&1 || fail "tests/pack/smoke.mjs ($name)" "$WORK/$name-smoke.log"
  sed 's/^/  /' "$WORK/$name-smoke.log"
  (cd "$app" && CHATWIRE_REPO_MODULES="$ROOT/node_modules" bare timeout 120 node browser.mjs) >"$WORK/$name-browser.log" 2>&1 \
    || fail "tests/pack/browser.mjs ($name)" "$WORK/$name-browser.log"
  sed 's/^/  /' "$WORK/$name-browser.log"
}
install_and_use app
install_and_use app-ignore-scripts --ignore-scripts

# ------------------------------------------------------------------ building from source without the tools
# Where no prebuild matches, the install builds from source; with nothing to build
# with, it must say so in one sentence naming the Debian packages, before node-gyp.
if (cd "$WORK/app" && CHATWIRE_BUILD_FROM_SOURCE=1 bare timeout 60 npm rebuild chatwire --foreground-scripts) >"$WORK/rebuild.log" 2>&1; then
  fail "npm rebuild chatwire from source succeeded with no compiler on PATH" "$WORK/rebuild.log"
fi
grep -E '^chatwire: .*building the addon from source needs a C\+\+17 compiler, make, python3 .*apt-get install build-essential python3 pkg-config' \
  "$WORK/rebuild.log" >"$WORK/rebuild-sentence.txt" || fail "building from source without tools did not name the packages" "$WORK/rebuild.log"
! grep -qE '^gyp (info|ERR)' "$WORK/rebuild.log" || fail "node-gyp ran although the tools are missing" "$WORK/rebuild.log"
log "from source without tools: $(cut -c1-160 "$WORK/rebuild-sentence.txt")..."

# ------------------------------------------------------------------ no addon at all
# With neither a prebuild nor a build, import('chatwire') must say what it tried and what to run.
mv "$WORK/app-ignore-scripts/node_modules/chatwire/prebuilds" "$WORK/prebuilds-aside"
if (cd "$WORK/app-ignore-scripts" && bare node --input-type=module -e "await import('chatwire')") >"$WORK/noaddon.log" 2>&1; then
  fail "import('chatwire') worked with no addon" "$WORK/noaddon.log"
fi
grep -q 'chatwire: no usable native addon for linux-x64-glibc, tried build/Release/chatwire.node (absent), prebuilds/linux-x64-glibc/chatwire.node (absent).*npm rebuild chatwire' \
  "$WORK/noaddon.log" || fail "import('chatwire') with no addon did not name what it tried" "$WORK/noaddon.log"
log "no addon: import('chatwire') names both paths and npm rebuild chatwire"

if [ -n "${CHATWIRE_PACK_KEEP:-}" ]; then log "kept $WORK"; else rm -rf "$WORK"; fi
log "ok ($(seconds "$T0") s)"
