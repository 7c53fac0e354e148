// ChatError: the one error class of chatwire. `code` is one of PROTOCOL.md's
// error codes (the core's ErrorCode names); `messageId` / `imageId` say what it
// concerns when known.

/**
 * PROTOCOL.md's error codes as the core names them (ErrorCode in
 * src/core/protocol/errors.h), read from the loaded native by useErrorCodes():
 * at import in the Node build, by init() in the WebAssembly build (empty until
 * then); frozen once filled.
 * @type {readonly string[]}
 */
export const ERROR_CODES = [];

/** Fills ERROR_CODES from a loaded native's errorCodes() (once: every build's core has the same list). */
export function useErrorCodes(native) {
  if (Object.isFrozen(ERROR_CODES)) return;
  ERROR_CODES.push(...native.errorCodes());
  Object.freeze(ERROR_CODES);
}

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
