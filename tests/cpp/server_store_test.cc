// ServerStore: schema, seq allocation, the replay log and its retention,
// turns, history pages, persistence across a reopened file.
#include "core/store/server_store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include "core/protocol/codec.h"

namespace chatwire::store {
namespace {

constexpr int64_t kNow = 1'790'000'000'000;

std::string frame_for(const std::string& kind, int64_t seq) {
  return "{\"type\":\"" + kind + "\",\"seq\":" + std::to_string(seq) + "}";
}

class TempFile {
 public:
  TempFile() {
    char tmpl[] = "/tmp/chatwire_server_store_XXXXXX";
    int fd = mkstemp(tmpl);
    close(fd);
    path_ = tmpl;
    std::remove(path_.c_str());
  }
  ~TempFile() {
    for (const char* suffix : {"", "-wal", "-shm"}) std::remove((path_ + suffix).c_str());
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

class ServerStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto opened = ServerStore::open(":memory:");
    ASSERT_TRUE(opened.ok()) << opened.error().message;
    store = std::move(*opened);
    ASSERT_TRUE(store->create_conversation("c1", "client-a", "", kNow).ok());
    ASSERT_TRUE(store->create_conversation("c2", "client-b", "user-b", kNow).ok());
  }

  EventRecord append(const std::string& conv, const std::string& kind, int64_t at, const std::string& ref = "",
                     const std::string& reply_to = "") {
    auto e = store->append_event(conv, kind, ref, reply_to, at, [&](int64_t seq) { return frame_for(kind, seq); });
    EXPECT_TRUE(e.ok()) << e.error().message;
    return e.ok() ? *e : EventRecord{};
  }

  std::unique_ptr<ServerStore> store;
};

TEST_F(ServerStoreTest, SchemaVersionIsWrittenAndNewerFilesAreRefused) {
  TempFile file;
  {
    auto s = ServerStore::open(file.path());
    ASSERT_TRUE(s.ok()) << s.error().message;
  }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(file.path().c_str(), &db), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, nullptr);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(st, 0), ServerStore::schema_version());
  sqlite3_finalize(st);
  sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, nullptr);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(sqlite3_column_text(st, 0))), "wal");
  sqlite3_finalize(st);
  sqlite3_exec(db, "PRAGMA user_version=99", nullptr, nullptr, nullptr);
  sqlite3_close(db);

  auto refused = ServerStore::open(file.path());
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ErrorCode::internal);
  EXPECT_NE(refused.error().message.find("newer"), std::string::npos);
}

TEST_F(ServerStoreTest, SeqIsStrictlyIncreasingPerConversation) {
  EXPECT_EQ(append("c1", "confirm", kNow).seq, 1);
  EXPECT_EQ(append("c1", "thinking", kNow).seq, 2);
  EXPECT_EQ(append("c2", "confirm", kNow).seq, 1);
  EXPECT_EQ(append("c1", "response", kNow).seq, 3);
  auto conv = store->find_conversation("c1");
  ASSERT_TRUE(conv.ok() && conv->has_value());
  EXPECT_EQ((*conv)->last_seq, 3);
  // The frame text is built with the allocated seq and stored verbatim.
  auto replay = store->events_after("c1", 0, kNow, {});
  ASSERT_TRUE(replay.ok());
  ASSERT_EQ(replay->events.size(), 3u);
  EXPECT_EQ(replay->events[2].frame, frame_for("response", 3));
}

TEST_F(ServerStoreTest, AppendToUnknownConversationIsNotFound) {
  auto e = store->append_event("nope", "confirm", "", "", kNow, [](int64_t) { return std::string("{}"); });
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.error().code, ErrorCode::not_found);
}

TEST_F(ServerStoreTest, EventsAfterReturnsTheTailInOrder) {
  for (int i = 0; i < 5; ++i) append("c1", "thinking", kNow);
  auto r = store->events_after("c1", 2, kNow, {});
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->recovered);
  ASSERT_EQ(r->events.size(), 3u);
  EXPECT_EQ(r->events[0].seq, 3);
  EXPECT_EQ(r->events[2].seq, 5);
  // A client claiming a seq the store never issued cannot be trusted to be in sync.
  auto ahead = store->events_after("c1", 9, kNow, {});
  ASSERT_TRUE(ahead.ok());
  EXPECT_FALSE(ahead->recovered);
  EXPECT_TRUE(ahead->events.empty());
}

