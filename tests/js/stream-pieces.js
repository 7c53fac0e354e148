// The deterministic delta pieces of deltas.test.js (shared with its child):
// piece i is its index, zero-padded, then filler up to `len` bytes, so a lost,
// repeated or reordered piece shows in the assembled text.
function piece(i, len) {
  const head = String(i).padStart(6, '0');
  return head + 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ'.repeat(2).slice(0, len - head.length);
}

module.exports = { piece };
