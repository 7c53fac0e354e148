#!/usr/bin/env node
// Writes the seed corpora of the frame-level fuzz targets from the shared
// codec cases (tests/fixtures/codec-cases.json), so the fuzzers start from
// every frame shape the protocol has:
//   corpus/frame_decoder/<case>      byte 0 = limits selector (0 default, 1 small), then the text
//   corpus/server_hub/codec-<case>   client frames (raw: the harness reads ops and frames from them)
//   corpus/client_engine/codec-<case> server frames
// The stateful targets also keep a few merged inputs from earlier runs
// (files not starting with "codec-"); this script leaves those alone.
// Run: node tests/fuzz/make_corpus.mjs
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const cases = JSON.parse(readFileSync(join(here, '../fixtures/codec-cases.json'), 'utf8')).cases;
const slug = (s) => s.toLowerCase().replace(/[^a-z0-9]+/g, '_').replace(/^_|_$/g, '');

const dirs = {
  frame: join(here, 'corpus/frame_decoder'),
  hub: join(here, 'corpus/server_hub'),
  client: join(here, 'corpus/client_engine'),
};
for (const d of Object.values(dirs)) mkdirSync(d, { recursive: true });

let n = 0;
for (const c of cases) {
  const text = Buffer.from(c.text, 'utf8');
  const name = slug(c.name);
  writeFileSync(join(dirs.frame, name), Buffer.concat([Buffer.from([c.limits ? 1 : 0]), text]));
  writeFileSync(join(c.direction === 'client' ? dirs.hub : dirs.client, `codec-${name}`), text);
  n++;
}
console.log(`wrote ${n} frame seeds into tests/fuzz/corpus/{frame_decoder,server_hub,client_engine}`);
