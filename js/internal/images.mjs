// Reads what users pass as an image into bytes. The core checks the bytes
// (type by magic number, size, dimensions); nothing is decided here.
import { ChatError } from './errors.mjs';

async function toBytes(data, where, base64Decode) {
  if (data instanceof Uint8Array) return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (data && typeof data.arrayBuffer === 'function') return new Uint8Array(await data.arrayBuffer());  // Blob, File
  if (typeof data === 'string') {
    try {
      return base64Decode(data);
    } catch (err) {
      throw new ChatError('image_invalid', `${where}: data is not valid base64 (${err.message})`);
    }
  }
  throw new TypeError(`${where} must be a File, Blob, Uint8Array, ArrayBuffer or { data, mimeType, filename }`);
}

/** @returns {(input: unknown, index: number) => Promise<{ bytes: Uint8Array, mimeType?: string, filename?: string, id?: string }>} */
export function createImageReader(base64Decode) {
  return async function readImage(input, index) {
    const where = `images[${index}]`;
    const plain = input && typeof input === 'object' && 'data' in input && !(input instanceof Uint8Array);
    const data = plain ? input.data : input;
    const bytes = await toBytes(data, where, base64Decode);
    // A File's name becomes the filename. Its `type` is a guess from the
    // extension, so it is not declared: the core takes the type from the bytes.
    const filename = plain ? input.filename : (typeof input?.name === 'string' ? input.name : undefined);
    return {
      bytes,
      mimeType: plain ? input.mimeType : undefined,
      filename: filename === undefined ? undefined : String(filename),
      id: plain && input.id !== undefined ? String(input.id) : undefined,
    };
  };
}
