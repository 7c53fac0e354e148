// ServerHub: theory of operation.
//
// Connections. Each socket the transport accepted is a Conn in one of three
// states. The table kActions below says, per state, what each client frame
// does; `closing` (a close was asked for via poll_close) ignores every frame.
//
//   awaiting_connect --connect--> open        (connect_confirm, replay, "connection" event)
//   awaiting_connect --other-->   awaiting    (error invalid_field "send connect first"; socket kept)
//   awaiting_connect --disconnect / no connect within heartbeat_timeout_ms--> closing (1000 / 4008)
//   open --every frame--> open               (handlers below)
//   open --disconnect--> closing (1000); --silence >= heartbeat_timeout_ms--> closing (4008)
//   any --frame > max_frame_bytes--> closing (1009); --4x flood--> closing (4029)
//   any --handle_close--> gone               ("disconnect" event if it was open)
//
// Every frame, valid or not, counts as life (resets the heartbeat clock) and
// takes a rate-limit token before it is decoded (RateLimiter: token bucket,
// 4x flood rule). A frame that fails decoding gets the codec's error (with the
// messageId when it was readable); the socket stays open.
//
// Conversations and seq. connect resumes a conversation only when it exists
// and belongs to the same clientId and ticket user; anything else gets a fresh
// conversation (resumed:false), so nothing about another one leaks. Every
// storable server event of a conversation (confirm, thinking, response,
// tool_call, component, error about a processed message) gets the next seq
// from the store and is stored as its exact frame text before it is written;
// deltas, typing, pong, history, connect_confirm and frame-validation errors
// have no seq and are never stored. Live events go to every open connection
// of the conversation, so a reply that outlives its socket reaches the
// client's next connection either live or by replay (lastSeq).
//
// Turns. A valid `message` with a messageId this conversation never processed
// (or whose turn failed or was abandoned: a retry) is stored with its confirm
// (seq) and one `received` confirm per image, in one transaction, then
// announced to the application as a "message" event with a new turn id. A
// repeat of a messageId whose turn is running, completed or cancelled is not
// announced again: the connection gets the turn's stored events again
// (confirm first, same seq and bytes). The application drives the turn with
// the commands (thinking, delta, tool_call, component, image_status, typing)
// and ends it with respond or fail; the outcome is written to the store.
// `cancel` marks the turn: streaming commands are then dropped, pending tool
// calls settle with error "cancelled", and the end of the turn sends a
// response with the streamed text and cancelled:true, or nothing if no reply
// event had been sent.
#include "core/server/server_hub.h"

#include <algorithm>
#include <type_traits>
#include <utility>

#include "core/protocol/codec.h"
#include "core/protocol/json.h"
#include "core/protocol/time.h"

