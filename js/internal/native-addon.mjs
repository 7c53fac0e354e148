// Finds the Node addon, node-gyp-build style but without a dependency. Candidates, in order:
//   build/Release/chatwire.node                    built on this machine (a clone, or an install
//                                                  that had to compile: scripts/install.mjs)
//   prebuilds/<platform>-<arch>[-<libc>]/chatwire.node   shipped in the package (scripts/release.sh)
// A local build wins so that a developer's rebuild is never shadowed by a prebuild; in an
// installed package build/Release exists only when no prebuild matched. Paths are relative to
// the package root's first level (js/ and dist/ both sit there, see scripts/build.mjs js).
// scripts/install.mjs imports this module too: the install and the loader agree on one name.
import { existsSync, readFileSync } from 'node:fs';

/** 'glibc' or 'musl' on Linux (detect-libc's way: /usr/bin/ldd's text, then the process report), else null. */
export function libcFamily() {
  if (process.platform !== 'linux') return null;
  try {
    const ldd = readFileSync('/usr/bin/ldd', 'latin1');
    if (ldd.includes('musl')) return 'musl';
    if (ldd.includes('GNU C Library') || ldd.includes('GLIBC')) return 'glibc';
  } catch {
    // no /usr/bin/ldd (a distroless image): ask Node
  }
  const report = typeof process.report?.getReport === 'function' ? process.report.getReport() : null;
  if (report?.header?.glibcVersionRuntime) return 'glibc';
  if ((report?.sharedObjects ?? []).some((f) => f.includes('libc.musl-') || f.includes('ld-musl-'))) return 'musl';
  return null;
}

/** The prebuild folder name for this process: 'linux-x64-glibc', 'darwin-arm64', ... */
export function platformTag() {
  const libc = libcFamily();
  return [process.platform, process.arch, libc].filter(Boolean).join('-');
}

/** Paths to try, relative to a file one level below the package root. */
export function addonCandidates() {
  return ['../build/Release/chatwire.node', `../prebuilds/${platformTag()}/chatwire.node`];
}

/**
 * Loads the addon with `require` (a createRequire of a module one level below the package root).
 * Throws one Error naming what was tried and how to build it.
 */
export function loadNativeAddon(require, baseUrl) {
  const tried = [];
  for (const rel of addonCandidates()) {
    if (!existsSync(new URL(rel, baseUrl))) {
      tried.push(`${rel.slice(3)} (absent)`);
      continue;
    }
    try {
      return require(rel);
    } catch (err) {
      tried.push(`${rel.slice(3)} (${err.message.split('\n')[0]})`);
    }
  }
  throw new Error(
    `chatwire: no usable native addon for ${platformTag()}, tried ${tried.join(', ')}. ` +
    'Prebuilt addons ship for linux-x64-glibc; elsewhere build from source with `npm rebuild chatwire` ' +
    '(npm 11 skips install scripts of dependencies until approved: `npm approve-scripts chatwire`), ' +
    'which says which system packages it needs.',
  );
}