TEST_F(ServerStoreTest, RetentionByCountPrunesAPrefixAndReportsUnrecoverable) {
  for (int i = 0; i < 10; ++i) append("c1", "thinking", kNow);
  RetentionPolicy keep4{0, 4};
  auto r = store->events_after("c1", 6, kNow, keep4);  // events 7..10 kept
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->recovered);
  EXPECT_EQ(r->events.size(), 4u);
  r = store->events_after("c1", 5, kNow, keep4);  // event 6 is gone
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->recovered);
  ASSERT_EQ(r->events.size(), 4u);
  EXPECT_EQ(r->events.front().seq, 7);
  // Seq numbering continues after pruning (never reused).
  EXPECT_EQ(append("c1", "thinking", kNow).seq, 11);
}

TEST_F(ServerStoreTest, RetentionByAgePrunesOldEventsOnly) {
  append("c1", "confirm", kNow);
  append("c1", "response", kNow + 1000);
  append("c1", "confirm", kNow + 5000);
  RetentionPolicy age{3000, 0};
  // At kNow + 4500 the cutoff is kNow + 1500: seq 1 and 2 are older.
  auto r = store->events_after("c1", 0, kNow + 4500, age);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->recovered);
  ASSERT_EQ(r->events.size(), 1u);
  EXPECT_EQ(r->events[0].seq, 3);
  r = store->events_after("c1", 2, kNow + 4500, age);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->recovered);
}