namespace chatwire::server {

namespace {

using protocol::ClientFrame;
using protocol::ServerFrame;

// What a client frame does in a connection state.
enum class Action {
  connect,           // on_connect
  not_connected,     // error invalid_field "send connect first"
  already_connected, // error invalid_field, state unchanged
  pong,
  message,
  ignore,            // client typing: there is no application hook for it
  load_messages,
  configure_tools,
  tool_result,
  component_action,
  cancel,
  disconnect,        // close 1000
};

static_assert(std::variant_size_v<ClientFrame> == 10, "kActions has one column per client frame type");

// Rows: awaiting_connect, open. Columns: ClientFrame alternatives in order
// (connect, ping, message, typing, load_messages, configure_tools,
// tool_result, component_action, cancel, disconnect).
constexpr Action kActions[2][10] = {
    {Action::connect, Action::not_connected, Action::not_connected, Action::not_connected,
     Action::not_connected, Action::not_connected, Action::not_connected, Action::not_connected,
     Action::not_connected, Action::disconnect},
    {Action::already_connected, Action::pong, Action::message, Action::ignore, Action::load_messages,
     Action::configure_tools, Action::tool_result, Action::component_action, Action::cancel,
     Action::disconnect},
};

std::string ts(int64_t now) { return format_timestamp(now); }

// The application events (camelCase JSON objects).
using JsonOut = protocol::EventWriter;

using protocol::canonical_json;
using protocol::peek_message_id;

const char* const kStatusNames[] = {"received", "processing", "analyzed"};

}  // namespace

ServerHub::ServerHub(HubConfig config, store::ServerStore& store, Entropy& entropy)
    : config_(std::move(config)), store_(store), entropy_(entropy) {}

store::RetentionPolicy ServerHub::retention() const {
  return store::RetentionPolicy{config_.retention_ms, config_.retention_events};
}

// ------------------------------------------------------------------ startup

// On the first input (the first `now`): turns a previous process left
// unfinished are abandoned, each with a stored error so a resuming client
// sees its message failed and can retry it; then the log is pruned.
void ServerHub::ensure_started(int64_t now) {
  if (started_) return;
  started_ = true;
  if (auto unfinished = store_.unfinished_turns()) {
    for (const auto& t : *unfinished) {
      Error e(ErrorCode::internal, "the server stopped before replying to this message");
      e.message_id = t.message_id;
      if (!store_.begin()) continue;
      auto ev = append(now, t.conversation_id, "error", t.message_id, "",
                       protocol::ErrorEvent{e, std::nullopt, ts(now)});
      if (!ev || !store_.finish_turn(t.conversation_id, t.message_id, store::TurnStatus::abandoned, now) ||
          !store_.commit()) {
        store_.rollback();
      }
    }
  }
  store_.prune(now, retention());
  next_prune_at_ = now + config_.prune_interval_ms;
}

// ------------------------------------------------------------------ connection plumbing

ServerHub::Conn* ServerHub::find_conn(ConnId id) {
  auto it = conns_.find(id);
  return it == conns_.end() ? nullptr : &it->second;
}

void ServerHub::touch(int64_t now, Conn& c) {
  c.last_rx = std::max(c.last_rx, now);
  if (c.in_liveness) liveness_.splice(liveness_.end(), liveness_, c.liveness_it);
}

void ServerHub::request_close(Conn& c, int code, std::string reason) {
  if (c.state == ConnState::closing) return;
  c.state = ConnState::closing;
  if (c.in_liveness) liveness_.erase(c.liveness_it);
  if (c.in_awaiting) awaiting_.erase(c.awaiting_it);
  c.in_liveness = c.in_awaiting = false;
  closes_.push_back(Close{c.id, code, std::move(reason)});
}

void ServerHub::send(Conn& c, std::string text) {
  if (c.state == ConnState::closing) return;
  transmits_.push_back(Transmit{c.id, std::move(text)});
}

void ServerHub::send_error(int64_t now, Conn& c, Error error) {
  send(c, protocol::encode(ServerFrame{protocol::ErrorEvent{std::move(error), std::nullopt, ts(now)}}));
}

size_t ServerHub::send_to_conversation(const std::string& conversation_id, const std::string& text) {
  auto it = conversations_.find(conversation_id);
  if (it == conversations_.end()) return 0;
  size_t n = 0;
  for (ConnId id : it->second.conns) {
    Conn* c = find_conn(id);
    if (c && c->state == ConnState::open) {
      send(*c, text);
      ++n;
    }
  }
  return n;
}

void ServerHub::forget_conversation_if_idle(const std::string& conversation_id) {
  auto it = conversations_.find(conversation_id);
  if (it != conversations_.end() && it->second.conns.empty() && it->second.turns.empty()) {
    const bool had_tools = !it->second.tools.empty();
    conversations_.erase(it);
    if (had_tools) emit_tools(conversation_id, {});  // the application drops its copy too
  }
}

// ------------------------------------------------------------------ inputs

void ServerHub::handle_open(int64_t now, ConnId conn, std::string user_id, std::string peer_ip) {
  ensure_started(now);
  if (conns_.count(conn)) handle_close(now, conn, 1006);  // the transport reused an id: the old one is gone
  auto [it, inserted] =
      conns_.emplace(conn, Conn(config_.limits.messages_per_second, config_.limits.message_burst));
  Conn& c = it->second;
  c.id = conn;
  c.user_id = std::move(user_id);
  c.peer_ip = std::move(peer_ip);
  c.opened_at = c.last_rx = now;
  c.liveness_it = liveness_.insert(liveness_.end(), conn);
  c.awaiting_it = awaiting_.insert(awaiting_.end(), conn);
  c.in_liveness = c.in_awaiting = true;
  if (shut_down_) request_close(c, 1001, "server shutting down");
}

void ServerHub::handle_frame(int64_t now, ConnId conn, std::string_view text) {
  ensure_started(now);
  Conn* c = find_conn(conn);
  if (!c || c->state == ConnState::closing) return;
  touch(now, *c);
  if (text.size() > config_.limits.max_frame_bytes) {
    request_close(*c, 1009, "frame too large");
    return;
  }
  const auto verdict = c->limiter.take(now);
  if (!verdict.allowed) {
    if (verdict.flood) {
      request_close(*c, 4029, "rate limited");
      return;
    }
    Error e(ErrorCode::rate_limited,
            "rate limit of " + std::to_string(static_cast<int64_t>(config_.limits.messages_per_second)) +
                " frames per second exceeded; retry after " + std::to_string(verdict.retry_after_ms) + " ms");
    e.retry_after_ms = verdict.retry_after_ms;
    e.message_id = peek_message_id(text, config_.limits);
    send_error(now, *c, std::move(e));
    return;
  }
  auto decoded = protocol::decode_client_frame(text, config_.limits);
  if (!decoded) {
    send_error(now, *c, std::move(decoded.error()));
    return;
  }
  ClientFrame& frame = *decoded;
  const int row = c->state == ConnState::open ? 1 : 0;
  switch (kActions[row][frame.index()]) {
    case Action::connect:
      on_connect(now, *c, std::get<protocol::Connect>(frame));
      break;
    case Action::not_connected:
      send_error(now, *c, Error(ErrorCode::invalid_field, "send connect first"));
      break;
    case Action::already_connected:
      send_error(now, *c, Error(ErrorCode::invalid_field, "connect was already sent on this socket"));
      break;
    case Action::pong:
      send(*c, protocol::encode(ServerFrame{protocol::Pong{ts(now)}}));
      break;
    case Action::message:
      on_message(now, *c, std::get<protocol::Message>(frame));
      break;
    case Action::ignore:
      break;
    case Action::load_messages:
      on_load_messages(now, *c, std::get<protocol::LoadMessages>(frame));
      break;
    case Action::configure_tools:
      on_configure_tools(*c, std::get<protocol::ConfigureTools>(frame));
      break;
    case Action::tool_result:
      on_tool_result(*c, std::get<protocol::ToolResult>(frame));
      break;
    case Action::component_action:
      on_component_action(now, *c, std::get<protocol::ComponentAction>(frame));
      break;
    case Action::cancel:
      on_cancel(*c, std::get<protocol::Cancel>(frame));
      break;
    case Action::disconnect:
      request_close(*c, 1000, "disconnect");
      break;
  }
}

void ServerHub::handle_close(int64_t now, ConnId conn, int code) {
  ensure_started(now);
  Conn* c = find_conn(conn);
  if (!c) return;
  if (c->in_liveness) liveness_.erase(c->liveness_it);
  if (c->in_awaiting) awaiting_.erase(c->awaiting_it);
  if (!c->connection_id.empty()) {
    store_.connection_closed(c->connection_id, code, now);
    auto it = conversations_.find(c->conversation_id);
    if (it != conversations_.end()) {
      auto& v = it->second.conns;
      v.erase(std::remove(v.begin(), v.end(), conn), v.end());
    }
    JsonOut ev;
    ev.str("type", "disconnect").str("connectionId", c->connection_id).str("conversationId", c->conversation_id);
    ev.str("clientId", c->client_id).str_or_null("userId", c->user_id).num("code", code);
    events_.push_back(ev.done());
    const std::string conv = c->conversation_id;
    conns_.erase(conn);
    forget_conversation_if_idle(conv);
    return;
  }
  conns_.erase(conn);
}

void ServerHub::handle_timeout(int64_t now) {
  ensure_started(now);
  while (!awaiting_.empty()) {
    Conn& c = conns_.at(awaiting_.front());
    if (c.opened_at + config_.heartbeat_timeout_ms > now) break;
    request_close(c, 4008, "no connect received");
  }
  while (!liveness_.empty()) {
    Conn& c = conns_.at(liveness_.front());
    if (c.last_rx + config_.heartbeat_timeout_ms > now) break;
    request_close(c, 4008, "heartbeat timeout");
  }
  if ((config_.retention_ms > 0 || config_.retention_events > 0) && now >= next_prune_at_) {
    store_.prune(now, retention());
    next_prune_at_ = now + config_.prune_interval_ms;
  }
}

// ------------------------------------------------------------------ frame handlers

void ServerHub::on_connect(int64_t now, Conn& c, const protocol::Connect& f) {
  std::string conversation_id;
  bool resumed = false;
  if (f.conversation_id) {
    auto owned = store_.owns(*f.conversation_id, f.client_id, c.user_id);
    if (!owned) {
      send_error(now, c, store_failed(owned.error(), "connect"));
      return;
    }
    resumed = *owned;
    if (resumed) conversation_id = *f.conversation_id;
  }
  if (!resumed) {
    conversation_id = uuid_v4(entropy_);
    auto created = store_.create_conversation(conversation_id, f.client_id, c.user_id, now);
    if (!created) {
      send_error(now, c, store_failed(created.error(), "connect"));
      return;
    }
  }
  const std::string connection_id = uuid_v4(entropy_);
  store_.connection_opened(connection_id, conversation_id, f.client_id, c.user_id, c.peer_ip, now);

  bool recovered = true;
  std::vector<store::EventRecord> replay;
  if (resumed) {
    const int64_t last_seq = f.last_seq.value_or(0);
    // Tool calls of running turns that the client already had (seq <=
    // lastSeq) but never answered: the answer may have been lost with the old
    // socket, so they are sent again first, in seq order (PROTOCOL.md: an
    // unanswered tool_call is replayed on resume; the client answers a repeat
    // from its stored result without running the tool again).
    for (const auto& [turn_id, turn] : turns_) {
      if (turn.conversation_id != conversation_id || turn.cancelled) continue;
      for (const auto& tool_call_id : turn.pending_tools) {
        auto ev = store_.find_event(conversation_id, "tool_call", tool_call_id);
        if (ev && *ev && (*ev)->seq <= last_seq) replay.push_back(std::move(**ev));
      }
    }
    std::sort(replay.begin(), replay.end(),
              [](const store::EventRecord& a, const store::EventRecord& b) { return a.seq < b.seq; });
    auto r = store_.events_after(conversation_id, last_seq, now, retention());
    if (r) {
      recovered = r->recovered;
      for (auto& e : r->events) replay.push_back(std::move(e));
    } else {
      recovered = false;
    }
  }

  c.state = ConnState::open;
  if (c.in_awaiting) awaiting_.erase(c.awaiting_it);
  c.in_awaiting = false;
  c.connection_id = connection_id;
  c.conversation_id = conversation_id;
  c.client_id = f.client_id;
  Conversation& conv = conversations_[conversation_id];
  conv.conns.push_back(c.id);
  if (store_.in_group()) group_.connects.push_back(c.id);

  protocol::ConnectConfirm cc;
  cc.conversation_id = conversation_id;
  cc.connection_id = connection_id;
  cc.resumed = resumed;
  cc.recovered = recovered;
  cc.heartbeat_ms = config_.heartbeat_ms;
  cc.timestamp = ts(now);
  send(c, protocol::encode(ServerFrame{cc}));
  for (auto& e : replay) send(c, std::move(e.frame));
  if (config_.typing_around_handler && has_active_turn(conversation_id)) {
    send(c, protocol::encode(ServerFrame{protocol::TypingIndicator{true, ts(now)}}));
  }

  JsonOut ev;
  ev.str("type", "connection").str("connectionId", connection_id).str("conversationId", conversation_id);
  ev.str("clientId", f.client_id).str_or_null("userId", c.user_id).boolean("resumed", resumed);
  ev.boolean("recovered", recovered).str("peerIp", c.peer_ip);
  events_.push_back(ev.done());
}

void ServerHub::replay_turn(int64_t now, Conn& c, const store::TurnRecord& turn) {
  auto events = store_.events_for_message(turn.conversation_id, turn.message_id);
  if (!events) {
    Error e = store_failed(events.error(), "replay");
    e.message_id = turn.message_id;
    send_error(now, c, std::move(e));
    return;
  }
  const bool confirm_kept = std::any_of(events->begin(), events->end(), [&](const store::EventRecord& e) {
    return e.seq == turn.confirm_seq && e.kind == "confirm";
  });
  if (!confirm_kept) {
    // Pruned by retention: the confirm is rebuilt with its original seq.
    protocol::Confirm confirm{turn.message_id, std::nullopt, std::nullopt, turn.confirm_seq, ts(now)};
    send(c, protocol::encode(ServerFrame{confirm}));
  }
  // Events of an earlier, failed attempt of the same messageId come before confirm_seq.
  for (auto& e : *events) {
    if (e.seq >= turn.confirm_seq) send(c, std::move(e.frame));
  }
}

void ServerHub::on_message(int64_t now, Conn& c, protocol::Message& m) {
  if (m.client_id != c.client_id) {
    Error e(ErrorCode::invalid_field, "field 'clientId' does not match the clientId this socket connected with");
    e.message_id = m.message_id;
    send_error(now, c, std::move(e));
    return;
  }
  const std::string conv_id = c.conversation_id;
  auto existing = store_.find_turn(conv_id, m.message_id);
  if (!existing) {
    Error e = store_failed(existing.error(), "message");
    e.message_id = m.message_id;
    send_error(now, c, std::move(e));
    return;
  }
  // A turn the store still calls `received` but that does not run here lost
  // its outcome to a failed commit (the client got `unavailable`): like an
  // abandoned one, it is processed again. (Turns left by an earlier process
  // were abandoned at start, so nothing else is `received` and not running.)
  const bool running = (*existing && (*existing)->status == store::TurnStatus::received &&
                        is_running(conv_id, m.message_id));
  if (*existing && (running || (*existing)->status == store::TurnStatus::completed ||
                    (*existing)->status == store::TurnStatus::cancelled)) {
    replay_turn(now, c, **existing);
    return;
  }

  Turn turn;
  turn.turn_id = uuid_v4(entropy_);
  turn.conversation_id = conv_id;
  turn.message_id = m.message_id;
  turn.reply_id = uuid_v4(entropy_);

  store::UserMessageRecord record;
  record.message_id = m.message_id;
  record.content = m.content.value_or("");
  record.timestamp = m.timestamp;
  for (const auto& img : m.images) {
    store::ImageRecord r;
    r.id = img.id;
    r.mime_type = img.mime_type;
    r.filename = img.filename;
    r.width = img.width;
    r.height = img.height;
    r.size = img.bytes.size();
    if (store_.stores_image_bytes()) r.bytes = img.bytes;
    record.images.push_back(std::move(r));
  }

  std::vector<std::string> frames;
  auto stored = [&]() -> Result<bool> {
    auto begun = store_.begin();
    if (!begun) return begun;
    auto confirm = append(now, conv_id, "confirm", m.message_id, "",
                          protocol::Confirm{m.message_id, std::nullopt, std::nullopt, 0, ts(now)});
    if (!confirm) return confirm.error();
    frames.push_back(confirm->frame);
    for (const auto& img : m.images) {
      auto ev = append(now, conv_id, "confirm", m.message_id, "",
                       protocol::Confirm{m.message_id, img.id, std::string("received"), 0, ts(now)});
      if (!ev) return ev.error();
      frames.push_back(ev->frame);
    }
    auto msg = store_.put_user_message(conv_id, confirm->seq, record);
    if (!msg) return msg;
    store::TurnRecord tr;
    tr.conversation_id = conv_id;
    tr.message_id = m.message_id;
    tr.turn_id = turn.turn_id;
    tr.reply_id = turn.reply_id;
    tr.status = store::TurnStatus::received;
    tr.confirm_seq = confirm->seq;
    tr.received_at_ms = now;
    auto put = store_.put_turn(tr);
    if (!put) return put;
    return store_.commit();
  }();
  if (!stored) {
    store_.rollback();
    // Generic for the client (issue 14.8: SQLite's text stays in the server's
    // log); `unavailable` + retryAfterMs: its outbox sends it again later.
    Error e = store_failed(stored.error(), "message");
    e.message_id = m.message_id;
    send_error(now, c, std::move(e));
    if (store_.in_group()) group_.refused.push_back({conv_id, m.message_id, ""});  // said again if the group fails
    return;
  }
  if (store_.in_group()) {
    group_.started.push_back({conv_id, m.message_id, turn.turn_id});
  } else {
    store_ok_ = true;
  }
  for (const auto& f : frames) send_to_conversation(conv_id, f);

  JsonOut ev;
  ev.str("type", "message").str("turnId", turn.turn_id).str("conversationId", conv_id);
  ev.str("connectionId", c.connection_id).str("clientId", c.client_id).str_or_null("userId", c.user_id);
  ev.key("message");
  ev.begin_object();
  ev.key("messageId").value(m.message_id);
  ev.key("content").value(m.content.value_or(""));
  ev.key("timestamp").value(m.timestamp);
  ev.key("images");
  ev.begin_array();
  for (const auto& img : m.images) {
    ev.begin_object();
    ev.key("id").value(img.id);
    ev.key("mimeType").value(img.mime_type);
    if (img.filename) {
      ev.key("filename").value(*img.filename);
    }
    ev.key("width");
    ev.unsigned_integer(img.width);
    ev.key("height");
    ev.unsigned_integer(img.height);
    ev.key("size");
    ev.unsigned_integer(img.bytes.size());
    ev.end_object();
  }
  ev.end_array();
  ev.end_object();
  // The conversation's tools reached the application once, as a "tools"
  // event (on_configure_tools), not with every message (issue 14.4).
  Conversation& conv = conversations_[conv_id];
  events_.push_back(ev.done());

  for (auto& img : m.images) turn.images.push_back(TurnImage{std::move(img), 0});
  conv.turns[turn.message_id] = turn.turn_id;
  const std::string turn_id = turn.turn_id;
  turns_.emplace(turn_id, std::move(turn));
  if (config_.typing_around_handler) set_typing(now, conv_id, true);
}

void ServerHub::on_load_messages(int64_t now, Conn& c, const protocol::LoadMessages& f) {
  auto owned = store_.owns(f.conversation_id, c.client_id, c.user_id);
  if (!owned) {
    send_error(now, c, store_failed(owned.error(), "load_messages"));
    return;
  }
  if (!*owned) {
    send_error(now, c, Error(ErrorCode::not_found, "unknown conversationId '" + f.conversation_id + "'"));
    return;
  }
  // Paged by encoded bytes, never above the frame limit (issue 14.3): 200
  // messages that JSON-escape 6x would otherwise make one 92-byte request a
  // 19.7 MB frame. The client pages on with beforeSeq (hasMore).
  auto page = store_.load_messages(f.conversation_id, f.before_seq, f.limit, config_.limits.max_frame_bytes);
  if (!page) {
    send_error(now, c, store_failed(page.error(), "load_messages"));
    return;
  }
  protocol::History h;
  h.conversation_id = f.conversation_id;
  h.messages = std::move(page->messages);
  h.has_more = page->has_more;
  std::string text = protocol::encode(ServerFrame{std::move(h)});
  if (config_.history_bytes_per_token > 0) {
    c.limiter.charge(static_cast<double>(text.size() / config_.history_bytes_per_token));
  }
  send(c, std::move(text));
}

void ServerHub::on_configure_tools(Conn& c, const protocol::ConfigureTools& f) {
  // The codec refused a list over limits.max_tools / max_tools_bytes (too_large)
  // before this, so the previous list is still in place then.
  auto& tools = conversations_[c.conversation_id].tools;
  tools = f.tools;
  emit_tools(c.conversation_id, tools);
  if (store_.in_group()) group_.tools.push_back(c.conversation_id);  // re-sent if the group fails
}

void ServerHub::emit_tools(const std::string& conversation_id, const std::vector<protocol::ToolSpec>& tools) {
  JsonOut ev;
  ev.str("type", "tools").str("conversationId", conversation_id).raw("tools", protocol::to_json_text(tools));
  events_.push_back(ev.done());
}

void ServerHub::on_tool_result(Conn& c, const protocol::ToolResult& f) {
  auto it = tool_calls_.find(f.tool_call_id);
  if (it == tool_calls_.end()) return;  // unknown, answered already, or its turn ended: ignored
  auto turn = turns_.find(it->second);
  if (turn == turns_.end() || turn->second.conversation_id != c.conversation_id) return;
  turn->second.pending_tools.erase(f.tool_call_id);
  JsonOut ev;
  ev.str("type", "tool_result").str("turnId", turn->second.turn_id).str("toolCallId", f.tool_call_id);
  if (f.result) {
    ev.raw("result", f.result->text);
  } else {
    ev.str("error", f.error.value_or(""));
  }
  events_.push_back(ev.done());
  tool_calls_.erase(it);
}

void ServerHub::on_component_action(int64_t now, Conn& c, const protocol::ComponentAction& f) {
  auto known = store_.has_component(c.conversation_id, f.component_id);
  if (!known) {
    send_error(now, c, store_failed(known.error(), "component_action"));
    return;
  }
  if (!*known) {
    send_error(now, c, Error(ErrorCode::not_found, "unknown componentId '" + f.component_id + "'"));
    return;
  }
  JsonOut ev;
  ev.str("type", "component_action").str("conversationId", c.conversation_id);
  ev.str("connectionId", c.connection_id).str("componentId", f.component_id).str("action", f.action);
  ev.raw("values", f.values.text).str_or_null("userId", c.user_id).str("clientId", c.client_id);
  events_.push_back(ev.done());
}

void ServerHub::on_cancel(Conn& c, const protocol::Cancel& f) {
  auto conv = conversations_.find(c.conversation_id);
  if (conv == conversations_.end()) return;
  auto t = conv->second.turns.find(f.reply_to);
  if (t == conv->second.turns.end()) return;  // finished or unknown: nothing to stop
  Turn& turn = turns_.at(t->second);
  if (turn.cancelled) return;
  turn.cancelled = true;
  JsonOut ev;
  ev.str("type", "cancel").str("turnId", turn.turn_id).str("conversationId", turn.conversation_id);
  ev.str("messageId", turn.message_id);
  events_.push_back(ev.done());
  for (const auto& id : turn.pending_tools) {
    JsonOut r;
    r.str("type", "tool_result").str("turnId", turn.turn_id).str("toolCallId", id).str("error", "cancelled");
    events_.push_back(r.done());
    tool_calls_.erase(id);
  }
  turn.pending_tools.clear();
}

// ------------------------------------------------------------------ turns

Result<ServerHub::Turn*> ServerHub::find_turn(std::string_view turn_id) {
  auto it = turns_.find(std::string(turn_id));
  if (it == turns_.end()) {
    return Error(ErrorCode::not_found, "unknown turn '" + std::string(turn_id) + "' (it ended or never existed)");
  }
  return &it->second;
}

Result<store::EventRecord> ServerHub::append(int64_t now, const std::string& conversation_id, const char* kind,
                                             const std::string& ref_id, const std::string& reply_to,
                                             ServerFrame frame) {
  return store_.append_event(conversation_id, kind, ref_id, reply_to, now, [&frame](int64_t seq) {
    protocol::set_seq(frame, seq);
    return protocol::encode(frame);
  });
}

bool ServerHub::has_active_turn(const std::string& conversation_id) const {
  auto it = conversations_.find(conversation_id);
  if (it == conversations_.end()) return false;
  for (const auto& [message_id, turn_id] : it->second.turns) {
    auto t = turns_.find(turn_id);
    if (t != turns_.end() && !t->second.cancelled) return true;
  }
  return false;
}

void ServerHub::set_typing(int64_t now, const std::string& conversation_id, bool on) {
  send_to_conversation(conversation_id, protocol::encode(ServerFrame{protocol::TypingIndicator{on, ts(now)}}));
}

void ServerHub::end_turn(int64_t now, std::string turn_id) {
  auto it = turns_.find(turn_id);
  if (it == turns_.end()) return;
  const std::string conv_id = it->second.conversation_id;
  if (store_.in_group()) group_.ended.push_back({conv_id, it->second.message_id, turn_id});
  for (const auto& id : it->second.pending_tools) tool_calls_.erase(id);
  auto conv = conversations_.find(conv_id);
  if (conv != conversations_.end()) conv->second.turns.erase(it->second.message_id);
  turns_.erase(it);
  if (config_.typing_around_handler && !has_active_turn(conv_id)) set_typing(now, conv_id, false);
  forget_conversation_if_idle(conv_id);
}

Result<bool> ServerHub::end_cancelled(int64_t now, Turn& t, std::optional<protocol::Response> response) {
  const std::string turn_id = t.turn_id;
  if (!t.reply_started) {
    store_.finish_turn(t.conversation_id, t.message_id, store::TurnStatus::cancelled, now);
    end_turn(now, turn_id);
    return false;
  }
  protocol::Response r = response.value_or(protocol::Response{});
  r.message_id = t.reply_id;
  r.reply_to = t.message_id;
  r.content = t.streamed;
  r.cancelled = true;
  r.timestamp = ts(now);
  auto begun = store_.begin();
  if (!begun) return lose_turn(now, t, begun.error());
  auto ev = append(now, t.conversation_id, "response", t.reply_id, t.message_id, r);
  if (!ev) {
    store_.rollback();
    return lose_turn(now, t, ev.error());
  }
  r.seq = ev->seq;
  auto put = store_.put_assistant_message(t.conversation_id, r);
  auto fin = put ? store_.finish_turn(t.conversation_id, t.message_id, store::TurnStatus::cancelled, now) : put;
  auto done = fin ? store_.commit() : fin;
  if (!done) {
    store_.rollback();
    return lose_turn(now, t, done.error());
  }
  send_to_conversation(t.conversation_id, ev->frame);
  end_turn(now, turn_id);
  return true;
}

Result<bool> ServerHub::image_status(int64_t now, std::string_view turn_id, std::string_view image_id,
                                     std::string_view status) {
  auto t = find_turn(turn_id);
  if (!t) return t.error();
  Turn& turn = **t;
  int level = 0;
  if (status == "processing") level = 1;
  else if (status == "analyzed") level = 2;
  else return Error(ErrorCode::invalid_field, "image status must be 'processing' or 'analyzed'");
  auto img = std::find_if(turn.images.begin(), turn.images.end(),
                          [&](const TurnImage& i) { return i.image.id == image_id; });
  if (img == turn.images.end()) {
    return Error(ErrorCode::not_found, "the message has no image '" + std::string(image_id) + "'");
  }
  if (level <= img->status) {
    return Error(ErrorCode::invalid_field, "image '" + std::string(image_id) + "' is already " +
                                               kStatusNames[img->status] + "; statuses only move forward");
  }
  if (turn.cancelled) return false;
  auto ev = append(now, turn.conversation_id, "confirm", turn.message_id, "",
                   protocol::Confirm{turn.message_id, std::string(image_id), std::string(status), 0, ts(now)});
  if (!ev) return ev.error();
  img->status = level;
  send_to_conversation(turn.conversation_id, ev->frame);
  return true;
}

Result<bool> ServerHub::thinking(int64_t now, std::string_view turn_id, std::string_view step) {
  auto t = find_turn(turn_id);
  if (!t) return t.error();
  Turn& turn = **t;
  if (turn.cancelled) return false;
  auto ev = append(now, turn.conversation_id, "thinking", "", turn.message_id,
                   protocol::Thinking{turn.message_id, std::string(step), 0, ts(now)});
  if (!ev) return ev.error();
  turn.reply_started = true;
  send_to_conversation(turn.conversation_id, ev->frame);
  return true;
}

Result<int64_t> ServerHub::delta(int64_t now, std::string_view turn_id, std::string_view text) {
  auto t = find_turn(turn_id);
  if (!t) return t.error();
  Turn& turn = **t;
  if (turn.cancelled) return int64_t{-1};
  const int64_t index = turn.next_index++;
  turn.streamed.append(text);
  turn.reply_started = true;
  send_to_conversation(turn.conversation_id,
                       protocol::encode(ServerFrame{protocol::Delta{turn.reply_id, turn.message_id, index,
                                                                    std::string(text), ts(now)}}));
  return index;
}

Result<bool> ServerHub::typing(int64_t now, std::string_view turn_id, bool is_typing) {
  auto t = find_turn(turn_id);
  if (!t) return t.error();
  if ((*t)->cancelled) return false;
  set_typing(now, (*t)->conversation_id, is_typing);
  return true;
}

Result<std::string> ServerHub::component(int64_t now, std::string_view turn_id, std::string_view kind,
                                         std::string_view props_json) {
  auto t = find_turn(turn_id);
  if (!t) return t.error();
  Turn& turn = **t;
  if (kind.empty()) return Error(ErrorCode::invalid_field, "component kind must not be empty");
  auto props = canonical_json(props_json, "component props", "{}");
  if (!props) return props.error();
  if (turn.cancelled) return std::string();
  const std::string id = uuid_v4(entropy_);
  auto begun = store_.begin();
  if (!begun) return begun.error();
  auto ev = append(now, turn.conversation_id, "component", id, turn.message_id,
                   protocol::Component{id, turn.message_id, std::string(kind), protocol::RawJson{*props}, 0, ts(now)});
  auto put = ev ? store_.put_component(turn.conversation_id, id, turn.message_id, kind, now) : Result<bool>(ev.error());
  auto done = put ? store_.commit() : put;
  if (!done) {
    store_.rollback();
    return done.error();
  }
  turn.reply_started = true;
  send_to_conversation(turn.conversation_id, ev->frame);
  return id;
}

Result<std::string> ServerHub::tool_call(int64_t now, std::string_view turn_id, std::string_view name,
                                         std::string_view arguments_json) {
  auto t = find_turn(turn_id);
  if (!t) return t.error();
  Turn& turn = **t;
  if (name.empty()) return Error(ErrorCode::invalid_field, "tool name must not be empty");
  auto args = canonical_json(arguments_json, "tool arguments", "{}");
  if (!args) return args.error();
  const std::string id = uuid_v4(entropy_);
  if (turn.cancelled) {
    JsonOut r;
    r.str("type", "tool_result").str("turnId", turn.turn_id).str("toolCallId", id).str("error", "cancelled");
    events_.push_back(r.done());
    return id;
  }
  auto ev = append(now, turn.conversation_id, "tool_call", id, turn.message_id,
                   protocol::ToolCall{id, turn.message_id, std::string(name), protocol::RawJson{*args}, 0, ts(now)});
  if (!ev) return ev.error();
  turn.reply_started = true;
  turn.pending_tools.insert(id);
  tool_calls_[id] = turn.turn_id;
  send_to_conversation(turn.conversation_id, ev->frame);
  return id;
}

Result<bool> ServerHub::respond(int64_t now, std::string_view turn_id, std::string_view response_json) {
  auto t = find_turn(turn_id);
  if (!t) return t.error();
  Turn& turn = **t;
  auto frame = protocol::app_server_frame(
      response_json, config_.limits,
      {{{"type", "response"}, {"messageId", turn.reply_id}, {"replyTo", turn.message_id}, {"timestamp", ts(now)}},
       {{"content", turn.streamed}},
       {"cancelled"}},
      "response");
  if (!frame) return frame.error();
  protocol::Response r = std::get<protocol::Response>(*frame);
  if (turn.cancelled) return end_cancelled(now, turn, std::move(r));

  auto begun = store_.begin();
  if (!begun) return lose_turn(now, turn, begun.error());
  auto ev = append(now, turn.conversation_id, "response", turn.reply_id, turn.message_id, r);
  if (!ev) {
    store_.rollback();
    return lose_turn(now, turn, ev.error());
  }
  r.seq = ev->seq;
  auto put = store_.put_assistant_message(turn.conversation_id, r);
  auto fin = put ? store_.finish_turn(turn.conversation_id, turn.message_id, store::TurnStatus::completed, now) : put;
  auto done = fin ? store_.commit() : fin;
  if (!done) {
    store_.rollback();
    return lose_turn(now, turn, done.error());
  }
  send_to_conversation(turn.conversation_id, ev->frame);
  end_turn(now, turn.turn_id);
  return true;
}

Result<bool> ServerHub::fail(int64_t now, std::string_view turn_id, ErrorCode code, std::string_view message) {
  auto t = find_turn(turn_id);
  if (!t) return t.error();
  Turn& turn = **t;
  if (turn.cancelled) return end_cancelled(now, turn, std::nullopt);
  Error e(code, message.empty() ? std::string("the reply failed") : std::string(message));
  e.message_id = turn.message_id;
  auto begun = store_.begin();
  if (!begun) return lose_turn(now, turn, begun.error());
  auto ev = append(now, turn.conversation_id, "error", turn.message_id, "",
                   protocol::ErrorEvent{e, std::nullopt, ts(now)});
  auto fin = ev ? store_.finish_turn(turn.conversation_id, turn.message_id, store::TurnStatus::failed, now)
                : Result<bool>(ev.error());
  auto done = fin ? store_.commit() : fin;
  if (!done) {
    store_.rollback();
    return lose_turn(now, turn, done.error());
  }
  send_to_conversation(turn.conversation_id, ev->frame);
  end_turn(now, turn.turn_id);
  return true;
}

void ServerHub::abandon(int64_t now, Turn& t, const char* why) {
  if (t.cancelled) {
    end_cancelled(now, t, std::nullopt);
    return;
  }
  Error e(ErrorCode::internal, why);
  e.message_id = t.message_id;
  const std::string turn_id = t.turn_id;
  if (store_.begin()) {
    auto ev = append(now, t.conversation_id, "error", t.message_id, "", protocol::ErrorEvent{e, std::nullopt, ts(now)});
    if (ev && store_.finish_turn(t.conversation_id, t.message_id, store::TurnStatus::abandoned, now) &&
        store_.commit()) {
      send_to_conversation(t.conversation_id, ev->frame);
    } else {
      store_.rollback();
    }
  }
  end_turn(now, turn_id);
}

void ServerHub::shutdown(int64_t now) {
  ensure_started(now);
  shut_down_ = true;
  std::vector<std::string> ids;
  for (const auto& [id, turn] : turns_) ids.push_back(id);
  for (const auto& id : ids) {
    auto it = turns_.find(id);
    if (it != turns_.end()) abandon(now, it->second, "the server shut down before replying to this message");
  }
  for (auto& [id, c] : conns_) request_close(c, 1001, "server shutting down");
}

// ------------------------------------------------------------------ broadcast

Result<size_t> ServerHub::broadcast(int64_t now, std::string_view target_json, std::string_view event_json) {
  ensure_started(now);
  auto target = protocol::broadcast_target(target_json, config_.limits);
  if (!target) return target.error();
  const bool by_conv = !target->conversation_id.empty();
  auto frame = protocol::broadcast_frame(event_json, config_.limits, ts(now));
  if (!frame) return frame.error();
  const bool storable = protocol::frame_info(*frame).stored;
  const std::string type = protocol::type_name(*frame);

  std::vector<std::pair<std::string, std::vector<ConnId>>> targets;
  if (by_conv) {
    const std::string& conv_id = target->conversation_id;
    auto found = store_.find_conversation(conv_id);
    if (!found) return found.error();
    if (!*found) return Error(ErrorCode::not_found, "unknown conversationId '" + conv_id + "'");
    auto live = conversations_.find(conv_id);
    targets.emplace_back(conv_id, live == conversations_.end() ? std::vector<ConnId>{} : live->second.conns);
  } else {
    const std::string& user = target->user_id;
    std::map<std::string, std::vector<ConnId>> by;
    for (const auto& [id, c] : conns_) {
      if (c.state == ConnState::open && c.user_id == user) by[c.conversation_id].push_back(id);
    }
    for (auto& [conv, ids] : by) targets.emplace_back(conv, std::move(ids));
  }

  size_t reached = 0;
  for (auto& [conv_id, ids] : targets) {
    std::string text;
    if (storable) {
      auto [ref_id, reply_to] = protocol::refs_of(*frame);
      auto begun = store_.begin();
      if (!begun) return begun.error();
      auto stored = append(now, conv_id, type.c_str(), ref_id, reply_to, *frame);
      Result<bool> extra = true;
      if (stored && std::holds_alternative<protocol::Response>(*frame)) {
        protocol::Response r = std::get<protocol::Response>(*frame);
        r.seq = stored->seq;
        extra = store_.put_assistant_message(conv_id, r);
      } else if (stored && std::holds_alternative<protocol::Component>(*frame)) {
        const auto& comp = std::get<protocol::Component>(*frame);
        extra = store_.put_component(conv_id, comp.component_id, comp.reply_to, comp.component, now);
      }
      auto done = !stored ? Result<bool>(stored.error()) : !extra ? extra : store_.commit();
      if (!done) {
        store_.rollback();
        return done.error();
      }
      text = std::move(stored->frame);
    } else {
      text = protocol::encode(*frame);
    }
    for (ConnId id : ids) {
      Conn* c = find_conn(id);
      if (c && c->state == ConnState::open) {
        send(*c, text);
        ++reached;
      }
    }
  }
  return reached;
}

// ------------------------------------------------------------------ store failures

Error ServerHub::store_failed(const Error& cause, const char* what) {
  store_ok_ = false;
  group_.failed = true;
  store_reason_ = std::string("the database failed a ") + what + " (details in the server log)";
  JsonOut ev;
  ev.str("type", "store_error").str("error", std::string(what) + ": " + cause.message);
  events_.push_back(ev.done());
  Error e(ErrorCode::unavailable, "the server's database is unavailable; try again later");
  e.retry_after_ms = config_.unavailable_retry_ms;
  return e;
}

void ServerHub::send_unavailable(int64_t now, const std::string& conversation_id, const std::string& message_id) {
  Error e(ErrorCode::unavailable, "the server's database is unavailable; try again later");
  e.retry_after_ms = config_.unavailable_retry_ms;
  e.message_id = message_id;
  send_to_conversation(conversation_id, protocol::encode(ServerFrame{protocol::ErrorEvent{e, std::nullopt, ts(now)}}));
}

Error ServerHub::lose_turn(int64_t now, Turn& t, const Error& cause) {
  store_failed(cause, "reply");
  const std::string conv = t.conversation_id, message_id = t.message_id, turn_id = t.turn_id;
  send_unavailable(now, conv, message_id);
  end_turn(now, turn_id);
  return cause;  // the application sees the store's own error
}

bool ServerHub::is_running(const std::string& conversation_id, const std::string& message_id) const {
  auto it = conversations_.find(conversation_id);
  return it != conversations_.end() && it->second.turns.count(message_id) > 0;
}

Result<bool> ServerHub::begin_group() {
  auto r = store_.begin_group();
  group_ = GroupJournal{};
  return r;
}

Result<bool> ServerHub::commit_group(int64_t now) {
  auto r = store_.commit_group();
  GroupJournal g = std::move(group_);
  group_ = GroupJournal{};
  if (r) {
    if (!g.failed) store_ok_ = true;
    return r;
  }
  // Nothing of the group was stored, and the owner drops what it produced:
  // the turns it started are forgotten and every message it confirmed or
  // answered gets `unavailable` (unstored), so no client waits in silence;
  // sockets it opened are closed (1011) and reconnect; tool lists it
  // announced are announced again.
  store_failed(r.error(), "commit");
  std::set<std::pair<std::string, std::string>> told;
  for (const auto& s : g.started) {
    auto it = turns_.find(s.turn_id);
    if (it != turns_.end()) {
      for (const auto& id : it->second.pending_tools) tool_calls_.erase(id);
      auto conv = conversations_.find(s.conversation_id);
      if (conv != conversations_.end()) conv->second.turns.erase(s.message_id);
      turns_.erase(it);
    }
    if (told.insert({s.conversation_id, s.message_id}).second) send_unavailable(now, s.conversation_id, s.message_id);
  }
  for (const auto& list : {&g.ended, &g.refused}) {
    for (const auto& s : *list) {
      if (told.insert({s.conversation_id, s.message_id}).second) send_unavailable(now, s.conversation_id, s.message_id);
    }
  }
  for (ConnId id : g.connects) {
    if (Conn* c = find_conn(id)) request_close(*c, 1011, "database unavailable");
  }
  for (const auto& conv_id : g.tools) {
    auto it = conversations_.find(conv_id);
    if (it != conversations_.end()) emit_tools(conv_id, it->second.tools);
  }
  for (const auto& s : g.started) forget_conversation_if_idle(s.conversation_id);
  return r;
}

ServerHub::StoreHealth ServerHub::store_health() const {
  return StoreHealth{store_ok_, store_ok_ ? std::string() : store_reason_};
}

// ------------------------------------------------------------------ outputs

std::optional<ServerHub::Transmit> ServerHub::poll_transmit() {
  if (transmits_.empty()) return std::nullopt;
  Transmit t = std::move(transmits_.front());
  transmits_.pop_front();
  return t;
}

std::optional<ServerHub::Close> ServerHub::poll_close() {
  if (closes_.empty()) return std::nullopt;
  Close c = std::move(closes_.front());
  closes_.pop_front();
  return c;
}

std::optional<std::string> ServerHub::poll_event() {
  if (events_.empty()) return std::nullopt;
  std::string e = std::move(events_.front());
  events_.pop_front();
  return e;
}

std::optional<int64_t> ServerHub::poll_timeout() {
  std::optional<int64_t> at;
  auto consider = [&at](int64_t t) { at = at ? std::min(*at, t) : t; };
  if (!awaiting_.empty()) consider(conns_.at(awaiting_.front()).opened_at + config_.heartbeat_timeout_ms);
  if (!liveness_.empty()) consider(conns_.at(liveness_.front()).last_rx + config_.heartbeat_timeout_ms);
  if (started_ && (config_.retention_ms > 0 || config_.retention_events > 0)) consider(next_prune_at_);
  return at;
}

const std::string* ServerHub::image_bytes(std::string_view turn_id, std::string_view image_id) const {
  auto it = turns_.find(std::string(turn_id));
  if (it == turns_.end()) return nullptr;
  for (const auto& img : it->second.images) {
    if (img.image.id == image_id) return &img.image.bytes;
  }
  return nullptr;
}

}  // namespace chatwire::server
