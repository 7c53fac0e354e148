// Public types of chatwire (both builds). The protocol is in docs/protocol.md.

// ------------------------------------------------------------------ errors

/** PROTOCOL.md's error codes; `ChatError.code` is one of them. */
export type ErrorCode =
  | 'bad_json' | 'unknown_type' | 'invalid_field' | 'too_large' | 'image_invalid'
  | 'unauthorized' | 'rate_limited' | 'not_found' | 'internal' | 'unavailable' | 'conflict';

/**
 * The core's error codes (the same list as ErrorCode), read from the native
 * build: filled at import from the Node addon, by `init()` in the WebAssembly
 * build (empty before it); frozen once filled.
 */
export declare const ERROR_CODES: readonly ErrorCode[];

/** The one error class of chatwire. */
export declare class ChatError extends Error {
  constructor(code: ErrorCode, message: string, details?: { messageId?: string; imageId?: string; retryAfterMs?: number; cause?: unknown });
  readonly name: 'ChatError';
  readonly code: ErrorCode;
  readonly messageId?: string;
  readonly imageId?: string;
  readonly retryAfterMs?: number;
}

/** The error object the core returns in results (`error` holds the sentence). */
export interface CoreError {
  code: ErrorCode;
  error: string;
  messageId?: string;
  imageId?: string;
  retryAfterMs?: number;
}

// ------------------------------------------------------------------ init, images, codec

/** Which native build backs the imported entry point. */
export declare const backend: 'node' | 'wasm';

/** Loads the native part (WASM: fetch + compile; addon: no-op). Other calls need it done. */
export declare function init(): Promise<void>;

declare global {
  /**
   * Browser build only: a module compiled early by an inline script in the
   * page (`WebAssembly.compileStreaming(fetch(url))`), which `init()`
   * instantiates instead of fetching and compiling the .wasm again. Anything
   * else (missing, rejected, not a Module) is ignored. See README, "Faster
   * cold start".
   */
  // eslint-disable-next-line no-var
  var chatwireWasmModule: Promise<WebAssembly.Module | undefined> | WebAssembly.Module | undefined;
}

export type ImageMimeType = 'image/png' | 'image/jpeg' | 'image/gif' | 'image/webp';

/**
 * Type and size from the image's headers, after walking its structure far
 * enough to know it is that format (PNG chunks and CRCs to the first IDAT, JPEG
 * markers through SOF to SOS, GIF blocks to the trailer with every frame inside
 * the screen, WebP RIFF size and chunk layout; no pixel is decoded). Throws
 * ChatError('image_invalid') with the reason, e.g. for a file that is an image
 * only in its first bytes. Bytes after a complete image are not read.
 */
export declare function sniffImage(bytes: Uint8Array | ArrayBuffer | ArrayBufferView): {
  mimeType: ImageMimeType; width: number; height: number;
};

export type AudioMimeType = 'audio/wav' | 'audio/ogg' | 'audio/webm' | 'audio/mpeg';

/**
 * Type and duration from an audio file's headers, after walking its structure
 * far enough to know it is that format (WAV's RIFF chunks through 'fmt ' to
 * 'data', every Ogg page with its CRC and an OpusHead or Vorbis header, the
 * WebM EBML header, Info and audio Tracks up to the first Cluster, an MP3's
 * ID3v2 tag and two frame headers; no sample is decoded). `durationMs` is null
 * when the headers do not tell it (a MediaRecorder WebM). With
 * `options.mimeType`, the whole check a message's audio gets: that declared
 * type must match, and PROTOCOL.md's limits (10 MiB, 300 s) apply. Throws
 * ChatError('invalid_field') with the reason, or ChatError('too_large').
 */
export declare function sniffAudio(
  bytes: Uint8Array | ArrayBuffer | ArrayBufferView,
  options?: { mimeType?: string },
): { mimeType: AudioMimeType; durationMs: number | null };

