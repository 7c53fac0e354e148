// ChatClient: one pump for both builds. The core's ClientSession (engine +
// SQLite store) decides everything; this class feeds it transport events and
// commands, then carries out what drain() returns: open/close a socket, write
// frames, fetch a ticket, run a tool, arm one timer, persist the store, and
// hand events to listeners. A platform object supplies what differs per build
// (the socket, where the database lives, page lifecycle hooks).
//
// In a browser, tabs that open the same storage share one live client: the
// leader tab runs the session; a follower tab has no session, forwards its
// commands to the leader and mirrors the leader's events and messages
// (platform.joinTabs, tabs.mjs). Takeover: when the leader's tab goes away a
// follower opens the persisted database itself and becomes the leader.
import { ChatError } from './errors.mjs';
import { openHttpStream } from './http-transport.mjs';
import {
  coreOptions, isObject, optionalFunction, optionalInteger, optionalNumber, optionalObject, optionalString,
} from './options.mjs';

const EVENTS = ['connection', 'message', 'thinking', 'delta', 'typing', 'component', 'error', 'system', 'history', 'update'];

function check(result) {
  if (result && result.ok === false) throw ChatError.fromCore(result.error);
  return result?.value;
}

// Turns the core's message JSON into the public, frozen message object.
function publicMessage(m) {
  if (m.error && !(m.error instanceof ChatError)) {
    m.error = new ChatError(m.error.code, m.error.message ?? m.error.error ?? '', {
      messageId: m.error.messageId, imageId: m.error.imageId, retryAfterMs: m.error.retryAfterMs,
    });
  }
  return Object.freeze(m);
}

/**
 * @param {object} platform
 *   native(): the loaded native module (ClientSessionNative)
 *   defaultStorage: 'memory' | 'indexeddb'
 *   openStorage(storage, options): Promise<{ path, journalMode, flush?(): void, close?(): Promise<void> }>
 *   openSocket(url, handlers, options): { send(text), close(code, reason), destroy?() }
 *   readImage(input): Promise<{ bytes: Uint8Array, mimeType?, filename?, id? }>
 *   watchLifecycle(handlers): () => void   (visibility / online / pagehide)
 *   storageKey?(storage): string | null   (which storage other tabs may share; null: none)
 *   joinTabs?(key, storage): Promise<{ shared, link?, release? }>   (tabs.mjs)
 *   newMessageId?(): string   (a UUID v4 for a follower's draft)
 */
