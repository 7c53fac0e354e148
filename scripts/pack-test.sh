#!/usr/bin/env bash
# CI (npm run test:pack): chatwire installed the way a user installs it. Packs
# the repository (npm pack: `prepack` builds the WebAssembly module, `prepare`
# the JS bundles, so the tarball ships them built), installs the tarball into an
# empty project with nothing but the package's own "dependencies" and no network
# (npm install --offline; the dependencies are packed from this repository's
# node_modules, i.e. the versions package-lock.json pins), which compiles the
# addon with node-gyp, checks with ldd that the addon needs nothing from the
# system beyond glibc, libstdc++, libgcc and OpenSSL 3 (what a prebuilt addon
# may assume, docs/packaging.md), then runs tests/pack/smoke.mjs there: import
# and require of 'chatwire' and 'chatwire/wasm', one message each through a
# ChatServer.
# Needs what scripts/setup.sh installs (compiler, libsqlite3-dev, ...).
# CHATWIRE_PACK_KEEP=1 keeps the temporary folder; it is kept on failure too.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
WORK=$(mktemp -d "${TMPDIR:-/tmp}/chatwire-pack.XXXXXX")
APP=$WORK/app
mkdir -p "$WORK/deps" "$APP"

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

# ------------------------------------------------------------------ pack
t=$(date +%s)
timeout 900 npm pack --pack-destination "$WORK" "${NPM_FLAGS[@]}" >"$WORK/pack.log" 2>&1 \
  || fail "npm pack" "$WORK/pack.log"
TARBALL=$(ls "$WORK"/chatwire-*.tgz)
tar -tzf "$TARBALL" | sed 's|^package/||' | sort >"$WORK/contents.txt"
for f in package.json binding.gyp scripts/build.mjs scripts/sources.mjs js/node.mjs js/wasm-node.mjs js/index.d.ts \
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
log "packed $(basename "$TARBALL"): $(stat -c %s "$TARBALL") bytes, $(wc -l <"$WORK/contents.txt") files ($(seconds "$t") s)"

# ------------------------------------------------------------------ dependencies, offline
DEPS=()
for name in $(node -p 'Object.keys(require("./package.json").dependencies || {}).join("\n")'); do
  [ -d "node_modules/$name" ] || fail "dependency $name is not in node_modules (npm ci first)"
  (cd "$WORK/deps" && npm pack "$ROOT/node_modules/$name" --ignore-scripts --loglevel=warn >>"$WORK/deps.log" 2>&1) \
    || fail "npm pack of dependency $name" "$WORK/deps.log"
done
for f in "$WORK"/deps/*.tgz; do [ -e "$f" ] && DEPS+=("$f"); done

# ------------------------------------------------------------------ install into an empty project
t=$(date +%s)
(cd "$APP" && npm init -y >/dev/null) || fail "npm init"
(cd "$APP" && timeout 900 npm install --offline "${NPM_FLAGS[@]}" "$TARBALL" "${DEPS[@]}") >"$WORK/install.log" 2>&1 \
  || fail "npm install of the tarball in an empty project" "$WORK/install.log"
[ -f "$APP/node_modules/chatwire/build/Release/chatwire.node" ] || fail "the install built no addon" "$WORK/install.log"
[ ! -e "$APP/node_modules/esbuild" ] || fail "esbuild (a devDependency) was installed" "$WORK/install.log"
log "installed into an empty project with $(ls "$APP/node_modules" | wc -l) packages, addon compiled ($(seconds "$t") s)"

# ------------------------------------------------------------------ what the addon links
# Only glibc (libc, libm, the loader, vdso, the libdl/libpthread stubs),
# libstdc++, libgcc_s and OpenSSL 3: anything else (libsqlite3, libwebsockets,
# libuv, ...) would have to be installed on the user's machine.
ADDON=$APP/node_modules/chatwire/build/Release/chatwire.node
ldd "$ADDON" >"$WORK/ldd.txt" 2>&1 || fail "ldd of the addon" "$WORK/ldd.txt"
if awk '{print $1}' "$WORK/ldd.txt" \
    | grep -vE '^(linux-vdso\.so\.1|libc\.so\.6|libm\.so\.6|libdl\.so\.2|libpthread\.so\.0|libstdc\+\+\.so\.6|libgcc_s\.so\.1|libssl\.so\.3|libcrypto\.so\.3|/lib(64)?/ld-linux-x86-64\.so\.2)$' \
    >"$WORK/ldd-extra.txt" || grep -q 'not found' "$WORK/ldd.txt"; then
  cat "$WORK/ldd.txt" >>"$WORK/ldd-extra.txt"
  fail "the addon links libraries beyond glibc, libstdc++, libgcc and OpenSSL 3 ($(awk '{print $1}' "$WORK/ldd-extra.txt" | head -n 5 | paste -sd' '))" "$WORK/ldd-extra.txt"
fi
log "the addon links only $(awk '{print $1}' "$WORK/ldd.txt" | sed 's|.*/||' | paste -sd' ')"

# ------------------------------------------------------------------ use it
cp tests/pack/smoke.mjs "$APP/smoke.mjs"
WS_FLAG=()
node -e 'process.exit(typeof WebSocket === "function" ? 0 : 1)' || WS_FLAG=(--experimental-websocket)
(cd "$APP" && timeout 60 node "${WS_FLAG[@]}" smoke.mjs) >"$WORK/smoke.log" 2>&1 || fail "tests/pack/smoke.mjs" "$WORK/smoke.log"
sed 's/^/  /' "$WORK/smoke.log"

if [ -n "${CHATWIRE_PACK_KEEP:-}" ]; then log "kept $WORK"; else rm -rf "$WORK"; fi
log "ok"
