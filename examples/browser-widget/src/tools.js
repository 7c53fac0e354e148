// Client-side tools the assistant may call (server: `await reply.callTool(name, args)`).
// The client runs each call at most once and stores its result, so a reconnect
// never runs a tool twice. A tool is an async function; `description` and
// `parameters` (JSON Schema) are sent to the server in `configure_tools`.

/** The user's local date, time and time zone. */
async function getLocalTime() {
  const now = new Date();
  return {
    iso: now.toISOString(),
    local: now.toLocaleString(undefined, { dateStyle: 'full', timeStyle: 'short' }),
    timeZone: Intl.DateTimeFormat().resolvedOptions().timeZone,
    utcOffsetMinutes: -now.getTimezoneOffset(),
  };
}
getLocalTime.description = "The user's current local date, time and time zone.";
getLocalTime.parameters = { type: 'object', properties: {} };

/**
 * The user's location. A demo must not ask for the real one, so this is a
 * fixed, clearly fake place; swap in navigator.geolocation for a real app.
 */
async function getLocation() {
  return { lat: 52.5200, lon: 13.4050, city: 'Berlin', country: 'DE', accuracyM: 50, source: 'demo (fixed)' };
}
getLocation.description = "The user's approximate location (latitude, longitude, city).";
getLocation.parameters = { type: 'object', properties: { precise: { type: 'boolean' } } };

export const demoTools = { getLocalTime, getLocation };
