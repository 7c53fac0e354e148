// ClientStore: schema, records, paging, outbox, tool results, batches, and
// persistence across a second open of the same file.
#include "core/store/client_store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <string>

namespace chatwire::store {
namespace {

// A database file path under /tmp, removed (with its journal) afterwards.
class TempDb {
 public:
  TempDb() {
    static int counter = 0;
    path_ = "/tmp/chatwire_client_store_" + std::to_string(::getpid()) + "_" + std::to_string(++counter) + ".db";
    remove_files();
  }
  ~TempDb() { remove_files(); }
  const std::string& path() const { return path_; }

 private:
  void remove_files() {
    std::remove(path_.c_str());
    std::remove((path_ + "-journal").c_str());
    std::remove((path_ + "-wal").c_str());
    std::remove((path_ + "-shm").c_str());
  }
  std::string path_;
};

std::unique_ptr<ClientStore> open_store(const std::string& path) {
  auto s = ClientStore::open(path);
  EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error().message);
  return s.ok() ? std::move(*s) : nullptr;
}

StoredMessage user_message(const std::string& id, int64_t ord) {
  StoredMessage m;
  m.id = id;
  m.role = "user";
  m.conversation_id = "conv-1";
  m.status = "queued";
  m.created_at = "2026-11-23T13:47:50.123Z";
  m.content = "hello " + id;
  m.ord = ord;
  return m;
}

TEST(ClientStoreSchema, NewDatabaseIsAtCurrentVersionAndEmpty) {
  auto store = open_store(":memory:");
  ASSERT_TRUE(store);
  EXPECT_EQ(*store->schema_version(), ClientStore::kSchemaVersion);
  EXPECT_EQ(*store->message_count(), 0);
  EXPECT_TRUE(store->outbox()->empty());
  EXPECT_FALSE(store->meta("clientId")->has_value());
  EXPECT_EQ(*store->next_order(), 0);
  EXPECT_FALSE(store->dirty());
}

TEST(ClientStoreSchema, NewerSchemaIsRefusedWithAClearError) {
  TempDb db;
  {
    sqlite3* raw = nullptr;
    ASSERT_EQ(sqlite3_open(db.path().c_str(), &raw), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(raw, "PRAGMA user_version = 99", nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(raw);
  }
  auto s = ClientStore::open(db.path());
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ErrorCode::internal);
  EXPECT_NE(s.error().message.find("newer"), std::string::npos) << s.error().message;
}

TEST(ClientStoreSchema, JournalModeOptionIsApplied) {
  TempDb db;
  ClientStoreOptions options;
  options.journal_mode = "MEMORY";
  {
    auto s = ClientStore::open(db.path(), options);
    ASSERT_TRUE(s.ok()) << s.error().message;
  }
  options.journal_mode = "MEMORY; DROP TABLE meta";
  EXPECT_FALSE(ClientStore::open(db.path(), options).ok());
}

// Two clients on one file would overwrite each other's rows (each keeps its
// state in memory): the second is refused, in this process or another, until
// the first closes.
TEST(ClientStoreSchema, ASecondStoreOnTheSameFileIsRefusedUntilTheFirstCloses) {
  TempDb db;
  auto first = open_store(db.path());
  ASSERT_TRUE(first);
  ASSERT_TRUE(first->set_meta("clientId", "c-1").ok());
  auto second = ClientStore::open(db.path());
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().code, ErrorCode::invalid_field);
  EXPECT_NE(second.error().message.find("in use by another ChatClient"), std::string::npos)
      << second.error().message;
  EXPECT_NE(second.error().message.find(db.path()), std::string::npos) << second.error().message;

  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto other = ClientStore::open(db.path());
    _exit(!other.ok() && other.error().message.find("in use by another ChatClient") != std::string::npos ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "another process was not refused";

  first.reset();
  auto later = open_store(db.path());
  ASSERT_TRUE(later);
  EXPECT_EQ(**later->meta("clientId"), "c-1");
}

TEST(ClientStoreMessages, FullRecordRoundTripsThroughTheDatabase) {
  auto store = open_store(":memory:");
  StoredMessage u = user_message("u1", 0);
  u.status = "failed";
  u.error_code = "image_invalid";
  u.error_message = "image 1 (i1) is image/gif but was declared image/png";
  StoredImage img;
  img.id = "i1";
  img.mime_type = "image/png";
  img.filename = "cat.png";
  img.width = 640;
  img.height = 480;
  img.status = "analyzed";
  img.analysis_json = R"({"imageId":"i1","description":"a cat","category":"pet","condition":"good","features":["fur"],"recommendations":[]})";
  u.images.push_back(img);
  ASSERT_TRUE(store->put_message(u).ok());
  EXPECT_GT(u.row, 0);

  StoredMessage a;
  a.id = "r1";
  a.role = "assistant";
  a.conversation_id = "conv-1";
  a.reply_to = "u1";
  a.status = "complete";
  a.seq = 21;
  a.created_at = "2026-11-23T13:47:51.000Z";
  a.content = "It is a cat.";
  a.ord = 1;
  a.thinking = {"Analyzing your request...", "Looking closer"};
  StoredToolCall call;
  call.tool_call_id = "t1";
  call.name = "getLocation";
  call.arguments_json = R"({"precise":true})";
  call.status = "done";
  call.result_json = R"({"lat":1.5,"lon":2})";
  a.tool_calls.push_back(call);
  a.components.push_back(StoredComponent{"c1", "form", R"({"fields":[]})"});
  a.citations_json = R"([{"documentId":"d","chunkId":"k","filename":"f.pdf","pageStart":1,"pageEnd":2,"score":0.82}])";
  a.image_analysis_json = "[" + *img.analysis_json + "]";
  ASSERT_TRUE(store->put_message(a).ok());

  auto got_u = store->find_message("u1");
  ASSERT_TRUE(got_u.ok() && got_u->has_value());
  EXPECT_EQ(message_to_json(**got_u), message_to_json(u));
  EXPECT_EQ((*got_u)->images.at(0).filename, "cat.png");
  auto got_a = store->find_reply("u1");
  ASSERT_TRUE(got_a.ok() && got_a->has_value());
  EXPECT_EQ((*got_a)->id, "r1");
  EXPECT_EQ((*got_a)->seq, 21);
  EXPECT_EQ(message_to_json(**got_a), message_to_json(a));

  // The DESIGN.md shapes, field for field.
  EXPECT_EQ(message_to_json(u),
            R"({"id":"u1","role":"user","content":"hello u1","createdAt":"2026-11-23T13:47:50.123Z","status":"failed",)"
            R"("error":{"code":"image_invalid","message":"image 1 (i1) is image/gif but was declared image/png"},)"
            R"("images":[{"id":"i1","mimeType":"image/png","filename":"cat.png","width":640,"height":480,"status":"analyzed",)"
            R"("analysis":{"imageId":"i1","description":"a cat","category":"pet","condition":"good","features":["fur"],"recommendations":[]}}]})");
  EXPECT_EQ(message_to_json(a),
            R"({"id":"r1","role":"assistant","replyTo":"u1","createdAt":"2026-11-23T13:47:51.000Z","status":"complete",)"
            R"("content":"It is a cat.","thinking":["Analyzing your request...","Looking closer"],)"
            R"("toolCalls":[{"toolCallId":"t1","name":"getLocation","arguments":{"precise":true},"status":"done","result":{"lat":1.5,"lon":2}}],)"
            R"("components":[{"componentId":"c1","component":"form","props":{"fields":[]}}],)"
            R"("citations":[{"documentId":"d","chunkId":"k","filename":"f.pdf","pageStart":1,"pageEnd":2,"score":0.82}],)"
            R"("imageAnalysis":[{"imageId":"i1","description":"a cat","category":"pet","condition":"good","features":["fur"],"recommendations":[]}]})");

  // Update by row, including a changed id (provisional -> server reply id).
  (*got_a)->id = "r1-final";
  (*got_a)->status = "cancelled";
  ASSERT_TRUE(store->put_message(**got_a).ok());
  EXPECT_FALSE(store->find_message("r1")->has_value());
  EXPECT_EQ((*store->find_message("r1-final"))->status, "cancelled");
  EXPECT_EQ(*store->message_count(), 2);
}

TEST(ClientStoreMessages, PagesNewestFirstThenOlderInOrder) {
  auto store = open_store(":memory:");
  for (int i = 0; i < 7; ++i) {
    StoredMessage m = user_message("m" + std::to_string(i), i);
    ASSERT_TRUE(store->put_message(m).ok());
  }
  auto ids = [](const std::vector<StoredMessage>& v) {
    std::string s;
    for (const auto& m : v) s += m.id + " ";
    return s;
  };
  EXPECT_EQ(ids(*store->newest_messages(3)), "m4 m5 m6 ");
  EXPECT_EQ(ids(*store->messages_before(4, 3)), "m1 m2 m3 ");
  EXPECT_EQ(ids(*store->messages_before(1, 3)), "m0 ");
  EXPECT_EQ(ids(*store->messages_from(5)), "m5 m6 ");
  EXPECT_TRUE(*store->has_messages_before(1));
  EXPECT_FALSE(*store->has_messages_before(0));
  EXPECT_EQ(*store->next_order(), 7);
}

TEST(ClientStoreMessages, HistoryIsPlacedBySeqAmongTheConversation) {
  auto store = open_store(":memory:");
  // ord: 0 a(seq 5)  1 b(seq 9)  2 c(queued, no seq)
  StoredMessage a = user_message("a", 0);
  a.seq = 5;
  StoredMessage b = user_message("b", 1);
  b.seq = 9;
  StoredMessage c = user_message("c", 2);
  ASSERT_TRUE(store->put_message(a).ok() && store->put_message(b).ok() && store->put_message(c).ok());

  // seq 7 goes between a and b.
  auto at = store->make_room_for_seq("conv-1", 7);
  ASSERT_TRUE(at.ok());
  EXPECT_EQ(*at, 1);
  StoredMessage x = user_message("x", *at);
  x.seq = 7;
  ASSERT_TRUE(store->put_message(x).ok());
  // seq 12 goes after b, before the unconfirmed c.
  at = store->make_room_for_seq("conv-1", 12);
  EXPECT_EQ(*at, 3);
  StoredMessage y = user_message("y", *at);
  y.seq = 12;
  ASSERT_TRUE(store->put_message(y).ok());
  // seq 2 goes first.
  at = store->make_room_for_seq("conv-1", 2);
  EXPECT_EQ(*at, 0);
  StoredMessage z = user_message("z", *at);
  z.seq = 2;
  ASSERT_TRUE(store->put_message(z).ok());

  std::string order;
  auto all = store->newest_messages(10);
  ASSERT_TRUE(all.ok());
  for (const auto& m : *all) order += m.id;
  EXPECT_EQ(order, "zaxbyc");
}

TEST(ClientStoreOutbox, KeepsSendOrderHoldsAndRemoves) {
  auto store = open_store(":memory:");
  ASSERT_TRUE(store->outbox_push("a").ok());
  ASSERT_TRUE(store->outbox_push("b").ok());
  ASSERT_TRUE(store->outbox_push("c").ok());
  ASSERT_TRUE(store->outbox_push("a").ok());  // already queued: keeps its place
  ASSERT_TRUE(store->outbox_hold("b", 12345).ok());
  ASSERT_TRUE(store->outbox_remove("a").ok());
  auto box = store->outbox();
  ASSERT_TRUE(box.ok());
  ASSERT_EQ(box->size(), 2u);
  EXPECT_EQ((*box)[0].message_id, "b");
  EXPECT_EQ((*box)[0].not_before, 12345);
  EXPECT_EQ((*box)[1].message_id, "c");
  // Re-queued after removal: goes to the end.
  ASSERT_TRUE(store->outbox_push("a").ok());
  EXPECT_EQ(store->outbox()->back().message_id, "a");
}

TEST(ClientStoreImages, BytesRoundTripInOrderAndAreDropped) {
  auto store = open_store(":memory:");
  std::string with_nul("\x89PNG\0\0\x01", 7);
  ASSERT_TRUE(store->put_image_bytes("m", {with_nul, std::string(), "xyz"}).ok());
  auto bytes = store->image_bytes("m");
  ASSERT_TRUE(bytes.ok());
  ASSERT_EQ(bytes->size(), 3u);
  EXPECT_EQ((*bytes)[0], with_nul);
  EXPECT_EQ((*bytes)[1], "");
  EXPECT_EQ((*bytes)[2], "xyz");
  ASSERT_TRUE(store->drop_image_bytes("m").ok());
  EXPECT_TRUE(store->image_bytes("m")->empty());
}

TEST(ClientStoreTools, FirstResultPerToolCallWins) {
  auto store = open_store(":memory:");
  EXPECT_FALSE(store->find_tool_result("t1")->has_value());
  ASSERT_TRUE(store->put_tool_result({"t1", std::string(R"({"lat":1})"), std::nullopt}).ok());
  ASSERT_TRUE(store->put_tool_result({"t1", std::nullopt, std::string("late")}).ok());
  auto r = store->find_tool_result("t1");
  ASSERT_TRUE(r.ok() && r->has_value());
  EXPECT_EQ((*r)->result_json, R"({"lat":1})");
  EXPECT_FALSE((*r)->error.has_value());
  ASSERT_TRUE(store->put_tool_result({"t2", std::nullopt, std::string("boom")}).ok());
  EXPECT_EQ((*store->find_tool_result("t2"))->error, "boom");
}

TEST(ClientStoreBatches, RollbackKeepsNothingAndOnlyCommittedWritesAreDirty) {
  auto store = open_store(":memory:");
  EXPECT_EQ(store->changes_since_last_flush(), 0u);
  ASSERT_TRUE(store->begin().ok());
  EXPECT_TRUE(store->in_transaction());
  StoredMessage m = user_message("gone", 0);
  ASSERT_TRUE(store->put_message(m).ok());
  ASSERT_TRUE(store->outbox_push("gone").ok());
  store->rollback();
  EXPECT_EQ(*store->message_count(), 0);
  EXPECT_TRUE(store->outbox()->empty());
  EXPECT_EQ(store->changes_since_last_flush(), 0u);

  // A read-only batch is not a change.
  ASSERT_TRUE(store->begin().ok());
  EXPECT_FALSE(store->begin().ok());  // not nestable
  (void)store->meta("clientId");
  ASSERT_TRUE(store->commit().ok());
  EXPECT_FALSE(store->dirty());

  ASSERT_TRUE(store->begin().ok());
  StoredMessage k = user_message("kept", 0);
  ASSERT_TRUE(store->put_message(k).ok());
  ASSERT_TRUE(store->outbox_push("kept").ok());
  ASSERT_TRUE(store->commit().ok());
  EXPECT_EQ(store->changes_since_last_flush(), 1u);  // one batch, however many rows
  ASSERT_TRUE(store->set_meta("clientId", "x").ok());  // autocommit write
  EXPECT_EQ(store->changes_since_last_flush(), 2u);
  store->mark_flushed();
  EXPECT_FALSE(store->dirty());
}

TEST(ClientStorePersistence, ASecondOpenOfTheFileSeesEverything) {
  TempDb db;
  {
    auto store = open_store(db.path());
    ASSERT_TRUE(store);
    ASSERT_TRUE(store->begin().ok());
    ASSERT_TRUE(store->set_meta("clientId", "client-1").ok());
    ASSERT_TRUE(store->set_meta("conversationId", "conv-1").ok());
    ASSERT_TRUE(store->set_last_seq("conv-1", 17).ok());
    StoredMessage m = user_message("m1", 0);
    ASSERT_TRUE(store->put_message(m).ok());
    ASSERT_TRUE(store->put_image_bytes("m1", {"bytes"}).ok());
    ASSERT_TRUE(store->outbox_push("m1").ok());
    ASSERT_TRUE(store->put_tool_result({"t1", std::string("null"), std::nullopt}).ok());
    ASSERT_TRUE(store->commit().ok());
    // An uncommitted batch at close is lost, not half-applied.
    ASSERT_TRUE(store->begin().ok());
    StoredMessage half = user_message("half", 1);
    ASSERT_TRUE(store->put_message(half).ok());
  }
  auto store = open_store(db.path());
  ASSERT_TRUE(store);
  EXPECT_EQ(**store->meta("clientId"), "client-1");
  EXPECT_EQ(**store->meta("conversationId"), "conv-1");
  EXPECT_EQ(*store->last_seq("conv-1"), 17);
  EXPECT_EQ(*store->last_seq("other"), 0);
  EXPECT_EQ(*store->message_count(), 1);
  EXPECT_EQ((*store->find_message("m1"))->content, "hello m1");
  EXPECT_EQ(store->image_bytes("m1")->at(0), "bytes");
  EXPECT_EQ(store->outbox()->at(0).message_id, "m1");
  EXPECT_TRUE(store->find_tool_result("t1")->has_value());
}

}  // namespace
}  // namespace chatwire::store
