// The chat client as a sans-I/O engine (PROTOCOL.md, DESIGN.md): connection
// state, reconnection, heartbeat, the outbox, seq bookkeeping, message and
// reply state, tool calls and typing. It opens no socket and reads no clock:
// the host (Node addon, WASM binding, tests) feeds it inputs with the time and
// carries out the actions it polls. See client_engine.cc for the theory of
// operation and the state table, docs/client-engine.md for the event shapes.
//
// The host loop, after every input:
//   while (auto a = engine.poll_action()) perform(*a);   // open, close, transmit, fetch_ticket, run_tool
//   while (auto e = engine.poll_event()) deliver(*e);    // JSON text for the UI
//   if (auto t = engine.poll_timeout()) arm_timer(*t);   // call handle_timeout(now) at/after *t
#ifndef CHATWIRE_CORE_CLIENT_CLIENT_ENGINE_H_
#define CHATWIRE_CORE_CLIENT_CLIENT_ENGINE_H_

#include <array>
#include <cstdint>
#include <deque>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "core/protocol/errors.h"
#include "core/protocol/ids.h"
#include "core/protocol/limits.h"
#include "core/protocol/messages.h"
#include "core/store/client_store.h"

namespace chatwire::client {

// When and how often to retry after a failed connection attempt.
struct ReconnectPolicy {
  int max_attempts = 3;                            // attempts per outage; 0: never retry
  std::vector<int64_t> delays_ms{5000, 10000, 20000};  // before attempt k: delays_ms[min(k-1, size-1)]
  int64_t min_delay_ms = 5000;                     // no delay is ever shorter
  double jitter = 0;  // 0..1: delay * (1 + jitter * u), u uniform in [0,1) from Entropy; never below min
};

struct ClientConfig {
  std::string url;              // ws(s)://host:port/ws/chat (may already have a query)
  int64_t heartbeat_ms = 10000; // ping interval until connect_confirm says otherwise
  ReconnectPolicy reconnect;
  bool use_tickets = false;     // fetch a ticket before every attempt
  // Transports to try, in order (PROTOCOL.md "HTTP fallback transport"):
  // every attempt starts with the first; a WebSocket that cannot be opened
  // (refused or failed before open) switches to "http" at once, within the
  // same attempt (not counted as a reconnect attempt).
  std::vector<std::string> transports{"websocket", "http"};
  Limits limits;                // what the server refuses; send() refuses the same
  int64_t tool_timeout_ms = 30000;
  int64_t typing_idle_ms = 1000;
  int history_page = 50;        // load_messages limit (1..200) and local page size
};

// Reads ClientConfig from the JS options as JSON text (camelCase):
// {"url","heartbeatMs","useTickets","toolTimeoutMs","typingIdleMs",
//  "historyPage","reconnect":{"maxAttempts","delaysMs","minDelayMs","jitter"},
//  "limits":{"maxFrameBytes","maxContentBytes","maxImages","maxImageBytes",
//  "maxImageDimension", ...}}. Absent fields keep the defaults; a field of the
// wrong type is invalid_field naming it. `limits` is read by parse_limits
// (the server's names and minimums); the other ranges are checked by
// ClientEngine::create. For the bindings, so no binding converts options.
Result<ClientConfig> client_config_from_json(std::string_view json);

class ClientEngine {
 public:
  // Connection status (DESIGN.md): exactly these six.
  enum class Status { idle, connecting, open, reconnecting, failed, closed };

  // What the host must do. `kind` says which fields are meaningful:
  //   open          open a WebSocket to `url`; report handle_open / handle_close
  //   close         close the current socket with `code` (`text`: the reason);
  //                 after this the engine ignores that socket's events
  //   transmit      write `text` as one text frame on the current socket
  //   fetch_ticket  run the ticket provider; answer with handle_ticket
  //   run_tool      run tool `tool_name` with `arguments_json` (JSON text);
  //                 answer with tool_result(tool_call_id, ...)
  struct Action {
    enum class Kind { open, close, transmit, fetch_ticket, run_tool } kind;
    std::string url;
    std::string transport;  // open: "websocket" | "http"
    int code = 0;
    std::string text;
    std::string tool_call_id, tool_name, arguments_json;
  };

