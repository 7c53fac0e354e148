// A TCP proxy on loopback for tests that need to break a connection the way a
// network does, with either client build (the Node addon's own socket
// or the WASM build's `ws`): kill() destroys every proxied TCP connection at
// once, with no WebSocket close frame (the client sees 1006). It also reads the
// server's WebSocket frames as they pass (server frames are never masked), so
// a test can assert what went over the wire.
const net = require('node:net');

/** Parses server->client WebSocket frames from a byte stream; calls onText(text) per text message. */
function frameReader(onText) {
  let buf = Buffer.alloc(0);
  let handshakeDone = false;
  let parts = [];
  return (chunk) => {
    buf = Buffer.concat([buf, chunk]);
    if (!handshakeDone) {
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      buf = buf.subarray(end + 4);
      handshakeDone = true;
    }
    for (;;) {
      if (buf.length < 2) return;
      const fin = (buf[0] & 0x80) !== 0;
      if (buf[0] & 0x70) throw new Error('tcpproxy: compressed or extended WebSocket frames are not supported');
      const opcode = buf[0] & 0x0f;
      const masked = (buf[1] & 0x80) !== 0;
      let len = buf[1] & 0x7f;
      let off = 2;
      if (len === 126) {
        if (buf.length < 4) return;
        len = buf.readUInt16BE(2);
        off = 4;
      } else if (len === 127) {
        if (buf.length < 10) return;
        len = Number(buf.readBigUInt64BE(2));
        off = 10;
      }
      if (masked) off += 4;
      if (buf.length < off + len) return;
      let payload = buf.subarray(off, off + len);
      if (masked) {
        const key = buf.subarray(off - 4, off);
        payload = Buffer.from(payload.map((b, i) => b ^ key[i & 3]));
      }
      buf = buf.subarray(off + len);
      if (opcode === 1 || opcode === 0) {
        parts.push(payload);
        if (fin) {
          onText(Buffer.concat(parts).toString('utf8'));
          parts = [];
        }
      }
    }
  };
}

class TcpProxy {
  /** Listens on 127.0.0.1 (a free port) and forwards every connection to `targetPort`. */
  static start(targetPort) {
    const proxy = new TcpProxy(targetPort);
    return new Promise((resolve) => proxy.server.listen(0, '127.0.0.1', () => resolve(proxy)));
  }

  constructor(targetPort) {
    this.pairs = new Set();
    /** Every text frame the server sent, parsed, in order (all connections). */
    this.serverFrames = [];
    /** The same frames per proxied connection, in the order the connections came. */
    this.connections = [];
    /** While true, new connections are closed at once (the server is unreachable). */
    this.refuse = false;
    this.server = net.createServer((client) => {
      if (this.refuse) {
        client.destroy();
        return;
      }
      const upstream = net.connect(targetPort, '127.0.0.1');
      // No Nagle: a proxy must not hold small frames back (with the peer's
      // delayed ACK that adds ~40 ms per burst).
      client.setNoDelay(true);
      upstream.setNoDelay(true);
      const pair = { client, upstream };
      this.pairs.add(pair);
      const frames = [];
      this.connections.push(frames);
      const read = frameReader((text) => {
        let frame;
        try {
          frame = JSON.parse(text);
        } catch {
          frame = { unparsable: text };
        }
        this.serverFrames.push(frame);
        frames.push(frame);
      });
      upstream.on('data', (chunk) => {
        read(chunk);
        client.write(chunk);
      });
      client.on('data', (chunk) => upstream.write(chunk));
      const end = () => {
        client.destroy();
        upstream.destroy();
        this.pairs.delete(pair);
      };
      for (const s of [client, upstream]) {
        s.on('error', end);
        s.on('close', end);
      }
    });
  }

  get port() { return this.server.address().port; }

  /** How many proxied connections are open. */
  get open() { return this.pairs.size; }

  /** Breaks every proxied connection at once (TCP reset towards the client, no close frame). */
  kill() {
    for (const { client, upstream } of this.pairs) {
      if (typeof client.resetAndDestroy === 'function') client.resetAndDestroy();
      else client.destroy();
      upstream.destroy();
    }
    this.pairs.clear();
  }

  close() {
    this.kill();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

module.exports = { TcpProxy };
