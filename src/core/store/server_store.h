// The server's SQLite store: conversations, connections, turns (processed
// client messages), the chat history and the event log that replays are made
// from.
//
// Tables (schema version 2, PRAGMA user_version; migrate() brings an older
// file up to date, a newer file is refused):
//   conversations  id, client_id, user_id ('' without tickets), created_at,
//                  last_seq (the seq counter: never reused, even after pruning),
//                  pruned_through (every event with seq <= this is gone),
//                  owner (conversation_owner), title, archived, metadata,
//                  updated_at (the newest event's time)
//   connections    one row per socket: connection id, conversation it served,
//                  client/user/peer ip, opened_at, closed_at, close_code
//   turns          one row per processed client messageId per conversation:
//                  status received|completed|cancelled|failed|abandoned, the
//                  seq of its confirm, the server reply id
//   messages       the chat history: every user message (content, timestamp,
//                  metadata) and every assistant response (the canonical
//                  response frame text, so imageAnalysis/citations come back
//                  exactly, and its version); parent_id links each message to
//                  the one it follows (NULL: a root), so edits are branches
//   images         metadata of user images (id, mime type, filename, width,
//                  height, size); the bytes only when StoreOptions asks
//   events         every seq'd server event as its exact frame text, with
//                  (conversation_id, seq, kind = frame type, ref_id, reply_to)
//                  so a replay is byte-identical. ref_id is the id the event is
//                  about: the messageId of a confirm or error, the server reply
//                  id of a response, the toolCallId, the componentId.
//   components     components sent per conversation (component_action checks)
//
// Retention applies to the event log only (the replay window); history,
// turns and components are kept. Pruning always removes a prefix of a
// conversation's events, recorded in pruned_through, so "is lastSeq still
// replayable" is exact: lastSeq >= pruned_through.
//
// Every method returns a Result; SQLite failures are code `internal`. Files
// use WAL. Not thread-safe: one store per server, used from its event loop.
#ifndef CHATWIRE_CORE_STORE_SERVER_STORE_H_
#define CHATWIRE_CORE_STORE_SERVER_STORE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/protocol/errors.h"
#include "core/protocol/messages.h"
#include "core/store/event_store.h"


namespace chatwire::store {

class Database;

struct ServerStoreOptions {
  bool store_image_bytes = false;  // keep image bytes in `images` (off: metadata only)
  // Files only. Off (default): SQLite checkpoints the WAL inside the commit
  // that crosses 1000 pages, on the caller's thread (two fsyncs). On: the store
  // never checkpoints; the owner watches wal_pages() and runs
  // checkpoint_file(path) elsewhere (the Node addon: a libuv worker thread),
  // so commits never wait for a disk flush.
  bool external_checkpoint = false;
  // Files only: the most the database file may grow to (SQLite's
  // max_page_count), 0 = no limit. Past it a write fails as on a full disk:
  // the hub answers `unavailable` and /healthz says 503.
  int64_t max_bytes = 0;
};

// The SQLite EventStore (see event_store.h for what every store promises).
class ServerStore final : public EventStore {
 public:
  // Opens (creating if needed) the database at `path` (a file, or ":memory:"),
  // migrates it to the current schema and checks it: PRAGMA quick_check, and a
  // write (a table created and a row inserted, rolled back) so a read-only
  // file or directory is found here, not at the first commit. Fails with
  // `internal`, the message naming the file, when the file cannot be opened,
  // is read-only, fails the check (corrupt), or was written by a newer schema
  // version. quick_check reads every page: its time grows with the file.
  static Result<std::unique_ptr<ServerStore>> open(const std::string& path,
                                                   ServerStoreOptions options = {});
  ~ServerStore();
  ServerStore(const ServerStore&) = delete;
  ServerStore& operator=(const ServerStore&) = delete;

  // The schema version this code writes (PRAGMA user_version).
  static int schema_version();

  // ---- batches: begin()..commit() makes the calls in between one transaction
  // (nestable: only the outermost pair touches SQLite). rollback() undoes the
  // whole outermost batch.
  Result<bool> begin() override;
  Result<bool> commit() override;
  void rollback() override;

