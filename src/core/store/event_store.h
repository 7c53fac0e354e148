// The EventStore seam: what the ServerHub keeps durably, and nothing else.
// One implementation today, ServerStore (SQLite, server_store.h); issue 20
// puts a PostgreSQL one behind the same interface (docs/architecture.md).
//
// What every implementation promises (the hub's correctness rests on these):
//   - seq allocation: append_event gives a conversation's events 1, 2, 3...,
//     each seq once, never reused (not even after pruning), atomically with
//     storing the event; the frame text is stored exactly as given, so a
//     replay is byte-identical to what was sent live.
//   - idempotency by messageId: one turn row per (conversation, client
//     messageId); find_turn says whether a message was processed and how it
//     ended, put_turn replaces a failed or abandoned one (a retry).
//   - the event log and replay: events_after / events_for_message /
//     find_event return what was stored, in seq order; pruning removes only a
//     prefix of a conversation's events and says so (Replay::recovered).
//   - history: user messages and assistant responses by seq, paged by count
//     and encoded bytes (load_messages).
//   - units of work: begin()..commit() makes the calls in between one atomic
//     batch (nestable; rollback() undoes the outermost batch), and
//     begin_group()..commit_group() one commit for many batches (group
//     commit): the owner holds back everything the group produced until
//     commit_group() succeeded, and a batch rolled back inside a group undoes
//     only itself. A store that cannot group makes the group a no-op.
//   - failures are Results (code `internal`, or `not_found` for an unknown
//     conversation), never exceptions; the text may name the engine's own
//     error (the hub logs it and tells clients only `unavailable`).
// Not thread-safe: called from the owner's event loop only; only the job
// checkpoint_job() returns may run on another thread.
#ifndef CHATWIRE_CORE_STORE_EVENT_STORE_H_
#define CHATWIRE_CORE_STORE_EVENT_STORE_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/protocol/errors.h"
#include "core/protocol/message_record.h"
#include "core/protocol/messages.h"

namespace chatwire::store {

// How much of the event log is kept for replay. 0 means no limit.
struct RetentionPolicy {
  int64_t max_age_ms = 0;  // events created before now - max_age_ms are pruned
  int64_t max_events = 0;  // per conversation, only the newest max_events are kept
};

// Who owns a conversation (PROTOCOL.md 1.1, Conversations): the ticket's
// userId when there is one, else the clientId that started it. The two kinds
// never collide ("u:" / "c:" prefix). The one place this rule lives: the
// store keys conversations by it and the hub keys its fanout by it.
std::string conversation_owner(std::string_view client_id, std::string_view user_id);

struct ConversationRecord {
  std::string id;
  std::string client_id;
  std::string user_id;
  int64_t created_at_ms = 0;
  int64_t last_seq = 0;        // highest seq ever allocated
  int64_t pruned_through = 0;  // events with seq <= this were pruned
  std::string owner;           // conversation_owner(client_id, user_id) of its creator
  std::optional<std::string> title;
  bool archived = false;
  std::string metadata = "{}";  // canonical JSON object text
  int64_t updated_at_ms = 0;    // the newest event (message, reply, update)
};

// The newest message of a conversation, as list_conversations shows it.
struct LastMessage {
  std::string role;       // user | assistant
  std::string content;    // at most kLastMessageChars characters
  std::string timestamp;  // the message's timestamp
};
constexpr size_t kLastMessageChars = 200;

struct ConversationSummary {
  ConversationRecord conversation;
  std::optional<LastMessage> last_message;
};

// One page of an owner's conversations, newest updated_at first.
struct ConversationPage {
  std::vector<ConversationSummary> items;
  bool has_more = false;
  std::string cursor;  // opaque; pass as `before` for the next page ('' when none)
};

// What update_conversation changes; absent members stay as they are.
struct ConversationUpdate {
  std::optional<std::optional<std::string>> title;  // a title, or nullopt inside to clear it
  std::optional<bool> archived;
  std::optional<std::string> metadata;  // canonical JSON object text
};

struct EventRecord {
  std::string conversation_id;
  int64_t seq = 0;
  std::string kind;      // frame type: confirm, thinking, response, tool_call, component, error
  std::string ref_id;    // see the top of this file
  std::string reply_to;  // client messageId the event answers ('' if none)
  int64_t created_at_ms = 0;
  std::string frame;     // exact frame text, as sent
};

enum class TurnStatus { received, completed, cancelled, failed, abandoned };
// "received", "completed", ...
const char* turn_status_name(TurnStatus status);

struct TurnRecord {
  std::string conversation_id;
  std::string message_id;  // client messageId
  std::string turn_id;     // hub's opaque id
  std::string reply_id;    // server messageId of the reply (deltas, response)
  TurnStatus status = TurnStatus::received;
  int64_t confirm_seq = 0;
  int64_t received_at_ms = 0;
  int64_t finished_at_ms = 0;  // 0 while received
};

struct ImageRecord : protocol::ImageMeta {
  uint64_t size = 0;
  std::string bytes;  // stored only with ServerStoreOptions::store_image_bytes
};

struct UserMessageRecord {
  std::string message_id;
  std::string content;
  std::string timestamp;  // the client's message timestamp
  std::vector<ImageRecord> images;
  std::optional<std::string> parent_id;  // the message it follows; nullopt: a root
  std::string metadata;                  // canonical JSON object text, '' when none
};

// One message of a branch (message_branch), oldest first.
struct BranchMessage {
  int64_t seq = 0;
  std::string role;  // user | assistant
  std::string message_id;
  std::string content;
  std::vector<ImageRecord> images;  // user messages (metadata; bytes when kept)
  std::string response_frame;       // assistant messages: the stored response frame text
};

// Result of events_after: the events to replay and whether they are complete.
struct Replay {
  bool recovered = true;            // false: events after after_seq were pruned (or never existed)
  std::vector<EventRecord> events;  // seq > after_seq, ascending
};

struct HistoryPage {
  std::vector<protocol::HistoryEntry> messages;  // oldest first
  bool has_more = false;                         // older messages exist
};

class EventStore {
 public:
  virtual ~EventStore() = default;

