#!/usr/bin/env node
// Builds the parts of chatwire. Each step is idempotent and can run alone:
//   node scripts/build.mjs addon   Node addon via node-gyp (build/Release/chatwire.node)
//   node scripts/build.mjs wasm    WebAssembly build (dist/wasm/), see wasm/build.sh
//   node scripts/build.mjs js      CommonJS entry points (dist/*.cjs) from js/*.mjs
//   node scripts/build.mjs cmake   host build of the core, C++ tests, fuzzers (out/cmake)
//   node scripts/build.mjs prebuild  the addon step, then its stripped copy as
//                                  prebuilds/<platform>-<arch>-<libc>/chatwire.node (shipped)
// npm runs them as lifecycle scripts (package.json): `install` builds the addon (in a
// clone and in a project that installs the tarball), `prepare` the js step (clone and
// npm pack only), `prepack` the wasm and prebuild steps, so the tarball ships dist/ and the
// addon built; `install` is scripts/install.mjs, which compiles only without a usable prebuild.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { platformTag } from '../js/internal/native-addon.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const jobs = String(Math.max(1, Math.min(2, (await import('node:os')).availableParallelism())));

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', ...opts });
  if (r.status !== 0) {
    console.error(`chatwire build: '${cmd} ${args.join(' ')}' failed (exit ${r.status ?? r.signal})`);
    process.exit(r.status || 1);
  }
}

// Node's headers sit beside the binary in both Debian's package (/usr/include/node)
// and the official tarballs (<prefix>/include/node); pointing node-gyp there keeps
// the build offline instead of downloading headers.
function nodedir() {
  const prefix = join(dirname(process.execPath), '..');
  return existsSync(join(prefix, 'include/node/node.h')) ? prefix : null;
}

function nodeGyp() {
  if (process.env.npm_config_node_gyp) return [process.execPath, process.env.npm_config_node_gyp];
  const bundled = join(dirname(process.execPath), '../lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js');
  if (existsSync(bundled)) return [process.execPath, bundled];
  return ['node-gyp'];
}

const steps = {
  addon() {
    const [cmd, ...pre] = nodeGyp();
    const dir = nodedir();
    const nd = dir ? [`--nodedir=${dir}`] : [];
    // configure + build rather than rebuild: objects are reused, and the
    // previous chatwire.node stays in place until the new one is linked.
    run(cmd, [...pre, 'configure', ...nd]);
    run(cmd, [...pre, 'build', '-j', jobs, ...nd]);
  },
  prebuild() {
    // The name js/internal/native-addon.mjs looks up. Stripped of symbols (3.5 MB -> 3.05 MB;
    // the dynamic symbol table Node-API needs stays); the same build gives the same bytes,
    // which scripts/release.sh checks.
    steps.addon();
    const dir = join(root, 'prebuilds', platformTag());
    mkdirSync(dir, { recursive: true });
    run('strip', ['--strip-unneeded', '-o', join(dir, 'chatwire.node'), join(root, 'build/Release/chatwire.node')]);
  },
  wasm() {
    run('bash', ['wasm/build.sh']);
  },
  async js() {
    // Run by `prepare` (npm ci / npm install in a clone, and npm pack): the tarball ships
    // dist/*.cjs built, so installing the package never needs esbuild (a devDependency).
    const esbuild = await import('esbuild').catch((err) => {
      console.error(`chatwire build: the js step needs esbuild, a devDependency (${err.code}): run \`npm ci\` in the repository`);
      process.exit(1);
    });
    // js/*.mjs load the addon and the generated WASM glue through createRequire(import.meta.url)
    // with paths relative to the package root's first level; dist/ sits at the same depth as js/,
    // so giving the bundle a file URL of its own keeps those paths valid.
    const common = { bundle: true, platform: 'node', format: 'cjs', target: 'node20', logLevel: 'warning',
      external: ['ws', 'zustand', 'zustand/*'],
      define: { 'import.meta.url': '__chatwireModuleUrl' },
      banner: { js: "const __chatwireModuleUrl = require('node:url').pathToFileURL(__filename).href;" } };
    await esbuild.build({ ...common, entryPoints: [join(root, 'js/node.mjs')], outfile: join(root, 'dist/node.cjs') });
    await esbuild.build({ ...common, entryPoints: [join(root, 'js/wasm-node.mjs')], outfile: join(root, 'dist/wasm.cjs') });
  },
  cmake() {
    const type = process.env.CHATWIRE_BUILD_TYPE || 'RelWithDebInfo';
    const dir = process.env.CHATWIRE_CMAKE_DIR || 'out/cmake';
    const extra = process.env.CHATWIRE_CMAKE_ARGS ? process.env.CHATWIRE_CMAKE_ARGS.split(' ') : [];
    run('cmake', ['-S', '.', '-B', dir, `-DCMAKE_BUILD_TYPE=${type}`, ...extra]);
    run('cmake', ['--build', dir, '-j', jobs]);
  },
};

const wanted = process.argv.slice(2);
if (!wanted.length) wanted.push('addon', 'wasm', 'js');
for (const step of wanted) {
  if (!steps[step]) { console.error(`chatwire build: unknown step '${step}' (addon, prebuild, wasm, js, cmake)`); process.exit(2); }
  await steps[step]();
}