TEST_F(ServerStoreTest, GlobalPruneCoversEveryConversation) {
  for (int i = 0; i < 6; ++i) append("c1", "thinking", kNow);
  for (int i = 0; i < 3; ++i) append("c2", "thinking", kNow);
  auto n = store->prune(kNow, RetentionPolicy{0, 2});
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 4 + 1);
  EXPECT_EQ((*store->find_conversation("c1"))->pruned_through, 4);
  EXPECT_EQ((*store->find_conversation("c2"))->pruned_through, 1);
  n = store->prune(kNow + 10'000, RetentionPolicy{5000, 0});
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 2 + 2);
  EXPECT_EQ((*store->find_conversation("c1"))->pruned_through, 6);
  EXPECT_TRUE(store->events_after("c1", 6, kNow + 10'000, {})->events.empty());
}

TEST_F(ServerStoreTest, EventsForMessageFindsConfirmsAndReplies) {
  append("c1", "confirm", kNow, "m1");
  append("c1", "confirm", kNow, "m2");
  append("c1", "thinking", kNow, "", "m1");
  append("c1", "tool_call", kNow, "tc1", "m1");
  append("c1", "response", kNow, "reply-1", "m1");
  auto ev = store->events_for_message("c1", "m1");
  ASSERT_TRUE(ev.ok());
  ASSERT_EQ(ev->size(), 4u);
  EXPECT_EQ((*ev)[0].seq, 1);
  EXPECT_EQ((*ev)[1].kind, "thinking");
  EXPECT_EQ((*ev)[3].kind, "response");
  auto tc = store->find_event("c1", "tool_call", "tc1");
  ASSERT_TRUE(tc.ok() && tc->has_value());
  EXPECT_EQ((*tc)->seq, 4);
  EXPECT_FALSE(store->find_event("c2", "tool_call", "tc1")->has_value());
}

TEST_F(ServerStoreTest, TurnsRecordOutcomes) {
  TurnRecord t{"c1", "m1", "turn-1", "reply-1", TurnStatus::received, 3, kNow, 0};
  ASSERT_TRUE(store->put_turn(t).ok());
  EXPECT_FALSE(store->find_turn("c2", "m1")->has_value());  // per conversation
  auto unfinished = store->unfinished_turns();
  ASSERT_TRUE(unfinished.ok());
  ASSERT_EQ(unfinished->size(), 1u);
  EXPECT_EQ((*unfinished)[0].turn_id, "turn-1");
  ASSERT_TRUE(store->finish_turn("c1", "m1", TurnStatus::cancelled, kNow + 5).ok());
  auto found = store->find_turn("c1", "m1");
  ASSERT_TRUE(found.ok() && found->has_value());
  EXPECT_EQ((*found)->status, TurnStatus::cancelled);
  EXPECT_EQ((*found)->confirm_seq, 3);
  EXPECT_EQ((*found)->finished_at_ms, kNow + 5);
  EXPECT_TRUE(store->unfinished_turns()->empty());
  EXPECT_STREQ(turn_status_name(TurnStatus::abandoned), "abandoned");
}

TEST_F(ServerStoreTest, OwnershipNeedsClientAndUser) {
  EXPECT_TRUE(*store->owns("c1", "client-a", ""));
  EXPECT_FALSE(*store->owns("c1", "client-b", ""));
  EXPECT_TRUE(*store->owns("c2", "client-b", "user-b"));
  EXPECT_FALSE(*store->owns("c2", "client-b", ""));
  EXPECT_FALSE(*store->owns("c2", "client-b", "user-x"));
  EXPECT_FALSE(*store->owns("missing", "client-a", ""));
}

TEST_F(ServerStoreTest, HistoryPagesAreOldestFirstWithHasMore) {
  for (int i = 1; i <= 5; ++i) {
    UserMessageRecord m{"m" + std::to_string(i), "hello " + std::to_string(i), "2026-11-23T13:47:50.123Z", {}};
    ASSERT_TRUE(store->put_user_message("c1", i * 2 - 1, m).ok());
    protocol::Response r;
    r.message_id = "r" + std::to_string(i);
    r.reply_to = m.message_id;
    r.content = "answer " + std::to_string(i);
    r.seq = i * 2;
    r.timestamp = "2026-11-23T13:47:51.000Z";
    ASSERT_TRUE(store->put_assistant_message("c1", r).ok());
  }
  auto page = store->load_messages("c1", std::nullopt, 4);
  ASSERT_TRUE(page.ok());
  EXPECT_TRUE(page->has_more);
  ASSERT_EQ(page->messages.size(), 4u);
  EXPECT_EQ(page->messages[0].seq, 7);
  EXPECT_EQ(page->messages[0].role, "user");
  EXPECT_EQ(page->messages[3].seq, 10);
  EXPECT_EQ(page->messages[3].role, "assistant");
  EXPECT_EQ(page->messages[3].reply_to.value_or(""), "m5");

  auto older = store->load_messages("c1", 7, 4);
  ASSERT_TRUE(older.ok());
  EXPECT_TRUE(older->has_more);
  EXPECT_EQ(older->messages.front().seq, 3);
  EXPECT_EQ(older->messages.back().seq, 6);
  auto oldest = store->load_messages("c1", 3, 50);
  ASSERT_TRUE(oldest.ok());
  EXPECT_FALSE(oldest->has_more);
  ASSERT_EQ(oldest->messages.size(), 2u);
  EXPECT_EQ(oldest->messages[0].content, "hello 1");
}

// Issue 14.3: a page holds only what fits in max_bytes of encoded history
// frame; paging on with beforeSeq gets everything, each page within budget.
TEST_F(ServerStoreTest, HistoryPagesByEncodedBytes) {
  const std::string escaped(1000, '\x01');  // 6 bytes each in JSON (\u0001)
  for (int i = 1; i <= 40; ++i) {
    UserMessageRecord m{"m" + std::to_string(i), escaped, "2026-11-23T13:47:50.123Z", {}};
    ASSERT_TRUE(store->put_user_message("c1", i, m).ok());
  }
  const size_t budget = 20000;  // ~3 messages of ~6 KB encoded
  std::optional<int64_t> before;
  std::vector<int64_t> seen;
  for (int pages = 0; pages < 100; ++pages) {
    auto page = store->load_messages("c1", before, 200, budget);
    ASSERT_TRUE(page.ok()) << page.error().message;
    ASSERT_FALSE(page->messages.empty());
    protocol::History h{"c1", page->messages, page->has_more};
    const std::string text = protocol::encode(protocol::ServerFrame{h});
    EXPECT_LE(text.size(), budget);
    if (page->has_more) EXPECT_GT(text.size(), budget - 7000) << "a page should be nearly full";
    for (auto it = page->messages.rbegin(); it != page->messages.rend(); ++it) seen.push_back(it->seq);
    if (!page->has_more) break;
    before = page->messages.front().seq;
  }
  ASSERT_EQ(seen.size(), 40u);
  for (size_t i = 0; i < seen.size(); ++i) EXPECT_EQ(seen[i], static_cast<int64_t>(40 - i));
  // Without a byte budget the row limit alone applies, as before.
  auto all = store->load_messages("c1", std::nullopt, 200);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->messages.size(), 40u);
}

