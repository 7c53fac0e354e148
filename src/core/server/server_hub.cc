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
#include "core/protocol/queue.h"
#include "core/server/server_hub.h"

#include <algorithm>
#include <utility>

#include "core/protocol/codec.h"
#include "core/protocol/json.h"
#include "core/protocol/time.h"
#include "core/server/hub_util.h"

namespace chatwire::server {

using namespace hub_util;  // NOLINT: the hub's own helpers
using protocol::ClientFrame;
using protocol::ServerFrame;

namespace {

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
  list_conversations,
  update_conversation,
  delete_conversation,
};

static_assert(std::variant_size_v<ClientFrame> == 13, "kActions has one column per client frame type");

// Rows: awaiting_connect, open. Columns: ClientFrame alternatives in order
// (connect, ping, message, typing, load_messages, configure_tools,
// tool_result, component_action, cancel, disconnect, list_conversations,
// update_conversation, delete_conversation).
constexpr Action kActions[2][13] = {
    {Action::connect, Action::not_connected, Action::not_connected, Action::not_connected,
     Action::not_connected, Action::not_connected, Action::not_connected, Action::not_connected,
     Action::not_connected, Action::disconnect, Action::not_connected, Action::not_connected,
     Action::not_connected},
    {Action::already_connected, Action::pong, Action::message, Action::ignore, Action::load_messages,
     Action::configure_tools, Action::tool_result, Action::component_action, Action::cancel,
     Action::disconnect, Action::list_conversations, Action::update_conversation,
     Action::delete_conversation},
};

using protocol::peek_message_id;  // the messageId of a frame refused before decoding

}  // namespace

ServerHub::ServerHub(HubConfig config, store::EventStore& store, Entropy& entropy, Fanout* fanout)
    : config_(std::move(config)),
      store_(store),
      entropy_(entropy),
      own_fanout_(fanout ? nullptr : std::make_unique<InProcessFanout>()),
      fanout_(fanout ? *fanout : *own_fanout_) {
  fanout_.attach([this](ConnId id, const std::string& text) {
    Conn* c = find_conn(id);
    if (!c || c->state != ConnState::open) return false;
    send(*c, text);
    return true;
  });
}

ServerHub::ServerHub(HubConfig config, std::unique_ptr<store::EventStore> store, Entropy& entropy, Fanout* fanout)
    : ServerHub(std::move(config), *store, entropy, fanout) {
  own_store_ = std::move(store);
}

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

void ServerHub::send_error(int64_t now, Conn& c, Error error, const std::string& conversation_id) {
  send(c, encode_in(conversation_id, protocol::ErrorEvent{std::move(error), std::nullopt, ts(now)}));
}

void ServerHub::send_error(int64_t now, Conn& c, Error error) {
  send(c, protocol::encode(ServerFrame{protocol::ErrorEvent{std::move(error), std::nullopt, ts(now)}}));
}

size_t ServerHub::send_to_conversation(const std::string& conversation_id, const std::string& text) {
  const std::string owner = owner_of_conversation(conversation_id);
  return owner.empty() ? 0 : fanout_.publish(owner, text);
}

std::string ServerHub::owner_of_conversation(const std::string& conversation_id) {
  auto it = conversations_.find(conversation_id);
  if (it != conversations_.end() && !it->second.owner.empty()) return it->second.owner;
  auto found = store_.find_conversation(conversation_id);
  return found && *found ? (*found)->owner : std::string();
}

