#!/usr/bin/env node
// The package's `install` script (npm install / npm ci, in a clone and in every project that
// installs chatwire). With a prebuilt addon for this platform in prebuilds/ that loads, it does
// nothing: no compiler is needed, and `npm install --ignore-scripts` gives the same result
// (js/internal/native-addon.mjs loads the prebuild directly). Otherwise (another arch, musl, an
// older glibc, a clone: prebuilds/ is made by scripts/release.sh only) it checks that the
// build's tools and headers are there, and names the Debian packages in one sentence when one
// is missing, before running node-gyp (scripts/build.mjs addon).
// CHATWIRE_BUILD_FROM_SOURCE=1 (or npm's --build-from-source) skips the prebuild, and so does a
// git checkout (npm ci in a clone: the sources there may be newer than a prebuilds/ left by a pack).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { join, dirname, delimiter } from 'node:path';
import { platformTag } from '../js/internal/native-addon.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const tag = platformTag();
const prebuild = `prebuilds/${tag}/chatwire.node`;
const clone = existsSync(join(root, '.git'));
const fromSource = clone || ['1', 'true'].includes(process.env.CHATWIRE_BUILD_FROM_SOURCE ?? '') ||
  process.env.npm_config_build_from_source === 'true';
let why = clone ? 'a git checkout builds its own addon'
  : fromSource ? 'CHATWIRE_BUILD_FROM_SOURCE is set' : `no prebuilt addon for ${tag}`;
if (!fromSource && existsSync(join(root, prebuild))) {
  try {
    createRequire(import.meta.url)(join(root, prebuild));
    console.log(`chatwire: using the prebuilt addon ${prebuild} (nothing to compile)`);
    process.exit(0);
  } catch (err) {
    why = `the prebuilt addon ${prebuild} does not load here (${err.message.split('\n')[0]})`;
    console.log(`chatwire: ${why}; building from source`);
  }
}

function onPath(name) {
  return (process.env.PATH ?? '').split(delimiter).some((d) => d && existsSync(join(d, name)));
}
function ok(cmd, args, input) {
  const r = spawnSync(cmd, args, { input, stdio: ['pipe', 'ignore', 'ignore'] });
  return r.status === 0;
}

// What binding.gyp needs, each with the Debian package that brings it.
const missing = [];
const need = (what, pkg) => missing.push({ what, pkg });
const cxx = process.env.CXX || ['c++', 'g++', 'clang++'].find(onPath);
if (!cxx) need('a C++17 compiler', 'build-essential');
if (!onPath('make')) need('make', 'build-essential');
if (!onPath('python3')) need('python3 (for node-gyp)', 'python3');
const pkgConfig = onPath('pkg-config');
if (!pkgConfig) need('pkg-config', 'pkg-config');
// With pkg-config and a compiler, ask them (what binding.gyp asks); without, look in /usr/include.
const header = (h) => (cxx ? ok(cxx, ['-x', 'c++', '-std=c++17', '-fsyntax-only', '-'], `#include <${h}>\n`)
  : existsSync(join('/usr/include', h)));
if (pkgConfig ? !ok('pkg-config', ['--exists', 'libssl', 'libcrypto']) : !header('openssl/ssl.h')) {
  need('the OpenSSL 3 headers', 'libssl-dev');
}
const sqliteLib = pkgConfig && spawnSync('pkg-config', ['--variable=libdir', 'sqlite3'], { encoding: 'utf8' });
if (pkgConfig ? sqliteLib.status !== 0 || !existsSync(join(sqliteLib.stdout.trim(), 'libsqlite3.a')) : !header('sqlite3.h')) {
  need('SQLite (sqlite3.h, libsqlite3.a)', 'libsqlite3-dev');
}
if (!header('rapidjson/document.h')) need('the RapidJSON headers', 'rapidjson-dev');
if (missing.length) {
  const pkgs = [...new Set(missing.map((m) => m.pkg))];
  console.error(
    `chatwire: ${why}, and building the addon from source needs ` +
    `${missing.map((m) => m.what).join(', ')}: on Debian or Ubuntu \`apt-get install ${pkgs.join(' ')}\`, ` +
    'then `npm rebuild chatwire`.',
  );
  process.exit(1);
}

const r = spawnSync(process.execPath, [join(root, 'scripts/build.mjs'), 'addon'], { cwd: root, stdio: 'inherit' });
process.exit(r.status ?? 1);