export interface Limits {
  maxFrameBytes: number;       // 16 MiB: over it the socket is closed with 1009
  maxContentBytes: number;     // 32 KiB of UTF-8 text per message
  maxImages: number;           // 5 per message
  maxImageBytes: number;       // 8 MiB per image, decoded
  maxImageDimension: number;   // 8192 px, width and height
  maxAudioBytes: number;       // 10 MiB: a message's audio, decoded
  maxAudioDurationMs: number;  // 300,000 ms (300 s), where the headers tell it
  messagesPerSecond: number;   // 20
  messageBurst: number;        // 40
  maxTools: number;            // 128 tools in one configure_tools
  maxToolsBytes: number;       // 256 KiB: the tools array of one configure_tools, encoded
}

export type FrameDirection = 'client' | 'server';
export type Frame = { type: string; [field: string]: unknown };

/** The protocol codec, exactly as the server and client use it. */
export declare const codec: {
  /** Parses and validates a frame: direction 'client' = a frame clients send. */
  decode(text: string, options?: { direction?: FrameDirection; limits?: Partial<Limits> }):
    { ok: true; frame: Frame } | { ok: false; error: CoreError };
  /** Validates a frame object and returns its canonical text. */
  encode(frame: Frame, options?: { direction?: FrameDirection; limits?: Partial<Limits> }):
    { ok: true; text: string } | { ok: false; error: CoreError };
  /** PROTOCOL.md's limits with `overrides` applied; throws ChatError('invalid_field') on a bad value. */
  limits(overrides?: Partial<Limits>): Limits;
};

/** Fast base64 (standard alphabet, padded, strict: no whitespace). */
export declare const base64: {
  encode(bytes: Uint8Array | ArrayBuffer | ArrayBufferView): string;
  /** Throws ChatError('image_invalid') naming the offending offset. */
  decode(text: string): Uint8Array;
};

// ------------------------------------------------------------------ messages (store shapes)

export interface ImageAnalysis {
  imageId: string; description: string; category: string; condition: string;
  features: string[]; recommendations: string[];
}

export interface Citation {
  documentId: string; chunkId: string; filename: string;
  pageStart?: number; pageEnd?: number; score?: number;
}

export type MessageStatus = 'queued' | 'sent' | 'received' | 'processed' | 'failed';
export type ImageStatus = 'received' | 'processing' | 'analyzed';

export interface UserMessage {
  id: string; role: 'user'; content: string; createdAt: string;
  status: MessageStatus; error?: ChatError;
  images: { id: string; mimeType: string; filename?: string; width: number; height: number;
            status?: ImageStatus; analysis?: ImageAnalysis }[];
}

export interface ToolCallState {
  toolCallId: string; name: string; arguments: unknown;
  status: 'running' | 'done' | 'error'; result?: unknown; error?: string;
}

export interface AssistantMessage {
  id: string; role: 'assistant'; replyTo: string; createdAt: string;
  status: 'streaming' | 'complete' | 'cancelled' | 'failed';
  /** Streamed text so far; the final response replaces it. */
  content: string;
  thinking: string[];
  toolCalls: ToolCallState[];
  components: { componentId: string; component: string; props: unknown }[];
  citations: Citation[];
  imageAnalysis: ImageAnalysis[];
}

export type ChatMessage = UserMessage | AssistantMessage;

export type ConnectionStatus = 'idle' | 'connecting' | 'open' | 'reconnecting' | 'failed' | 'closed';

export interface ConnectionState {
  status: ConnectionStatus;
  /** Attempt number within the current outage (reconnecting / failed). */
  attempt: number;
  /** When the next attempt starts (ms since epoch), while reconnecting. */
  nextRetryAt: number | null;
  /** The transport of the current try or connection: 'websocket', or 'http' (the fallback); null when not connecting or open. */
  transport: 'websocket' | 'http' | null;
  conversationId: string | null;
}

// ------------------------------------------------------------------ client

export type ImageInput =
  | Uint8Array | ArrayBuffer | Blob
  | { data: Uint8Array | ArrayBuffer | Blob | string /* base64 */; mimeType?: ImageMimeType; filename?: string; id?: string };

