// Theory of operation
// ===================
//
// The client engine is a sans-I/O state machine (quinn-proto style): inputs
// are commands (connect, send, ...) and transport reports (handle_open,
// handle_frame, handle_close, handle_ticket, handle_timeout), each with the
// current time; outputs are polled: actions for the host (open / close /
// transmit / fetch_ticket / run_tool), the next timer deadline, and UI events
// as JSON text. Every input runs as ONE store batch (one SQLite transaction),
// so a crash never leaves half of what an input did.
//
// Connection
// ----------
// Status is what the UI sees (DESIGN.md); Phase is where the current try is:
//
//   Phase        meaning                                   status
//   none         no socket, nothing scheduled              idle | open* | failed | closed
//   ticket       fetch_ticket emitted, waiting             connecting | reconnecting
//   opening      open emitted, waiting for handle_open     connecting | reconnecting
//   handshake    `connect` written, waiting for confirm    connecting | reconnecting
//   confirmed    connect_confirm received                  open
//   waiting_retry  next attempt at nextRetryAt             reconnecting
//   (* only transiently inside one input)
//
// What each phase has (a socket, `connect` written, confirmed) is the phase
// table kPhases below; commands and inputs ask it rather than naming phases.
//
// Status transitions are data (kTransitions below); an input that has no row
// for the current status is ignored (commands ask accepts() first):
//
//   from \ input   connect     new_cycle   confirmed  attempt_failed  exhausted  lost          retry_due     disconnect
//   idle           connecting  connecting  .          .               .          .             .             closed
//   connecting     .           .           open       reconnecting    failed     .             .             closed
//   open           .           .           .          .               failed     reconnecting  .             closed
//   reconnecting   .           connecting  open       reconnecting    failed     .             reconnecting  closed
//   failed         connecting  connecting  .          .               .          .             .             closed
//   closed         connecting  connecting  .          .               .          .             .             closed
//
//   new_cycle: reconnect(), visible while failed, online while failed or
//   waiting to retry. A cycle starts with an immediate try that is not an
//   attempt (like connect()); when a try fails, attempt k = 1, 2, ... follows
//   after delay(k) = max(min_delay, delays[min(k-1, n-1)] * (1 + jitter * u));
//   when attempt max_attempts fails the status is failed. A connection that
//   was open and is lost (a close, or nothing received for 3 x heartbeat)
//   starts an outage: attempt 1 after delay(1). Reaching open resets the count.
//   A try fails on handle_close before confirm (a refused handshake included),
//   a failed ticket, a frame the codec refuses before the confirm (close 1002
//   at once: refuse_handshake), or no confirm within 3 x heartbeat_ms of its
//   start.
//   After the engine emits `close` it ignores that socket: the host must not
//   report events of a socket it was asked to close.
//
// While open: a ping every min(config heartbeatMs, the server's value from
// connect_confirm), and the connection is lost when nothing at all was
// received for 3 x that interval.
//
// Timers are one table (kTimers below), in the order handle_timeout runs
// them: try deadline, retry, liveness, ping, outbox hold, tool, typing idle.
// A row gives the deadline (armed with arm(), or derived from the outbox and
// the running tools) and what runs when it passes; poll_timeout is the
// earliest row.
//
// Files: client_engine.cc (the tables, batches, events, timers, frame
// dispatch), client_connection.cc (tries, handshake, reconnect, heartbeat,
// transport choice), client_outbox.cc (send, retry, confirm and error
// handling, typing, component actions, tools declaration),
// client_replies.cc (thinking, delta, response, tool calls, components,
// history, and the messages in memory).
//
// Messages and the outbox
// -----------------------
// send() validates, then stores the message (queued) and appends it to the
// outbox in one batch; it is written only after that batch commits. The
// outbox is flushed in order after every connect_confirm and whenever
// something is added while open: each entry is written once per socket
// (queued -> sent). A rate_limited or unavailable error holds its entry until retryAfterMs;
// entries behind a held one wait too, so the server sees the original order.
// confirm removes the entry and drops the image bytes. User states only move
// forward: queued < sent < received < processed; failed (an error naming the
// message) is terminal until retry(), which re-queues the same messageId.
//
// Seq bookkeeping: every seq'd server event advances lastSeq of the current
// conversation, persisted in the same batch. An event with seq <= lastSeq is a
// replay and is skipped, except confirm (applied only if it moves a message
// forward) and tool_call (answered from the stored result, never run again).
// Every handler is also idempotent on its own (a response for a finished
// reply, a known toolCallId or componentId, a delta index already applied).
//
// Replies: the assistant message of a turn is keyed by replyTo and appears
// with the first event of the turn. Its id is the server reply id once known
// (delta / response carry it); before that (thinking, tool_call, component
// first) it has the provisional id "reply:<replyTo>", and the message event
// that switches to the server id carries "replacesId". Deltas are assembled
// by index in memory (early ones held, duplicates dropped, gaps wait); a delta
// event carries the piece, never the text so far (that made a long reply
// O(n^2)); the response replaces the text. Deltas are not persisted on their own (the
// response always carries the whole text and deltas are never replayed).
//
// Order: messages have an integer local order (ord). Live messages are
// appended; messages learned from `history` are placed by seq among their
// conversation (store::make_room_for_seq). Memory holds a suffix of the
// store's order (the newest page, plus what load_older added); messages
// inserted anywhere but the end are followed by a `history` event, after which
// a UI store should re-read messages_json().
#include "core/protocol/queue.h"
#include "core/client/client_engine.h"

