// ServerHub, fan-out and history: frames to every connection of a
// conversation, the application's broadcast (to a conversation or to every
// conversation a user has open; storable frames get a seq and are stored
// first) and load_messages (history pages). The theory of operation is at the
// top of server_hub.cc.
#include "core/server/server_hub.h"

#include <algorithm>
#include <utility>

#include "core/protocol/codec.h"
#include "core/server/hub_util.h"

namespace chatwire::server {

using namespace hub_util;  // NOLINT: the hub's own helpers
using protocol::ClientFrame;
using protocol::ServerFrame;

// ------------------------------------------------------------------ broadcast

Result<size_t> ServerHub::broadcast(int64_t now, std::string_view target_json, std::string_view event_json) {
  ensure_started(now);
  auto target = protocol::broadcast_target(target_json, config_.limits);
  if (!target) return target.error();
  const bool by_conv = !target->conversation_id.empty();
  auto frame = protocol::broadcast_frame(event_json, config_.limits, ts(now));
  if (!frame) return frame.error();
  const bool storable = protocol::frame_info(*frame).stored;  // the frame table's rule
  const std::string type = protocol::type_name(*frame);

  std::vector<std::pair<std::string, std::vector<ConnId>>> targets;
  if (by_conv) {
    const std::string& conv_id = target->conversation_id;
    auto found = store_.find_conversation(conv_id);
    if (!found) return found.error();
    if (!*found) return Error(ErrorCode::not_found, "unknown conversationId '" + conv_id + "'");
    targets.emplace_back(conv_id, std::vector<ConnId>{});  // the conversation's subscribers (Fanout)
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
        if (auto it = conversations_.find(conv_id); it != conversations_.end()) it->second.leaf.reset();
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
      in_conversation(*frame, conv_id);
      text = protocol::encode(*frame);
    }
    if (by_conv) {
      reached += send_to_conversation(conv_id, text);
      continue;
    }
    for (ConnId id : ids) {  // a user's connections: picked here, sent directly
      Conn* c = find_conn(id);
      if (c && c->state == ConnState::open) {
        send(*c, text);
        ++reached;
      }
    }
  }
  return reached;
}

// ------------------------------------------------------------------ history

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

}  // namespace chatwire::server
