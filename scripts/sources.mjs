#!/usr/bin/env node
// The one list of core sources, shared by binding.gyp and wasm/build.sh so the
// two builds can never compile different sets of files. CMake globs the same
// folders (src/core/**.cc).
//
//   node scripts/sources.mjs core      -> every core .cc (Node addon, host build)
//   node scripts/sources.mjs portable  -> what the browser build needs: the core
//                                         less the server hub (which needs OpenSSL)
import { readdirSync } from 'node:fs';
import { join, relative, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

function walk(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    return e.isDirectory() ? walk(p) : e.name.endsWith('.cc') ? [p] : [];
  });
}

export function coreSources(set = 'core') {
  const all = walk(join(root, 'src/core')).map((p) => relative(root, p)).sort();
  // The server hub and its store are Node-only (OpenSSL, server tables).
  return set === 'portable'
    ? all.filter((p) => !p.startsWith('src/core/server/') && !p.split('/').pop().startsWith('server_'))
    : all;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const set = process.argv[2] || 'core';
  const prefix = process.argv[3] || '';
  console.log(coreSources(set).map((p) => prefix + p).join('\n'));
}
