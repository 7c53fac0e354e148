// ChatError: the one error class of chatwire. `code` is one of PROTOCOL.md's
// error codes (the core's ErrorCode names); `messageId` / `imageId` say what it
// concerns when known.

/** @type {readonly string[]} */
export const ERROR_CODES = Object.freeze([
  'bad_json', 'unknown_type', 'invalid_field', 'too_large', 'image_invalid',
  'unauthorized', 'rate_limited', 'not_found', 'internal', 'unavailable',
]);

export class ChatError extends Error {
  /**
   * @param {string} code one of ERROR_CODES
   * @param {string} message a sentence naming the field, image or limit involved
   * @param {{ messageId?: string, imageId?: string, retryAfterMs?: number, cause?: unknown }} [details]
   */
  constructor(code, message, details = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'ChatError';
    this.code = code;
    if (details.messageId !== undefined) this.messageId = details.messageId;
    if (details.imageId !== undefined) this.imageId = details.imageId;
    if (details.retryAfterMs !== undefined) this.retryAfterMs = details.retryAfterMs;
  }

  /** A ChatError from the core's error object ({ code, error, messageId?, imageId?, retryAfterMs? }). */
  static fromCore(e) {
    return new ChatError(e.code, e.error ?? e.message, {
      messageId: e.messageId, imageId: e.imageId, retryAfterMs: e.retryAfterMs,
    });
  }
}

/** Unwraps a core result: returns it when ok, throws its ChatError otherwise. */
export function unwrap(result) {
  if (!result.ok) throw ChatError.fromCore(result.error);
  return result;
}