export function createClientClass(platform) {
  const now = () => Date.now();

  // Opens the storage and a session on it (create(), and a tab taking over).
  async function openSession(storageName, config) {
    const native = await platform.ready();
    const storage = await platform.openStorage(storageName);
    const session = new native.ClientSessionNative();
    const error = session.open(JSON.stringify(config), storage.path, storage.journalMode ?? '', now());
    if (error) {
      await storage.close?.();
      throw ChatError.fromCore(error.error);
    }
    return { session, storage };
  }

  class ChatClient {
    #session;
    #storage;
    #options;
    #socket = null;
    #timer = null;
    #timerAt = null;
    #listeners = new Map(EVENTS.map((e) => [e, new Set()]));
    #tools = new Map();
    #messages = [];           // ordered public messages
    #index = new Map();       // id -> position in #messages
    #connection;
    #pumping = false;
    #again = false;
    #closed = false;
    #unwatch = () => {};
    #waiters = [];            // connect()/disconnect() promises waiting on a status
    // Tabs (browser, one storage in several tabs): 'solo' (no other tab can
    // share the storage), 'leader', 'follower', or 'starting' (taking over).
    #role = 'solo';
    #link = null;             // TabLink while shared
    #leaderId = null;         // follower: the tab it mirrors
    #synced = false;          // follower: the leader's snapshot has arrived
    #clientId = null;         // follower: the leader's clientId
    #calls = new Map();       // follower: callId -> { op, args, resolve, reject } awaiting the leader
    #pending = new Map();     // follower: messageId -> send args, until the leader has persisted it
    #wantConnect = false;     // this tab asked to be connected (a new leader connects then)
    #nextCall = 0;

    /** Use ChatClient.create(options). */
    constructor(token, session, storage, options) {
      if (token !== CREATE) throw new TypeError('use `await ChatClient.create(options)`');
      this.#session = session;
      this.#storage = storage;
      this.#options = options;
      this.#connection = session ? session.connection() : Object.freeze({
        status: 'idle', attempt: 0, nextRetryAt: null, conversationId: null });
      if (session) this.#reloadMessages();
      this.#unwatch = platform.watchLifecycle({
        visibility: (visible) => this.#guard(() => this.#command('visibility', { visible }).catch(() => {})),
        online: () => this.#guard(() => this.#command('online', {}).catch(() => {})),
        pagehide: () => this.#storage?.flush?.(true),
      });
    }

    /**
     * Opens the store and restores persisted messages, the outbox and the
     * clientId into memory. Does not connect: call connect().
     */
    static async create(options) {
      // Types here; the ranges and defaults are the core's (client_config.cc),
      // asked before any storage or tab is opened.
      const o = optionalObject(options, 'options');
      if (typeof o.url !== 'string' || !/^wss?:\/\//.test(o.url)) {
        throw new TypeError('options.url must be a ws:// or wss:// URL');
      }
      const storageName = optionalString(o.storage, 'options.storage', platform.defaultStorage);
      const ticket = optionalFunction(o.ticket, 'options.ticket');
      const reconnect = optionalObject(o.reconnect, 'options.reconnect');
      if (reconnect.delaysMs !== undefined &&
          (!Array.isArray(reconnect.delaysMs) || reconnect.delaysMs.some((d) => !Number.isInteger(d)))) {
        throw new TypeError('options.reconnect.delaysMs must be a non-empty array of integers >= 0');
      }
      const tools = optionalObject(o.tools, 'options.tools');
      const config = {
        url: o.url,
        heartbeatMs: optionalInteger(o.heartbeatMs, 'options.heartbeatMs'),
        useTickets: Boolean(ticket),
        transports: o.transports,  // the core checks the list
        toolTimeoutMs: optionalInteger(o.toolTimeoutMs, 'options.toolTimeoutMs'),
        reconnect: {
          maxAttempts: optionalInteger(reconnect.maxAttempts, 'options.reconnect.maxAttempts'),
          delaysMs: reconnect.delaysMs,
          minDelayMs: optionalInteger(reconnect.minDelayMs, 'options.reconnect.minDelayMs'),
          jitter: optionalNumber(reconnect.jitter, 'options.reconnect.jitter'),
        },
        limits: o.limits === undefined ? undefined : optionalObject(o.limits, 'options.limits'),
      };
      const native = await platform.ready();
      coreOptions(native.clientOptions(JSON.stringify(config)));
      const key = platform.storageKey?.(storageName) ?? null;
      const tabs = key && platform.joinTabs ? await platform.joinTabs(key, storageName) : null;
      const own = { ticket, WebSocket: o.WebSocket, fetch: o.fetch, config, storageName, release: tabs?.release };
      if (tabs?.shared && !tabs.link.leader) {
        const client = new ChatClient(CREATE, null, null, own);
        client.addTools(tools);
        await client.#follow(tabs.link);
        return client;
      }
      let opened;
      try {
        opened = await openSession(storageName, config);
      } catch (err) {
        tabs?.link?.close();
        tabs?.release?.();
        throw err;
      }
      const client = new ChatClient(CREATE, opened.session, opened.storage, own);
      client.addTools(tools);
      if (tabs?.shared) client.#lead(tabs.link);
      return client;
    }

    /** Persisted per installation; the same after a reload. */
    get clientId() { return this.#session ? this.#session.clientId() : this.#clientId; }
    /**
     * True when this client holds its storage and the socket; false in a
     * browser tab that follows another tab on the same storage (it sends
     * through that tab and mirrors it, and takes over when that tab closes).
     */
    get isLeader() { return this.#role === 'solo' || this.#role === 'leader'; }
    /** { status, attempt, nextRetryAt, conversationId } */
    get connection() { return this.#connection; }
    /** Every loaded message, in order; unchanged messages keep their identity. */
    get messages() { return this.#messages; }

    /** Subscribes to an event; returns the unsubscribe function. */
    on(event, fn) {
      const set = this.#listeners.get(event);
      if (!set) throw new TypeError(`unknown event '${event}' (${EVENTS.join(', ')})`);
      if (typeof fn !== 'function') throw new TypeError('listener must be a function');
      set.add(fn);
      return () => set.delete(fn);
    }

    off(event, fn) { this.#listeners.get(event)?.delete(fn); }

    /**
     * Starts connecting. Resolves once the first attempt has finished: the
     * status is then `open`, or `reconnecting` when it failed (the client keeps
     * trying on its own schedule).
     */
    connect() {
      this.#assertOpen();
      this.#wantConnect = true;
      this.#command('connect', {}).catch(() => {});
      return this.#waitStatus((s) => s !== 'connecting' && s !== 'idle');
    }

    /** A new cycle of attempts now (e.g. a "Reconnect" button after `failed`). */
    reconnect() {
      this.#assertOpen();
      this.#wantConnect = true;
      this.#command('reconnect', {}).catch(() => {});
      return this.#waitStatus((s) => s !== 'connecting' && s !== 'idle');
    }

    /** Sends `disconnect` and closes (1000); never reconnects until connect(). */
    disconnect() {
      this.#assertOpen();
      this.#wantConnect = false;
      this.#command('disconnect', {}).catch(() => {});
      return this.#waitStatus((s) => s === 'closed' || s === 'idle');
    }

    /**
     * Stores the message and sends it when a socket is open. Resolves with the
     * messageId once stored (offline too: status `queued`). Images: File/Blob,
     * Uint8Array/Buffer/ArrayBuffer, or { data, mimeType?, filename?, id? };
     * they are checked before anything is stored (ChatError 'image_invalid' or
     * 'too_large' naming the image).
     */
    async send(draft) {
      this.#assertOpen();
      if (!isObject(draft)) throw new TypeError('draft must be an object { content?, images? }');
      if (draft.content !== undefined && typeof draft.content !== 'string') {
        throw new TypeError('draft.content must be a string');
      }
      if (draft.images !== undefined && !Array.isArray(draft.images)) throw new TypeError('draft.images must be an array');
      const images = await Promise.all((draft.images ?? []).map((img, i) => platform.readImage(img, i)));
      this.#assertOpen();
      const meta = images.map((img) => ({ id: img.id, mimeType: img.mimeType, filename: img.filename }));
      const args = { draft: { content: draft.content, images: meta }, bytes: images.map((img) => img.bytes) };
      if (this.isLeader) return this.#execute('send', args);
      // A follower names its draft, so that handing it to a later leader
      // again (the core answers a stored messageId with that id) stores it
      // once; it keeps the draft until the leader says it is persisted.
      args.draft.messageId = platform.newMessageId();
      this.#pending.set(args.draft.messageId, args);
      try {
        return await this.#command('send', args);
      } catch (err) {
        this.#pending.delete(args.draft.messageId);
        throw err;
      }
    }

    /** Sends a failed message again with the same messageId. */
    async retry(messageId) {
      this.#assertOpen();
      await this.#command('retry', { id: String(messageId) });
    }

    /** Asks the server to stop the reply to `messageId` (a user's "stop"). */
    async cancel(messageId) {
      this.#assertOpen();
      await this.#command('cancel', { id: String(messageId) });
    }

    /**
     * The user acted on a component (a form's submit, a button): sends
     * `component_action` { componentId, action, values }. Resolves true when
     * sent, false when not connected (nothing is queued).
     */
    async submitComponent(componentId, action = 'submit', values = {}) {
      this.#assertOpen();
      if (typeof componentId !== 'string' || !componentId) throw new TypeError('componentId must be a non-empty string');
      if (typeof action !== 'string' || !action) throw new TypeError('action must be a non-empty string');
      if (!isObject(values)) throw new TypeError('values must be an object');
      return this.#command('submitComponent', { componentId, action, values });
    }

    /** Loads the page of messages before the oldest one loaded (local store first, then the server). */
    async loadOlder() {
      this.#assertOpen();
      await this.#command('loadOlder', {});
    }

    /** The user is typing (debounced by the core: one typing:true, false after 1 s idle). */
    setTyping(isTyping) {
      this.#assertOpen();
      this.#command('setTyping', { on: Boolean(isTyping) }).catch(() => {});
    }

    /** Adds client-side tools the assistant can call: { name: async (args) => result }. */
    addTools(tools) {
      this.#assertOpen();
      for (const [name, fn] of Object.entries(optionalObject(tools, 'tools'))) {
        if (typeof fn !== 'function') throw new TypeError(`tools.${name} must be a function`);
        this.#tools.set(name, fn);
      }
      // Tools run where the session is: in the leader tab (every tab of a
      // page registers the same tools, so whichever tab leads has them).
      this.#configureTools();
    }

    #configureTools() {
      const specs = [...this.#tools.entries()].map(([name, fn]) => ({
        name, description: fn.description ?? '', parameters: fn.parameters ?? { type: 'object' },
      }));
      this.#input((s) => s.configureTools(now(), JSON.stringify(specs)));
    }

    /**
     * Disconnects, persists and frees the engine and its store. Later calls
     * throw. In a leader tab, another tab on the same storage takes over; a
     * follower first waits (up to 1 s) until what it handed over is persisted.
     */
    async close() {
      if (this.#closed) return;
      if (this.#role === 'follower') {
        const until = now() + 1000;
        while (this.#pending.size && now() < until) await new Promise((r) => setTimeout(r, 20));
      } else if (!['closed', 'idle'].includes(this.#connection.status)) {
        await Promise.race([this.disconnect(), new Promise((r) => setTimeout(r, 1000))]);
      }
      this.#closed = true;
      this.#unwatch();
      clearTimeout(this.#timer);
      this.#socket?.socket.destroy?.();
      this.#socket = null;
      if (this.#session) {
        this.#storage.flush?.(true);
        this.#session.close();
        await this.#storage.close?.();
      }
      this.#link?.close();
      this.#options.release?.();
      for (const c of this.#calls.values()) c.reject(new TypeError('ChatClient is closed'));
      this.#calls.clear();
      for (const w of this.#waiters) w.resolve();
      this.#waiters = [];
    }

    // ------------------------------------------------------------------ commands

    // A command runs on the session here (solo, leader) or is handed to the
    // leader tab (follower); either way it resolves with the same value or
    // rejects with the same ChatError.
    #command(op, args) {
      this.#assertOpen();
      if (this.isLeader) {
        try {
          return Promise.resolve(this.#execute(op, args));
        } catch (err) {
          return Promise.reject(err);
        }
      }
      return new Promise((resolve, reject) => {
        const callId = `${this.#link.id}:${++this.#nextCall}`;
        this.#calls.set(callId, { op, args, resolve, reject });
        if (this.#role === 'follower' && this.#leaderId) this.#post({ t: 'call', to: this.#leaderId, callId, op, args });
      });
    }

    // Runs one command on the session (this tab holds it).
    #execute(op, args) {
      const s = this.#session;
      let result;
      switch (op) {
        case 'send':
          for (const bytes of args.bytes) s.stageImage(bytes);
          result = s.send(now(), JSON.stringify(args.draft));
          break;
        case 'retry': result = s.retry(now(), args.id); break;
        case 'cancel': result = s.cancel(now(), args.id); break;
        case 'submitComponent':
          result = s.submitComponent(now(), args.componentId, args.action, JSON.stringify(args.values));
          break;
        case 'loadOlder': {
          result = s.loadOlder(now());
          this.#pump();
          check(result);
          this.#reloadMessages();
          this.#emit('update', { messages: true });
          this.#post({ t: 'sync', messages: this.#wireMessages() });
          return undefined;
        }
        case 'setTyping': this.#input((x) => x.setTyping(now(), args.on)); return undefined;
        case 'connect': this.#input((x) => x.connect(now())); return undefined;
        case 'reconnect': this.#input((x) => x.reconnect(now())); return undefined;
        case 'disconnect': this.#input((x) => x.disconnect(now())); return undefined;
        case 'visibility': this.#input((x) => x.visibilityChanged(now(), args.visible)); return undefined;
        case 'online': this.#input((x) => x.online(now())); return undefined;
        default: throw new TypeError(`unknown command '${op}'`);
      }
      this.#pump();
      return check(result);
    }

    // ------------------------------------------------------------------ tabs

    #post(message) {
      if (this.#link && this.#role !== 'solo') this.#link.post(message);
    }

    // The messages as they cross to another tab (ChatError as plain data).
    #wireMessages() {
      return this.#messages.map((m) => (m.error instanceof ChatError ? { ...m, error: {
        code: m.error.code, message: m.error.message, messageId: m.error.messageId,
        imageId: m.error.imageId, retryAfterMs: m.error.retryAfterMs } } : m));
    }

    #snapshot() {
      return { clientId: this.clientId, connection: this.#connection, messages: this.#wireMessages() };
    }

    // Leader: answers followers' hellos with a snapshot and runs their commands.
    #lead(link) {
      this.#link = link;
      this.#role = 'leader';
      link.listen((msg) => this.#guard(() => this.#onTab(msg)));
      this.#post({ t: 'leader' });
    }

    // Follower: mirrors the leader; resolves once the first snapshot arrived
    // (or this tab became the leader meanwhile).
    #follow(link) {
      this.#link = link;
      this.#role = 'follower';
      link.listen((msg) => this.#guard(() => this.#onTab(msg)));
      link.onLeadership(() => this.#takeOver());
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new ChatError('internal',
          `the tab that holds options.storage '${this.#options.storageName}' did not answer within 15 s`)), 15000);
        this.#waiters.push({ synced: true, pred: () => this.#synced || this.isLeader, resolve: () => { clearTimeout(timer); resolve(); } });
        this.#post({ t: 'hello' });
      });
    }

    #onTab(msg) {
      if (this.#closed) return;
      if (this.isLeader) {
        if (msg.t === 'hello') this.#post({ t: 'snapshot', to: msg.from, ...this.#snapshot() });
        else if (msg.t === 'call' && msg.to === this.#link.id) this.#serve(msg);
        return;
      }
      if (this.#role !== 'follower') return;  // taking over: the others wait for our 'leader'
      if (msg.t === 'leader') {
        this.#leaderId = msg.from;
        this.#synced = false;
        this.#post({ t: 'hello' });
        this.#handOver();
        return;
      }
      if (msg.t === 'snapshot') {
        if (msg.to !== this.#link.id) return;
        if (this.#leaderId !== msg.from) {
          this.#leaderId = msg.from;
          this.#handOver();
        }
        this.#clientId = msg.clientId;
        this.#synced = true;
        this.#mirror(msg.messages, msg.connection);
        return;
      }
      if (msg.from !== this.#leaderId) return;
      switch (msg.t) {
        case 'events': if (this.#synced) this.#apply(msg.events); break;
        case 'sync': if (this.#synced) this.#mirror(msg.messages, null); break;
        case 'reply': {
          const c = msg.to === this.#link.id ? this.#calls.get(msg.callId) : undefined;
          if (!c) break;
          this.#calls.delete(msg.callId);
          if (msg.ok) c.resolve(msg.value);
          else c.reject(msg.error.type ? new TypeError(msg.error.message) : ChatError.fromCore(msg.error));
          break;
        }
        case 'persisted': for (const id of msg.ids) this.#pending.delete(id); break;
        default: break;
      }
    }

    // Follower, on a new leader: every unanswered command goes to it, and so
    // does every draft it has not persisted yet (stored once, by messageId).
    #handOver() {
      const inCalls = new Set();
      for (const [callId, c] of this.#calls) {
        if (c.op === 'send') inCalls.add(c.args.draft.messageId);
        this.#post({ t: 'call', to: this.#leaderId, callId, op: c.op, args: c.args });
      }
      for (const [id, args] of this.#pending) {
        if (inCalls.has(id)) continue;
        this.#post({ t: 'call', to: this.#leaderId, callId: `${this.#link.id}:${++this.#nextCall}`, op: 'send', args });
      }
    }

    // Leader: one follower's command.
    #serve(msg) {
      let reply;
      try {
        const value = this.#execute(msg.op, msg.args);
        reply = { ok: true, value };
      } catch (err) {
        reply = { ok: false, error: err instanceof ChatError
          ? { code: err.code, error: err.message, messageId: err.messageId, imageId: err.imageId, retryAfterMs: err.retryAfterMs }
          : { type: true, message: String(err?.message ?? err) } };
      }
      this.#post({ t: 'reply', to: msg.from, callId: msg.callId, ...reply });
      if (msg.op === 'send' && reply.ok) {
        // The follower keeps its draft until this: stored AND in IndexedDB.
        Promise.resolve(this.#storage.flush?.(true)).then((ok) => {
          if (ok !== false) this.#post({ t: 'persisted', ids: [reply.value] });
        });
      }
    }

    // Follower: the leader's messages (and connection) replace the mirror;
    // unchanged messages keep their identity.
    #mirror(messages, connection) {
      this.#reloadMessages(messages);
      const changed = { messages: true, connection: false };
      if (connection && JSON.stringify(connection) !== JSON.stringify(this.#connection)) {
        this.#connection = Object.freeze({ ...connection });
        changed.connection = true;
        this.#emit('connection', this.#connection);
      }
      this.#settleWaiters();
      this.#emit('update', changed);
    }

    // The leader's tab went away and the browser gave this tab the lock:
    // open the persisted database, run what this tab (and the old leader's
    // followers, once they hear from us) handed over, and connect.
    async #takeOver() {
      if (this.#closed) return;
      this.#role = 'starting';
      const wasConnected = !['idle', 'closed'].includes(this.#connection.status);
      let opened;
      try {
        opened = await openSession(this.#options.storageName, this.#options.config);
      } catch (err) {
        this.#role = 'follower';
        this.#emit('error', err instanceof ChatError ? err : new ChatError('internal', String(err?.message ?? err)));
        return;
      }
      if (this.#closed) {
        opened.session.close();
        return;
      }
      this.#session = opened.session;
      this.#storage = opened.storage;
      this.#role = 'leader';
      this.#leaderId = null;
      this.#reloadMessages();
      this.#connection = this.#session.connection();
      this.#configureTools();
      const calls = [...this.#calls.values()];
      this.#calls.clear();
      const answered = new Set();
      for (const c of calls) {
        if (c.op === 'send') answered.add(c.args.draft.messageId);
        try {
          c.resolve(this.#execute(c.op, c.args));
        } catch (err) {
          c.reject(err);
        }
      }
      for (const [id, args] of this.#pending) {
        if (answered.has(id)) continue;
        try {
          this.#execute('send', args);
        } catch (err) {
          this.#emit('error', err instanceof ChatError ? err : new ChatError('internal', String(err?.message ?? err)));
        }
      }
      const handed = [...this.#pending.keys()];
      Promise.resolve(this.#storage.flush?.(true)).then(() => { for (const id of handed) this.#pending.delete(id); });
      this.#emit('connection', this.#connection);
      this.#emit('update', { messages: true, connection: true });
      this.#post({ t: 'leader' });
      if (this.#wantConnect || wasConnected) this.#input((s) => s.connect(now()));
      this.#settleWaiters();
    }

    // ------------------------------------------------------------------ pump

    #assertOpen() {
      if (this.#closed) throw new TypeError('ChatClient is closed');
    }

    #input(fn) {
      if (this.#closed || !this.#session) return;
      fn(this.#session);
      this.#pump();
    }

    #pump() {
      if (this.#closed || !this.#session) return;
      if (this.#pumping) {
        this.#again = true;
        return;
      }
      this.#pumping = true;
      try {
        do {
          this.#again = false;
          const out = this.#session.drain();
          for (const action of out.actions) this.#act(action);
          // Followers apply the same events (posted before #apply, which
          // turns their errors into ChatError objects).
          if (out.events.length) this.#post({ t: 'events', events: out.events });
          this.#apply(out.events);
          if (out.events.some((e) => e.type === 'history')) this.#post({ t: 'sync', messages: this.#wireMessages() });
          this.#arm(out.timeout);
          if (out.flush) this.#storage.flush?.(false);
        } while (this.#again && !this.#closed);
      } finally {
        this.#pumping = false;
      }
    }

    #act(a) {
      switch (a.kind) {
        case 'open': this.#open(a.url, a.transport); break;
        case 'close': {
          const s = this.#socket;
          this.#socket = null;  // the engine is done with it: ignore its later events
          s?.socket.close(a.code, '');
          break;
        }
        case 'transmit': this.#socket?.socket.send(a.text); break;
        case 'fetch_ticket': this.#fetchTicket(); break;
        case 'run_tool': this.#runTool(a); break;
        default: break;
      }
    }

    #open(url, transport) {
      const entry = { socket: null };
      const mine = () => this.#socket === entry;
      const open = transport === 'http'
        ? (u, on, options) => openHttpStream(u, on, { fetch: options.fetch })
        : (u, on, options) => platform.openSocket(u, on, options);
      try {
        entry.socket = open(url, {
          // Socket callbacks run on the event loop: nothing may escape them
          // (an exception there ends a Node process).
          open: () => this.#guard(() => { if (mine()) this.#input((s) => s.handleOpen(now())); }),
          message: (text) => this.#guard(() => { if (mine()) this.#input((s) => s.handleFrame(now(), text)); }),
          close: (code, httpStatus) => this.#guard(() => {
            if (!mine()) return;
            this.#socket = null;
            this.#input((s) => s.handleClose(now(), code, httpStatus || 0));
          }),
        }, this.#options);
        this.#socket = entry;
      } catch (err) {
        // A URL the platform refuses outright counts as a failed attempt.
        queueMicrotask(() => this.#guard(() => this.#input((s) => s.handleClose(now(), 1006, 0))));
        this.#emit('error', err instanceof ChatError ? err : new ChatError('internal', String(err?.message ?? err)));
      }
    }

    async #fetchTicket() {
      let ok = false;
      let ticket = '';
      try {
        const t = await this.#options.ticket();
        ticket = typeof t === 'string' ? t : t?.ticket;
        ok = typeof ticket === 'string' && ticket.length > 0;
      } catch {
        ok = false;
      }
      this.#guard(() => this.#input((s) => s.handleTicket(now(), ok, ok ? ticket : '')));
    }

    async #runTool(a) {
      const fn = this.#tools.get(a.name);
      let result;
      let isError = false;
      try {
        if (!fn) throw new Error(`no tool named '${a.name}' on this client`);
        result = JSON.stringify((await fn(a.arguments)) ?? null);
      } catch (err) {
        isError = true;
        result = JSON.stringify(String(err?.message ?? err));
      }
      this.#guard(() => this.#input((s) => s.toolResult(now(), a.toolCallId, result, isError)));
    }

    #arm(deadline) {
      if (deadline === this.#timerAt) return;
      clearTimeout(this.#timer);
      this.#timerAt = deadline;
      if (deadline === null || deadline === undefined) return;
      this.#timer = setTimeout(() => {
        this.#timerAt = null;
        this.#guard(() => this.#input((s) => s.handleTimeout(now())));
      }, Math.max(0, deadline - now()));
      // A timer alone must not keep a Node process alive (sockets do).
      this.#timer.unref?.();
    }

    // ------------------------------------------------------------------ events

    #apply(events) {
      if (!events.length) return;
      const changed = { messages: false, connection: false };
      for (const e of events) {
        switch (e.type) {
          case 'connection': {
            const { type, ...state } = e;
            this.#connection = Object.freeze(state);
            changed.connection = true;
            this.#emit('connection', this.#connection);
            this.#settleWaiters();
            break;
          }
          case 'message': {
            const m = publicMessage(e.message);
            this.#put(m, e.replacesId);
            changed.messages = true;
            this.#emit('message', m);
            break;
          }
          case 'delta': {
            const pos = this.#findReply(e.replyTo);
            if (pos !== undefined) {
              const old = this.#messages[pos];
              const m = Object.freeze({ ...old, id: e.messageId ?? old.id, content: old.content + e.delta });
              this.#put(m, old.id !== m.id ? old.id : undefined);
              changed.messages = true;
            }
            this.#emit('delta', { replyTo: e.replyTo, messageId: e.messageId, index: e.index, delta: e.delta });
            break;
          }
          case 'history':
            this.#reloadMessages();  // a follower's list follows in the leader's 'sync'
            changed.messages = true;
            this.#emit('history', { hasMore: e.hasMore });
            break;
          case 'error': {
            const err = e.error;
            this.#emit('error', new ChatError(err.code, err.message ?? err.error ?? '', {
              messageId: err.messageId, imageId: err.imageId, retryAfterMs: err.retryAfterMs }));
            break;
          }
          default: {
            const { type, ...rest } = e;
            this.#emit(type, rest);
          }
        }
      }
      if (changed.messages || changed.connection) this.#emit('update', changed);
    }

    #put(m, replacesId) {
      let pos = this.#index.get(replacesId ?? m.id);
      if (pos === undefined && replacesId) pos = this.#index.get(m.id);
      const list = this.#messages.slice();
      if (pos === undefined) {
        this.#index.set(m.id, list.length);
        list.push(m);
      } else {
        if (replacesId && replacesId !== m.id) {
          this.#index.delete(replacesId);
          this.#index.set(m.id, pos);
        }
        list[pos] = m;
      }
      this.#messages = Object.freeze(list);
    }

    #findReply(replyTo) {
      for (let i = this.#messages.length - 1; i >= 0; i--) {
        const m = this.#messages[i];
        if (m.role === 'assistant' && m.replyTo === replyTo) return i;
      }
      return undefined;
    }

    // Full reload from the core (after history merges); unchanged messages keep
    // their identity so store selectors do not re-render them.
    #reloadMessages(given) {
      const fresh = given ?? this.#session?.messages();
      if (!fresh) return;
      const byId = new Map(this.#messages.map((m) => [m.id, m]));
      const list = fresh.map((m) => {
        const old = byId.get(m.id);
        const next = publicMessage(m);
        return old && sameMessage(old, next) ? old : next;
      });
      this.#messages = Object.freeze(list);
      this.#index = new Map(list.map((m, i) => [m.id, i]));
    }

    #emit(event, payload) {
      for (const fn of this.#listeners.get(event) ?? []) {
        try {
          fn(payload);
        } catch (err) {
          // A listener's (or store subscriber's) bug must neither break the pump
          // nor escape to the process, where it would end a Node client.
          reportListenerError(event, err);
        }
      }
    }

    // Runs a socket/timer callback; whatever it throws is reported, not rethrown.
    #guard(fn) {
      try {
        fn();
      } catch (err) {
        this.#emit('error', err instanceof ChatError ? err : new ChatError('internal', String(err?.message ?? err)));
      }
    }

    // Resolves when the status satisfies `pred` (now, or at a later change).
    #waitStatus(pred) {
      if (this.#closed || (this.#role !== 'follower' || this.#synced) && pred(this.#connection.status)) {
        return Promise.resolve();
      }
      return new Promise((resolve) => this.#waiters.push({ pred, resolve }));
    }

    #settleWaiters() {
      const status = this.#connection.status;
      this.#waiters = this.#waiters.filter((w) => (w.pred(status) ? (w.resolve(), false) : true));
    }
  }

  return ChatClient;
}

const CREATE = Symbol('ChatClient.create');

function reportListenerError(event, err) {
  try {
    console.error(`chatwire: a '${event}' listener threw:`, err);
  } catch {
    // console itself may be broken; the client keeps running either way
  }
}

function sameMessage(a, b) {
  return JSON.stringify(a) === JSON.stringify(b);
}
