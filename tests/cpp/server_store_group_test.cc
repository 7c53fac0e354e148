// ServerStore group commit and external checkpoints (what the Node addon's
// ServerNative relies on for throughput): a group is one transaction that
// others cannot see until it commits, a batch rolled back inside a group
// undoes only itself, and with external_checkpoint the WAL is copied by
// checkpoint_file() + checkpoint() and then starts over.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include "core/store/server_store.h"

namespace chatwire::store {
namespace {

constexpr int64_t kNow = 1'790'000'000'000;

class GroupTempFile {
 public:
  GroupTempFile() {
    char tmpl[] = "/tmp/chatwire_store_group_XXXXXX";
    int fd = mkstemp(tmpl);
    close(fd);
    path_ = tmpl;
    std::remove(path_.c_str());
  }
  ~GroupTempFile() {
    for (const char* suffix : {"", "-wal", "-shm"}) std::remove((path_ + suffix).c_str());
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

Result<EventRecord> append(ServerStore& s, const std::string& conv, const std::string& ref) {
  return s.append_event(conv, "confirm", ref, "", kNow,
                        [](int64_t seq) { return "{\"type\":\"confirm\",\"seq\":" + std::to_string(seq) + "}"; });
}

int64_t last_seq(ServerStore& s, const std::string& conv) {
  auto c = s.find_conversation(conv);
  return c.ok() && *c ? (*c)->last_seq : -1;
}

TEST(ServerStoreGroup, AGroupIsInvisibleToOthersUntilItCommits) {
  GroupTempFile file;
  auto writer = ServerStore::open(file.path());
  ASSERT_TRUE(writer.ok()) << writer.error().message;
  ASSERT_TRUE((*writer)->create_conversation("c1", "client", "", kNow).ok());
  auto reader = ServerStore::open(file.path());
  ASSERT_TRUE(reader.ok()) << reader.error().message;

  ASSERT_TRUE((*writer)->begin_group().ok());
  EXPECT_TRUE((*writer)->in_group());
  ASSERT_TRUE(append(**writer, "c1", "m1").ok());
  ASSERT_TRUE((*writer)->begin().ok());  // a batch inside the group (as the hub makes them)
  ASSERT_TRUE(append(**writer, "c1", "m2").ok());
  ASSERT_TRUE((*writer)->commit().ok());
  EXPECT_EQ(last_seq(**writer, "c1"), 2);  // the group sees its own writes
  EXPECT_EQ(last_seq(**reader, "c1"), 0);  // nobody else does yet

  ASSERT_TRUE((*writer)->commit_group().ok());
  EXPECT_FALSE((*writer)->in_group());
  EXPECT_EQ(last_seq(**reader, "c1"), 2);
  auto replay = (*reader)->events_after("c1", 0, kNow, RetentionPolicy{});
  ASSERT_TRUE(replay.ok());
  ASSERT_EQ(replay->events.size(), 2u);
  EXPECT_EQ(replay->events[1].ref_id, "m2");
}

TEST(ServerStoreGroup, ARolledBackBatchInsideAGroupUndoesOnlyItself) {
  auto s = ServerStore::open(":memory:");
  ASSERT_TRUE(s.ok());
  ServerStore& store = **s;
  ASSERT_TRUE(store.create_conversation("c1", "client", "", kNow).ok());
  ASSERT_TRUE(store.begin_group().ok());
  ASSERT_TRUE(append(store, "c1", "kept").ok());
  ASSERT_TRUE(store.begin().ok());
  ASSERT_TRUE(append(store, "c1", "undone").ok());
  ASSERT_TRUE(store.put_component("c1", "comp-1", "undone", "form", kNow).ok());
  store.rollback();
  EXPECT_EQ(last_seq(store, "c1"), 1);
  EXPECT_FALSE(*store.has_component("c1", "comp-1"));
  // the group goes on: the next event gets the seq the undone one had
  auto next = append(store, "c1", "next");
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(next->seq, 2);
  ASSERT_TRUE(store.commit_group().ok());
  auto replay = store.events_after("c1", 0, kNow, RetentionPolicy{});
  ASSERT_TRUE(replay.ok());
  ASSERT_EQ(replay->events.size(), 2u);
  EXPECT_EQ(replay->events[0].ref_id, "kept");
  EXPECT_EQ(replay->events[1].ref_id, "next");
}

TEST(ServerStoreGroup, GroupsDoNotNestAndDoNotStartInsideABatch) {
  auto s = ServerStore::open(":memory:");
  ASSERT_TRUE(s.ok());
  ServerStore& store = **s;
  ASSERT_TRUE(store.begin().ok());
  EXPECT_FALSE(store.begin_group().ok());
  ASSERT_TRUE(store.commit().ok());
  ASSERT_TRUE(store.begin_group().ok());
  EXPECT_FALSE(store.begin_group().ok());
  EXPECT_FALSE(store.checkpoint().ok());  // not inside a transaction
  ASSERT_TRUE(store.commit_group().ok());
  EXPECT_FALSE(store.commit_group().ok());
}

TEST(ServerStoreGroup, ExternalCheckpointCopiesTheWalAndLetsItStartOver) {
  GroupTempFile file;
  ServerStoreOptions options;
  options.external_checkpoint = true;
  auto s = ServerStore::open(file.path(), options);
  ASSERT_TRUE(s.ok()) << s.error().message;
  ServerStore& store = **s;
  EXPECT_EQ(store.path(), file.path());
  ASSERT_TRUE(store.create_conversation("c1", "client", "", kNow).ok());
  for (int i = 0; i < 300; ++i) ASSERT_TRUE(append(store, "c1", "m" + std::to_string(i)).ok());
  const int64_t grown = store.wal_pages();
  EXPECT_GT(grown, 300);  // one commit per event, nothing copied back by SQLite itself

  // As in the addon: a group is open (its snapshot taken) while the worker
  // copies the WAL, and commits after.
  ASSERT_TRUE(store.begin_group().ok());
  ASSERT_TRUE(append(store, "c1", "in-group").ok());
  auto frames = ServerStore::checkpoint_file(file.path());  // what the addon runs on a worker thread
  ASSERT_TRUE(frames.ok()) << frames.error().message;
  EXPECT_EQ(*frames, grown);
  ASSERT_TRUE(store.commit_group().ok());
  const int64_t after_group = store.wal_pages();
  EXPECT_GT(after_group, grown);  // the group's commit could not start the WAL over
  ASSERT_TRUE(append(store, "c1", "after").ok());
  EXPECT_GT(store.wal_pages(), after_group);  // nor can the next one: frames remain uncopied

  ASSERT_TRUE(store.checkpoint().ok());  // the loop's tail: now every frame is copied
  ASSERT_TRUE(append(store, "c1", "restarted").ok());
  EXPECT_LT(store.wal_pages(), 20);  // the WAL started over from its beginning

  // Nothing was lost on the way.
  auto reopened = ServerStore::open(file.path());
  ASSERT_TRUE(reopened.ok());
  EXPECT_EQ(last_seq(**reopened, "c1"), 303);
}

}  // namespace
}  // namespace chatwire::store
