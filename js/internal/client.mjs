// ChatClient: one pump for both builds. The core's ClientSession (engine +
// SQLite store) decides everything; this class feeds it transport events and
// commands, then carries out what drain() returns: open/close a socket, write
// frames, fetch a ticket, run a tool, arm one timer, persist the store, and
// hand events to listeners. A platform object supplies what differs per build
// (the socket, where the database lives, page lifecycle hooks).
import { ChatError } from './errors.mjs';
import { isObject, optionalFunction, optionalInteger, optionalNumber, optionalObject, optionalString } from './options.mjs';

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
 */
export function createClientClass(platform) {
  const now = () => Date.now();

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

    /** Use ChatClient.create(options). */
    constructor(token, session, storage, options) {
      if (token !== CREATE) throw new TypeError('use `await ChatClient.create(options)`');
      this.#session = session;
      this.#storage = storage;
      this.#options = options;
      this.#connection = session.connection();
      this.#reloadMessages();
      this.#unwatch = platform.watchLifecycle({
        visibility: (visible) => this.#guard(() => this.#input((s) => s.visibilityChanged(now(), visible))),
        online: () => this.#guard(() => this.#input((s) => s.online(now()))),
        pagehide: () => this.#storage.flush?.(true),
      });
    }

    /**
     * Opens the store and restores persisted messages, the outbox and the
     * clientId into memory. Does not connect: call connect().
     */
    static async create(options) {
      const o = optionalObject(options, 'options');
      if (typeof o.url !== 'string' || !/^wss?:\/\//.test(o.url)) {
        throw new TypeError('options.url must be a ws:// or wss:// URL');
      }
      const storageName = optionalString(o.storage, 'options.storage', platform.defaultStorage);
      const ticket = optionalFunction(o.ticket, 'options.ticket');
      const reconnect = optionalObject(o.reconnect, 'options.reconnect');
      if (reconnect.delaysMs !== undefined &&
          (!Array.isArray(reconnect.delaysMs) || !reconnect.delaysMs.length ||
           reconnect.delaysMs.some((d) => !Number.isInteger(d) || d < 0))) {
        throw new TypeError('options.reconnect.delaysMs must be a non-empty array of integers >= 0');
      }
      const tools = optionalObject(o.tools, 'options.tools');
      const config = {
        url: o.url,
        heartbeatMs: optionalInteger(o.heartbeatMs, 'options.heartbeatMs', undefined, 100),
        useTickets: Boolean(ticket),
        toolTimeoutMs: optionalInteger(o.toolTimeoutMs, 'options.toolTimeoutMs', undefined, 1),
        reconnect: {
          maxAttempts: optionalInteger(reconnect.maxAttempts, 'options.reconnect.maxAttempts', undefined, 0),
          delaysMs: reconnect.delaysMs,
          minDelayMs: optionalInteger(reconnect.minDelayMs, 'options.reconnect.minDelayMs', undefined, 0),
          jitter: optionalNumber(reconnect.jitter, 'options.reconnect.jitter', undefined, 0, 1),
        },
        limits: o.limits === undefined ? undefined : optionalObject(o.limits, 'options.limits'),
      };
      const native = await platform.ready();
      const storage = await platform.openStorage(storageName, o);
      const session = new native.ClientSessionNative();
      const error = session.open(JSON.stringify(config), storage.path, storage.journalMode ?? '', now());
      if (error) {
        await storage.close?.();
        throw ChatError.fromCore(error.error);
      }
      const client = new ChatClient(CREATE, session, storage, { ticket, WebSocket: o.WebSocket });
      client.addTools(tools);
      return client;
    }

    /** Persisted per installation; the same after a reload. */
    get clientId() { return this.#session.clientId(); }
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
      this.#input((s) => s.connect(now()));
      return this.#waitStatus((s) => s !== 'connecting' && s !== 'idle');
    }

    /** A new cycle of attempts now (e.g. a "Reconnect" button after `failed`). */
    reconnect() {
      this.#assertOpen();
      this.#input((s) => s.reconnect(now()));
      return this.#waitStatus((s) => s !== 'connecting' && s !== 'idle');
    }

    /** Sends `disconnect` and closes (1000); never reconnects until connect(). */
    disconnect() {
      this.#assertOpen();
      this.#input((s) => s.disconnect(now()));
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
      for (const img of images) this.#session.stageImage(img.bytes);
      const meta = images.map((img) => ({ id: img.id, mimeType: img.mimeType, filename: img.filename }));
      const result = this.#session.send(now(), JSON.stringify({ content: draft.content, images: meta }));
      this.#pump();
      return check(result);
    }

    /** Sends a failed message again with the same messageId. */
    async retry(messageId) {
      this.#assertOpen();
      const r = this.#session.retry(now(), String(messageId));
      this.#pump();
      check(r);
    }

    /** Asks the server to stop the reply to `messageId` (a user's "stop"). */
    async cancel(messageId) {
      this.#assertOpen();
      const r = this.#session.cancel(now(), String(messageId));
      this.#pump();
      check(r);
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
      const r = this.#session.submitComponent(now(), componentId, action, JSON.stringify(values));
      this.#pump();
      return check(r);
    }

    /** Loads the page of messages before the oldest one loaded (local store first, then the server). */
    async loadOlder() {
      this.#assertOpen();
      const r = this.#session.loadOlder(now());
      this.#pump();
      check(r);
      this.#reloadMessages();
      this.#emit('update', { messages: true });
    }

    /** The user is typing (debounced by the core: one typing:true, false after 1 s idle). */
    setTyping(isTyping) {
      this.#assertOpen();
      this.#input((s) => s.setTyping(now(), Boolean(isTyping)));
    }

    /** Adds client-side tools the assistant can call: { name: async (args) => result }. */
    addTools(tools) {
      this.#assertOpen();
      for (const [name, fn] of Object.entries(optionalObject(tools, 'tools'))) {
        if (typeof fn !== 'function') throw new TypeError(`tools.${name} must be a function`);
        this.#tools.set(name, fn);
      }
      const specs = [...this.#tools.entries()].map(([name, fn]) => ({
        name, description: fn.description ?? '', parameters: fn.parameters ?? { type: 'object' },
      }));
      this.#input((s) => s.configureTools(now(), JSON.stringify(specs)));
    }

    /** Disconnects, persists and frees the engine and its store. Later calls throw. */
    async close() {
      if (this.#closed) return;
      if (!['closed', 'idle'].includes(this.#connection.status)) {
        await Promise.race([this.disconnect(), new Promise((r) => setTimeout(r, 1000))]);
      }
      this.#closed = true;
      this.#unwatch();
      clearTimeout(this.#timer);
      this.#socket?.socket.destroy?.();
      this.#socket = null;
      this.#storage.flush?.(true);
      this.#session.close();
      await this.#storage.close?.();
      for (const w of this.#waiters) w.resolve();
      this.#waiters = [];
    }

    // ------------------------------------------------------------------ pump

    #assertOpen() {
      if (this.#closed) throw new TypeError('ChatClient is closed');
    }

    #input(fn) {
      if (this.#closed) return;
      fn(this.#session);
      this.#pump();
    }

    #pump() {
      if (this.#closed) return;
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
          this.#apply(out.events);
          this.#arm(out.timeout);
          if (out.flush) this.#storage.flush?.(false);
        } while (this.#again && !this.#closed);
      } finally {
        this.#pumping = false;
      }
    }

    #act(a) {
      switch (a.kind) {
        case 'open': this.#open(a.url); break;
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

    #open(url) {
      const entry = { socket: null };
      const mine = () => this.#socket === entry;
      try {
        entry.socket = platform.openSocket(url, {
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
            this.#reloadMessages();
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
    #reloadMessages() {
      const fresh = this.#session.messages();
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
      if (this.#closed || pred(this.#connection.status)) return Promise.resolve();
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
