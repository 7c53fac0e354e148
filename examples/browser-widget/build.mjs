// Builds the example widget into examples/browser-widget/dist (`npm run build:widget`).
//
// The widget imports 'chatwire' exactly as an application that installed the
// package would. Vite resolves a bare import only through node_modules, so the
// example gets examples/browser-widget/node_modules/chatwire -> ../../.. (the
// repository root, whose package.json is named chatwire and has `exports`).
// A link, not `"chatwire": "file:../.."` + npm install: it needs no second
// install, works offline on a clean clone right after scripts/setup.sh, and
// always points at the working tree. react, react-dom and zustand come from
// the root node_modules (Node's resolution walks up from the example folder).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');

/** Creates (or repairs) node_modules/chatwire -> the repository root. */
export function linkChatwire() {
  const dir = path.join(here, 'node_modules');
  const link = path.join(dir, 'chatwire');
  fs.mkdirSync(dir, { recursive: true });
  let ok = false;
  try {
    ok = fs.realpathSync(link) === fs.realpathSync(root);
  } catch {
    ok = false;
  }
  if (!ok) {
    fs.rmSync(link, { recursive: true, force: true });
    // A relative link survives moving the checkout; Windows gets an (absolute)
    // junction, which needs no privileges.
    if (process.platform === 'win32') fs.symlinkSync(root, link, 'junction');
    else fs.symlinkSync(path.relative(dir, root), link);
  }
  return link;
}

export async function buildWidget() {
  // Always a production build: Vite follows NODE_ENV, and a caller such as
  // Jest (NODE_ENV=test) would otherwise get React's development build.
  process.env.NODE_ENV = 'production';
  if (!fs.existsSync(path.join(root, 'dist/wasm/chatwire_wasm.mjs'))) {
    throw new Error('dist/wasm is missing: run `npm run build:wasm` first (scripts/setup.sh does)');
  }
  linkChatwire();
  const { build } = await import('vite');
  await build({ configFile: path.join(here, 'vite.config.mjs') });
  return path.join(here, 'dist');
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const t0 = performance.now();
  const out = await buildWidget();
  console.log(`example widget built into ${path.relative(process.cwd(), out) || '.'} in ${Math.round(performance.now() - t0)} ms`);
}
