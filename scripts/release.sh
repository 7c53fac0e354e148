#!/usr/bin/env bash
# npm run release: the tarball to publish, out/release/chatwire-<version>.tgz.
#   1. builds the addon from a clean build/ (node-gyp rebuild) and the WebAssembly module,
#   2. packs twice (npm pack: prepack strips the addon into prebuilds/linux-x64-glibc/,
#      prepare bundles dist/*.cjs) with SOURCE_DATE_EPOCH set to the last commit's time,
#      and fails unless both tarballs have the same sha256 (npm writes entries in a
#      fixed order with a fixed mtime; our builds must give the same bytes too),
#   3. checks the size budget (the one scripts/pack-test.sh checks, docs/packaging.md).
# Then run `npm run test:pack` (installs it without a compiler) and `npm publish
# out/release/chatwire-<version>.tgz`. Needs what scripts/setup.sh installs.
set -euo pipefail
cd "$(dirname "$0")/.."
BUDGET=${CHATWIRE_PACK_BUDGET:-2400000}
OUT=out/release
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
export TZ=UTC LC_ALL=C

[ -z "$(git status --porcelain --untracked-files=no 2>/dev/null)" ] ||
  echo "release: warning: the work tree has uncommitted changes; the tarball holds them" >&2

echo "== release: clean addon build"
rm -rf build
node scripts/build.mjs addon
node scripts/build.mjs wasm

rm -rf "$OUT" && mkdir -p "$OUT/a" "$OUT/b"
for d in a b; do
  echo "== release: npm pack ($d)"
  npm pack --pack-destination "$OUT/$d" --loglevel=warn >"$OUT/pack-$d.log" 2>&1 || { tail -n 40 "$OUT/pack-$d.log" >&2; exit 1; }
done
A=$(ls "$OUT"/a/chatwire-*.tgz)
B=$OUT/b/$(basename "$A")
sum_a=$(sha256sum "$A" | cut -d' ' -f1)
sum_b=$(sha256sum "$B" | cut -d' ' -f1)
if [ "$sum_a" != "$sum_b" ]; then
  echo "release: two packs of the same tree differ ($sum_a, $sum_b): not reproducible" >&2
  diff <(tar -xOzf "$A" | sha256sum) <(tar -xOzf "$B" | sha256sum) >&2 || true
  exit 1
fi
mv "$A" "$OUT/" && rm -rf "$OUT/a" "$OUT/b"
TGZ=$OUT/$(basename "$A")
SIZE=$(stat -c %s "$TGZ")
[ "$SIZE" -le "$BUDGET" ] || { echo "release: $TGZ is $SIZE bytes, over its budget of $BUDGET (docs/packaging.md)" >&2; exit 1; }
echo "$sum_a  $(basename "$TGZ")" >"$TGZ.sha256"
echo "== release: $TGZ: $SIZE bytes (budget $BUDGET), sha256 $sum_a, same bytes twice"
echo "   prebuilt: $(tar -tzf "$TGZ" | grep '^package/prebuilds/' | sed 's|^package/||' | paste -sd' ')"
