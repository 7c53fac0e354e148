// A child process for ws-client.test.js: opens the Node addon's socket (the
// SocketNative a ChatClient uses) to argv[2], sends argv[3] once open, closes
// with 1000 after the first message, and prints each event as a JSON line.
// The addon prints its refusals to stderr, which the test reads. The addon is
// the one the test's require('chatwire') loads (CHATWIRE_TEST_ADDON), so an
// instrumented build (scripts/asan-addon.sh) runs here too.
const path = require('node:path');

const addon = require(process.env.CHATWIRE_TEST_ADDON || path.join(__dirname, '../../build/Release/chatwire.node'));
const [url, hello] = process.argv.slice(2);
const out = (e) => process.stdout.write(`${JSON.stringify(e)}\n`);
const s = new addon.SocketNative(
  url,
  () => { out({ event: 'open' }); if (hello) s.send(hello); },
  (text) => { out({ event: 'message', text }); s.close(1000, 'bye'); },
  (code, httpStatus) => { out({ event: 'close', code, httpStatus }); },
);
