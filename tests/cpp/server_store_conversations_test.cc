// ServerStore, schema version 2 (issue 17): owners, the conversation list
// (newest first, cursor paging, only conversations holding a message),
// updates, deletes, and message branches (parent links, reply versions).
#include <gtest/gtest.h>

#include <string>

#include "core/protocol/codec.h"
#include "core/store/server_store.h"

namespace chatwire::store {
namespace {

constexpr int64_t kNow = 1'790'000'000'000;

class StoreConversationsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto opened = ServerStore::open(":memory:");
    ASSERT_TRUE(opened.ok()) << opened.error().message;
    store = std::move(*opened);
  }

  // A conversation of `client` with one user message at `at`.
  void conversation(const std::string& id, const std::string& client, const std::string& user, int64_t at,
                    const std::string& text = "hi") {
    ASSERT_TRUE(store->create_conversation(id, client, user, at).ok());
    user_message(id, id + "-m1", text, std::nullopt, at);
  }

  void user_message(const std::string& conv, const std::string& id, const std::string& text,
                    std::optional<std::string> parent, int64_t at) {
    auto e = store->append_event(conv, "confirm", id, "", at, [](int64_t seq) { return std::to_string(seq); });
    ASSERT_TRUE(e.ok()) << e.error().message;
    UserMessageRecord m;
    m.message_id = id;
    m.content = text;
    m.timestamp = "2026-12-07T10:00:00.000Z";
    m.parent_id = std::move(parent);
    ASSERT_TRUE(store->put_user_message(conv, e->seq, m).ok());
  }

  void reply(const std::string& conv, const std::string& id, const std::string& reply_to, int64_t at) {
    auto e = store->append_event(conv, "response", id, reply_to, at, [](int64_t seq) { return std::to_string(seq); });
    ASSERT_TRUE(e.ok()) << e.error().message;
    protocol::Response r;
    r.message_id = id;
    r.reply_to = reply_to;
    r.content = "answer " + id;
    r.seq = e->seq;
    r.timestamp = "2026-12-07T10:00:01.000Z";
    ASSERT_TRUE(store->put_assistant_message(conv, r).ok());
  }

  std::vector<std::string> ids(const ConversationPage& page) {
    std::vector<std::string> out;
    for (const auto& item : page.items) out.push_back(item.conversation.id);
    return out;
  }

  std::unique_ptr<ServerStore> store;
};

TEST_F(StoreConversationsTest, OwnerIsTheTicketUserElseTheClient) {
  EXPECT_EQ(conversation_owner("client-a", ""), "c:client-a");
  EXPECT_EQ(conversation_owner("client-a", "alice"), "u:alice");
  EXPECT_NE(conversation_owner("alice", ""), conversation_owner("x", "alice"));
  ASSERT_TRUE(store->create_conversation("c1", "client-a", "alice", kNow).ok());
  auto c = store->find_conversation("c1");
  ASSERT_TRUE(c.ok() && c->has_value());
  EXPECT_EQ((*c)->owner, "u:alice");
  EXPECT_FALSE((*c)->title.has_value());
  EXPECT_EQ((*c)->metadata, "{}");
  EXPECT_EQ((*c)->updated_at_ms, kNow);
}

TEST_F(StoreConversationsTest, ListIsTheOwnersOnlyNewestFirstAndPagedByCursor) {
  for (int i = 0; i < 5; ++i) conversation("a" + std::to_string(i), "client-a", "", kNow + i);
  conversation("b0", "client-b", "", kNow + 10);
  ASSERT_TRUE(store->create_conversation("empty", "client-a", "", kNow + 20).ok());  // no message: not listed

  auto first = store->list_conversations("c:client-a", 2, "");
  ASSERT_TRUE(first.ok()) << first.error().message;
  EXPECT_EQ(ids(*first), (std::vector<std::string>{"a4", "a3"}));
  EXPECT_TRUE(first->has_more);
  ASSERT_FALSE(first->cursor.empty());
  auto second = store->list_conversations("c:client-a", 2, first->cursor);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(ids(*second), (std::vector<std::string>{"a2", "a1"}));
  auto third = store->list_conversations("c:client-a", 2, second->cursor);
  ASSERT_TRUE(third.ok());
  EXPECT_EQ(ids(*third), (std::vector<std::string>{"a0"}));
  EXPECT_FALSE(third->has_more);
  EXPECT_EQ(third->cursor, "");

  auto b = store->list_conversations("c:client-b", 20, "");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(ids(*b), (std::vector<std::string>{"b0"}));
  ASSERT_TRUE(b->items[0].last_message.has_value());
  EXPECT_EQ(b->items[0].last_message->role, "user");
  EXPECT_EQ(b->items[0].last_message->content, "hi");
}

TEST_F(StoreConversationsTest, ANewEventMovesAConversationToTheTop) {
  conversation("a0", "client-a", "", kNow);
  conversation("a1", "client-a", "", kNow + 1);
  reply("a0", "r0", "a0-m1", kNow + 5);
  auto page = store->list_conversations("c:client-a", 20, "");
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(ids(*page), (std::vector<std::string>{"a0", "a1"}));
  EXPECT_EQ(page->items[0].last_message->role, "assistant");
  EXPECT_EQ(page->items[0].conversation.updated_at_ms, kNow + 5);
}

