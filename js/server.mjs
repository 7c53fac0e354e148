// ChatServer for Node backends. The native side (src/node/server.cc) runs the
// WebSocket and HTTP server (src/node/ws_server.cc) on Node's loop and the core's ServerHub, which answers
// connect, confirm, pong, errors, replay and limits without JS. JS is called
// only for what the application decides: the reply to a message, component
// actions, and who gets a ticket.
import { EventEmitter } from 'node:events';
import { ChatError } from './internal/errors.mjs';
import {
  assertOpen, coreOptions, isObject, optionalInteger, optionalObject, optionalString, requireFunction,
} from './internal/options.mjs';

function check(result) {
  if (!result.ok) throw ChatError.fromCore(result.error);
  return result.value;
}

/** @param {object} addon the native addon */
export function createServerClass(addon) {
  /** The `reply` argument of an onMessage handler: everything a turn can send. */
  class Reply {
    #server;
    #turn;
    #toolTimeout;
    constructor(server, turn, toolTimeout) {
      this.#server = server;
      this.#turn = turn;
      this.#toolTimeout = toolTimeout;
    }

    /** Aborted when the client cancels this message (never by a disconnect). */
    get signal() { return this.#turn.controller.signal; }

    /** Sends an image's next status: 'processing', then 'analyzed'. */
    imageStatus(imageId, status) {
      return check(this.#server._native().imageStatus(this.#turn.id, String(imageId), String(status)));
    }

    /**
     * Names the turn's conversation (at most 200 characters, else a ChatError
     * too_large): every connection of its owner gets a `conversation` frame.
     */
    setTitle(title) {
      if (typeof title !== 'string') throw new TypeError('title must be a string');
      return check(this.#server._native().setTitle(this.#turn.id, title));
    }

    /** Sends a thinking step ("Analyzing your request..."). */
    thinking(step) {
      if (typeof step !== 'string') throw new TypeError('step must be a string');
      return check(this.#server._native().thinking(this.#turn.id, step));
    }

    /** Streams a piece of the reply text; returns its index (-1 after a cancel). */
    delta(text) {
      if (typeof text !== 'string') throw new TypeError('text must be a string');
      return check(this.#server._native().delta(this.#turn.id, text));
    }

    /** Shows or hides the assistant's typing indicator. */
    typing(isTyping) {
      return check(this.#server._native().typing(this.#turn.id, Boolean(isTyping)));
    }

    /** Sends an interactive component (e.g. 'form') and returns its componentId. */
    component(kind, props = {}) {
      if (typeof kind !== 'string' || !kind) throw new TypeError('kind must be a non-empty string');
      return check(this.#server._native().component(this.#turn.id, kind, JSON.stringify(props ?? {})));
    }

    /**
     * Asks the client to run one of its tools; resolves with its result, rejects
     * with a ChatError carrying the tool's error, or on timeout (the core's
     * default, 30 s, unless options.timeoutMs says otherwise).
     */
    callTool(name, args = {}, options = {}) {
      if (typeof name !== 'string' || !name) throw new TypeError('name must be a non-empty string');
      // The default and the range are the core's (TurnPolicy, server_config.h).
      const { defaultMs, minMs, maxMs } = this.#toolTimeout;
      const timeoutMs = optionalInteger(optionalObject(options, 'options').timeoutMs, 'options.timeoutMs') ?? defaultMs;
      if (timeoutMs < minMs || timeoutMs > maxMs) {
        throw new RangeError(`options.timeoutMs must be an integer from ${minMs} to ${maxMs}, got ${timeoutMs}`);
      }
      const id = check(this.#server._native().toolCall(this.#turn.id, name, JSON.stringify(args ?? {})));
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          this.#turn.tools.delete(id);
          reject(new ChatError('internal', `tool '${name}' did not answer within ${timeoutMs} ms`));
        }, timeoutMs);
        this.#turn.tools.set(id, { name, resolve, reject, timer });
      });
    }

    /**
     * Ends the turn with the reply; `content` defaults to the streamed text.
     * Resolves once the reply is stored (committed with its seq) and sent:
     * work done after `await reply.respond()` never repeats for a reply lost
     * in a crash.
     */
    async respond(response = {}) {
      if (!isObject(response)) throw new TypeError('response must be an object');
      if (response.content !== undefined && typeof response.content !== 'string') {
        throw new TypeError('response.content must be a string');
      }
      if (response.metadata !== undefined && !isObject(response.metadata)) {
        throw new TypeError('response.metadata must be an object');
      }
      this.#turn.done = true;
      check(this.#server._native().respond(this.#turn.id, JSON.stringify(response)));
      await this.#server._stored();
    }
  }

  class ChatServer extends EventEmitter {
    #options;      // the core's reading of them: every option's value or default (no secret)
    #optionsJson;  // as given, for ServerNative
    #native = null;
    #messageHandler = null;
    #componentHandler = null;
    #turns = new Map();
    #tools = new Map();  // conversationId -> the tools of its last configure_tools (the core's "tools" event)
    #queue = [];
    #draining = false;
    #closed = false;
    #listening = false;
    #storedWaiters = [];  // { group, resolve, reject }: replies waiting for their commit

    /** See ChatServerOptions in index.d.ts; nothing is opened until listen(). */
    constructor(options = {}) {
      super();
      // Types here; ranges, defaults and how heartbeatMs / heartbeatTimeoutMs
      // relate are the core's (parse_server_config), asked before anything opens.
      const o = optionalObject(options, 'options');
      const auth = o.auth === undefined ? undefined : optionalObject(o.auth, 'options.auth');
      if (auth) {
        if (typeof auth.secret !== 'string') {
          throw new TypeError('options.auth.secret must be a string of at least 16 characters');
        }
        requireFunction(auth.authenticate, 'options.auth.authenticate');
      }
      if (o.allowedOrigins !== undefined &&
          (!Array.isArray(o.allowedOrigins) || o.allowedOrigins.some((x) => typeof x !== 'string'))) {
        throw new TypeError('options.allowedOrigins must be an array of strings');
      }
      this.#optionsJson = JSON.stringify({
        host: optionalString(o.host, 'options.host'),
        port: optionalInteger(o.port, 'options.port'),
        path: optionalString(o.path, 'options.path'),
        database: optionalString(o.database, 'options.database'),
        heartbeatMs: optionalInteger(o.heartbeatMs, 'options.heartbeatMs'),
        heartbeatTimeoutMs: optionalInteger(o.heartbeatTimeoutMs, 'options.heartbeatTimeoutMs'),
        limits: o.limits === undefined ? undefined : optionalObject(o.limits, 'options.limits'),
        auth: auth && {
          secret: auth.secret,
          ticketTtlMs: optionalInteger(auth.ticketTtlMs, 'options.auth.ticketTtlMs'),
        },
        allowedOrigins: o.allowedOrigins,
        maxConnectionsPerIp: optionalInteger(o.maxConnectionsPerIp, 'options.maxConnectionsPerIp'),
        retentionMs: optionalInteger(o.retentionMs, 'options.retentionMs'),
        retentionEvents: optionalInteger(o.retentionEvents, 'options.retentionEvents'),
        typingAroundHandler: o.typingAroundHandler === undefined ? undefined : Boolean(o.typingAroundHandler),
        maxDatabaseBytes: optionalInteger(o.maxDatabaseBytes, 'options.maxDatabaseBytes'),
      });
      this.#options = coreOptions(addon.serverOptions(this.#optionsJson));
      this.#authenticate = auth?.authenticate;
    }

    #authenticate;

    /** The bound port (after listen(); port 0 picks a free one). */
    get port() {
      return this.#native ? this.#native.port() : this.#options.port;
    }

    /** Sets the reply logic: `handler(msg, reply)` runs once per new message. */
    onMessage(handler) {
      this.#messageHandler = requireFunction(handler, 'handler');
      return this;
    }

    /** Sets the handler for a user's action on a component (form submit, button). */
    onComponentAction(handler) {
      this.#componentHandler = requireFunction(handler, 'handler');
      return this;
    }

    /** Starts listening (HTTP + WebSocket on one port). */
    async listen() {
      assertOpen(this.#closed, 'ChatServer');
      if (this.#listening) throw new TypeError('ChatServer is already listening');
      this.#native = new addon.ServerNative(
        this.#optionsJson,
        (events) => this.#onEvents(events),
        (request) => this.#onTicketRequest(request),
        (done) => this.#onStored(done),
      );
      const error = this.#native.listen();
      if (error) {
        this.#native.close();
        this.#native = null;
        throw new Error(`chatwire: cannot listen on ${this.#options.host}:${this.#options.port}: ${error}`);
      }
      this.#listening = true;
    }

    /**
     * Sends a server frame to every open connection of a conversation or of a
     * user; returns how many connections it reached. Stored and seq'd (so it
     * replays) unless it is a delta or typing.
     */
    broadcast(target, event) {
      if (!isObject(target) || (typeof target.conversationId !== 'string' && typeof target.userId !== 'string')) {
        throw new TypeError('target must be { conversationId } or { userId }');
      }
      if (!isObject(event)) throw new TypeError('event must be a frame object');
      return check(this._native().broadcast(JSON.stringify(target), JSON.stringify(event)));
    }

    /**
     * One page of an owner's conversations, newest first:
     * `{ items, hasMore, cursor? }` as the `conversations` frame has them.
     * `owner` is `{ userId }` (ticket users) or `{ clientId }`; `limit` 1..100
     * (default 20), `before` the previous page's cursor.
     */
    listConversations(owner, { limit, before } = {}) {
      if (!isObject(owner) || (typeof owner.userId !== 'string') === (typeof owner.clientId !== 'string')) {
        throw new TypeError('owner must be { userId } or { clientId }');
      }
      if (limit !== undefined && !Number.isInteger(limit)) throw new TypeError('limit must be an integer');
      const cursor = optionalString(before, 'before', '');
      return JSON.parse(check(this._native().listConversations(JSON.stringify(owner), limit ?? 20, cursor)));
    }

    /**
     * Deletes a conversation and everything of it; every connection of its
     * owner gets `conversation_deleted`. Rejects with not_found for an unknown id.
     */
    async deleteConversation(conversationId) {
      if (typeof conversationId !== 'string' || !conversationId) {
        throw new TypeError('conversationId must be a non-empty string');
      }
      check(this._native().deleteConversation(conversationId));
      await this._stored();
    }

    /** Stops listening, ends running turns as abandoned, closes every connection, frees everything. */
    async close() {
      if (this.#closed) return;
      this.#closed = true;
      for (const turn of this.#turns.values()) this.#settleTools(turn, new ChatError('internal', 'server closed'));
      const native = this.#native;
      this.#native = null;
      if (native) await native.close();
      // close() committed everything it could; a waiter left here never will be.
      for (const w of this.#storedWaiters.splice(0)) w.reject(new ChatError('internal', 'server closed before the reply was stored'));
    }

    /** @internal Resolves when what the native side did so far is committed. */
    _stored() {
      const group = this._native().stored();
      if (group === 0) return undefined;
      return new Promise((resolve, reject) => this.#storedWaiters.push({ group, resolve, reject }));
    }

    #onStored({ group, ok }) {
      const waiting = [];
      for (const w of this.#storedWaiters) {
        if (w.group > group) waiting.push(w);
        else if (ok || w.group < group) w.resolve();
        else w.reject(new ChatError('internal', 'the reply could not be stored (the database commit failed), so it was not sent'));
      }
      this.#storedWaiters = waiting;
    }

    /** @internal */
    _native() {
      if (!this.#native) throw new TypeError(this.#closed ? 'ChatServer is closed' : 'ChatServer is not listening');
      return this.#native;
    }

    // Native events arrive in batches, possibly while a command of ours is on the
    // stack; they are handled in order from a microtask so handlers never re-enter.
    #onEvents(events) {
      this.#queue.push(...events);
      if (!this.#draining) {
        this.#draining = true;
        queueMicrotask(() => this.#drain());
      }
    }

    #drain() {
      while (this.#queue.length) {
        const e = this.#queue.shift();
        try {
          this.#dispatch(e);
        } catch (err) {
          this.#reportError(err);
        }
      }
      this.#draining = false;
    }

    #dispatch(e) {
      switch (e.type) {
        case 'message': this.#runTurn(e); break;
        case 'cancel': this.#turns.get(e.turnId)?.controller.abort(new ChatError('internal', 'cancelled by the client')); break;
        case 'tool_result': this.#toolResult(e); break;
        case 'component_action': this.#componentAction(e); break;
        case 'connection': this.emit('connection', e); break;
        case 'disconnect': this.emit('disconnect', e); break;
        case 'tools':
          if (e.tools.length) this.#tools.set(e.conversationId, Object.freeze(e.tools));
          else this.#tools.delete(e.conversationId);
          break;
        // The store's own text of a failed write: for the server's log only
        // (the client got a generic 'unavailable').
        case 'store_error': this.#reportError(new ChatError('unavailable', `chatwire: database: ${e.error}`)); break;
        default: break;
      }
    }

    async #runTurn(e) {
      const turn = { id: e.turnId, controller: new AbortController(), tools: new Map(), done: false };
      this.#turns.set(turn.id, turn);
      const native = this.#native;
      const m = e.message;
      const msg = {
        messageId: m.messageId,
        conversationId: e.conversationId,
        connectionId: e.connectionId,
        clientId: e.clientId,
        userId: e.userId || null,
        content: m.content ?? '',
        timestamp: m.timestamp,
        images: (m.images ?? []).map((img) => ({ ...img, data: native.imageBytes(turn.id, img.id) })),
        // The tools the client declared (configure_tools): what reply.callTool can ask for.
        // One frozen array per configure_tools, shared by the messages that follow it.
        tools: this.#tools.get(e.conversationId) ?? [],
        // Version 1.1: the application's metadata and the message this one follows.
        metadata: m.metadata ?? {},
        parentId: m.parentId ?? null,
        editOf: m.editOf ?? null,
        regenerate: Boolean(m.regenerate),
        /**
         * The active branch before this message, oldest first, shaped for a
         * model: [{ role, content, images?, messageId }]. `limit`: the newest
         * that many (default all).
         */
        history: async (options = {}) => {
          const limit = optionalInteger(optionalObject(options, 'options').limit, 'options.limit');
          if (!this.#native) throw new TypeError('ChatServer is closed');
          const r = this.#native.turnHistory(turn.id, limit);
          // The core checks the range before the turn: its invalid_field is the argument's.
          if (!r.ok && r.error.code === 'invalid_field') throw new RangeError(r.error.error);
          return JSON.parse(check(r));
        },
      };
      const reply = new Reply(this, turn, this.#options.toolTimeout);
      // What a turn left without a reply gets is the core's (TurnPolicy, server_config.h).
      const { unanswered, failed } = this.#options.turnEnd;
      try {
        if (!this.#messageHandler) throw new Error('no onMessage handler is set');
        await this.#messageHandler(msg, reply);
        if (!turn.done && this.#native) {
          if (turn.controller.signal.aborted) {
            check(native.respond(turn.id, '{}'));  // the core sends the cancelled reply, or nothing
          } else {
            check(native.fail(turn.id, unanswered.code, unanswered.error));
            this.#reportError(new Error(`onMessage handler for ${m.messageId} returned without reply.respond()`));
          }
        }
      } catch (err) {
        if (!turn.done && this.#native) {
          turn.done = true;
          if (turn.controller.signal.aborted) {
            check(native.respond(turn.id, '{}'));
          } else {
            // The client sees a generic text: the handler's error may hold secrets.
            check(native.fail(turn.id, failed.code, failed.error));
            this.#reportError(err);
          }
        }
      } finally {
        // (an Error captures a stack trace: only made when a tool call is still pending)
        if (turn.tools.size) this.#settleTools(turn, new ChatError('internal', 'the turn ended'));
        this.#turns.delete(turn.id);
      }
    }

    #toolResult(e) {
      const turn = this.#turns.get(e.turnId);
      const pending = turn?.tools.get(e.toolCallId);
      if (!pending) return;
      turn.tools.delete(e.toolCallId);
      clearTimeout(pending.timer);
      if (e.error !== undefined) pending.reject(new ChatError('internal', `tool '${pending.name}' failed: ${e.error}`));
      else pending.resolve(e.result);
    }

    #settleTools(turn, error) {
      for (const p of turn.tools.values()) {
        clearTimeout(p.timer);
        p.reject(error);
      }
      turn.tools.clear();
    }

    async #componentAction(e) {
      if (!this.#componentHandler) return;
      const action = { componentId: e.componentId, action: e.action, values: e.values,
        conversationId: e.conversationId, connectionId: e.connectionId, userId: e.userId || null };
      const ctx = {
        conversationId: e.conversationId,
        userId: e.userId || null,
        broadcast: (event) => this.broadcast({ conversationId: e.conversationId }, event),
      };
      try {
        await this.#componentHandler(action, ctx);
      } catch (err) {
        this.#reportError(err);
      }
    }

    // POST /api/ticket: the application decides who gets one; the core signs it.
    async #onTicketRequest(request) {
      let userId = null;
      try {
        const who = await this.#authenticate?.({ method: request.method, path: request.path,
          headers: request.headers, body: request.body });
        if (who && typeof who.userId === 'string' && who.userId) userId = who.userId;
      } catch (err) {
        this.#reportError(err);
      }
      this.#native?.ticketResponse(request.id, userId);
    }

    #reportError(err) {
      if (this.listenerCount('error') > 0) this.emit('error', err);
      else console.error('chatwire ChatServer:', err);
    }
  }

  return ChatServer;
}