  // ---- units of work (see the top of this file)
  virtual Result<bool> begin() = 0;
  virtual Result<bool> commit() = 0;
  virtual void rollback() = 0;
  virtual Result<bool> begin_group() = 0;
  virtual Result<bool> commit_group() = 0;
  virtual bool in_group() const = 0;

  // ---- conversations
  // Creates a conversation with last_seq 0.
  virtual Result<bool> create_conversation(std::string_view id, std::string_view client_id,
                                           std::string_view user_id, int64_t now) = 0;
  // The conversation, or nullopt when unknown.
  virtual Result<std::optional<ConversationRecord>> find_conversation(std::string_view id) = 0;
  // True when the conversation exists and belongs to client_id and user_id.
  virtual Result<bool> owns(std::string_view conversation_id, std::string_view client_id,
                            std::string_view user_id) = 0;
  // The owner's conversations that hold a message, newest updated_at first;
  // `before` is a cursor of an earlier page ('' for the first page; one that
  // is not a cursor is `invalid_field`). limit is clamped to 1..100.
  virtual Result<ConversationPage> list_conversations(std::string_view owner, int limit,
                                                      std::string_view before) = 0;
  // Applies `update` and sets updated_at = now; false for an unknown id.
  virtual Result<bool> update_conversation(std::string_view id, const ConversationUpdate& update,
                                           int64_t now) = 0;
  // Removes the conversation and everything of it (events, turns, history,
  // images, components); afterwards the id is unknown. False when unknown.
  virtual Result<bool> delete_conversation(std::string_view id) = 0;

  // ---- connections (an audit trail: the hub never reads it back)
  virtual Result<bool> connection_opened(std::string_view connection_id, std::string_view conversation_id,
                                         std::string_view client_id, std::string_view user_id,
                                         std::string_view peer_ip, int64_t now) = 0;
  virtual Result<bool> connection_closed(std::string_view connection_id, int code, int64_t now) = 0;