#include <algorithm>
#include <type_traits>

#include "core/client/client_config.h"
#include "core/client/client_internal.h"
#include "core/protocol/codec.h"
#include "core/protocol/engine_json.h"
#include "core/protocol/json.h"
#include "core/protocol/options_json.h"

namespace chatwire::client {

using store::StoredMessage;
using Status = ClientEngine::Status;
using namespace internal;  // NOLINT: this component's own internals

namespace {

using Input = ClientEngine::Input;

struct Transition {
  Status from;
  Input input;
  Status to;
};

// The status table (see the top of this file).
constexpr Transition kTransitions[] = {
    {Status::idle, Input::connect, Status::connecting},
    {Status::failed, Input::connect, Status::connecting},
    {Status::closed, Input::connect, Status::connecting},
    {Status::idle, Input::new_cycle, Status::connecting},
    {Status::reconnecting, Input::new_cycle, Status::connecting},
    {Status::failed, Input::new_cycle, Status::connecting},
    {Status::closed, Input::new_cycle, Status::connecting},
    {Status::connecting, Input::confirmed, Status::open},
    {Status::reconnecting, Input::confirmed, Status::open},
    {Status::connecting, Input::attempt_failed, Status::reconnecting},
    {Status::reconnecting, Input::attempt_failed, Status::reconnecting},
    {Status::connecting, Input::exhausted, Status::failed},
    {Status::reconnecting, Input::exhausted, Status::failed},
    {Status::open, Input::exhausted, Status::failed},
    {Status::open, Input::lost, Status::reconnecting},
    {Status::reconnecting, Input::retry_due, Status::reconnecting},
    {Status::idle, Input::disconnect, Status::closed},
    {Status::connecting, Input::disconnect, Status::closed},
    {Status::open, Input::disconnect, Status::closed},
    {Status::reconnecting, Input::disconnect, Status::closed},
    {Status::failed, Input::disconnect, Status::closed},
    {Status::closed, Input::disconnect, Status::closed},
};

std::optional<Status> next_status(Status from, Input input) {
  for (const auto& t : kTransitions) {
    if (t.from == from && t.input == input) return t.to;
  }
  return std::nullopt;
}

}  // namespace



// The phase table (see the top of this file), one row per Phase in order.
const ClientEngine::PhaseInfo& ClientEngine::phase() const {
  static constexpr PhaseInfo kPhases[] = {
      {Phase::none, false, false, false},   {Phase::ticket, false, false, false},
      {Phase::opening, true, false, false}, {Phase::handshake, true, true, false},
      {Phase::confirmed, true, true, true}, {Phase::waiting_retry, false, false, false},
  };
  return kPhases[static_cast<size_t>(phase_)];
}
bool ClientEngine::live() const { return phase().live; }
bool ClientEngine::accepts(Input input) const { return next_status(status_, input).has_value(); }
void ClientEngine::fire(Input input) {
  if (auto to = next_status(status_, input)) status_ = *to;
}

// The timer table (see the top of this file): handle_timeout runs the rows in
// this order, each reading its deadline afresh (a row may arm or disarm the
// ones after it).
const ClientEngine::TimerRow ClientEngine::kTimers[kTimerCount] = {
    {Timer::try_deadline, &ClientEngine::armed<Timer::try_deadline>, &ClientEngine::on_try_deadline},
    {Timer::retry, &ClientEngine::armed<Timer::retry>, &ClientEngine::on_retry_due},
    {Timer::liveness, &ClientEngine::armed<Timer::liveness>, &ClientEngine::on_silence},
    {Timer::ping, &ClientEngine::armed<Timer::ping>, &ClientEngine::on_ping_due},
    {Timer::outbox_hold, &ClientEngine::outbox_hold_deadline, &ClientEngine::flush_outbox},
    {Timer::tool, &ClientEngine::tool_deadline, &ClientEngine::on_tool_deadline},
    {Timer::typing_idle, &ClientEngine::armed<Timer::typing_idle>, &ClientEngine::on_typing_idle},
};

void ClientEngine::handle_timeout(int64_t now) {
  Batch batch(*this);
  for (const TimerRow& row : kTimers) {
    const std::optional<int64_t> at = (this->*row.deadline)();
    if (at && now >= *at) (this->*row.expire)(now);
  }
}

std::optional<int64_t> ClientEngine::poll_timeout() const {
  std::optional<int64_t> t;
  for (const TimerRow& row : kTimers) {
    const std::optional<int64_t> at = (this->*row.deadline)();
    if (at && (!t || *at < *t)) t = at;
  }
  return t;
}

// ------------------------------------------------------------------ message states

namespace internal {

namespace {

// The DESIGN.md name of each state, in enum order: the one place a state's
// string form is written (the store and JS read it).
constexpr const char* kUserStates[] = {"queued", "sent", "received", "processed", "failed"};
constexpr const char* kReplyStates[] = {"streaming", "complete", "cancelled", "failed"};
constexpr const char* kImageStates[] = {"", "received", "processing", "analyzed"};
constexpr const char* kToolStates[] = {"running", "done", "error"};

template <class E, size_t N>
std::optional<E> parse_state(const char* const (&names)[N], const std::string& s) {
  for (size_t i = 0; i < N; ++i) {
    if (s == names[i]) return static_cast<E>(i);
  }
  return std::nullopt;
}

}  // namespace

const char* state_name(UserState s) { return kUserStates[static_cast<size_t>(s)]; }
const char* state_name(ReplyState s) { return kReplyStates[static_cast<size_t>(s)]; }
const char* state_name(ImageState s) { return kImageStates[static_cast<size_t>(s)]; }
const char* state_name(ToolState s) { return kToolStates[static_cast<size_t>(s)]; }

std::optional<UserState> user_state(const std::string& s) { return parse_state<UserState>(kUserStates, s); }
ImageState image_state(const std::string& s) {
  return s.empty() ? ImageState::none : parse_state<ImageState>(kImageStates, s).value_or(ImageState::none);
}

void advance(StoredMessage& m, UserState s) {
  const auto now = user_state(m.status);
  if (now == UserState::failed) return;
  // An unknown state counts as before queued, as failed is off the line.
  if (!now || static_cast<int>(*now) < static_cast<int>(s)) set_state(m, s);
}

std::string fingerprint(const StoredMessage& m) {
  return store::message_to_json(m) + '\x1f' + std::to_string(m.seq) + '\x1f' + m.conversation_id + '\x1f' +
         std::to_string(m.ord);
}

ClientEngine::Action make_action(ClientEngine::Action::Kind kind) {
  ClientEngine::Action a{};
  a.kind = kind;
  return a;
}

Error invalid(const std::string& message) { return Error(ErrorCode::invalid_field, message); }

}  // namespace internal

const char* status_name(Status status) {
  switch (status) {
    case Status::idle: return "idle";
    case Status::connecting: return "connecting";
    case Status::open: return "open";
    case Status::reconnecting: return "reconnecting";
    case Status::failed: return "failed";
    case Status::closed: return "closed";
  }
  return "idle";
}


// ------------------------------------------------------------------ config

Result<ClientConfig> client_config_from_json(std::string_view json) {
  auto o = protocol::OptionsReader::parse(json, "options");
  if (!o) return o.error();
  ClientConfig c;
  // Each integer is read with its range (client_config.cc), `limits` by
  // parse_limits (the server's rules and text); check_client_config checks the rest.
  auto integer = [](const protocol::OptionsReader& r, const char* field, const char* name, auto& out) {
    const auto [min, max] = client_integer_range(name);
    int64_t v = out;
    auto e = r.integer(field, min, max, v);
    if (!e) out = static_cast<std::remove_reference_t<decltype(out)>>(v);
    return e;
  };
  for (auto e : {o->string("url", c.url), integer(*o, "heartbeatMs", "heartbeatMs", c.heartbeat_ms),
                 integer(*o, "toolTimeoutMs", "toolTimeoutMs", c.tool_timeout_ms),
                 integer(*o, "typingIdleMs", "typingIdleMs", c.typing_idle_ms),
                 integer(*o, "historyPage", "historyPage", c.history_page), o->strings("transports", c.transports),
                 o->boolean("useTickets", c.use_tickets)}) {
    if (e) return *e;
  }
  // Each of "websocket" / "http" at most once, and at least one.
  bool known = !c.transports.empty();
  for (size_t i = 0; i < c.transports.size(); ++i) {
    const std::string& t = c.transports[i];
    known = known && (t == "websocket" || t == "http") &&
            std::find(c.transports.begin(), c.transports.begin() + i, t) == c.transports.begin() + i;
  }
  if (!known) {
    return invalid("option 'transports' must be a non-empty list of 'websocket' and/or 'http', each at most once");
  }
  auto reconnect = o->object("reconnect");
  if (!reconnect) return reconnect.error();
  if (*reconnect) {
    const protocol::OptionsReader& r = **reconnect;
    for (auto e : {integer(r, "maxAttempts", "reconnect.maxAttempts", c.reconnect.max_attempts),
                   integer(r, "minDelayMs", "reconnect.minDelayMs", c.reconnect.min_delay_ms),
                   r.integers("delaysMs", 0, protocol::kMaxSafeInteger, c.reconnect.delays_ms),
                   r.number("jitter", c.reconnect.jitter)}) {
      if (e) return *e;
    }
  }
  if (o->has("limits")) {
    auto limits = parse_limits(o->text("limits"));
    if (!limits) return invalid("options." + limits.error().message);  // as the server's options say it
    c.limits = *limits;
  }
  return c;
}

// ------------------------------------------------------------------ construction

ClientEngine::ClientEngine(ClientConfig config, store::ClientStore& store, Entropy& entropy)
    : config_(std::move(config)), store_(store), entropy_(entropy), heartbeat_ms_(config_.heartbeat_ms) {}

ClientEngine::~ClientEngine() = default;

Result<std::unique_ptr<ClientEngine>> ClientEngine::create(ClientConfig config, store::ClientStore& store,
                                                           Entropy& entropy, int64_t now) {
  if (auto e = check_client_config(config)) return *e;
  if (store.in_transaction()) return Error(ErrorCode::internal, "the store has an open batch");
  std::unique_ptr<ClientEngine> engine(new ClientEngine(std::move(config), store, entropy));
  auto r = engine->restore(now);
  if (!r) return r.error();
  return engine;
}

Result<bool> ClientEngine::restore(int64_t now) {
  auto begun = store_.begin();
  if (!begun) return begun.error();
  auto fail = [&](const Error& e) -> Result<bool> {
    store_.rollback();
    return e;
  };
  auto id = store_.meta("clientId");
  if (!id) return fail(id.error());
  if (*id && !id->value().empty()) {
    client_id_ = **id;
  } else {
    client_id_ = uuid_v4(entropy_);
    auto w = store_.set_meta("clientId", client_id_);
    if (!w) return fail(w.error());
  }
  auto conv = store_.meta("conversationId");
  if (!conv) return fail(conv.error());
  conversation_id_ = conv->value_or("");
  if (!conversation_id_.empty()) {
    auto seq = store_.last_seq(conversation_id_);
    if (!seq) return fail(seq.error());
    last_seq_ = *seq;
  }
  auto outbox = store_.outbox();
  if (!outbox) return fail(outbox.error());
  outbox_ = std::move(*outbox);
  auto page = store_.newest_messages(config_.history_page);
  if (!page) return fail(page.error());
  for (auto& m : *page) messages_.push_back(std::move(m));
  // Every message still in the outbox is kept in memory (they are the newest
  // in practice; an offline burst longer than a page extends the suffix).
  for (const auto& entry : outbox_) {
    auto m = store_.find_message(entry.message_id);
    if (!m) return fail(m.error());
    if (*m && (messages_.empty() || (*m)->ord < messages_.front().ord)) {
      auto more = store_.messages_from((*m)->ord);
      if (!more) return fail(more.error());
      messages_.clear();
      for (auto& x : *more) messages_.push_back(std::move(x));
    }
  }
  auto next = store_.next_order();
  if (!next) return fail(next.error());
  next_ord_ = *next;
  auto c = store_.commit();
  if (!c) return fail(c.error());
  return true;
}

// ------------------------------------------------------------------ batches

void ClientEngine::begin_batch() {
  if (batch_depth_++ > 0) return;
  auto r = store_.begin();
  if (!r) store_error_ = r.error();
}

void ClientEngine::end_batch() {
  if (--batch_depth_ > 0) return;
  if (store_error_) {
    store_.rollback();
    Error e(ErrorCode::internal, "storage failed, the last change was not saved: " + store_error_->message);
    store_error_.reset();
    emit_error(e);
    return;
  }
  auto r = store_.commit();
  if (!r) {
    store_.rollback();
    emit_error(Error(ErrorCode::internal, "storage failed, the last change was not saved: " + r.error().message));
  }
}


// ------------------------------------------------------------------ events

void ClientEngine::emit(std::string json) { events_.push_back(std::move(json)); }

std::string ClientEngine::connection_json() const {
  protocol::EventWriter w;
  w.str("status", status_name(status_)).num("attempt", attempt_);
  if (auto at = armed<Timer::retry>()) {
    w.num("nextRetryAt", *at);
  } else {
    w.key("nextRetryAt").null();
  }
  if (phase().socket) {
    w.str("transport", config_.transports[transport_]);
  } else {
    w.key("transport").null();
  }
  w.str_or_null("conversationId", conversation_id_);
  return w.done();
}

void ClientEngine::emit_connection() {
  std::string c = connection_json();
  // {"status":...} -> {"type":"connection","status":...}
  emit("{\"type\":\"connection\"," + c.substr(1));
}

void ClientEngine::emit_system(const char* kind, const std::string& message) {
  protocol::EventWriter w;
  w.str("type", "system").str("kind", kind).str("message", message);
  emit(w.done());
}

void ClientEngine::emit_message(const StoredMessage& m) {
  protocol::EventWriter w;
  w.str("type", "message").raw("message", store::message_to_json(m));
  auto it = replaced_ids_.find(m.id);
  if (it != replaced_ids_.end()) {
    w.str("replacesId", it->second);
    replaced_ids_.erase(it);
  }
  emit(w.done());
}

void ClientEngine::emit_error(const Error& e) {
  protocol::EventWriter w;
  w.str("type", "error").key("error").error(e, "message");
  emit(w.done());
}

void ClientEngine::emit_history(bool has_more) {
  protocol::EventWriter w;
  w.str("type", "history").boolean("hasMore", has_more);
  emit(w.done());
}

std::optional<std::string> ClientEngine::poll_event() { return take_front(events_); }

std::optional<ClientEngine::Action> ClientEngine::poll_action() { return take_front(actions_); }

std::string ClientEngine::messages_json() const {
  std::string out = "[";
  bool first = true;
  for (const auto& m : messages_) {
    if (!first) out.push_back(',');
    first = false;
    out += store::message_to_json(m);
  }
  out.push_back(']');
  return out;
}

// ------------------------------------------------------------------ server frames

void ClientEngine::handle_frame(int64_t now, std::string_view text) {
  Batch batch(*this);
  if (!phase().connect_sent) return;  // not our socket
  if (live()) arm(Timer::liveness, now + 3 * heartbeat_ms_);
  auto decoded = protocol::decode_server_frame(text, config_.limits);
  if (!decoded) {
    if (!live() && decoded.error().code != ErrorCode::unknown_type) {
      refuse_handshake(now, text, decoded.error());
    } else {
      emit_error(decoded.error());
    }
    return;
  }
  const protocol::ServerFrame& frame = *decoded;
  if (const auto* c = std::get_if<protocol::ConnectConfirm>(&frame)) {
    on_confirm(now, *c);
    return;
  }
  const std::optional<int64_t> seq = protocol::seq_of(frame);
  const bool replay = seq && *seq <= last_seq_;
  if (replay && !std::holds_alternative<protocol::ToolCall>(frame) &&
      !std::holds_alternative<protocol::Confirm>(frame)) {
    return;  // applied before
  }
  std::visit(
      [&](const auto& f) {
        using T = std::decay_t<decltype(f)>;
        if constexpr (std::is_same_v<T, protocol::Confirm>) {
          on_confirm_frame(now, f, replay);
        } else if constexpr (std::is_same_v<T, protocol::Thinking>) {
          on_thinking(f);
        } else if constexpr (std::is_same_v<T, protocol::Delta>) {
          on_delta(f);
        } else if constexpr (std::is_same_v<T, protocol::Response>) {
          on_response(f);
        } else if constexpr (std::is_same_v<T, protocol::ToolCall>) {
          on_tool_call(now, f, replay);
        } else if constexpr (std::is_same_v<T, protocol::Component>) {
          on_component(f);
        } else if constexpr (std::is_same_v<T, protocol::TypingIndicator>) {
          protocol::EventWriter w;
          w.str("type", "typing").boolean("isTyping", f.is_typing);
          emit(w.done());
        } else if constexpr (std::is_same_v<T, protocol::History>) {
          on_history(f);
        } else if constexpr (std::is_same_v<T, protocol::ErrorEvent>) {
          on_error_frame(now, f);
        }
        // Pong: receiving it is all that matters (liveness).
      },
      frame);
  if (seq && *seq > last_seq_ && !conversation_id_.empty()) {
    last_seq_ = *seq;
    check(store_.set_last_seq(conversation_id_, last_seq_));
  }
}

}  // namespace chatwire::client