TEST_F(ServerStoreTest, AMessageLargerThanAPageComesTruncatedToFit) {
  UserMessageRecord m{"big", std::string(30000, 'x') + "\xC3\xA9", "2026-11-23T13:47:50.123Z", {}};
  ASSERT_TRUE(store->put_user_message("c1", 1, m).ok());
  auto page = store->load_messages("c1", std::nullopt, 50, 4096);
  ASSERT_TRUE(page.ok()) << page.error().message;
  ASSERT_EQ(page->messages.size(), 1u);
  EXPECT_TRUE(page->messages[0].truncated);
  const std::string text = protocol::encode(protocol::ServerFrame{protocol::History{"c1", page->messages, false}});
  EXPECT_LE(text.size(), 4096u);
  EXPECT_GT(text.size(), 3900u);
  EXPECT_TRUE(protocol::decode_server_frame(text, Limits{}).ok());  // valid UTF-8, valid frame
}

// Issue 14.8: a corrupt file is refused at open, naming it.
TEST_F(ServerStoreTest, ACorruptFileIsRefusedAtOpen) {
  TempFile file;
  {
    auto s = ServerStore::open(file.path());
    ASSERT_TRUE(s.ok());
    ASSERT_TRUE((*s)->create_conversation("c", "a", "", kNow).ok());
    ASSERT_TRUE((*s)->checkpoint().ok());
  }
  ASSERT_TRUE(ServerStore::checkpoint_file(file.path()).ok());
  FILE* f = std::fopen(file.path().c_str(), "r+b");
  ASSERT_NE(f, nullptr);
  std::fseek(f, 4096, SEEK_SET);  // page 2
  const std::string garbage(4096, '\x5a');
  std::fwrite(garbage.data(), 1, garbage.size(), f);
  std::fclose(f);
  auto refused = ServerStore::open(file.path());
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message.find(file.path()), std::string::npos) << refused.error().message;
}

TEST_F(ServerStoreTest, AFullDatabaseFailsWritesButStaysReadable) {
  TempFile file;
  ServerStoreOptions options;
  options.max_bytes = 256 * 1024;  // the schema itself takes ~100 KB
  auto s = ServerStore::open(file.path(), options);
  ASSERT_TRUE(s.ok()) << s.error().message;
  ASSERT_TRUE((*s)->create_conversation("c0", "a", "", kNow).ok());
  Result<bool> wrote = true;
  int n = 0;
  for (; n < 1000 && wrote.ok(); ++n) {
    UserMessageRecord m{"m" + std::to_string(n), std::string(2000, 'y'), "2026-11-23T13:47:50.123Z", {}};
    wrote = (*s)->put_user_message("c0", n + 1, m);
  }
  ASSERT_FALSE(wrote.ok()) << "max_bytes never reached";
  EXPECT_LT(n, 150);
  EXPECT_TRUE((*s)->load_messages("c0", std::nullopt, 10).ok());
}

TEST_F(ServerStoreTest, HistoryKeepsImageMetadataAndResponseDetails) {
  UserMessageRecord m{"m1", "", "2026-11-23T13:47:50.123Z",
                      {ImageRecord{{"img-1", "image/png", std::string("cat.png"), 640, 480}, 1234, "PNGBYTES"},
                       ImageRecord{{"img-2", "image/gif", std::nullopt, 1, 2}, 3, "GIF"}}};
  ASSERT_TRUE(store->put_user_message("c1", 1, m).ok());
  protocol::Response r;
  r.message_id = "r1";
  r.reply_to = "m1";
  r.content = "stopped";
  r.seq = 4;
  r.timestamp = "2026-11-23T13:47:51.000Z";
  r.cancelled = true;
  r.image_analysis = std::vector<protocol::ImageAnalysis>{{"img-1", "a cat", "animal", "good", {"fur"}, {}}};
  r.citations = std::vector<protocol::Citation>{{"doc", "chunk", "f.pdf", 1, 2, 0.5}};
  ASSERT_TRUE(store->put_assistant_message("c1", r).ok());

  auto page = store->load_messages("c1", std::nullopt, 50);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->messages.size(), 2u);
  const auto& user = page->messages[0];
  ASSERT_EQ(user.images.size(), 2u);
  EXPECT_EQ(user.images[0].id, "img-1");
  EXPECT_EQ(user.images[0].filename.value_or(""), "cat.png");
  EXPECT_FALSE(user.images[1].filename.has_value());
  const auto& reply = page->messages[1];
  EXPECT_TRUE(reply.cancelled);
  ASSERT_TRUE(reply.image_analysis.has_value());
  EXPECT_EQ((*reply.image_analysis)[0].description, "a cat");
  ASSERT_TRUE(reply.citations.has_value());
  EXPECT_EQ((*reply.citations)[0].page_end.value_or(0), 2);

  auto images = store->message_images("c1", "m1");
  ASSERT_TRUE(images.ok());
  EXPECT_EQ((*images)[0].width, 640u);
  EXPECT_EQ((*images)[0].height, 480u);
  EXPECT_EQ((*images)[0].size, 1234u);
  EXPECT_EQ((*images)[0].bytes, "");  // bytes are not kept by default
}

