// The connection: tries and attempts, the ticket, the transport choice, the
// handshake, reconnecting, and the heartbeat once open (the theory of
// operation is at the top of client_engine.cc).
#include <algorithm>
#include <cmath>

#include "core/client/client_engine.h"
#include "core/client/client_internal.h"
#include "core/protocol/codec.h"
#include "core/protocol/engine_json.h"
#include "core/protocol/time.h"

namespace chatwire::client {

using namespace internal;  // NOLINT: this component's own internals

namespace {

// What a server may ask for, whatever it sends: heartbeatMs is added to `now`,
// and a hostile value (2^63 - 1) would overflow (UB; found by
// tests/fuzz/fuzz_client_engine). A day between pings is already far past any
// sane server.
constexpr int64_t kMinServerHeartbeatMs = 100;
constexpr int64_t kMaxServerHeartbeatMs = 24LL * 3600 * 1000;

std::string url_encode(std::string_view s) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
        c == '_' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

}  // namespace

std::string ClientEngine::timestamp(int64_t now) const { return format_timestamp(now); }

void ClientEngine::transmit(std::string text) {
  Action a = make_action(Action::Kind::transmit);
  a.text = std::move(text);
  actions_.push_back(std::move(a));
}

void ClientEngine::transmit(const protocol::ClientFrame& frame) { transmit(protocol::encode(frame)); }

void ClientEngine::close_socket(int code, std::string reason) {
  Action a = make_action(Action::Kind::close);
  a.code = code;
  a.text = std::move(reason);
  actions_.push_back(std::move(a));
}

void ClientEngine::drop_socket() {
  phase_ = Phase::none;
  for (Timer t : {Timer::try_deadline, Timer::liveness, Timer::ping, Timer::typing_idle}) disarm(t);
  written_.clear();
  typing_sent_ = false;
}

// ------------------------------------------------------------------ commands

void ClientEngine::connect(int64_t now) {
  Batch batch(*this);
  if (!accepts(Input::connect)) return;
  fire(Input::connect);
  attempt_ = 0;
  disarm(Timer::retry);
  emit_connection();
  start_try(now);
}

void ClientEngine::start_cycle(int64_t now) {
  attempt_ = 0;
  disarm(Timer::retry);
  fire(Input::new_cycle);
  emit_connection();
  start_try(now);
}

void ClientEngine::reconnect(int64_t now) {
  Batch batch(*this);
  if (!accepts(Input::new_cycle)) return;  // connecting or open
  if (status_ == Status::reconnecting && phase_ != Phase::waiting_retry) {
    // A try is already under way: let it finish, but count a new cycle.
    attempt_ = 0;
    fire(Input::new_cycle);
    emit_connection();
    return;
  }
  start_cycle(now);
}

void ClientEngine::visibility_changed(int64_t now, bool visible) {
  Batch batch(*this);
  if (visible && status_ == Status::failed) start_cycle(now);
}

void ClientEngine::online(int64_t now) {
  Batch batch(*this);
  if (status_ == Status::failed || phase_ == Phase::waiting_retry) start_cycle(now);
}

void ClientEngine::disconnect(int64_t now) {
  Batch batch(*this);
  if (status_ == Status::closed) return;
  if (phase().connect_sent) transmit(protocol::Disconnect{client_id_, timestamp(now)});
  if (phase().socket) close_socket(1000, "disconnect");
  drop_socket();
  attempt_ = 0;
  disarm(Timer::retry);
  outage_ = false;  // a later connect() is a fresh start, not a restore
  fire(Input::disconnect);
  emit_connection();
  emit_system("completed", "Disconnected");
}

// ------------------------------------------------------------------ a try

void ClientEngine::start_try(int64_t now) {
  transport_ = 0;  // every try starts with the first transport (the WebSocket)
  begin_transport(now);
}

// The current transport's part of a try: its own deadline, a ticket first
// when tickets are used (they are single-use), then the open action.
void ClientEngine::begin_transport(int64_t now) {
  arm(Timer::try_deadline, now + 3 * config_.heartbeat_ms);
  if (config_.use_tickets) {
    phase_ = Phase::ticket;
    actions_.push_back(make_action(Action::Kind::fetch_ticket));
  } else {
    open_now(std::string());
  }
}

void ClientEngine::open_now(const std::string& ticket) {
  phase_ = Phase::opening;
  Action a = make_action(Action::Kind::open);
  a.url = config_.url;
  if (!ticket.empty()) {
    const char sep = config_.url.find('?') == std::string::npos ? '?' : '&';
    a.url += sep;
    a.url += "ticket=" + url_encode(ticket);
  }
  a.transport = config_.transports[transport_];
  actions_.push_back(std::move(a));
}

// The WebSocket of this try could not be opened: the next transport, now,
// in the same try. False when there is none left.
bool ClientEngine::fall_back(int64_t now) {
  if (transport_ + 1 >= config_.transports.size()) return false;
  ++transport_;
  drop_socket();
  emit_system("info", "The WebSocket could not be opened; trying " + config_.transports[transport_]);
  begin_transport(now);
  emit_connection();
  return true;
}

void ClientEngine::handle_ticket(int64_t now, std::optional<std::string> ticket) {
  Batch batch(*this);
  if (phase_ != Phase::ticket) return;  // late answer for an abandoned try
  if (!ticket) {
    emit_system("error", "Could not get a connection ticket");
    attempt_failed(now, "ticket provider failed");
    return;
  }
  open_now(*ticket);
}

void ClientEngine::handle_open(int64_t now) {
  Batch batch(*this);
  if (phase_ != Phase::opening) return;
  phase_ = Phase::handshake;
  protocol::Connect c;
  c.client_id = client_id_;
  c.timestamp = timestamp(now);
  if (!conversation_id_.empty()) {
    c.conversation_id = conversation_id_;
    c.last_seq = last_seq_;
  }
  transmit(c);
}

void ClientEngine::handle_close(int64_t now, int code, int http_status) {
  Batch batch(*this);
  if (!phase().socket) return;  // no socket of ours
  if (live()) {
    on_lost(now, "closed with code " + std::to_string(code), false);
    return;
  }
  if (!phase().connect_sent && fall_back(now)) return;  // never opened: the next transport
  std::string why = http_status != 0 ? "handshake refused with HTTP " + std::to_string(http_status)
                                     : "closed before confirm (code " + std::to_string(code) + ")";
  if (http_status != 0) emit_system("error", "Connection refused (HTTP " + std::to_string(http_status) + ")");
  attempt_failed(now, why);
}

// A frame the codec refuses while waiting for connect_confirm (issue 14.14:
// `heartbeatMs: 0`): this server cannot be followed, so the try fails now
// instead of at its deadline. The socket is closed with 1002 (protocol error)
// and the next attempt follows the normal backoff. A frame of an unknown type
// is not a refusal (a newer server may send one); it waits as before.
void ClientEngine::refuse_handshake(int64_t now, std::string_view text, const Error& e) {
  const std::string type = protocol::peek_frame_type(text, config_.limits);
  const std::string what = type == "connect_confirm" ? "the server's connect_confirm is invalid"
                           : type.empty()              ? "a frame from the server before connect_confirm is unreadable"
                                                       : "the server's " + type + " before connect_confirm is invalid";
  const std::string why = what + " (" + e.message + ")";
  emit_error(Error(e.code, why + "; the connection attempt failed"));
  emit_system("error", "Connection failed: " + why);
  close_socket(1002, "protocol error");
  attempt_failed(now, why);
}

void ClientEngine::on_try_deadline(int64_t now) {
  if (phase().socket) close_socket(4008, "connect timeout");
  attempt_failed(now, "timed out");
}

void ClientEngine::attempt_failed(int64_t now, const std::string& why) {
  drop_socket();
  if (attempt_ >= config_.reconnect.max_attempts) {
    disarm(Timer::retry);
    fire(Input::exhausted);
    emit_connection();
    emit_system("failed", attempt_ == 0 ? "Could not connect (" + why + ")"
                                        : "Could not reconnect after " + std::to_string(attempt_) +
                                              (attempt_ == 1 ? " attempt" : " attempts"));
    return;
  }
  ++attempt_;
  fire(Input::attempt_failed);
  schedule_retry(now);
}

// ------------------------------------------------------------------ reconnecting

void ClientEngine::on_lost(int64_t now, const std::string& why, bool close) {
  if (close) close_socket(4008, why);
  drop_socket();
  outage_ = true;
  emit_system("lost", "Connection lost (" + why + ")");
  attempt_ = 0;
  if (config_.reconnect.max_attempts <= 0) {
    fire(Input::exhausted);
    emit_connection();
    emit_system("failed", "Reconnection is disabled");
    return;
  }
  attempt_ = 1;
  fire(Input::lost);
  schedule_retry(now);
}

void ClientEngine::schedule_retry(int64_t now) {
  const auto& p = config_.reconnect;
  int64_t delay = p.min_delay_ms;
  if (!p.delays_ms.empty()) {
    const size_t i = std::min(static_cast<size_t>(attempt_ - 1), p.delays_ms.size() - 1);
    delay = p.delays_ms[i];
  }
  if (p.jitter > 0) {
    const double u = random_unit(entropy_);
    // delay * (1 + jitter * u) for u in [0, 1): the extra stays strictly
    // under delay * jitter, even where doubles would round it up.
    const double spread = static_cast<double>(delay) * p.jitter;
    auto extra = static_cast<int64_t>(std::floor(spread * u));
    if (spread >= 1 && static_cast<double>(extra) >= spread) extra = static_cast<int64_t>(std::ceil(spread)) - 1;
    delay += extra;
  }
  delay = std::max(delay, p.min_delay_ms);
  arm(Timer::retry, now + delay);
  phase_ = Phase::waiting_retry;
  emit_connection();
  emit_system("reconnecting", "Reconnecting in " + std::to_string((delay + 999) / 1000) + " s (attempt " +
                                  std::to_string(attempt_) + " of " + std::to_string(p.max_attempts) + ")");
}

void ClientEngine::on_retry_due(int64_t now) {
  disarm(Timer::retry);
  fire(Input::retry_due);
  emit_connection();
  start_try(now);
}

// ------------------------------------------------------------------ open

void ClientEngine::on_confirm(int64_t now, const protocol::ConnectConfirm& c) {
  if (phase_ != Phase::handshake) return;  // a second confirm changes nothing
  phase_ = Phase::confirmed;
  disarm(Timer::try_deadline);
  // The faster of the two: the client's own heartbeatMs is a ceiling, not a
  // default the server may override with a longer one (issue 15).
  heartbeat_ms_ = c.heartbeat_ms > 0
                      ? std::min(config_.heartbeat_ms,
                                 std::clamp(c.heartbeat_ms, kMinServerHeartbeatMs, kMaxServerHeartbeatMs))
                      : config_.heartbeat_ms;
  arm(Timer::liveness, now + 3 * heartbeat_ms_);
  arm(Timer::ping, now + heartbeat_ms_);
  if (c.conversation_id != conversation_id_) {
    // A new conversation (first connect, or resumed:false): old messages
    // stay; seq counting starts fresh for the new one.
    conversation_id_ = c.conversation_id;
    check(store_.set_meta("conversationId", conversation_id_));
    auto seq = store_.last_seq(conversation_id_);
    last_seq_ = check(seq) ? *seq : 0;
  }
  attempt_ = 0;
  disarm(Timer::retry);
  fire(Input::confirmed);
  emit_connection();
  emit_system(outage_ ? "restored" : "established", outage_ ? "Connection restored" : "Connected");
  outage_ = false;
  if (tools_frame_) transmit(*tools_frame_);
  written_.clear();
  flush_outbox(now);
  if (!c.recovered) send_load_messages(std::nullopt);
}

// Nothing at all received for 3 x the effective heartbeat.
void ClientEngine::on_silence(int64_t now) {
  on_lost(now, "nothing received for " + std::to_string(3 * heartbeat_ms_) + " ms", true);
}

void ClientEngine::on_ping_due(int64_t now) {
  transmit(protocol::Ping{client_id_, timestamp(now)});
  arm(Timer::ping, now + heartbeat_ms_);
}

}  // namespace chatwire::client