export interface ReconnectOptions {
  /** Attempts per outage before `failed` (default 3). */
  maxAttempts?: number;
  /** Delay before attempt k (default [5000, 10000, 20000]; the last repeats). */
  delaysMs?: number[];
  /** Never less than this between attempts (default 5000). */
  minDelayMs?: number;
  /** 0..1: each delay is stretched by up to this fraction, at random (default 0). */
  jitter?: number;
}

/**
 * ChatClient.create's options. A value of the wrong type is a TypeError
 * naming the option; one outside its range (the core's, the same in both
 * builds: docs/security.md) a RangeError naming the option, its range and the
 * value, thrown before any storage is opened.
 */
export interface ChatClientOptions {
  url: string;
  /**
   * 'memory', a SQLite file path (Node), or 'indexeddb' / 'indexeddb:<name>'
   * (browser). A file holds one ChatClient at a time: a second one on it (this
   * process or another) is refused with ChatError 'invalid_field'. In a
   * browser, tabs on one IndexedDB storage share one live client (one leads,
   * the others follow it; see `isLeader`).
   */
  storage?: string;
  /** Returns a fresh one-use ticket; called before every connection attempt. */
  ticket?: () => Promise<string> | string;
  /** Longest ping interval (default 10000, at least 100); the server's heartbeatMs is used when shorter. Silence for 3x the interval in use is a lost socket. */
  heartbeatMs?: number;
  reconnect?: ReconnectOptions;
  tools?: Record<string, (args: any) => unknown | Promise<unknown>>;
  /** Bound on a client tool that never settles (default 30000). */
  toolTimeoutMs?: number;
  limits?: Partial<Limits>;
  /** WASM in Node: the WebSocket class to use (e.g. require('ws')). */
  WebSocket?: unknown;
  /** Transports to try, in order (default ['websocket', 'http']): a WebSocket that cannot be opened switches to the HTTP fallback at once (not a reconnect attempt); every later attempt tries the WebSocket first again. */
  transports?: Array<'websocket' | 'http'>;
  /** The fetch used by the HTTP fallback (default: globalThis.fetch). */
  fetch?: typeof fetch;
}

export type SystemEventKind = 'established' | 'lost' | 'restored' | 'reconnecting' | 'failed' | 'completed' | 'error' | 'info';

export interface ChatClientEvents {
  connection: (c: ConnectionState) => void;
  message: (m: ChatMessage) => void;
  thinking: (e: { replyTo: string; step: string }) => void;
  delta: (e: { replyTo: string; messageId: string; index: number; delta: string }) => void;
  typing: (e: { isTyping: boolean }) => void;
  component: (e: { replyTo: string; componentId: string; component: string; props: unknown }) => void;
  error: (e: ChatError) => void;
  system: (e: { kind: SystemEventKind; message: string }) => void;
}

export declare class ChatClient {
  /** Opens the store and restores persisted messages; does not connect. */
  static create(options: ChatClientOptions): Promise<ChatClient>;
  /** Persisted per installation; the same after a reload. */
  readonly clientId: string;
  /**
   * True when this client holds its storage and the socket. False in a
   * browser tab that follows another tab on the same storage: it sends
   * through that tab, mirrors its messages and events, and takes over
   * (becoming true) when that tab closes or crashes.
   */
  readonly isLeader: boolean;
  readonly connection: ConnectionState;
  readonly messages: readonly ChatMessage[];
  on<E extends keyof ChatClientEvents>(event: E, fn: ChatClientEvents[E]): () => void;
  off<E extends keyof ChatClientEvents>(event: E, fn: ChatClientEvents[E]): void;
  connect(): Promise<void>;
  /** Resolves with the messageId once stored (also offline: status 'queued'). */
  send(draft: { content?: string; images?: ImageInput[] }): Promise<string>;
  retry(messageId: string): Promise<void>;
  cancel(messageId: string): Promise<void>;
  /**
   * The user acted on a component (form submit, button): sends `component_action`.
   * Resolves true when sent, false when not connected (nothing is queued).
   * Rejects with ChatError 'not_found' for a componentId no loaded message carries.
   */
  submitComponent(componentId: string, action?: string, values?: Record<string, unknown>): Promise<boolean>;
  loadOlder(): Promise<void>;
  reconnect(): Promise<void>;
  setTyping(isTyping: boolean): void;
  addTools(tools: Record<string, (args: any) => unknown | Promise<unknown>>): void;
  disconnect(): Promise<void>;
  /** Disconnects and frees the native engine and store. */
  close(): Promise<void>;
}

