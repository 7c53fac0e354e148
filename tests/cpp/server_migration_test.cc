// A server database written by version-1 code (tests/fixtures/v1-server.sqlite,
// made by tests/fixtures/make-v1-fixtures.mjs before the schema changed) opens
// with today's code and keeps every message, reply, image and event.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>
#include <string>

#include "core/store/server_store.h"

namespace chatwire::store {
namespace {

constexpr const char* kAlice = "2f5a55e0-c055-4ef5-a02a-cf6d5e1ba373";    // hello, how are you?, an image
constexpr const char* kAlice2 = "44b71884-d6e6-42c3-a1b2-25bf4a1801a7";   // a tool call and a component
constexpr const char* kBob = "d84c62f2-3d9b-4a48-ad14-ee7e02f5b29b";
constexpr const char* kCarol = "2ed0ae5a-dad0-47ae-a035-9093058e353d";    // a ticket user
constexpr int64_t kLater = 1'900'000'000'000;

// A copy of the fixture (opening migrates the file in place).
class FixtureCopy {
 public:
  FixtureCopy() {
    char tmpl[] = "/tmp/chatwire_migration_XXXXXX";
    int fd = mkstemp(tmpl);
    close(fd);
    path_ = tmpl;
    std::ifstream in(std::string(CHATWIRE_FIXTURES) + "/v1-server.sqlite", std::ios::binary);
    std::ofstream out(path_, std::ios::binary | std::ios::trunc);
    out << in.rdbuf();
  }
  ~FixtureCopy() {
    for (const char* suffix : {"", "-wal", "-shm"}) std::remove((path_ + suffix).c_str());
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

class ServerMigrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto opened = ServerStore::open(file.path());
    ASSERT_TRUE(opened.ok()) << opened.error().message;
    store = std::move(*opened);
  }

  std::vector<protocol::HistoryEntry> history(const char* conversation) {
    auto page = store->load_messages(conversation, std::nullopt, 200, 0);
    EXPECT_TRUE(page.ok()) << page.error().message;
    return page.ok() ? page->messages : std::vector<protocol::HistoryEntry>{};
  }

  FixtureCopy file;
  std::unique_ptr<ServerStore> store;
};

TEST_F(ServerMigrationTest, EveryMessageOfEveryConversationIsStillThere) {
  std::map<std::string, std::vector<std::string>> expected = {
      {kAlice, {"hello", "echo: hello", "how are you?", "echo: how are you?", "what is this?", "an image of 4x3"}},
      {kAlice2, {"a second chat", "echo: a second chat", "where am I?", "at 52.5,13.4"}},
      {kBob, {"bob here", "echo: bob here"}},
      {kCarol, {"carol with a ticket", "echo: carol with a ticket"}},
  };
  for (const auto& [id, contents] : expected) {
    auto got = history(id.c_str());
    ASSERT_EQ(got.size(), contents.size()) << id;
    for (size_t i = 0; i < contents.size(); ++i) {
      EXPECT_EQ(got[i].content, contents[i]) << id << " #" << i;
      EXPECT_EQ(got[i].role, i % 2 == 0 ? "user" : "assistant") << id << " #" << i;
      if (i % 2 == 1) EXPECT_EQ(got[i].reply_to.value_or(""), got[i - 1].message_id) << id << " #" << i;
    }
  }
  auto with_image = history(kAlice);
  ASSERT_EQ(with_image[4].images.size(), 1u);
  EXPECT_EQ(with_image[4].images[0].mime_type, "image/png");
  EXPECT_EQ(with_image[4].images[0].filename.value_or(""), "small.png");
}

TEST_F(ServerMigrationTest, TheEventLogStillReplaysAndNewEventsContinueItsSeq) {
  auto replay = store->events_after(kAlice2, 0, kLater, RetentionPolicy{});
  ASSERT_TRUE(replay.ok()) << replay.error().message;
  EXPECT_TRUE(replay->recovered);
  std::vector<std::string> kinds;
  for (const auto& e : replay->events) kinds.push_back(e.kind);
  EXPECT_NE(std::find(kinds.begin(), kinds.end(), "tool_call"), kinds.end());
  EXPECT_NE(std::find(kinds.begin(), kinds.end(), "component"), kinds.end());
  int64_t last = replay->events.back().seq;
  auto next = store->append_event(kAlice2, "thinking", "", "", kLater,
                                  [](int64_t seq) { return "{\"seq\":" + std::to_string(seq) + "}"; });
  ASSERT_TRUE(next.ok()) << next.error().message;
  EXPECT_EQ(next->seq, last + 1);
}

TEST_F(ServerMigrationTest, OwnersAndParentsAreFilledIn) {
  auto carol = store->find_conversation(kCarol);
  ASSERT_TRUE(carol.ok() && carol->has_value());
  EXPECT_EQ((*carol)->owner, "u:user-carol");
  auto alice = store->find_conversation(kAlice);
  ASSERT_TRUE(alice.ok() && alice->has_value());
  EXPECT_EQ((*alice)->owner, "c:" + (*alice)->client_id);
  EXPECT_GE((*alice)->updated_at_ms, (*alice)->created_at_ms);
  // Both of the first client's conversations are listed for it, newest first.
  auto page = store->list_conversations((*alice)->owner, 20, "");
  ASSERT_TRUE(page.ok()) << page.error().message;
  ASSERT_EQ(page->items.size(), 2u);
  EXPECT_EQ(page->items[0].conversation.id, kAlice2);
  EXPECT_EQ(page->items[0].last_message->content, "at 52.5,13.4");
  // One branch: each message's parent is the one before it.
  auto all = history(kAlice);
  auto leaf = store->active_leaf(kAlice);
  ASSERT_TRUE(leaf.ok() && leaf->has_value());
  EXPECT_EQ(**leaf, all.back().message_id);
  auto branch = store->message_branch(kAlice, **leaf, 0);
  ASSERT_TRUE(branch.ok());
  ASSERT_EQ(branch->size(), all.size());
  for (size_t i = 0; i < all.size(); ++i) EXPECT_EQ((*branch)[i].message_id, all[i].message_id);
  EXPECT_EQ((*branch)[4].images.size(), 1u);
  EXPECT_EQ(*store->reply_count(kAlice, all[0].message_id), 1);
}

TEST_F(ServerMigrationTest, ProcessedMessagesStayProcessed) {
  auto first = history(kBob)[0];
  auto turn = store->find_turn(kBob, first.message_id);
  ASSERT_TRUE(turn.ok());
  ASSERT_TRUE(turn->has_value());
  EXPECT_EQ((*turn)->status, TurnStatus::completed);
}

}  // namespace
}  // namespace chatwire::store
