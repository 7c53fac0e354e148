// Argument checks for the public API, with messages that name the argument
// (better-sqlite3's manners). JS checks only the types of options (a
// TypeError naming the argument); their ranges and defaults are the core's
// (client/client_config.cc, server/server_config.cc), asked through the
// native's clientOptions() / serverOptions(), whose refusal coreOptions()
// throws as a RangeError with the core's text, the same in both builds.

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

/**
 * A number option, passed on as given for the core to range-check.
 * Not a finite number: a TypeError here, as JSON cannot carry NaN or Infinity
 * to the core (they would read as "not given").
 */
export function optionalNumber(value, name) {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new TypeError(`${name} must be a number, got ${String(value)}`);
  }
  return value;
}

/** An integer option (the type only: its range is the core's), like optionalNumber. */
export function optionalInteger(value, name) {
  if (value === undefined) return undefined;
  if (!Number.isInteger(value)) throw new TypeError(`${name} must be an integer, got ${String(value)}`);
  return value;
}

/** The core's verdict on a set of options ({ ok, value? } or { ok: false, error }): its value, or a RangeError with its text. */
export function coreOptions(result) {
  if (!result.ok) throw new RangeError(result.error.error);
  return result.value;
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