  // Validates `config`, then restores the clientId (creating and persisting a
  // uuid v4 on first use), conversationId, lastSeq, the newest page of
  // messages and the outbox from `store`. Does not connect: call connect().
  // `store` and `entropy` must outlive the engine.
  static Result<std::unique_ptr<ClientEngine>> create(ClientConfig config, store::ClientStore& store,
                                                      Entropy& entropy, int64_t now);
  ~ClientEngine();
  ClientEngine(const ClientEngine&) = delete;
  ClientEngine& operator=(const ClientEngine&) = delete;

  // ---- commands

  // Starts connecting from idle, closed or failed (not counted as an attempt;
  // if it fails, attempt 1 follows after the first delay). Ignored otherwise.
  // Poll: fetch_ticket or open; a connection event.
  void connect(int64_t now);
  // Starts a new cycle of attempts now, from failed, reconnecting, closed (or
  // idle). Ignored while connecting or open. Poll as for connect().
  void reconnect(int64_t now);
  // Deliberate close: sends `disconnect` when a socket is open, closes it with
  // 1000, status closed; never reconnects by itself. Poll: transmit, close.
  void disconnect(int64_t now);
  // The page became visible (true) or hidden. Visible while failed starts a
  // new cycle of attempts. Poll as for connect().
  void visibility_changed(int64_t now, bool visible);
  // The browser reported `online`: while failed or waiting to retry, a new
  // cycle of attempts starts now. Poll as for connect().
  void online(int64_t now);

  // Sends a message. `draft_json`: {"content":"...","images":[{"id"?,
  // "mimeType"?,"filename"?}]}; `image_bytes`: the images' bytes, in order
  // (when the draft has no "images", one entry per byte string is assumed).
  // Validates everything the server would (content size, image count, each
  // image with media::check_image, the type sniffed when mimeType is absent,
  // the whole frame size) BEFORE storing: on error nothing is stored. Then
  // stores the message (queued) and its outbox entry in one batch and, when
  // open, writes it (sent). Returns the new messageId (uuid v4), or the
  // draft's "messageId" (a UUID) when it has one: a draft whose messageId is
  // already stored stores nothing and returns that id (idempotent resend).
  // Poll: a message event; transmit when open.
  Result<std::string> send(int64_t now, std::string_view draft_json, std::vector<std::string> image_bytes);
  // Sends a failed message again with the same messageId (queued, or sent
  // when open). Errors: not_found (unknown id), invalid_field (not failed, or
  // its image bytes are gone). Poll: a message event; transmit when open.
  Result<bool> retry(int64_t now, std::string_view message_id);
  // Asks the server to stop the reply to `message_id` (`cancel` frame).
  // Returns true when the frame was written, false when there is nothing to
  // cancel (not open, or the reply already ended). Error not_found for an
  // unknown user message. Poll: transmit.
  Result<bool> cancel(int64_t now, std::string_view message_id);
  // The user acted on a component (form submit, button): writes a
  // `component_action` frame. `values_json`: a JSON object ("" means {}).
  // Checked as the server would check the frame. Returns true when written,
  // false when not connected (nothing is queued: the user acts again).
  // Errors: not_found (no loaded message carries `component_id`), bad_json,
  // invalid_field, too_large. Poll: transmit.
  Result<bool> submit_component(int64_t now, std::string_view component_id, std::string_view action,
                                std::string_view values_json);
  // Loads older messages: the next page from the local store when it has
  // one (message events + a history event), otherwise, when open, asks the
  // server (`load_messages` with beforeSeq = the oldest known seq; its
  // `history` answer is merged). Returns true when anything was loaded or
  // requested. Poll: events; transmit.
  Result<bool> load_older(int64_t now);
  // The user is (true) or stopped (false) typing. Debounced: one typing:true
  // per burst, then typing:false after typing_idle_ms without a call (or at
  // once on false). Only sent while open. Poll: transmit; poll_timeout.
  void set_typing(int64_t now, bool typing);
  // Declares the host's tools: JSON array [{name, description, parameters}].
  // Sent now when open and after every connect_confirm. Invalid JSON or
  // fields: an error event (code invalid_field / bad_json), tools unchanged.
  void configure_tools(int64_t now, std::string_view tools_json);
  // The host finished a run_tool action. `result_json`: the result as JSON
  // text; with `is_error`, the error (a JSON string, or plain text). Stored,
  // then sent as `tool_result` when open (else re-sent when the server
  // replays the tool_call). Ignored for a call that already settled or timed
  // out. Poll: a message event; transmit.
  void tool_result(int64_t now, std::string_view tool_call_id, std::string_view result_json, bool is_error);