  // ---- groups (group commit): begin_group()..commit_group() makes everything
  // in between, batches included, one SQLite transaction, so a burst of turns
  // costs one commit (one WAL append of each page it touched) instead of two
  // per turn. Inside a group the outermost begin()..commit() of a batch is a
  // savepoint: its rollback() undoes that batch only, never the group. The
  // owner must hold back everything the batches produced (frames, events)
  // until commit_group() succeeded; when it fails, the whole group is gone.
  // Not nestable; begin_group() fails inside a batch.
  Result<bool> begin_group() override;
  Result<bool> commit_group() override;
  bool in_group() const override;
  // PASSIVE checkpoint through this connection (outside batches and groups):
  // after checkpoint_file() on another thread copied the bulk of the WAL, this
  // copies the rest so the next commit starts the WAL over from its beginning.
  Result<bool> checkpoint() override;

  // ---- conversations
  // Creates a conversation with last_seq 0.
  Result<bool> create_conversation(std::string_view id, std::string_view client_id,
                                   std::string_view user_id, int64_t now) override;
  // The conversation, or nullopt when unknown.
  Result<std::optional<ConversationRecord>> find_conversation(std::string_view id) override;
  // True when the conversation exists and belongs to client_id and user_id.
  Result<bool> owns(std::string_view conversation_id, std::string_view client_id,
                    std::string_view user_id) override;
  // See EventStore. The cursor is "<updated_at>.<id>" of the page's last item.
  Result<ConversationPage> list_conversations(std::string_view owner, int limit,
                                              std::string_view before) override;
  Result<bool> update_conversation(std::string_view id, const ConversationUpdate& update, int64_t now) override;
  Result<bool> delete_conversation(std::string_view id) override;

  // ---- connections
  Result<bool> connection_opened(std::string_view connection_id, std::string_view conversation_id,
                                 std::string_view client_id, std::string_view user_id,
                                 std::string_view peer_ip, int64_t now) override;
  Result<bool> connection_closed(std::string_view connection_id, int code, int64_t now) override;

  // ---- event log
  // Allocates the conversation's next seq, asks `frame_for_seq(seq)` for the
  // frame text that carries it, and stores the event; all in one transaction.
  // Returns the stored event.
  Result<EventRecord> append_event(std::string_view conversation_id, std::string_view kind,
                                   std::string_view ref_id, std::string_view reply_to, int64_t now,
                                   const std::function<std::string(int64_t seq)>& frame_for_seq) override;
  // Prunes the conversation's events by `retention` at `now`, then returns the
  // events with seq > after_seq in order. recovered is false when after_seq <
  // pruned_through (something after it is gone) or after_seq > last_seq (the
  // client knows events this store never had).
  Result<Replay> events_after(std::string_view conversation_id, int64_t after_seq, int64_t now,
                              const RetentionPolicy& retention) override;
  // The stored events about one client message (ref_id or reply_to equal to
  // message_id), in seq order: its confirms, thinking steps, tool calls,
  // components, response or error. Pruned ones are missing.
  Result<std::vector<EventRecord>> events_for_message(std::string_view conversation_id,
                                                      std::string_view message_id) override;
  // The stored event with this kind and ref_id in the conversation, if kept.
  Result<std::optional<EventRecord>> find_event(std::string_view conversation_id, std::string_view kind,
                                                std::string_view ref_id) override;
  // Prunes every conversation's events by `retention`; returns events deleted.
  // The hub calls it periodically.
  Result<int64_t> prune(int64_t now, const RetentionPolicy& retention) override;
  // Same for one conversation.
  Result<int64_t> prune_conversation(std::string_view conversation_id, int64_t now,
                                     const RetentionPolicy& retention);

