#include "core/server/commit_scheduler.h"

#include <utility>

namespace chatwire::server {

CommitScheduler::CommitScheduler(ServerHub& hub, CommitSchedulerConfig config) : hub_(hub), config_(config) {}

void CommitScheduler::before_input() {
  if (!started_ || group_open_) return;
  if (!hub_.begin_group()) return;
  group_open_ = true;
  ++group_id_;
}

void CommitScheduler::collect() {
  while (auto t = hub_.poll_transmit()) held_.push_back(Output{t->conn, 0, std::move(t->text)});
  while (auto c = hub_.poll_close()) held_.push_back(Output{c->conn, c->code, std::move(c->reason)});
  while (auto e = hub_.poll_event()) {
    held_events_ += held_events_.empty() ? '[' : ',';
    held_events_ += *e;
  }
}

CommitScheduler::Committed CommitScheduler::commit(int64_t now) {
  Committed out;
  if (group_open_) {
    group_open_ = false;
    auto r = hub_.commit_group(now);
    if (!r) {
      // Nothing of the group was stored: nothing of it may be seen. The
      // hub's answers to the failure are not part of any group.
      held_.clear();
      held_events_.clear();
      out.ok = false;
      collect();
    }
    if (waiter_group_ == group_id_) {
      out.waiter = group_id_;
      waiter_group_ = 0;
    }
  }
  if (tail_checkpoint_due_) {
    // The WAL only starts over from its beginning when a transaction begins
    // with every frame copied, which a worker racing the loop's commits never
    // sees: the loop copies what was committed since the last round itself,
    // now, while no transaction is open.
    tail_checkpoint_due_ = false;
    auto r = hub_.store_checkpoint();
    if (!r) out.checkpoint_error = r.error().message;
  }
  return out;
}

uint64_t CommitScheduler::wait_for_commit() {
  if (!group_open_) return 0;
  waiter_group_ = group_id_;
  return group_id_;
}

std::optional<CommitScheduler::Output> CommitScheduler::poll_output() {
  if (group_open_ || held_.empty()) return std::nullopt;
  Output o = std::move(held_.front());
  held_.pop_front();
  return o;
}

std::string CommitScheduler::take_events() {
  if (group_open_ || held_events_.empty()) return std::string();
  std::string batch;
  batch.swap(held_events_);
  batch += ']';
  return batch;
}

// ------------------------------------------------------------------ checkpoints

void CommitScheduler::consider_checkpoint() {
  const int64_t backlog = hub_.store_log_backlog();
  if (backlog < last_backlog_) checkpoint_started_at_ = 0;  // the WAL restarted from its beginning
  last_backlog_ = backlog;
  if (checkpoint_running_ || checkpoints_stopped_ || tail_checkpoint_due_) return;
  if (backlog >= checkpoint_started_at_ + config_.checkpoint_pages) checkpoint_due_ = true;
}

store::EventStore::BackgroundJob CommitScheduler::poll_checkpoint_job() {
  if (group_open_) return {};
  consider_checkpoint();
  if (!checkpoint_due_ || checkpoint_running_ || checkpoints_stopped_ || tail_checkpoint_due_) return {};
  checkpoint_due_ = false;
  checkpoint_started_at_ = hub_.store_log_backlog();
  auto job = hub_.store_checkpoint_job();
  if (job) checkpoint_running_ = true;
  return job;
}

void CommitScheduler::handle_checkpoint_done(int64_t now, int64_t frames) {
  checkpoint_running_ = false;
  if (checkpoints_stopped_) return;
  if (frames >= config_.restart_pages) {
    tail_checkpoint_due_ = true;  // the next check phase (wants_idle keeps the loop from blocking)
  } else if (hub_.store_log_backlog() > frames) {
    // Frames were committed while the round ran. Another round soon: in a
    // lull it copies everything, and the next commit then starts the WAL over
    // by itself (no work on the loop thread).
    catchup_at_ = now + config_.catchup_ms;
  }
}

void CommitScheduler::handle_timeout(int64_t now) {
  if (!catchup_at_ || now < *catchup_at_) return;
  catchup_at_.reset();
  if (!checkpoint_running_ && !checkpoints_stopped_ && !tail_checkpoint_due_) checkpoint_due_ = true;
}

}  // namespace chatwire::server