  // ---- transport inputs

  // Answer to a fetch_ticket action; nullopt when the provider failed (a
  // failed attempt). Poll: open, or a connection event.
  void handle_ticket(int64_t now, std::optional<std::string> ticket);
  // The socket from the last open action is open: sends `connect` and waits
  // for connect_confirm. Poll: transmit.
  void handle_open(int64_t now);
  // One text frame from the server. Malformed or unknown frames give an
  // error event, never a crash. Poll: events, actions.
  void handle_frame(int64_t now, std::string_view text);
  // The current socket closed (`code`), or the handshake was refused with
  // `http_status` (non-zero, e.g. 401). Before connect_confirm this is a failed
  // attempt; after it the connection is lost. Poll: events; poll_timeout.
  void handle_close(int64_t now, int code, int http_status);
  // Time passed: call at or after poll_timeout(). Runs every due timer.
  void handle_timeout(int64_t now);

  // ---- outputs

  // The next action for the host, in order; nullopt when none.
  std::optional<Action> poll_action();
  // The earliest deadline at which handle_timeout must be called; nullopt
  // when no timer is armed.
  std::optional<int64_t> poll_timeout() const;
  // The next UI event as JSON text (docs/client-engine.md); nullopt when none.
  std::optional<std::string> poll_event();

  // ---- queries

  // All loaded messages in order, as a JSON array of DESIGN.md messages.
  std::string messages_json() const;
  // {"status","attempt","nextRetryAt" (ms since the epoch, or null),"conversationId" (or null)}.
  std::string connection_json() const;
  // The persisted installation id.
  const std::string& client_id() const { return client_id_; }
  Status status() const { return status_; }

 private:
  // Delta assembly of one streaming reply: the next index to append and the
  // deltas that arrived early (held until the gap before them fills).
  struct Runtime {
    int64_t next_index = 0;
    std::map<int64_t, std::string> early;
  };
  // Where the current try is (the phase table in client_engine.cc says what
  // each phase has: a socket, `connect` written, confirmed).
  enum class Phase { none, ticket, opening, handshake, confirmed, waiting_retry };
  struct PhaseInfo;
  const PhaseInfo& phase() const;

  // The engine's timers, in the order handle_timeout runs them (the timer
  // table kTimers in client_engine.cc: each row's deadline and expiry).
  enum class Timer { try_deadline, retry, liveness, ping, outbox_hold, tool, typing_idle };
  static constexpr size_t kTimerCount = 7;
  struct TimerRow {
    Timer timer;
    std::optional<int64_t> (ClientEngine::*deadline)() const;  // nullopt: not armed
    void (ClientEngine::*expire)(int64_t now);                  // run once the deadline passed
  };
  static const TimerRow kTimers[kTimerCount];

 public:
  enum class Input;  // status table inputs (client_engine.cc)

 private:
  class Batch;  // one store transaction per input

  ClientEngine(ClientConfig config, store::ClientStore& store, Entropy& entropy);
  Result<bool> restore(int64_t now);

  // batches
  void begin_batch();
  void end_batch();
  template <class T>
  bool check(const Result<T>& r);

  // timers (client_engine.cc)
  void arm(Timer t, int64_t at) { timers_[static_cast<size_t>(t)] = at; }
  void disarm(Timer t) { timers_[static_cast<size_t>(t)].reset(); }
  template <Timer T>
  std::optional<int64_t> armed() const { return timers_[static_cast<size_t>(T)]; }
  std::optional<int64_t> outbox_hold_deadline() const;
  std::optional<int64_t> tool_deadline() const;
  void on_try_deadline(int64_t now);
  void on_retry_due(int64_t now);
  void on_silence(int64_t now);
  void on_ping_due(int64_t now);
  void on_tool_deadline(int64_t now);
  void on_typing_idle(int64_t now);

  // connection (client_connection.cc)
  void fire(Input input);
  bool accepts(Input input) const;  // the status table has a row for it
  void start_cycle(int64_t now);
  void start_try(int64_t now);
  void begin_transport(int64_t now);
  void open_now(const std::string& ticket);
  bool fall_back(int64_t now);
  void close_socket(int code, std::string reason);
  void attempt_failed(int64_t now, const std::string& why);
  void refuse_handshake(int64_t now, std::string_view text, const Error& e);
  void on_lost(int64_t now, const std::string& why, bool close);
  void schedule_retry(int64_t now);
  void on_confirm(int64_t now, const protocol::ConnectConfirm& c);
  void drop_socket();
  bool live() const;  // confirmed: commands may write frames
  void transmit(std::string text);
  void transmit(const protocol::ClientFrame& frame);
  std::string timestamp(int64_t now) const;