TEST_F(ServerStoreTest, ImageBytesAreKeptWhenAsked) {
  auto opened = ServerStore::open(":memory:", ServerStoreOptions{true});
  ASSERT_TRUE(opened.ok());
  auto& s = **opened;
  ASSERT_TRUE(s.create_conversation("c", "x", "", kNow).ok());
  ASSERT_TRUE(s.put_user_message("c", 1, {"m", "", "t", {ImageRecord{{"i", "image/png", {}, 1, 1}, 4, "\x89PNG"}}}).ok());
  EXPECT_EQ((*s.message_images("c", "m"))[0].bytes, "\x89PNG");
}

TEST_F(ServerStoreTest, ReplacingAUserMessageMovesItToItsNewSeq) {
  ASSERT_TRUE(store->put_user_message("c1", 1, {"m1", "first try", "t", {}}).ok());
  ASSERT_TRUE(store->put_user_message("c1", 5, {"m1", "retry", "t", {}}).ok());
  auto page = store->load_messages("c1", std::nullopt, 50);
  ASSERT_EQ(page->messages.size(), 1u);
  EXPECT_EQ(page->messages[0].seq, 5);
  EXPECT_EQ(page->messages[0].content, "retry");
}

TEST_F(ServerStoreTest, RolledBackBatchLeavesNoTrace) {
  ASSERT_TRUE(store->begin().ok());
  append("c1", "confirm", kNow);
  ASSERT_TRUE(store->put_component("c1", "comp-1", "m1", "form", kNow).ok());
  store->rollback();
  EXPECT_EQ((*store->find_conversation("c1"))->last_seq, 0);
  EXPECT_FALSE(*store->has_component("c1", "comp-1"));
  EXPECT_EQ(append("c1", "confirm", kNow).seq, 1);
}

TEST_F(ServerStoreTest, ComponentsAreScopedToTheirConversation) {
  ASSERT_TRUE(store->put_component("c1", "comp-1", "m1", "form", kNow).ok());
  EXPECT_TRUE(*store->has_component("c1", "comp-1"));
  EXPECT_FALSE(*store->has_component("c2", "comp-1"));
}

TEST_F(ServerStoreTest, ReopenedFileKeepsSeqHistoryAndConnections) {
  TempFile file;
  {
    auto s = ServerStore::open(file.path());
    ASSERT_TRUE(s.ok()) << s.error().message;
    ASSERT_TRUE((*s)->create_conversation("c", "client", "", kNow).ok());
    ASSERT_TRUE((*s)->connection_opened("conn-1", "c", "client", "", "127.0.0.1", kNow).ok());
    ASSERT_TRUE((*s)->connection_closed("conn-1", 1000, kNow + 5).ok());
    for (int i = 0; i < 3; ++i) {
      ASSERT_TRUE((*s)->append_event("c", "thinking", "", "m", kNow, [](int64_t q) { return frame_for("thinking", q); }).ok());
    }
    ASSERT_TRUE((*s)->put_user_message("c", 1, {"m", "hi", "t", {}}).ok());
  }
  auto s = ServerStore::open(file.path());
  ASSERT_TRUE(s.ok()) << s.error().message;
  auto e = (*s)->append_event("c", "response", "r", "m", kNow, [](int64_t q) { return frame_for("response", q); });
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->seq, 4);
  auto replay = (*s)->events_after("c", 1, kNow, {});
  ASSERT_TRUE(replay.ok());
  ASSERT_EQ(replay->events.size(), 3u);
  EXPECT_EQ(replay->events[0].frame, frame_for("thinking", 2));
  EXPECT_EQ((*s)->load_messages("c", std::nullopt, 10)->messages.size(), 1u);
}

}  // namespace
}  // namespace chatwire::store
