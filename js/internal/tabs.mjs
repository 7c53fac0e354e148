// Tabs of one browser that open the same storage: one leader per storage.
//
// Leadership is a Web Lock named after the storage (navigator.locks): the tab
// holding it opens the database and the socket; every other tab is a follower
// whose lock request waits in the browser's queue and is granted the moment
// the leader's tab closes or crashes (the browser releases a dead page's
// locks). Everything else travels over one BroadcastChannel per storage:
// followers' commands to the leader, the leader's replies, its engine events
// and store snapshots. Nothing here reads or builds protocol frames, and no
// message state is decided here: the leader's core decides, this only moves
// what it decided to the other tabs (docs/client-engine.md, "Tabs").
//
// Where Web Locks or BroadcastChannel are missing, the storage works in one
// tab at a time: the first tab holds it (the lock, or without Web Locks a
// lease in localStorage renewed every second) and a second tab is refused
// with a ChatError.
import { ChatError } from './errors.mjs';

// A lease without Web Locks: renewed every RENEW_MS; a tab that crashed
// blocks the storage for at most LEASE_MS. Hidden tabs' timers may be
// throttled to once a minute, hence a lease longer than a minute.
const RENEW_MS = 1000;
const LEASE_MS = 75000;

// "Say so once": one warning per page and storage, whatever number of clients.
const warned = new Set();

function randomId() {
  if (typeof crypto?.randomUUID === 'function') return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** A UUID v4 from the browser's CSPRNG (a follower names its drafts with it). */
export const newMessageId = randomId;

function inUse(storage, why) {
  return new ChatError('invalid_field',
    `options.storage '${storage}' is open in another tab of this browser, and this browser cannot share ` +
    `it between tabs (${why}): close the other tab, or use another storage`);
}

/**
 * Joins the tabs of `key` (a storage's name). Resolves to
 *   { shared: true, link }    both APIs present: `link` is a TabLink (leader or follower)
 *   { shared: false, release } single tab: this tab holds the storage alone
 * or rejects with a ChatError when another tab holds it and the browser
 * cannot share it. `storage` is the option's value, for messages.
 */
export async function joinTabs(key, storage) {
  const locks = typeof navigator !== 'undefined' ? navigator.locks : undefined;
  const hasLocks = typeof locks?.request === 'function';
  const hasChannel = typeof BroadcastChannel === 'function';
  if (hasLocks && hasChannel) {
    const link = new TabLink(key, locks);
    await link.start();
    return { shared: true, link };
  }
  const missing = [!hasLocks && 'Web Locks', !hasChannel && 'BroadcastChannel'].filter(Boolean).join(' and ');
  if (!warned.has(key)) {
    warned.add(key);
    console.warn(`chatwire: this browser has no ${missing}; storage '${storage}' works in one tab at a time ` +
      '(another tab opening it is refused)');
  }
  if (hasLocks) {
    const release = await holdLock(locks, `chatwire:${key}`, { ifAvailable: true });
    if (!release) throw inUse(storage, `no ${missing}`);
    return { shared: false, release };
  }
  return { shared: false, release: holdLease(key, storage, missing) };
}

// Requests the lock; resolves to its release function once granted, or to
// null when `ifAvailable` and another holder has it. The lock is held until
// release() (or until the page goes away).
function holdLock(locks, name, options = {}) {
  return new Promise((resolve, reject) => {
    locks.request(name, options, (lock) => {
      if (!lock) {
        resolve(null);
        return undefined;
      }
      return new Promise((done) => resolve(done));
    }).catch(reject);
  });
}

// Single tab without Web Locks: a lease in localStorage.
function holdLease(key, storage, missing) {
  const ls = globalThis.localStorage;
  if (!ls) return () => {};  // nothing to coordinate with: said so in the warning
  const item = `chatwire-lease:${key}`;
  const me = randomId();
  const read = () => {
    try { return JSON.parse(ls.getItem(item) ?? 'null'); } catch { return null; }
  };
  const held = read();
  if (held && held.owner !== me && held.until > Date.now()) throw inUse(storage, `no ${missing}`);
  const renew = () => ls.setItem(item, JSON.stringify({ owner: me, until: Date.now() + LEASE_MS }));
  renew();
  const timer = setInterval(renew, RENEW_MS);
  const drop = () => {
    clearInterval(timer);
    if (read()?.owner === me) ls.removeItem(item);
  };
  globalThis.addEventListener?.('pagehide', drop);
  return () => {
    globalThis.removeEventListener?.('pagehide', drop);
    drop();
  };
}

/**
 * One tab's end of a storage's coordination. `leader` says whether this tab
 * holds the lock now; `onLeadership` fires once when a follower's queued
 * request is granted. Messages go to every other tab of the storage.
 */
export class TabLink {
  #key;
  #locks;
  #channel = null;
  #release = null;
  #abort = new AbortController();
  #handlers = new Set();
  #onLeadership = null;
  #closed = false;
  leader = false;
  id = randomId();

  constructor(key, locks) {
    this.#key = key;
    this.#locks = locks;
  }

  get lockName() { return `chatwire:${this.#key}`; }

  async start() {
    this.#channel = new BroadcastChannel(`chatwire:${this.#key}`);
    this.#channel.onmessage = (e) => {
      for (const h of this.#handlers) h(e.data);
    };
    this.#release = await holdLock(this.#locks, this.lockName, { ifAvailable: true });
    this.leader = Boolean(this.#release);
    if (!this.leader) this.#queue();
  }

  // A follower waits in the lock's queue; the browser grants the lock when
  // the leader releases it: a close, a reload, a crash.
  #queue() {
    this.#locks.request(this.lockName, { signal: this.#abort.signal }, (lock) => {
      if (this.#closed) return undefined;
      this.leader = true;
      return new Promise((done) => {
        this.#release = done;
        this.#onLeadership?.();
      });
    }).catch(() => { /* aborted by close() */ });
  }

  /** Called once when this follower becomes the leader. */
  onLeadership(fn) { this.#onLeadership = fn; }

  /** Subscribes to every message of the other tabs; returns the unsubscribe function. */
  listen(fn) {
    this.#handlers.add(fn);
    return () => this.#handlers.delete(fn);
  }

  post(message) {
    if (this.#closed) return;
    try {
      this.#channel.postMessage({ ...message, from: this.id });
    } catch (err) {
      console.error('chatwire: could not post to the other tabs:', err);
    }
  }

  /** Leaves: the lock is released (a follower takes over) and the channel closed. */
  close() {
    if (this.#closed) return;
    this.#closed = true;
    this.#abort.abort();
    this.#release?.();
    this.#channel?.close();
    this.#handlers.clear();
  }
}
