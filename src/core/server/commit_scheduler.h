// CommitScheduler: when the ServerHub's store commits and when its log is
// checkpointed, for a hub driven by an event loop (the Node binding). It holds
// no socket, thread or clock: the binding calls its inputs from its loop hooks
// and carries out its outputs.
//
// Group commit. The first input of a loop iteration opens a store group
// (ServerHub::begin_group) and every input until the loop's check phase joins
// it, so a burst of frames from many sockets is one commit. What the hub
// produced meanwhile (frames, closes, application events) is held here and
// released only after commit() succeeded: "stored before sent" and "stored
// before the application sees it" hold as without groups. When the commit
// fails nothing of the group was stored, so nothing of it may be seen: its
// outputs are dropped and what the hub queues instead (an `unavailable` error
// for each message the group confirmed or answered, a "store_error" event)
// goes out. A reply's stored() waiter learns its group's outcome once.
//
// Checkpoints (stores with a log to copy: SQLite's WAL). The store does not
// checkpoint inside commits (copies and two fsyncs that would stall the loop
// for every socket): when the log has grown by checkpoint_pages since the
// last round started, a round runs off the loop (poll_checkpoint_job: the
// binding runs it on a worker thread), one at a time. When frames were
// committed during a round, another follows after catchup_ms; once a round
// finds nothing new, the next commit starts the WAL over. Under sustained
// load that never happens: once a round found restart_pages, the loop copies
// the little it left itself (EventStore::checkpoint), in the next check phase,
// outside any transaction. Measured on a 2-core VM: rounds of 1-5k frames take
// 30-170 ms on the worker; the loop's share is a copy of what was committed
// meanwhile (40-140 ms at 256 MB, so rare).
//
// Driving it (src/node/server.cc):
//   start()                  once the loop runs (before it, no groups)
//   before_input()           before every input or command to the hub
//   collect()                after it: the hub's outputs into the held queues
//   commit(now)              the loop's check phase (up to kCommitRounds while
//                            releasing the events opened new groups)
//   handle_checkpoint_done   a worker's round ended
//   handle_timeout(now)      the timer for poll_timeout() fired
//   outputs: poll_output / take_events (empty while a group holds them),
//            poll_checkpoint_job, poll_timeout, wants_idle (the loop must not
//            block in poll: a group is open or the loop's checkpoint is due).
#ifndef CHATWIRE_CORE_SERVER_COMMIT_SCHEDULER_H_
#define CHATWIRE_CORE_SERVER_COMMIT_SCHEDULER_H_

#include <cstdint>
#include <deque>
#include <optional>
#include <string>

#include "core/server/server_hub.h"

namespace chatwire::server {

struct CommitSchedulerConfig {
  int64_t checkpoint_pages = 1000;  // log growth that starts a round off the loop
  int64_t restart_pages = 65536;    // a round that found this many: the loop finishes the copy (256 MB)
  int64_t catchup_ms = 250;         // the next round after one during which frames were committed
};

class CommitScheduler {
 public:
  // Releasing events runs the application, whose replies open new groups:
  // the check phase commits those too, this many rounds at most, so a turn
  // whose handler answers at once leaves in the same loop iteration.
  static constexpr int kCommitRounds = 4;

  // `hub` must outlive the scheduler.
  explicit CommitScheduler(ServerHub& hub, CommitSchedulerConfig config = {});

  // ---------------------------------------------------------------- inputs
  // The loop runs: from now on inputs are grouped.
  void start() { started_ = true; }
  // No new checkpoint rounds (the server is closing); a running one finishes.
  void stop_checkpoints() { checkpoints_stopped_ = true; }
  // Before an input (socket event, timer, command) reaches the hub: opens a
  // group unless one is open. When the store refuses one, every batch
  // commits by itself, as without groups.
  void before_input();
  // After the input: moves the hub's outputs into the held queues.
  void collect();
  // The check phase: commits the open group (none open: nothing to commit)
  // and, with no group open, does the loop's checkpoint when one is due.
  // Poll the outputs afterwards. `waiter` is the group number a stored()
  // waiter asked about (0: none), with `ok` its outcome.
  struct Committed {
    uint64_t waiter = 0;
    bool ok = true;
    std::string checkpoint_error;  // the loop's checkpoint failed (for the log)
  };
  Committed commit(int64_t now);
  // The round poll_checkpoint_job handed out ended, having found `frames`.
  void handle_checkpoint_done(int64_t now, int64_t frames);
  // The timer from poll_timeout() fired.
  void handle_timeout(int64_t now);

  // ---------------------------------------------------------------- commands
  // What a reply waits for: 0 when everything so far is committed (no group
  // is open), else the open group's number; its commit() reports it.
  uint64_t wait_for_commit();

  // ---------------------------------------------------------------- outputs
  struct Output {
    ConnId conn;
    int close_code;    // 0: a frame to send; else close with this code
    std::string text;  // the frame, or the close reason
  };
  // The next frame or close to carry out, in the hub's order; nothing while
  // a group holds them.
  std::optional<Output> poll_output();
  // The held application events as one JSON array ("" when none or while a
  // group holds them).
  std::string take_events();
  // A checkpoint round to run off the loop thread, when one is due (the
  // scheduler counts it as running until handle_checkpoint_done).
  store::EventStore::BackgroundJob poll_checkpoint_job();
  // When handle_timeout should be called (a catch-up round), if ever.
  std::optional<int64_t> poll_timeout() const { return catchup_at_; }
  // True while the loop must not block in poll (a group is open, or the
  // loop's own checkpoint is due in the next check phase).
  bool wants_idle() const { return group_open_ || tail_checkpoint_due_; }

  bool group_open() const { return group_open_; }
  bool checkpoint_running() const { return checkpoint_running_; }

 private:
  void consider_checkpoint();

  ServerHub& hub_;
  CommitSchedulerConfig config_;
  bool started_ = false;
  bool checkpoints_stopped_ = false;
  bool group_open_ = false;
  uint64_t group_id_ = 0;      // number of the open (or last) group
  uint64_t waiter_group_ = 0;  // a group whose commit a reply waits for, or 0
  std::deque<Output> held_;
  std::string held_events_;    // "[e1,e2" while collecting; closed by take_events
  bool checkpoint_running_ = false;
  bool checkpoint_due_ = false;      // poll_checkpoint_job has a round to hand out
  bool tail_checkpoint_due_ = false;
  int64_t checkpoint_started_at_ = 0;  // log_backlog() when the last round started
  int64_t last_backlog_ = 0;
  std::optional<int64_t> catchup_at_;
};

}  // namespace chatwire::server

#endif  // CHATWIRE_CORE_SERVER_COMMIT_SCHEDULER_H_