// ------------------------------------------------------------------ server (Node only)

export interface IncomingImage {
  id: string; mimeType: ImageMimeType; filename?: string; width: number; height: number;
  size: number; data: Uint8Array;
}

export interface ToolSpec { name: string; description: string; parameters: unknown }

export interface IncomingMessage {
  messageId: string; conversationId: string; connectionId: string; clientId: string;
  userId: string | null; content: string; timestamp: string; images: IncomingImage[];
  /** The tools the client declared (configure_tools): what reply.callTool can ask it to run. */
  tools: readonly ToolSpec[];
  /** Version 1.1: what the client attached (`message.metadata`, at most 4 KiB of JSON); {} when none. */
  metadata: Record<string, unknown>;
  /** The message this one follows (null: a root). */
  parentId: string | null;
  /** Not filled in yet (always null): the message this one edits. */
  editOf: string | null;
  /** Not filled in yet (always false): true for another version of a reply (regenerate). */
  regenerate: boolean;
  /** The active branch before this message, oldest first, shaped to hand to a model. */
  history(options?: { limit?: number }): Promise<HistoryMessage[]>;
}

/** One message of IncomingMessage.history(). */
export interface HistoryMessage {
  role: 'user' | 'assistant';
  content: string;
  messageId: string;
  images?: { id: string; mimeType: string; filename?: string }[];
}

/** One page of ChatServer.listConversations() (the `conversations` frame's body). */
export interface ConversationPage {
  items: {
    conversationId: string; title?: string; createdAt: string; updatedAt: string; archived: boolean;
    metadata: Record<string, unknown>; lastMessage?: { role: 'user' | 'assistant'; content: string; timestamp: string };
  }[];
  hasMore: boolean;
  cursor?: string;
}

/**
 * The `reply` of an onMessage handler: everything one turn can send (docs/turns.md).
 * After the client cancelled, the streaming calls are accepted and send nothing.
 */
export interface Reply {
  /** Aborted when the client sends `cancel` for this message (never by a disconnect). */
  readonly signal: AbortSignal;
  /** An image's next status ('received' is sent by the server itself); false when dropped after a cancel. */
  imageStatus(imageId: string, status: 'processing' | 'analyzed'): boolean;
  /** A progress step (stored, replayed on resume); false when dropped after a cancel. */
  thinking(step: string): boolean;
  /** A piece of the reply text; returns its index (0, 1, ...), or -1 after a cancel. Never replayed. */
  delta(text: string): number;
  /** The assistant's typing indicator (sent automatically around the handler). */
  typing(isTyping: boolean): boolean;
  /** An interactive component; returns its componentId ('' after a cancel). */
  component(kind: string, props?: unknown): string;
  /**
   * Runs a client tool; resolves with its result, rejects with ChatError on its error or the timeout.
   * `timeoutMs`: default 30000, from 1 to 2^31-1 (a RangeError otherwise); both are the core's.
   */
  callTool(name: string, args?: unknown, options?: { timeoutMs?: number }): Promise<unknown>;
  /**
   * Ends the turn; `content` defaults to the streamed text. After a cancel: the streamed text with cancelled: true.
   * Resolves once the reply is committed to the store (with its seq) and sent, so work after
   * `await reply.respond()` is never repeated for a reply a crash lost; rejects with ChatError `internal`
   * if that commit fails (the reply was then not sent).
   */
  respond(response?: {
    content?: string; imageAnalysis?: ImageAnalysis[]; citations?: Citation[];
    /** Version 1.1: stored with the reply, sent as response.metadata (at most 4 KiB of JSON). */
    metadata?: Record<string, unknown>;
  }): Promise<void>;
  /** Names the turn's conversation (at most 200 characters, else ChatError too_large); a `conversation` frame to the owner. */
  setTitle(title: string): boolean;
}

