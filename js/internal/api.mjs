// The public API over a native backend (the Node addon or the WASM module).
// Both entry points (node.mjs, browser.mjs / wasm-node.mjs) build their
// exports here, so the two builds can only differ in the native they load.
// Nothing here parses or builds protocol frames: the core does.
import { ChatError, unwrap } from './errors.mjs';

/**
 * @param {() => object} native returns the loaded native module, or throws the
 *   "call init() first" TypeError while it is not loaded yet.
 */
export function createApi(native) {
  const limitsText = (limits) => (limits === undefined ? '' : JSON.stringify(limits));
  const direction = (d = 'client') => {
    if (d !== 'client' && d !== 'server') {
      throw new TypeError(`options.direction must be 'client' or 'server', got ${JSON.stringify(d)}`);
    }
    return d;
  };
  const asBytes = (bytes, name) => {
    if (bytes instanceof Uint8Array) return bytes;
    if (bytes instanceof ArrayBuffer) return new Uint8Array(bytes);
    if (ArrayBuffer.isView(bytes)) return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    throw new TypeError(`${name} must be a Uint8Array, Buffer, ArrayBuffer or typed array`);
  };

  const codec = Object.freeze({
    /**
     * Decodes and validates one frame's text exactly as chatwire's server (direction
     * 'client': frames clients send) or client (direction 'server') does.
     * @returns {{ ok: true, frame: object } | { ok: false, error: { code: string, error: string, messageId?: string, imageId?: string } }}
     */
    decode(text, options = {}) {
      if (typeof text !== 'string') throw new TypeError('text must be a string');
      return native().decodeFrame(text, direction(options.direction), limitsText(options.limits));
    },
    /**
     * Validates a frame object and returns its canonical text.
     * @returns {{ ok: true, text: string } | { ok: false, error: object }}
     */
    encode(frame, options = {}) {
      if (frame === null || typeof frame !== 'object') throw new TypeError('frame must be an object');
      return native().encodeFrame(JSON.stringify(frame), direction(options.direction), limitsText(options.limits));
    },
    /** PROTOCOL.md's limits with defaults filled in (options.limits style names). */
    limits(limits) {
      const out = native().limits(limitsText(limits));
      if (out.ok === false) throw ChatError.fromCore(out.error);
      return out;
    },
  });

  /**
   * Image type and size from the bytes' headers (PNG, JPEG, GIF, WebP), without
   * decoding pixels. Throws ChatError('image_invalid') with the reason otherwise.
   */
  function sniffImage(bytes) {
    const r = unwrap(native().sniffImage(asBytes(bytes, 'bytes')));
    return { mimeType: r.mimeType, width: r.width, height: r.height };
  }

  /**
   * Audio type and duration from the bytes' headers (WAV, Ogg Opus/Vorbis,
   * WebM, MP3), without decoding samples: { mimeType, durationMs } with
   * durationMs null when the headers do not tell it. With options.mimeType,
   * the whole check a message's audio gets (that declared type, PROTOCOL.md's
   * 10 MiB and 300 s). Throws ChatError('invalid_field') with the reason, or
   * ChatError('too_large') over a limit.
   */
  function sniffAudio(bytes, options = {}) {
    if (options === null || typeof options !== 'object') throw new TypeError('options must be an object');
    const { mimeType } = options;
    if (mimeType !== undefined && typeof mimeType !== 'string') {
      throw new TypeError('options.mimeType must be a string');
    }
    const r = unwrap(native().sniffAudio(asBytes(bytes, 'bytes'), mimeType));
    return { mimeType: r.mimeType, durationMs: r.durationMs };
  }

  const base64 = Object.freeze({
    /** Standard base64 with padding. */
    encode(bytes) { return native().base64Encode(asBytes(bytes, 'bytes')); },
    /** Strict decode (no whitespace, exact padding); throws ChatError('image_invalid'). */
    decode(text) {
      if (typeof text !== 'string') throw new TypeError('text must be a string');
      return unwrap(native().base64Decode(text)).bytes;
    },
  });

  return { codec, sniffImage, sniffAudio, base64 };
}
