// Vite 7 config for the example widget. Nothing chatwire-specific: 'chatwire'
// resolves like any installed package (build.mjs links node_modules/chatwire
// to the repository root), its `browser` export condition picks the
// WebAssembly build, and Vite emits the .wasm as an asset. JSX is compiled by
// Vite's built-in esbuild (no React plugin needed).
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const here = fileURLToPath(new URL('.', import.meta.url));

// index.html gets an inline script that starts downloading and compiling the
// .wasm with the HTML, while the JS chunks load and parse; chatwire picks the
// compiled module up from globalThis.chatwireWasmModule (js/browser.mjs).
const preloadWasm = {
  name: 'chatwire-preload-wasm',
  apply: 'build',
  transformIndexHtml: {
    order: 'post',
    handler(html, ctx) {
      return Object.values(ctx.bundle ?? {}).filter((a) => a.fileName.endsWith('.wasm')).map((a) => ({
        tag: 'script',
        children: `globalThis.chatwireWasmModule = WebAssembly.compileStreaming(fetch(${JSON.stringify(`./${a.fileName}`)})).catch(() => undefined);`,
        injectTo: 'head-prepend',
      }));
    },
  },
};

export default defineConfig({
  root: here,
  plugins: [preloadWasm],
  base: './',
  logLevel: 'warn',
  esbuild: { jsx: 'automatic' },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    // The .wasm is ~1 MB raw (~400 KB gzip): no point warning about it.
    chunkSizeWarningLimit: 1200,
    rollupOptions: {
      output: {
        // chatwire (its JS and the Emscripten loader) in its own chunk, React in
        // another: cached apart, and bench/browser-cold-start.mjs weighs them apart.
        manualChunks(id) {
          if (/[\\/]node_modules[\\/](react|react-dom|scheduler)[\\/]/.test(id)) return 'react';
          if (/[\\/](js[\\/](browser|internal[\\/])|dist[\\/]wasm[\\/])/.test(id) || /[\\/]zustand[\\/]esm[\\/]vanilla/.test(id)) return 'chatwire';
          return undefined;
        },
      },
    },
  },
  server: { host: '127.0.0.1' },
});
