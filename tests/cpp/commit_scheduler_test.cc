// CommitScheduler driven as the Node binding drives it, with a fake clock:
// a group's outputs are held until its commit, a reply waiting for its group
// learns the outcome once, and checkpoint rounds are handed out by the log's
// growth, one at a time, with a catch-up round after frames were committed
// during one.
#include "core/server/commit_scheduler.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include "core/server/server_config.h"

namespace chatwire::server {
namespace {

class CountingEntropy : public Entropy {
 public:
  void fill(uint8_t* out, size_t n) override {
    for (size_t i = 0; i < n; ++i) out[i] = static_cast<uint8_t>(++state_ * 151u);
  }

 private:
  uint32_t state_ = 0;
};

const std::string kClient = "11111111-1111-4111-8111-111111111111";
const std::string kTs = "2026-11-23T13:47:50.123Z";

std::string connect_frame() {
  return "{\"type\":\"connect\",\"clientId\":\"" + kClient + "\",\"timestamp\":\"" + kTs + "\"}";
}
std::string message_frame(int i) {
  return "{\"type\":\"message\",\"messageId\":\"m" + std::to_string(i) + "\",\"clientId\":\"" + kClient +
         "\",\"timestamp\":\"" + kTs + "\",\"content\":\"" + std::string(2000, 'x') + "\"}";
}

class CommitSchedulerTest : public ::testing::Test {
 protected:
  void open(const std::string& database, CommitSchedulerConfig sc = {}) {
    ServerConfig config;
    config.database = database;
    config.hub.limits.messages_per_second = 1000;
    config.hub.limits.message_burst = 1000;
    auto hub = open_server_hub(config, entropy_);
    ASSERT_TRUE(hub.ok()) << hub.error().message;
    hub_ = std::move(*hub);
    scheduler_ = std::make_unique<CommitScheduler>(*hub_, sc);
    scheduler_->start();
  }
  // One input as the binding runs it.
  void frame(ConnId conn, const std::string& text) {
    scheduler_->before_input();
    hub_->handle_frame(now_, conn, text);
    scheduler_->collect();
  }
  int outputs() {
    int n = 0;
    while (scheduler_->poll_output()) ++n;
    return n;
  }

  CountingEntropy entropy_;
  std::unique_ptr<ServerHub> hub_;
  std::unique_ptr<CommitScheduler> scheduler_;
  int64_t now_ = 1'790'000'000'000;
};

TEST_F(CommitSchedulerTest, AGroupsOutputsLeaveOnlyAfterItsCommit) {
  open(":memory:");
  scheduler_->before_input();
  hub_->handle_open(now_, 1, "", "127.0.0.1");
  scheduler_->collect();
  frame(1, connect_frame());
  frame(1, message_frame(1));
  EXPECT_TRUE(scheduler_->group_open());
  EXPECT_TRUE(scheduler_->wants_idle());  // the loop must reach its check phase
  EXPECT_FALSE(scheduler_->poll_output().has_value());
  EXPECT_EQ(scheduler_->take_events(), "");
  const uint64_t group = scheduler_->wait_for_commit();
  EXPECT_NE(group, 0u);

  auto committed = scheduler_->commit(now_);
  EXPECT_TRUE(committed.ok);
  EXPECT_EQ(committed.waiter, group);
  EXPECT_FALSE(scheduler_->wants_idle());
  EXPECT_EQ(outputs(), 3);  // connect_confirm, confirm, typing
  const std::string events = scheduler_->take_events();
  EXPECT_NE(events.find("\"type\":\"connection\""), std::string::npos) << events;
  EXPECT_NE(events.find("\"type\":\"message\""), std::string::npos) << events;

  // Nothing open: a waiter needs no commit, and the next commit reports none.
  EXPECT_EQ(scheduler_->wait_for_commit(), 0u);
  EXPECT_EQ(scheduler_->commit(now_).waiter, 0u);
}

TEST_F(CommitSchedulerTest, CheckpointRoundsFollowTheLogsGrowthOneAtATime) {
  char tmpl[] = "/tmp/chatwire_sched_XXXXXX";
  int fd = mkstemp(tmpl);
  close(fd);
  const std::string path = tmpl;
  std::remove(path.c_str());
  CommitSchedulerConfig sc;
  sc.checkpoint_pages = 200;
  sc.catchup_ms = 250;
  open(path, sc);
  scheduler_->before_input();
  hub_->handle_open(now_, 1, "", "127.0.0.1");
  frame(1, connect_frame());
  scheduler_->commit(now_);
  EXPECT_FALSE(scheduler_->poll_checkpoint_job()) << "a round before the log grew";

  int i = 0;
  store::EventStore::BackgroundJob job;
  while (!job && i < 1000) {
    frame(1, message_frame(++i));
    scheduler_->commit(now_);
    outputs();
    job = scheduler_->poll_checkpoint_job();
  }
  ASSERT_TRUE(job) << "no checkpoint round after " << i << " turns";
  EXPECT_TRUE(scheduler_->checkpoint_running());
  // One at a time, whatever is committed meanwhile.
  for (int k = 0; k < 30; ++k) {
    frame(1, message_frame(++i));
    scheduler_->commit(now_);
  }
  EXPECT_FALSE(scheduler_->poll_checkpoint_job());

  auto frames = job();  // what the binding runs on a worker thread
  ASSERT_TRUE(frames.ok()) << frames.error().message;
  // Pretend the round saw fewer frames than are committed now: a catch-up
  // round follows after catchup_ms, through the timer.
  scheduler_->handle_checkpoint_done(now_, 1);
  EXPECT_FALSE(scheduler_->checkpoint_running());
  ASSERT_TRUE(scheduler_->poll_timeout().has_value());
  EXPECT_EQ(*scheduler_->poll_timeout(), now_ + 250);
  scheduler_->handle_timeout(now_ + 249);
  now_ += 250;
  scheduler_->handle_timeout(now_);
  EXPECT_FALSE(scheduler_->poll_timeout().has_value());
  auto again = scheduler_->poll_checkpoint_job();
  ASSERT_TRUE(again);
  EXPECT_TRUE(again().ok());
  scheduler_->handle_checkpoint_done(now_, 1 << 20);  // a huge round: the loop copies the rest itself
  EXPECT_TRUE(scheduler_->wants_idle());
  auto tail = scheduler_->commit(now_);
  EXPECT_EQ(tail.checkpoint_error, "");
  EXPECT_FALSE(scheduler_->wants_idle());

  scheduler_.reset();
  hub_.reset();
  for (const char* suffix : {"", "-wal", "-shm"}) std::remove((path + suffix).c_str());
}

}  // namespace
}  // namespace chatwire::server
