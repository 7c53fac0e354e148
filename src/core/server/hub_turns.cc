// ServerHub, turns: a client `message` processed once per messageId (stored
// with its confirm, announced as a "message" event), the turn commands the
// application drives it with (image_status .. respond / fail), cancel, tool
// results, components, and what a failing store does to turns (issue 14.8,
// group commit). The theory of operation is at the top of server_hub.cc.
#include "core/server/server_hub.h"

#include <algorithm>
#include <utility>

#include "core/protocol/codec.h"
#include "core/server/hub_util.h"

namespace chatwire::server {

using namespace hub_util;  // NOLINT: the hub's own helpers
using protocol::ClientFrame;
using protocol::ServerFrame;

namespace {

const char* const kStatusNames[] = {"received", "processing", "analyzed"};

}  // namespace

// ------------------------------------------------------------------ turn frames

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
    protocol::Confirm confirm{turn.message_id, std::nullopt, std::nullopt, turn.confirm_seq, ts(now), std::nullopt};
    send(c, encode_in(turn.conversation_id, ServerFrame{confirm}));
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
  const std::string conv_id = m.conversation_id.value_or(c.conversation_id);
  if (conv_id != c.conversation_id) {
    auto usable = use_conversation(now, c, conv_id);
    if (!usable) {
      Error e = usable.error();
      e.message_id = m.message_id;
      send_error(now, c, std::move(e), conv_id);
      return;
    }
  }
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

  if (m.parent_id && *m.parent_id) {
    auto known = store_.has_message(conv_id, **m.parent_id);
    if (!known || !*known) {
      Error e = !known ? store_failed(known.error(), "message")
                       : Error(ErrorCode::invalid_field, "field 'parentId' names no message of this conversation");
      e.message_id = m.message_id;
      send_error(now, c, std::move(e), conv_id);
      return;
    }
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
  if (m.metadata) record.metadata = m.metadata->text;
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
                          protocol::Confirm{m.message_id, std::nullopt, std::nullopt, 0, ts(now), std::nullopt});
    if (!confirm) return confirm.error();
    frames.push_back(confirm->frame);
    for (const auto& img : m.images) {
      auto ev = append(now, conv_id, "confirm", m.message_id, "",
                       protocol::Confirm{m.message_id, img.id, std::string("received"), 0, ts(now), std::nullopt});
      if (!ev) return ev.error();
      frames.push_back(ev->frame);
    }
    if (m.parent_id) {
      record.parent_id = *m.parent_id;
    } else {
      auto parent = default_parent(conv_id, m.message_id);
      if (!parent) return parent.error();
      record.parent_id = std::move(*parent);
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
  note_message(conv_id, record.parent_id, m.message_id);
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
  // Version 1.1: the application's metadata and the message it follows.
  if (m.metadata) ev.raw("metadata", m.metadata->text);
  if (record.parent_id) ev.str("parentId", *record.parent_id);
  else ev.key("parentId").null();
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
  in_conversation(frame, conversation_id);
  return store_.append_event(conversation_id, kind, ref_id, reply_to, now, [&frame](int64_t seq) {
    set_seq(frame, seq);
    return protocol::encode(frame);
  });
}

Result<bool> ServerHub::use_conversation(int64_t now, Conn& c, const std::string& conversation_id) {
  const std::string owner = store::conversation_owner(c.client_id, c.user_id);
  auto found = store_.find_conversation(conversation_id);
  if (!found) return store_failed(found.error(), "message");
  if (*found && (*found)->owner != owner) {
    return Error(ErrorCode::not_found, "unknown conversationId '" + conversation_id + "'");
  }
  if (!*found) {
    auto created = store_.create_conversation(conversation_id, c.client_id, c.user_id, now);
    if (!created) return store_failed(created.error(), "message");
  }
  conversations_[conversation_id].owner = owner;
  return true;
}

void ServerHub::note_message(const std::string& conversation_id, const std::optional<std::string>& parent,
                             const std::string& id) {
  auto it = conversations_.find(conversation_id);
  if (it == conversations_.end()) return;
  auto& leaf = it->second.leaf;
  // A new message is its parent's newest child: it is the leaf when its
  // parent was (or it is a new root: the newest root). Otherwise unknown.
  if ((leaf && *leaf == parent) || !parent) leaf = std::optional<std::string>(id);
  else leaf.reset();
}

Result<std::optional<std::string>> ServerHub::default_parent(const std::string& conversation_id,
                                                             const std::string& message_id) {
  auto& live = conversations_[conversation_id];
  if (live.leaf && *live.leaf != std::optional<std::string>(message_id)) return *live.leaf;
  auto leaf = store_.active_leaf(conversation_id);
  if (leaf) conversations_[conversation_id].leaf = *leaf;
  if (!leaf || !*leaf || **leaf != message_id) return leaf;
  auto branch = store_.message_branch(conversation_id, message_id, 2);
  if (!branch) return branch.error();
  if (branch->size() < 2) return std::optional<std::string>();
  return std::optional<std::string>(branch->front().message_id);
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
  send_to_conversation(conversation_id, encode_in(conversation_id, protocol::TypingIndicator{on, ts(now)}));
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
  return end_with_response(now, t, std::move(r), store::TurnStatus::cancelled);
}

Result<bool> ServerHub::end_with_response(int64_t now, Turn& t, protocol::Response r, store::TurnStatus status) {
  const std::string turn_id = t.turn_id;
  auto begun = store_.begin();
  if (!begun) return lose_turn(now, t, begun.error());
  auto ev = append(now, t.conversation_id, "response", t.reply_id, t.message_id, r);
  if (!ev) {
    store_.rollback();
    return lose_turn(now, t, ev.error());
  }
  r.seq = ev->seq;
  auto put = store_.put_assistant_message(t.conversation_id, r);
  auto fin = put ? store_.finish_turn(t.conversation_id, t.message_id, status, now) : put;
  auto done = fin ? store_.commit() : fin;
  if (!done) {
    store_.rollback();
    return lose_turn(now, t, done.error());
  }
  note_message(t.conversation_id, t.message_id, r.message_id);
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
                       encode_in(turn.conversation_id, protocol::Delta{turn.reply_id, turn.message_id, index,
                                                                       std::string(text), ts(now)}));
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
       {"cancelled", "version", "conversationId"}},
      "response");
  if (!frame) return frame.error();
  protocol::Response r = std::get<protocol::Response>(*frame);
  if (turn.cancelled) return end_cancelled(now, turn, std::move(r));
  return end_with_response(now, turn, std::move(r), store::TurnStatus::completed);
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
  send_to_conversation(conversation_id, encode_in(conversation_id, protocol::ErrorEvent{e, std::nullopt, ts(now)}));
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
  if (!r) {
    for (auto& [id, conv] : conversations_) conv.leaf.reset();  // what the group stored is gone
  }
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

const std::string* ServerHub::image_bytes(std::string_view turn_id, std::string_view image_id) const {
  auto it = turns_.find(std::string(turn_id));
  if (it == turns_.end()) return nullptr;
  for (const auto& img : it->second.images) {
    if (img.image.id == image_id) return &img.image.bytes;
  }
  return nullptr;
}

}  // namespace chatwire::server