  // ---- turns (idempotency by client messageId)
  // The turn of `message_id` in the conversation, or nullopt if never processed.
  Result<std::optional<TurnRecord>> find_turn(std::string_view conversation_id, std::string_view message_id) override;
  // Inserts or replaces the turn (a failed/abandoned message processed again).
  Result<bool> put_turn(const TurnRecord& turn) override;
  // Records a turn's outcome.
  Result<bool> finish_turn(std::string_view conversation_id, std::string_view message_id,
                           TurnStatus status, int64_t now) override;
  // Turns still `received` (e.g. left over by a server that stopped).
  Result<std::vector<TurnRecord>> unfinished_turns() override;

  // ---- history
  // Stores a user message at `seq` (its confirm's seq), replacing an earlier
  // copy of the same messageId.
  Result<bool> put_user_message(std::string_view conversation_id, int64_t seq,
                                const UserMessageRecord& message) override;
  // Stores an assistant response at its seq (response.seq).
  Result<bool> put_assistant_message(std::string_view conversation_id, const protocol::Response& response) override;
  // One page of history, oldest first: the newest `limit` messages, or the
  // newest `limit` with seq < before_seq, and no more of them than fit in a
  // `history` frame of `max_bytes` encoded bytes (0: no byte limit; reading
  // stops there, so a page never costs more memory than that). has_more when
  // older ones exist (also when the byte budget cut the page short: the client
  // pages on with beforeSeq = the oldest seq it got). A single message that
  // alone does not fit comes with its content cut to fit and truncated:true.
  Result<HistoryPage> load_messages(std::string_view conversation_id, std::optional<int64_t> before_seq,
                                    int limit, size_t max_bytes = 0) override;
  // The stored metadata (and bytes when kept) of a message's images, in order.
  Result<std::vector<ImageRecord>> message_images(std::string_view conversation_id,
                                                  std::string_view message_id);

  // True when put_user_message keeps image bytes (ServerStoreOptions).
  bool stores_image_bytes() const override { return options_.store_image_bytes; }

  // ---- branches (see EventStore)
  Result<bool> has_message(std::string_view conversation_id, std::string_view message_id) override;
  Result<std::optional<std::string>> active_leaf(std::string_view conversation_id) override;
  Result<std::vector<BranchMessage>> message_branch(std::string_view conversation_id,
                                                    std::string_view message_id, int limit) override;
  Result<int64_t> reply_count(std::string_view conversation_id, std::string_view user_message_id) override;

  // ---- checkpoints (ServerStoreOptions::external_checkpoint)
  // Frames in the WAL after the last commit (0 for :memory: or without
  // external_checkpoint). Call after a batch of work to decide on a checkpoint.
  int64_t wal_pages() const { return wal_pages_; }
  // The database path given to open().
  const std::string& path() const { return path_; }
  // Copies the WAL of the database file at `path` into it (a PASSIVE
  // checkpoint: never blocks the writer) through a connection of its own,
  // opened and closed here; returns the frames the WAL held. Safe to call
  // from another thread while the store is in use; not on the same file from
  // two threads at once.
  static Result<int64_t> checkpoint_file(const std::string& path);
  // EventStore's log maintenance: the WAL frames, and checkpoint_file(path).
  int64_t log_backlog() const override { return wal_pages_; }
  BackgroundJob checkpoint_job() const override {
    return [path = path_]() { return checkpoint_file(path); };
  }

  // ---- components
  Result<bool> put_component(std::string_view conversation_id, std::string_view component_id,
                             std::string_view reply_to, std::string_view kind, int64_t now) override;
  Result<bool> has_component(std::string_view conversation_id, std::string_view component_id) override;

 private:
  ServerStore(std::unique_ptr<Database> db, ServerStoreOptions options);
  Result<bool> open_checked();  // open()'s pragmas, migration and verify()
  Result<bool> verify();
  Result<int64_t> prune_one(std::string_view conversation_id, int64_t now, const RetentionPolicy& retention);
  Result<int64_t> apply_cut(std::string_view conversation_id, int64_t cut);

  std::unique_ptr<Database> db_;
  ServerStoreOptions options_;
  std::string path_;
  int64_t wal_pages_ = 0;
};

}  // namespace chatwire::store

#endif  // CHATWIRE_CORE_STORE_SERVER_STORE_H_