/**
 * new ChatServer's options: the defaults and ranges are the core's
 * (docs/security.md lists them). The wrong type is a TypeError naming the
 * option; out of range, a RangeError naming it, its range and the value.
 */
export interface ChatServerOptions {
  host?: string;
  port?: number;
  path?: string;
  database?: string;
  auth?: {
    secret: string;
    authenticate: (req: { headers: Record<string, string>; body: string }) => Promise<{ userId: string } | null> | { userId: string } | null;
    ticketTtlMs?: number;
  };
  /** Advertised in connect_confirm (default 10000, or floor(heartbeatTimeoutMs / 3) when only that is given). */
  heartbeatMs?: number;
  /** Silence before close 4008 (default 3 x heartbeatMs); less than heartbeatMs throws a RangeError. */
  heartbeatTimeoutMs?: number;
  limits?: Partial<Limits>;
  /** Origins allowed to open a WebSocket (default: any). */
  allowedOrigins?: string[];
  /**
   * Most bytes the database file may grow to (default 0: no limit). Past it,
   * writes fail as on a full disk: clients get `unavailable`, /healthz 503.
   */
  maxDatabaseBytes?: number;
}

export declare class ChatServer {
  constructor(options?: ChatServerOptions);
  /** The bound port, after listen(). */
  readonly port: number;
  onMessage(handler: (msg: IncomingMessage, reply: Reply) => Promise<void> | void): this;
  onComponentAction(handler: (action: { componentId: string; action: string; values: unknown; conversationId: string; userId: string | null }, ctx: unknown) => Promise<void> | void): this;
  on(event: 'connection' | 'disconnect' | 'error', fn: (e: any) => void): this;
  listen(): Promise<void>;
  broadcast(target: { conversationId: string } | { userId: string }, event: Frame): number;
  /** One page of an owner's conversations, newest updatedAt first (limit 1..100, default 20). */
  listConversations(owner: { userId: string } | { clientId: string }, options?: { limit?: number; before?: string }): ConversationPage;
  /** Deletes a conversation and everything of it; rejects with ChatError not_found for an unknown id. */
  deleteConversation(conversationId: string): Promise<void>;
  close(): Promise<void>;
}

// ------------------------------------------------------------------ store (zustand)

/** A system event as the store keeps it: `at` is when it arrived (ms since the epoch). */
export interface SystemEvent { kind: SystemEventKind; message: string; at: number }

export interface ChatStoreState {
  messages: readonly ChatMessage[];
  connection: ConnectionState;
  /** Thinking steps per user messageId (also on each AssistantMessage.thinking); prototype-less, so any id (even `constructor`) is just a key. */
  thinking: Record<string, string[]>;
  /** The assistant's typing indicator. */
  typing: boolean;
  /** The last error event (a failed message also carries its error). */
  lastError: ChatError | null;
  /** The newest 50 system events (established, lost, reconnecting, restored, failed, completed, error), oldest first. */
  system: readonly SystemEvent[];
  /** The newest system event, or null before the first. */
  lastSystem: SystemEvent | null;
  setTyping(isTyping: boolean): void;
  send(draft: { content?: string; images?: ImageInput[] }): Promise<string>;
  retry(messageId: string): Promise<void>;
  cancel(messageId: string): Promise<void>;
  submitComponent(componentId: string, action?: string, values?: Record<string, unknown>): Promise<boolean>;
  reconnect(): Promise<void>;
  disconnect(): Promise<void>;
  loadOlder(): Promise<void>;
}

export interface ChatStore {
  getState(): ChatStoreState;
  getInitialState(): ChatStoreState;
  subscribe(listener: (state: ChatStoreState, prev: ChatStoreState) => void): () => void;
  setState(partial: Partial<ChatStoreState>): void;
}

/** A zustand/vanilla store over a client: pass it to zustand's useStore(store, selector). */
export declare function createChatStore(client: ChatClient): ChatStore;