TEST_F(StoreConversationsTest, LastMessageIsCutTo200Characters) {
  std::string long_text;
  for (int i = 0; i < 300; ++i) long_text += "\xC3\xA9";  // é, two bytes each
  conversation("a0", "client-a", "", kNow, long_text);
  auto page = store->list_conversations("c:client-a", 20, "");
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->items[0].last_message->content, long_text.substr(0, 400));
}

TEST_F(StoreConversationsTest, ACursorThatIsNotOneIsInvalidField) {
  for (const char* bad : {"x", ".abc", "12", "12.", "1a.abc"}) {
    auto page = store->list_conversations("c:client-a", 20, bad);
    ASSERT_FALSE(page.ok()) << bad;
    EXPECT_EQ(page.error().code, ErrorCode::invalid_field) << bad;
  }
}

TEST_F(StoreConversationsTest, UpdateChangesOnlyWhatItNames) {
  conversation("a0", "client-a", "", kNow);
  ConversationUpdate u;
  u.title = std::optional<std::string>("Trip to Rome");
  ASSERT_TRUE(*store->update_conversation("a0", u, kNow + 1));
  ConversationUpdate v;
  v.archived = true;
  v.metadata = R"({"app":"UD21"})";
  ASSERT_TRUE(*store->update_conversation("a0", v, kNow + 2));
  auto c = *store->find_conversation("a0");
  EXPECT_EQ(c->title.value_or(""), "Trip to Rome");
  EXPECT_TRUE(c->archived);
  EXPECT_EQ(c->metadata, R"({"app":"UD21"})");
  EXPECT_EQ(c->updated_at_ms, kNow + 2);
  ConversationUpdate clear;
  clear.title = std::optional<std::string>();
  ASSERT_TRUE(*store->update_conversation("a0", clear, kNow + 3));
  EXPECT_FALSE((*store->find_conversation("a0"))->title.has_value());
  EXPECT_FALSE(*store->update_conversation("nope", u, kNow));
}

TEST_F(StoreConversationsTest, DeleteRemovesEverythingAndTheIdBecomesUnknown) {
  conversation("a0", "client-a", "", kNow);
  reply("a0", "r0", "a0-m1", kNow + 1);
  ASSERT_TRUE(*store->delete_conversation("a0"));
  EXPECT_FALSE(store->find_conversation("a0")->has_value());
  EXPECT_TRUE(store->load_messages("a0", std::nullopt, 50, 0)->messages.empty());
  EXPECT_FALSE(store->find_turn("a0", "a0-m1")->has_value());
  EXPECT_TRUE(store->list_conversations("c:client-a", 20, "")->items.empty());
  EXPECT_FALSE(*store->delete_conversation("a0"));
  // The id can be created again, from nothing.
  ASSERT_TRUE(store->create_conversation("a0", "client-b", "", kNow + 2).ok());
  EXPECT_EQ((*store->find_conversation("a0"))->last_seq, 0);
}

TEST_F(StoreConversationsTest, BranchesFollowParentsAndTheActiveBranchIsTheNewestChild) {
  ASSERT_TRUE(store->create_conversation("c", "client-a", "", kNow).ok());
  EXPECT_FALSE(store->active_leaf("c")->has_value());
  user_message("c", "u1", "first", std::nullopt, kNow);
  reply("c", "r1", "u1", kNow);
  user_message("c", "u2", "second", std::string("r1"), kNow);
  reply("c", "r2", "u2", kNow);
  EXPECT_EQ(store->active_leaf("c")->value_or(""), "r2");
  // An edit of u2: a sibling on u2's parent; the newest child wins.
  user_message("c", "u2b", "second, edited", std::string("r1"), kNow);
  EXPECT_EQ(store->active_leaf("c")->value_or(""), "u2b");
  auto branch = store->message_branch("c", "u2b", 0);
  ASSERT_TRUE(branch.ok());
  std::vector<std::string> got;
  for (const auto& m : *branch) got.push_back(m.message_id);
  EXPECT_EQ(got, (std::vector<std::string>{"u1", "r1", "u2b"}));
  auto newest_two = store->message_branch("c", "u2b", 2);
  ASSERT_EQ(newest_two->size(), 2u);
  EXPECT_EQ(newest_two->front().message_id, "r1");
  EXPECT_TRUE(*store->has_message("c", "r2"));
  EXPECT_FALSE(*store->has_message("c", "nope"));
}

TEST_F(StoreConversationsTest, RepliesToOneMessageCountUp) {
  ASSERT_TRUE(store->create_conversation("c", "client-a", "", kNow).ok());
  user_message("c", "u1", "first", std::nullopt, kNow);
  EXPECT_EQ(*store->reply_count("c", "u1"), 0);
  reply("c", "r1", "u1", kNow);
  reply("c", "r1b", "u1", kNow);
  EXPECT_EQ(*store->reply_count("c", "u1"), 2);
  // The newest version is the active branch.
  EXPECT_EQ(store->active_leaf("c")->value_or(""), "r1b");
}

}  // namespace
}  // namespace chatwire::store
