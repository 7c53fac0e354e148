#!/usr/bin/env node
// Run by `prestart` and `pretest` in a clone: on a fresh clone `npm start` and `npm test` are
// all a newcomer types. When something scripts/setup.sh provides is missing (a system package
// of its PACKAGES list, an npm dependency, the addon, the JS bundles, the WebAssembly module),
// it says what and runs scripts/setup.sh; when everything is there it only checks (~0.1 s).
// Node built-ins only: it runs before `npm ci`. The package list is read from setup.sh, its
// one owner. CHATWIRE_SKIP_SETUP_CHECK=1 skips it.
import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, readFileSync, realpathSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const script = process.env.npm_lifecycle_event?.replace(/^pre/, '') || 'start';
if (process.env.CHATWIRE_SKIP_SETUP_CHECK === '1') process.exit(0);

const missing = [];

// System packages: setup.sh's PACKAGES=( ... ) array (comments stripped), one dpkg-query.
const setup = readFileSync(join(root, 'scripts/setup.sh'), 'utf8');
const list = /^PACKAGES=\(([^)]*)\)/m.exec(setup);
if (!list) throw new Error('check-setup: scripts/setup.sh has no PACKAGES=( ... ) list');
const packages = list[1].split('\n').map((l) => l.replace(/#.*/, '')).join(' ').split(/\s+/).filter(Boolean);
const q = spawnSync('dpkg-query', ['-W', '-f=${Package} ${Status}\n', ...packages], { encoding: 'utf8' });
if (q.error) {
  console.log('chatwire: no dpkg-query (not Debian): not checking system packages; see scripts/setup.sh for what they are');
} else {
  const installed = new Set(q.stdout.split('\n').filter((l) => l.endsWith('install ok installed')).map((l) => l.split(' ')[0]));
  const absent = packages.filter((p) => !installed.has(p));
  if (absent.length) missing.push(`system packages ${absent.join(' ')}`);
}

// npm dependencies: each one package.json names is in node_modules.
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const deps = Object.keys({ ...pkg.dependencies, ...pkg.devDependencies });
const absentDeps = deps.filter((d) => !existsSync(join(root, 'node_modules', d, 'package.json')));
if (absentDeps.length) missing.push(`npm packages ${absentDeps.slice(0, 4).join(' ')}${absentDeps.length > 4 ? ' ...' : ''}`);

// Builds (each builds incrementally later on; here only whether one was ever made).
for (const [file, what] of [
  ['build/Release/chatwire.node', 'the Node addon'],
  ['dist/node.cjs', 'the JS bundles'],
  ['dist/wasm/chatwire_wasm.wasm', 'the WebAssembly module'],
]) {
  if (!existsSync(join(root, file))) missing.push(`${what} (${file})`);
}

if (!missing.length) process.exit(0);
// setup.sh runs `npm ci`, which empties node_modules first, through a symlink too: never run it
// on a node_modules shared with another checkout (a git worktree linked to the main one's).
const nm = join(root, 'node_modules');
if (existsSync(nm) && lstatSync(nm).isSymbolicLink()) {
  console.error(`chatwire: npm ${script} needs ${missing.join(', ')}, but node_modules is a symlink to ` +
    `${realpathSync(nm)}: scripts/setup.sh (npm ci) would empty that folder; set up there, or replace the link`);
  process.exit(1);
}
console.log(`chatwire: npm ${script} needs ${missing.join(', ')}: running scripts/setup.sh first`);
const r = spawnSync('bash', [join(root, 'scripts/setup.sh')], { cwd: root, stdio: 'inherit' });
if (r.status !== 0) {
  console.error(`chatwire: scripts/setup.sh failed (exit ${r.status ?? r.signal}); npm ${script} cannot run`);
  process.exit(r.status || 1);
}
