// Argument checks for the public API, with messages that name the argument
// (better-sqlite3's manners). Defaults live here; rules live in the core.

export function isObject(v) {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

export function optionalObject(value, name) {
  if (value === undefined) return {};
  if (!isObject(value)) throw new TypeError(`${name} must be an object`);
  return value;
}

export function optionalString(value, name, fallback) {
  if (value === undefined) return fallback;
  if (typeof value !== 'string') throw new TypeError(`${name} must be a string`);
  return value;
}

export function optionalInteger(value, name, fallback, min = 0, max = Number.MAX_SAFE_INTEGER) {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`${name} must be an integer from ${min} to ${max}, got ${String(value)}`);
  }
  return value;
}

export function optionalNumber(value, name, fallback, min = 0, max = Number.MAX_VALUE) {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    throw new RangeError(`${name} must be a number from ${min} to ${max}, got ${String(value)}`);
  }
  return value;
}

export function optionalFunction(value, name) {
  if (value === undefined) return undefined;
  if (typeof value !== 'function') throw new TypeError(`${name} must be a function`);
  return value;
}

export function requireFunction(value, name) {
  if (typeof value !== 'function') throw new TypeError(`${name} must be a function`);
  return value;
}

/** The closed-object guard: a clear TypeError instead of a native crash. */
export function assertOpen(closed, what) {
  if (closed) throw new TypeError(`${what} is closed`);
}
