// ServerHub: the conversation list and its commands (PROTOCOL.md, Version
// 1.1 → Conversations). A connection sees only its owner's conversations
// (store::conversation_owner: the ticket's user, else the clientId); an id
// that is unknown or another owner's gets the same not_found, so nothing of
// another owner leaks. update_conversation stores a seq'd `conversation`
// event in the conversation's log (replayed like any event) and sends it to
// every connection of the owner; delete_conversation removes the
// conversation and everything of it and tells every connection of the owner.
#include "core/protocol/options_json.h"
#include "core/server/server_hub.h"

#include "core/server/hub_util.h"

namespace chatwire::server {

using namespace hub_util;  // NOLINT: the hub's own helpers

namespace {

std::string owner_of(const std::string& client_id, const std::string& user_id) {
  return store::conversation_owner(client_id, user_id);
}

protocol::ConversationItem item_from(const store::ConversationSummary& s) {
  const store::ConversationRecord& c = s.conversation;
  protocol::ConversationItem item;
  item.conversation_id = c.id;
  item.title = c.title;
  item.created_at = ts(c.created_at_ms);
  item.updated_at = ts(c.updated_at_ms);
  item.archived = c.archived;
  item.metadata = protocol::RawJson{c.metadata};
  if (s.last_message) {
    item.last_message =
        protocol::ConversationLastMessage{s.last_message->role, s.last_message->content, s.last_message->timestamp};
  }
  return item;
}

}  // namespace

Result<store::ConversationRecord> ServerHub::owned_conversation(const std::string& owner, const std::string& id) {
  auto found = store_.find_conversation(id);
  if (!found) return store_failed(found.error(), "conversation lookup");
  if (!*found || (*found)->owner != owner) {
    return Error(ErrorCode::not_found, "unknown conversationId '" + id + "'");
  }
  return std::move(**found);
}

void ServerHub::send_to_owner(const std::string& owner, const std::string& text) {
  for (auto& [id, conn] : conns_) {
    if (conn.state == ConnState::open && owner_of(conn.client_id, conn.user_id) == owner) send(conn, text);
  }
}

Result<protocol::Conversations> ServerHub::list_page(const std::string& owner, int limit, std::string_view before) {
  auto page = store_.list_conversations(owner, limit, before);
  if (!page) {
    if (page.error().code == ErrorCode::invalid_field) return page.error();
    return store_failed(page.error(), "list_conversations");
  }
  protocol::Conversations out;
  for (const auto& s : page->items) out.items.push_back(item_from(s));
  out.has_more = page->has_more;
  if (!page->cursor.empty()) out.cursor = page->cursor;
  return out;
}

void ServerHub::on_list_conversations(int64_t now, Conn& c, const protocol::ListConversations& f) {
  auto page = list_page(owner_of(c.client_id, c.user_id), f.limit, f.before.value_or(""));
  if (!page) {
    send_error(now, c, page.error());
    return;
  }
  send(c, protocol::encode(ServerFrame{std::move(*page)}));
}

Result<bool> ServerHub::apply_update(int64_t now, const store::ConversationRecord& conv,
                                    const store::ConversationUpdate& u) {
  std::string text;
  auto stored = [&]() -> Result<bool> {
    auto begun = store_.begin();
    if (!begun) return begun;
    auto updated = store_.update_conversation(conv.id, u, now);
    if (!updated) return updated;
    auto after = store_.find_conversation(conv.id);
    if (!after) return after.error();
    const store::ConversationRecord& r = **after;
    auto ev = append(now, r.id, "conversation", "", "",
                     protocol::ConversationUpdated{r.id, r.title, r.archived, protocol::RawJson{r.metadata},
                                                   ts(now), 0, ts(now)});
    if (!ev) return ev.error();
    text = ev->frame;
    return store_.commit();
  }();
  if (!stored) {
    store_.rollback();
    return store_failed(stored.error(), "update_conversation");
  }
  send_to_owner(conv.owner, text);
  return true;
}

Result<bool> ServerHub::apply_delete(int64_t now, const store::ConversationRecord& conv) {
  auto deleted = store_.delete_conversation(conv.id);
  if (!deleted) return store_failed(deleted.error(), "delete_conversation");
  if (auto it = conversations_.find(conv.id); it != conversations_.end()) it->second.leaf.reset();
  send_to_owner(conv.owner, protocol::encode(ServerFrame{protocol::ConversationDeleted{conv.id, ts(now)}}));
  return true;
}

void ServerHub::on_update_conversation(int64_t now, Conn& c, const protocol::UpdateConversation& f) {
  auto conv = owned_conversation(owner_of(c.client_id, c.user_id), f.conversation_id);
  store::ConversationUpdate u;
  if (f.title) u.title = std::optional<std::string>(*f.title);
  u.archived = f.archived;
  if (f.metadata) u.metadata = f.metadata->text;
  auto done = conv ? apply_update(now, *conv, u) : Result<bool>(conv.error());
  if (!done) send_error(now, c, done.error());
}

void ServerHub::on_delete_conversation(int64_t now, Conn& c, const protocol::DeleteConversation& f) {
  auto conv = owned_conversation(owner_of(c.client_id, c.user_id), f.conversation_id);
  auto done = conv ? apply_delete(now, *conv) : Result<bool>(conv.error());
  if (!done) send_error(now, c, done.error());
}

// ------------------------------------------------------------------ for the application

Result<std::string> ServerHub::turn_history(std::string_view turn_id, std::optional<int64_t> max_items) {
  // The range first: a bad argument is the caller's error whatever the turn.
  constexpr int64_t kMaxLimit = 2147483646;
  if (max_items && (*max_items < 1 || *max_items > kMaxLimit)) {
    return protocol::integer_range_error("options.limit", 1, kMaxLimit, std::to_string(*max_items));
  }
  const int limit = max_items ? static_cast<int>(*max_items) : 0;
  auto turn = find_turn(turn_id);
  if (!turn) return turn.error();
  const Turn& t = **turn;
  // The branch ending at the message, one more than asked: the message itself is not context.
  auto branch = store_.message_branch(t.conversation_id, t.message_id, limit > 0 ? limit + 1 : 0);
  if (!branch) return store_failed(branch.error(), "history");
  if (!branch->empty() && branch->back().message_id == t.message_id) branch->pop_back();
  protocol::JsonWriter out;  // an array, not an event object
  out.begin_array();
  for (const auto& m : *branch) {
    out.begin_object();
    out.str("role", m.role).str("content", m.content).str("messageId", m.message_id);
    if (!m.images.empty()) {
      out.key("images");
      out.begin_array();
      for (const auto& img : m.images) {
        out.begin_object();
        out.str("id", img.id).str("mimeType", img.mime_type);
        if (img.filename) out.str("filename", *img.filename);
        out.end_object();
      }
      out.end_array();
    }
    out.end_object();
  }
  out.end_array();
  return out.done();
}

Result<bool> ServerHub::set_title(int64_t now, std::string_view turn_id, std::string_view title) {
  auto turn = find_turn(turn_id);
  if (!turn) return turn.error();
  const std::string text(title);
  if (auto e = protocol::title_error(text)) return *e;
  auto conv = store_.find_conversation((*turn)->conversation_id);
  if (!conv) return store_failed(conv.error(), "setTitle");
  if (!*conv) return Error(ErrorCode::not_found, "the turn's conversation is gone");
  store::ConversationUpdate u;
  u.title = std::optional<std::string>(text);
  return apply_update(now, **conv, u);
}

Result<std::string> ServerHub::list_conversations(std::string_view owner_json, int limit, std::string_view before) {
  auto who = protocol::owner_ref(owner_json, config_.limits);
  if (!who) return who.error();
  if (limit < 1 || limit > 100) return Error(ErrorCode::invalid_field, "limit must be 1..100");
  auto page = list_page(store::conversation_owner(who->client_id, who->user_id), limit, before);
  if (!page) return page.error();
  // The frame's body: the JSON after {"type":"conversations",
  std::string text = protocol::encode(ServerFrame{std::move(*page)});
  const std::string head = "{\"type\":\"conversations\",";
  return "{" + text.substr(head.size());
}

Result<bool> ServerHub::delete_conversation(int64_t now, std::string_view conversation_id) {
  auto conv = store_.find_conversation(conversation_id);
  if (!conv) return store_failed(conv.error(), "delete_conversation");
  if (!*conv) return Error(ErrorCode::not_found, "unknown conversationId '" + std::string(conversation_id) + "'");
  return apply_delete(now, **conv);
}

}  // namespace chatwire::server