void ServerHub::forget_conversation_if_idle(const std::string& conversation_id) {
  auto it = conversations_.find(conversation_id);
  if (it != conversations_.end() && it->second.connections == 0 && it->second.turns.empty()) {
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
    case Action::list_conversations:
      on_list_conversations(now, *c, std::get<protocol::ListConversations>(frame));
      break;
    case Action::update_conversation:
      on_update_conversation(now, *c, std::get<protocol::UpdateConversation>(frame));
      break;
    case Action::delete_conversation:
      on_delete_conversation(now, *c, std::get<protocol::DeleteConversation>(frame));
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
    fanout_.unsubscribe(store::conversation_owner(c->client_id, c->user_id), conn);
    if (auto it = conversations_.find(c->conversation_id); it != conversations_.end()) --it->second.connections;
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

// ------------------------------------------------------------------ connect

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
  Conversation& live = conversations_[conversation_id];  // its live state (tools, turns) from now on
  live.owner = store::conversation_owner(c.client_id, c.user_id);
  ++live.connections;
  fanout_.subscribe(live.owner, c.id);
  if (store_.in_group()) group_.connects.push_back(c.id);

  protocol::ConnectConfirm cc;
  cc.conversation_id = conversation_id;
  cc.connection_id = connection_id;
  cc.resumed = resumed;
  cc.recovered = recovered;
  cc.heartbeat_ms = config_.heartbeat_ms;
  cc.timestamp = ts(now);
  // Version 1.1: more conversations resumed at once, answered in the
  // connect's order, each replayed after the current one. Only the owner's
  // are resumed; an unknown or foreign id is resumed:false, nothing replayed.
  std::vector<std::vector<store::EventRecord>> more;
  const std::string owner = store::conversation_owner(c.client_id, c.user_id);  // (inserts below move `live`)
  if (f.conversations) {
    cc.conversations.emplace();
    for (const auto& r : *f.conversations) {
      protocol::ResumedConversation out{r.conversation_id, false, true};
      std::vector<store::EventRecord> events;
      if (r.conversation_id == conversation_id) {
        out.resumed = resumed;
        out.recovered = recovered;
      } else {
        auto found = store_.find_conversation(r.conversation_id);
        if (found && *found && (*found)->owner == owner) {
          out.resumed = true;
          auto rest = store_.events_after(r.conversation_id, r.last_seq, now, retention());
          out.recovered = rest && rest->recovered;
          if (rest) events = std::move(rest->events);
          conversations_[r.conversation_id].owner = owner;
        }
      }
      cc.conversations->push_back(std::move(out));
      more.push_back(std::move(events));
    }
  }
  send(c, protocol::encode(ServerFrame{cc}));
  for (auto& e : replay) send(c, std::move(e.frame));
  for (auto& events : more) {
    for (auto& e : events) send(c, std::move(e.frame));
  }
  if (config_.typing_around_handler && has_active_turn(conversation_id)) {
    send(c, encode_in(conversation_id, protocol::TypingIndicator{true, ts(now)}));
  }

  JsonOut ev;
  ev.str("type", "connection").str("connectionId", connection_id).str("conversationId", conversation_id);
  ev.str("clientId", f.client_id).str_or_null("userId", c.user_id).boolean("resumed", resumed);
  ev.boolean("recovered", recovered).str("peerIp", c.peer_ip);
  events_.push_back(ev.done());
}

// ------------------------------------------------------------------ outputs

std::optional<ServerHub::Transmit> ServerHub::poll_transmit() { return take_front(transmits_); }

std::optional<ServerHub::Close> ServerHub::poll_close() { return take_front(closes_); }

std::optional<std::string> ServerHub::poll_event() { return take_front(events_); }

std::optional<int64_t> ServerHub::poll_timeout() {
  std::optional<int64_t> at;
  auto consider = [&at](int64_t t) { at = at ? std::min(*at, t) : t; };
  if (!awaiting_.empty()) consider(conns_.at(awaiting_.front()).opened_at + config_.heartbeat_timeout_ms);
  if (!liveness_.empty()) consider(conns_.at(liveness_.front()).last_rx + config_.heartbeat_timeout_ms);
  if (started_ && (config_.retention_ms > 0 || config_.retention_events > 0)) consider(next_prune_at_);
  return at;
}

}  // namespace chatwire::server
