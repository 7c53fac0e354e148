// The two builds of chatwire as a user gets them, for describe.each.
const node = require('chatwire');
const wasm = require('chatwire/wasm');

/** [[name, module]] for describe.each; call `await mod.init()` in beforeAll. */
const builds = [
  ['node addon', node],
  ['wasm', wasm],
];

module.exports = { builds, node, wasm };