  // ---- event log and seq
  // Allocates the conversation's next seq, asks `frame_for_seq(seq)` for the
  // frame text that carries it, and stores the event; all in one batch.
  // Returns the stored event (not_found for an unknown conversation).
  virtual Result<EventRecord> append_event(std::string_view conversation_id, std::string_view kind,
                                           std::string_view ref_id, std::string_view reply_to, int64_t now,
                                           const std::function<std::string(int64_t seq)>& frame_for_seq) = 0;
  // Prunes the conversation's events by `retention` at `now`, then returns the
  // events with seq > after_seq in order. recovered is false when after_seq <
  // pruned_through (something after it is gone) or after_seq > last_seq (the
  // client knows events this store never had).
  virtual Result<Replay> events_after(std::string_view conversation_id, int64_t after_seq, int64_t now,
                                      const RetentionPolicy& retention) = 0;
  // The stored events about one client message (ref_id or reply_to equal to
  // message_id), in seq order. Pruned ones are missing.
  virtual Result<std::vector<EventRecord>> events_for_message(std::string_view conversation_id,
                                                              std::string_view message_id) = 0;
  // The stored event with this kind and ref_id in the conversation, if kept.
  virtual Result<std::optional<EventRecord>> find_event(std::string_view conversation_id,
                                                        std::string_view kind, std::string_view ref_id) = 0;
  // Prunes every conversation's events by `retention`; returns events deleted.
  virtual Result<int64_t> prune(int64_t now, const RetentionPolicy& retention) = 0;

  // ---- turns (idempotency by client messageId)
  // The turn of `message_id` in the conversation, or nullopt if never processed.
  virtual Result<std::optional<TurnRecord>> find_turn(std::string_view conversation_id,
                                                      std::string_view message_id) = 0;
  // Inserts or replaces the turn (a failed/abandoned message processed again).
  virtual Result<bool> put_turn(const TurnRecord& turn) = 0;
  // Records a turn's outcome.
  virtual Result<bool> finish_turn(std::string_view conversation_id, std::string_view message_id,
                                   TurnStatus status, int64_t now) = 0;
  // Turns still `received` (left over by a server that stopped).
  virtual Result<std::vector<TurnRecord>> unfinished_turns() = 0;

  // ---- history
  // Stores a user message at `seq` (its confirm's seq), replacing an earlier
  // copy of the same messageId.
  virtual Result<bool> put_user_message(std::string_view conversation_id, int64_t seq,
                                        const UserMessageRecord& message) = 0;
  // Stores an assistant response at its seq (response.seq).
  virtual Result<bool> put_assistant_message(std::string_view conversation_id,
                                             const protocol::Response& response) = 0;
  // One page of history, oldest first, at most `limit` messages and a
  // `history` frame of `max_bytes` (0: no byte limit); see ServerStore.
  virtual Result<HistoryPage> load_messages(std::string_view conversation_id, std::optional<int64_t> before_seq,
                                            int limit, size_t max_bytes) = 0;
  // True when put_user_message keeps image bytes.
  virtual bool stores_image_bytes() const = 0;

  // ---- branches (PROTOCOL.md 1.1, Branches)
  // True when `message_id` is a message (user or reply) of the conversation.
  virtual Result<bool> has_message(std::string_view conversation_id, std::string_view message_id) = 0;
  // The newest message of the active branch (from the newest root, the
  // newest child at each step); nullopt for an empty conversation.
  virtual Result<std::optional<std::string>> active_leaf(std::string_view conversation_id) = 0;
  // The branch ending at `message_id` (its ancestors and itself, oldest
  // first), at most the newest `limit` of them (0: all).
  virtual Result<std::vector<BranchMessage>> message_branch(std::string_view conversation_id,
                                                            std::string_view message_id, int limit) = 0;
  // How many replies `user_message_id` has (the next one is version count + 1).
  virtual Result<int64_t> reply_count(std::string_view conversation_id, std::string_view user_message_id) = 0;

  // ---- components
  virtual Result<bool> put_component(std::string_view conversation_id, std::string_view component_id,
                                     std::string_view reply_to, std::string_view kind, int64_t now) = 0;
  virtual Result<bool> has_component(std::string_view conversation_id, std::string_view component_id) = 0;

  // ---- log maintenance, scheduled by the owner (CommitScheduler)
  // Work a store wants done off the loop thread: SQLite's WAL checkpoint,
  // through a connection of its own. A store without such work returns 0 /
  // an empty job / true.
  //
  // The log's backlog after the last commit (SQLite: WAL frames).
  virtual int64_t log_backlog() const { return 0; }
  // A job that is safe to run on another thread while the store is in use;
  // returns the backlog it found. Empty when the store has none.
  using BackgroundJob = std::function<Result<int64_t>()>;
  virtual BackgroundJob checkpoint_job() const { return {}; }
  // The loop's own share of the same work (outside batches and groups).
  virtual Result<bool> checkpoint() { return true; }
};

}  // namespace chatwire::store

#endif  // CHATWIRE_CORE_STORE_EVENT_STORE_H_
