// The client's SQLite store: what survives a reload or a restart of a chat
// client (PROTOCOL.md "Recovery", DESIGN.md "The store's messages").
//
// Tables (schema version 1, PRAGMA user_version; migrate() brings an older
// file up to date, a newer file is refused):
//   meta           key/value: clientId, conversationId
//   conversations  conversation_id -> last_seq (highest seq applied)
//   messages       one row per message, user and assistant: the columns the
//                  queries need (id, ord = local order, role, conversation,
//                  reply_to, status, seq) plus the rest of the DESIGN.md
//                  record (images with per-image status and analysis,
//                  thinking, toolCalls, components, citations, imageAnalysis,
//                  error) as JSON text in `detail`
//   image_bytes    the bytes of a message's images, kept until the server
//                  confirms the message, then dropped
//   outbox         message ids in send order (position), with a not_before
//                  time for rate-limited resends
//   tool_results   the settled result of a tool call, by toolCallId
//
// Local order (`ord`) is an integer; a message appended live gets max + 1. A
// message learned from history is placed by its seq among the messages of its
// conversation (make_room_for_seq), shifting the later ones by one, so the
// order stays a total order without renumbering the whole table.
//
// Batches: the engine runs every input in one transaction (begin / commit /
// rollback), so a crash never leaves half a batch. changes_since_last_flush()
// counts committed write batches (and autocommitted writes) since
// mark_flushed(): the WASM binding persists the database to IndexedDB when it
// is non-zero.
//
// Every method returns a Result; SQLite failures are code `internal`. Not
// thread-safe: one store per client engine.
#ifndef CHATWIRE_CORE_STORE_CLIENT_STORE_H_
#define CHATWIRE_CORE_STORE_CLIENT_STORE_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/protocol/errors.h"
#include "core/protocol/message_record.h"

namespace chatwire::store {

class Database;

// The message records (StoredMessage, StoredImage, StoredToolCall,
// StoredComponent) and their JSON are the protocol layer's
// (core/protocol/message_record.h): the store keeps them, the engine fills them.
using protocol::StoredComponent;
using protocol::StoredImage;
using protocol::StoredMessage;
using protocol::StoredToolCall;
using protocol::message_to_json;

struct OutboxEntry {
  std::string message_id;
  int64_t not_before = 0;  // ms; a rate-limited message waits until then
};

struct ToolResultRecord {
  std::string tool_call_id;
  std::optional<std::string> result_json;  // exactly one of result_json / error
  std::optional<std::string> error;
};

struct ClientStoreOptions {
  // PRAGMA journal_mode to set after opening, e.g. "MEMORY" for a database
  // file under Emscripten's IDBFS. Empty: SQLite's default.
  std::string journal_mode;
};

class ClientStore {
 public:
  static constexpr int64_t kSchemaVersion = 1;

  // Opens (creating if needed) the database at `path` (a file path or
  // ":memory:") and creates or migrates the schema. Call once per client;
  // a second store opened on the same file later sees everything committed.
  static Result<std::unique_ptr<ClientStore>> open(const std::string& path,
                                                   const ClientStoreOptions& options = {});
  ~ClientStore();
  ClientStore(const ClientStore&) = delete;
  ClientStore& operator=(const ClientStore&) = delete;

  // ---- batches
  // Starts a transaction (one per engine input). Not nestable.
  Result<bool> begin();
  // Commits the transaction started by begin().
  Result<bool> commit();
  // Abandons the transaction started by begin() (nothing of it is kept).
  void rollback();
  bool in_transaction() const;

  // ---- persistence bookkeeping (the WASM binding's IndexedDB sync)
  // Committed write batches since mark_flushed() (or since open).
  uint64_t changes_since_last_flush() const { return changes_; }
  bool dirty() const { return changes_ != 0; }
  // Call after the database file was persisted.
  void mark_flushed() { changes_ = 0; }

  // ---- meta
  Result<std::optional<std::string>> meta(std::string_view key);
  Result<bool> set_meta(std::string_view key, std::string_view value);
  // Highest seq applied in `conversation_id` (0 when none).
  Result<int64_t> last_seq(std::string_view conversation_id);
  Result<bool> set_last_seq(std::string_view conversation_id, int64_t seq);

  // ---- messages
  // Inserts (row == 0: assigns row) or updates (by row) a message.
  Result<bool> put_message(StoredMessage& message);
  Result<std::optional<StoredMessage>> find_message(std::string_view id);
  // The assistant message answering `reply_to`, if any.
  Result<std::optional<StoredMessage>> find_reply(std::string_view reply_to);
  // The newest `limit` messages, oldest first.
  Result<std::vector<StoredMessage>> newest_messages(int limit);
  // The newest `limit` messages with ord < `ord`, oldest first.
  Result<std::vector<StoredMessage>> messages_before(int64_t ord, int limit);
  // Every message with ord >= `ord`, oldest first.
  Result<std::vector<StoredMessage>> messages_from(int64_t ord);
  // True when some message has ord < `ord`.
  Result<bool> has_messages_before(int64_t ord);
  Result<int64_t> message_count();
  // The ord for a message appended now: max(ord) + 1 (0 when empty).
  Result<int64_t> next_order();
  // Makes room for a message with `seq` in `conversation_id`, placed before
  // the first message of that conversation with a higher seq, else right
  // after the last message that has a seq, else before every message: shifts
  // every message with ord >= the chosen ord by one and returns the chosen
  // ord (now free).
  Result<int64_t> make_room_for_seq(std::string_view conversation_id, int64_t seq);

  // ---- image bytes
  // Stores the bytes of a message's images, in the images' order.
  Result<bool> put_image_bytes(std::string_view message_id, const std::vector<std::string>& bytes);
  // The stored bytes of a message's images in order (empty when dropped).
  Result<std::vector<std::string>> image_bytes(std::string_view message_id);
  Result<bool> drop_image_bytes(std::string_view message_id);

  // ---- outbox
  // Appends a message id (no-op when already queued).
  Result<bool> outbox_push(std::string_view message_id, int64_t not_before = 0);
  Result<bool> outbox_remove(std::string_view message_id);
  Result<bool> outbox_hold(std::string_view message_id, int64_t not_before);
  // The outbox in send order.
  Result<std::vector<OutboxEntry>> outbox();

  // ---- tool results
  // Stores the settled result of a tool call; the first one per id wins.
  Result<bool> put_tool_result(const ToolResultRecord& record);
  Result<std::optional<ToolResultRecord>> find_tool_result(std::string_view tool_call_id);

  // PRAGMA user_version of the open database.
  Result<int64_t> schema_version();

 private:
  explicit ClientStore(std::unique_ptr<Database> db);
  Result<bool> migrate();
  Result<std::vector<StoredMessage>> read_messages(const std::string& sql, int64_t a, int64_t b, int nparams);
  // Records that a write happened (counted now, or at commit inside a batch).
  void wrote();
  // A write's result: counts it as a change when it changed rows.
  Result<bool> counted(const Result<int64_t>& changed);

  std::unique_ptr<Database> db_;
  uint64_t changes_ = 0;
  bool batch_wrote_ = false;
};

}  // namespace chatwire::store

#endif  // CHATWIRE_CORE_STORE_CLIENT_STORE_H_