  // outbox (client_outbox.cc)
  void flush_outbox(int64_t now);
  void remove_from_outbox(const std::string& id, bool drop_bytes);
  void send_load_messages(std::optional<int64_t> before_seq);
  void on_confirm_frame(int64_t now, const protocol::Confirm& c, bool replay);
  void on_error_frame(int64_t now, const protocol::ErrorEvent& e);

  // replies (client_replies.cc)
  void on_thinking(const protocol::Thinking& t);
  void on_delta(const protocol::Delta& d);
  void on_response(const protocol::Response& r);
  void on_tool_call(int64_t now, const protocol::ToolCall& t, bool replay);
  void on_component(const protocol::Component& c);
  void on_history(const protocol::History& h);
  void settle_tool(int64_t now, const std::string& tool_call_id, std::optional<std::string> result_json,
                   std::optional<std::string> error);
  void send_tool_result(const store::ToolResultRecord& rec);
  void finish_reply(store::StoredMessage& m, const std::string& server_id, const std::string& content,
                    bool cancelled, int64_t seq, const std::optional<std::vector<protocol::Citation>>& citations,
                    const std::optional<std::vector<protocol::ImageAnalysis>>& analysis);

  // messages in memory (client_replies.cc)
  store::StoredMessage* find(std::string_view id);
  store::StoredMessage* find_reply(std::string_view reply_to);
  void ensure_loaded_from(int64_t ord);
  void place(store::StoredMessage m);
  store::StoredMessage& assistant_for(const std::string& reply_to, const std::string& server_id,
                                      const std::string& timestamp, bool* created);
  bool adoptable_id(const std::string& id);  // a server reply id that keeps ids unique
  void set_assistant_id(store::StoredMessage& m, const std::string& id);
  void save(store::StoredMessage& m);
  // Saves when the stored record changed, emits when the UI's record changed.
  void save_if_changed(store::StoredMessage& m, const std::string& before_json, const std::string& before_record);
  void apply_to_user(const std::string& reply_to, const std::optional<std::vector<protocol::ImageAnalysis>>& analysis);
  int64_t oldest_known_seq() const;

  // events (client_engine.cc)
  void emit(std::string json);
  void emit_connection();
  void emit_system(const char* kind, const std::string& message);
  void emit_message(const store::StoredMessage& m);
  void emit_error(const Error& e);
  void emit_history(bool has_more);

  ClientConfig config_;
  store::ClientStore& store_;
  Entropy& entropy_;

  std::string client_id_;
  std::string conversation_id_;
  int64_t last_seq_ = 0;

  // Loaded messages, ordered by ord: always a suffix of the store's order.
  // A list, so pointers to messages stay valid while others are inserted.
  std::list<store::StoredMessage> messages_;
  std::map<std::string, Runtime> runtime_;  // by assistant reply_to
  std::map<std::string, std::string> replaced_ids_;  // assistant id -> id it replaced (next event)
  int64_t next_ord_ = 0;
  std::vector<store::OutboxEntry> outbox_;
  std::set<std::string> written_;  // outbox ids written on the current socket

  // connection
  Status status_ = Status::idle;
  Phase phase_ = Phase::none;
  int attempt_ = 0;
  size_t transport_ = 0;  // index into config_.transports for the current try
  int64_t heartbeat_ms_ = 10000;  // from connect_confirm once open
  bool outage_ = false;  // lost since the last open: the next open is "restored"

  // Armed deadlines by Timer (outbox_hold and tool are derived from the
  // outbox and pending_tools_, their slots stay empty).
  std::array<std::optional<int64_t>, kTimerCount> timers_;

  // tools and typing
  std::optional<std::string> tools_frame_;
  std::map<std::string, int64_t> pending_tools_;  // toolCallId -> deadline
  bool typing_sent_ = false;

  // batches
  int batch_depth_ = 0;
  std::optional<Error> store_error_;

  std::deque<Action> actions_;
  std::deque<std::string> events_;
};

// The wire/UI name of a status, e.g. "reconnecting".
const char* status_name(ClientEngine::Status status);

}  // namespace chatwire::client

#endif  // CHATWIRE_CORE_CLIENT_CLIENT_ENGINE_H_
