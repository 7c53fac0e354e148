// ServerHub: the conversation list and its commands (PROTOCOL.md, Version
// 1.1 → Conversations). A connection sees only its owner's conversations
// (store::conversation_owner: the ticket's user, else the clientId); an id
// that is unknown or another owner's gets the same not_found, so nothing of
// another owner leaks. update_conversation stores a seq'd `conversation`
// event in the conversation's log (replayed like any event) and sends it to
// every connection of the owner; delete_conversation removes the
// conversation and everything of it and tells every connection of the owner.
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

void ServerHub::on_list_conversations(int64_t now, Conn& c, const protocol::ListConversations& f) {
  auto page = store_.list_conversations(owner_of(c.client_id, c.user_id), f.limit, f.before.value_or(""));
  if (!page) {
    send_error(now, c, page.error().code == ErrorCode::invalid_field ? page.error()
                                                                     : store_failed(page.error(), "list_conversations"));
    return;
  }
  protocol::Conversations out;
  for (const auto& s : page->items) out.items.push_back(item_from(s));
  out.has_more = page->has_more;
  if (!page->cursor.empty()) out.cursor = page->cursor;
  send(c, protocol::encode(ServerFrame{std::move(out)}));
}

void ServerHub::on_update_conversation(int64_t now, Conn& c, const protocol::UpdateConversation& f) {
  const std::string owner = owner_of(c.client_id, c.user_id);
  auto conv = owned_conversation(owner, f.conversation_id);
  if (!conv) {
    send_error(now, c, conv.error());
    return;
  }
  store::ConversationUpdate u;
  if (f.title) u.title = std::optional<std::string>(*f.title);
  u.archived = f.archived;
  if (f.metadata) u.metadata = f.metadata->text;
  std::string text;
  auto stored = [&]() -> Result<bool> {
    auto begun = store_.begin();
    if (!begun) return begun;
    auto updated = store_.update_conversation(f.conversation_id, u, now);
    if (!updated) return updated;
    auto after = store_.find_conversation(f.conversation_id);
    if (!after) return after.error();
    const store::ConversationRecord& r = **after;
    auto ev = append(now, f.conversation_id, "conversation", "", "",
                     protocol::ConversationUpdated{r.id, r.title, r.archived, protocol::RawJson{r.metadata},
                                                   ts(now), 0, ts(now)});
    if (!ev) return ev.error();
    text = ev->frame;
    return store_.commit();
  }();
  if (!stored) {
    store_.rollback();
    send_error(now, c, store_failed(stored.error(), "update_conversation"));
    return;
  }
  send_to_owner(owner, text);
}

void ServerHub::on_delete_conversation(int64_t now, Conn& c, const protocol::DeleteConversation& f) {
  const std::string owner = owner_of(c.client_id, c.user_id);
  auto conv = owned_conversation(owner, f.conversation_id);
  if (!conv) {
    send_error(now, c, conv.error());
    return;
  }
  auto deleted = store_.delete_conversation(f.conversation_id);
  if (!deleted) {
    send_error(now, c, store_failed(deleted.error(), "delete_conversation"));
    return;
  }
  send_to_owner(owner, protocol::encode(ServerFrame{protocol::ConversationDeleted{f.conversation_id, ts(now)}}));
}

}  // namespace chatwire::server
