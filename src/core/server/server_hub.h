// The chatwire server as a sans-I/O engine: every connection's protocol state,
// seq numbering, storage, replay, idempotency, rate limits and heartbeats.
// The Node binding moves frames between libwebsockets and this class and turns
// the application events into JS callbacks; it holds no protocol rule.
//
// Driving it (the binding's loop, and every test's):
//   inputs    handle_open / handle_frame / handle_close / handle_timeout(now)
//   commands  image_status, thinking, delta, typing, component, tool_call,
//             respond, fail (the JS `reply` object of onMessage, by turn id),
//             broadcast, shutdown
//   outputs   after any input or command, drain poll_transmit (frames to
//             write), poll_close (sockets to close), poll_event (application
//             events, JSON); then arm a timer for poll_timeout() and call
//             handle_timeout(now) when it fires.
// `now` is ms since the epoch from the caller; the hub reads no clock.
//
// The theory of operation, the connection state table and every decision on
// what PROTOCOL.md leaves open are at the top of server_hub.cc and in
// docs/server-hub.md.
#ifndef CHATWIRE_CORE_SERVER_SERVER_HUB_H_
#define CHATWIRE_CORE_SERVER_SERVER_HUB_H_

#include <cstdint>
#include <deque>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/protocol/errors.h"
#include "core/protocol/ids.h"
#include "core/protocol/limits.h"
#include "core/protocol/messages.h"
#include "core/server/fanout.h"
#include "core/server/rate_limiter.h"
#include "core/store/event_store.h"

namespace chatwire::server {

struct HubConfig {
  Limits limits;                                  // frame/content/image limits, rate limit
  int64_t heartbeat_ms = 10000;                   // advertised in connect_confirm
  int64_t heartbeat_timeout_ms = 30000;           // silence before close 4008
  int64_t retention_ms = 24LL * 3600 * 1000;      // replay window by age (0: no age limit)
  int64_t retention_events = 10000;               // replay window per conversation (0: no limit)
  bool typing_around_handler = true;              // typing:true on a message event, false when its turn ends
  int64_t prune_interval_ms = 60000;              // how often the event log is pruned
  // load_messages is paid by what it returns (issue 14.3): its frame takes one
  // rate-limit token, plus one per this many bytes of the `history` frame
  // answered (pages are at most limits.max_frame_bytes).
  size_t history_bytes_per_token = 64u << 10;
  // retryAfterMs of an `unavailable` error (the store failed a write).
  int64_t unavailable_retry_ms = 5000;
};

class ServerHub {
 public:
  // `store`, `entropy` and `fanout` must outlive the hub. Without a fanout
  // the hub uses an InProcessFanout of its own (every connection is here).
  ServerHub(HubConfig config, store::EventStore& store, Entropy& entropy, Fanout* fanout = nullptr);
  // The same, owning its store: what open_server_hub() (server_config.h)
  // returns, so the binding reaches the store only through the hub.
  ServerHub(HubConfig config, std::unique_ptr<store::EventStore> store, Entropy& entropy,
            Fanout* fanout = nullptr);

  // ---------------------------------------------------------------- inputs

  // A WebSocket was accepted (after the ticket check, if any). `user_id` is
  // the ticket's user, "" without auth. The connection must send `connect`
  // within heartbeat_timeout_ms or it is closed with 4008. Poll afterwards.
  void handle_open(int64_t now, ConnId conn, std::string user_id, std::string peer_ip);

  // One whole text frame from `conn`. Answers go to poll_transmit / poll_close
  // / poll_event.
  void handle_frame(int64_t now, ConnId conn, std::string_view text);

  // The socket is gone (any reason, including a close the hub asked for via
  // poll_close). Frees the connection; a turn in progress keeps running.
  // Emits a `disconnect` event for a connection that had been confirmed.
  void handle_close(int64_t now, ConnId conn, int code);

  // The timer from poll_timeout() fired (calling it early is harmless):
  // heartbeat closes (4008), connect deadline, event log pruning.
  void handle_timeout(int64_t now);

  // ---------------------------------------------------------------- commands
  // A turn is one processed client message; `turn_id` comes from the
  // "message" event. All return not_found once the turn ended (respond/fail)
  // or for an unknown id. After the client cancelled a turn, the streaming
  // commands are accepted but send nothing (see each).

  // Sends the next status of one of the turn's images: "processing" or
  // "analyzed" (stored, seq'd). "received" is sent by the hub itself on
  // confirm. Statuses only move forward (invalid_field otherwise); unknown
  // image: not_found. Returns false when dropped because of a cancel.
  Result<bool> image_status(int64_t now, std::string_view turn_id, std::string_view image_id,
                            std::string_view status);

  // Sends a `thinking` step (stored, seq'd). False when dropped (cancelled).
  Result<bool> thinking(int64_t now, std::string_view turn_id, std::string_view step);

  // Sends a `delta` (live only, never stored). Returns its index (0, 1, ...
  // per reply), or -1 when dropped because the turn was cancelled.
  Result<int64_t> delta(int64_t now, std::string_view turn_id, std::string_view text);

  // Sends a server `typing` indicator to the conversation (not stored). False
  // when dropped (cancelled).
  Result<bool> typing(int64_t now, std::string_view turn_id, bool is_typing);

  // Sends a `component` (stored, seq'd) and returns its componentId ("" when
  // dropped because of a cancel). `props_json` is any JSON ("" means {}).
  Result<std::string> component(int64_t now, std::string_view turn_id, std::string_view kind,
                                std::string_view props_json);

  // Sends a `tool_call` (stored, seq'd, replayed on resume) and returns its
  // toolCallId. The answer arrives as a "tool_result" event (first result per
  // id only). On a cancelled turn nothing is sent and a "tool_result" event
  // with error "cancelled" is queued at once. Poll events after registering
  // the returned id.
  Result<std::string> tool_call(int64_t now, std::string_view turn_id, std::string_view name,
                                std::string_view arguments_json);

  // Ends the turn with its `response` (stored in the event log and the
  // history, seq'd). `response_json`: {"content"?, "imageAnalysis"?,
  // "citations"?} (content defaults to the text streamed by delta()); a
  // field of the wrong shape is invalid_field and the turn stays open. If the
  // client cancelled: the response carries the streamed text and
  // "cancelled":true, or nothing is sent (returns false) when no reply event
  // had been sent. Turn outcome: completed or cancelled.
  Result<bool> respond(int64_t now, std::string_view turn_id, std::string_view response_json);

  // Ends the turn with an `error` {code, error: message, messageId} (stored,
  // seq'd): the client marks its message failed and may retry it (a retry
  // with the same messageId is processed again). A cancelled turn ends as in
  // respond(). Turn outcome: failed (or cancelled).
  Result<bool> fail(int64_t now, std::string_view turn_id, ErrorCode code, std::string_view message);

  // Sends a server frame to every open connection of a conversation
  // ({"conversationId":...}) or of a user ({"userId":...}). `event_json` is a
  // server frame (thinking, response, tool_call, component, confirm, error,
  // delta, typing); a missing timestamp is filled in. Storable types (all but
  // delta and typing) get the conversation's next seq and are stored, so
  // they replay; for a userId target, once per conversation the user has open.
  // A conversationId target that does not exist is not_found; an invalid
  // frame is invalid_field (or the codec's error). Returns the number of
  // connections the frame was written to.
  Result<size_t> broadcast(int64_t now, std::string_view target_json, std::string_view event_json);

  // ---- conversations for the application (version 1.1; hub_conversations.cc)
  // The active branch before the turn's message, oldest first, at most the
  // newest `limit` messages (0: all), as a JSON array of {role, content,
  // messageId, images?} (images: {id, mimeType, filename?}): msg.history().
  Result<std::string> turn_history(std::string_view turn_id, std::optional<int64_t> limit);
  // Sets the title of the turn's conversation (too_large past 200
  // characters): a `conversation` frame, stored and seq'd, to every
  // connection of the owner.
  Result<bool> set_title(int64_t now, std::string_view turn_id, std::string_view title);
  // One page of an owner's conversations ({"userId":...} or
  // {"clientId":...}), as the `conversations` frame's body
  // {items, hasMore, cursor?}. limit 1..100, else invalid_field.
  Result<std::string> list_conversations(std::string_view owner_json, int limit, std::string_view before);
  // Deletes a conversation as its owner's delete_conversation would
  // (conversation_deleted to every connection of the owner); not_found when unknown.
  Result<bool> delete_conversation(int64_t now, std::string_view conversation_id);

  // Server shutdown: every turn still running ends as abandoned (its message
  // gets a stored `error` internal so a resuming client can retry it), every
  // connection is closed with 1001. Later opens are closed at once.
  void shutdown(int64_t now);

  // ---------------------------------------------------------------- outputs
  struct Transmit {
    ConnId conn;
    std::string text;
  };
  struct Close {
    ConnId conn;
    int code;
    std::string reason;
  };
  // The next frame to write, in order.
  std::optional<Transmit> poll_transmit();
  // The next socket to close: 1000 after `disconnect`, 1001 shutdown, 1009
  // frame over limits.max_frame_bytes, 4008 heartbeat / no connect, 4029
  // flood. Call handle_close when the socket is gone.
  std::optional<Close> poll_close();
  // The next application event, JSON (shapes in docs/server-hub.md).
  std::optional<std::string> poll_event();
  // When handle_timeout should be called next; nullopt when nothing is due.
  std::optional<int64_t> poll_timeout();

  // The bytes of an image of a running turn (the "message" event carries only
  // metadata). Valid until the turn ends; nullptr for unknown ids.
  const std::string* image_bytes(std::string_view turn_id, std::string_view image_id) const;

  // ---------------------------------------------------------------- the store
  // Group commit (EventStore::begin_group) through the hub, so it knows what a
  // failed group loses. begin_group() opens one; commit_group(now) commits it.
  // When the commit fails the owner drops every output it held back for the
  // group, and the hub forgets the turns the group started and queues, for
  // every message the group confirmed or answered, an `unavailable` error
  // naming it (not stored); sockets the group confirmed are closed with 1011.
  // Poll afterwards (those outputs are not part of any group).
  Result<bool> begin_group();
  Result<bool> commit_group(int64_t now);

  // Whether the store took its last writes: false from a failed write or
  // commit until a later commit (a group with no failure in it, or a
  // message's batch outside groups) succeeds. `reason` is for /healthz:
  // generic, never SQLite's text (that goes to a "store_error" event).
  struct StoreHealth {
    bool ok = true;
    std::string reason;
  };
  StoreHealth store_health() const;

  // The store's log maintenance (EventStore::log_backlog, checkpoint_job,
  // checkpoint), for the CommitScheduler; outside groups only.
  int64_t store_log_backlog() const { return store_.log_backlog(); }
  store::EventStore::BackgroundJob store_checkpoint_job() const { return store_.checkpoint_job(); }
  Result<bool> store_checkpoint() { return store_.checkpoint(); }

  // Connections currently known (open or awaiting connect or closing).
  size_t connection_count() const { return conns_.size(); }

  const HubConfig& config() const { return config_; }

 private:
  enum class ConnState { awaiting_connect, open, closing };

  struct Conn {
    ConnId id = 0;
    ConnState state = ConnState::awaiting_connect;
    std::string user_id;
    std::string peer_ip;
    std::string connection_id;    // after connect
    std::string conversation_id;  // after connect
    std::string client_id;        // after connect
    int64_t opened_at = 0;
    int64_t last_rx = 0;
    bool in_liveness = false;
    std::list<ConnId>::iterator liveness_it;
    bool in_awaiting = false;
    std::list<ConnId>::iterator awaiting_it;
    RateLimiter limiter;
    Conn(double rate, double burst) : limiter(rate, burst) {}
  };

  struct TurnImage {
    protocol::Image image;
    int status = 0;  // 0 received, 1 processing, 2 analyzed
  };

  struct Turn {
    std::string turn_id;
    std::string conversation_id;
    std::string message_id;  // client messageId
    std::string reply_id;    // server messageId of the reply
    std::vector<TurnImage> images;
    bool cancelled = false;
    bool reply_started = false;  // a thinking, delta, tool_call or component was sent
    int64_t next_index = 0;
    std::string streamed;        // concatenated deltas
    std::set<std::string> pending_tools;
  };

  // Live state of a conversation that has open connections or running turns.
  // Its connections are the Fanout's (fanout_.subscribe on connect).
  // Its frames go to every connection of its owner: the Fanout's topics are
  // owners (store::conversation_owner), every open connection subscribed to
  // its own.
  struct Conversation {
    std::vector<protocol::ToolSpec> tools;
    std::map<std::string, std::string> turns;  // client messageId -> turn id
    std::string owner;
    int connections = 0;  // open connections whose current conversation it is
    // The newest message of the active branch (nullopt inside: none yet),
    // when known: walking the branch from its root costs one query per
    // message, so note_message keeps it current and clears it when unsure.
    std::optional<std::optional<std::string>> leaf;
  };

  // ---- frame handlers
  void on_connect(int64_t now, Conn& c, const protocol::Connect& f);
  void on_message(int64_t now, Conn& c, protocol::Message& f);
  void on_load_messages(int64_t now, Conn& c, const protocol::LoadMessages& f);
  void on_configure_tools(Conn& c, const protocol::ConfigureTools& f);
  void emit_tools(const std::string& conversation_id, const std::vector<protocol::ToolSpec>& tools);
  void on_tool_result(Conn& c, const protocol::ToolResult& f);
  void on_component_action(int64_t now, Conn& c, const protocol::ComponentAction& f);
  void on_cancel(Conn& c, const protocol::Cancel& f);
  // Conversations (hub_conversations.cc): the connection owner's only.
  void on_list_conversations(int64_t now, Conn& c, const protocol::ListConversations& f);
  void on_update_conversation(int64_t now, Conn& c, const protocol::UpdateConversation& f);
  void on_delete_conversation(int64_t now, Conn& c, const protocol::DeleteConversation& f);
  // The owner's conversation `id`, or an error for the connection: not_found
  // when it is unknown or another owner's (the same text either way).
  Result<store::ConversationRecord> owned_conversation(const std::string& owner, const std::string& id);
  // Sends `text` to every open connection of `owner`.
  void send_to_owner(const std::string& owner, const std::string& text);
  // One page of the owner's conversations (invalid_field for a bad cursor).
  Result<protocol::Conversations> list_page(const std::string& owner, int limit, std::string_view before);
  // Stores the update with its `conversation` event and sends it to the owner.
  Result<bool> apply_update(int64_t now, const store::ConversationRecord& conv, const store::ConversationUpdate& u);
  // Deletes the conversation and tells the owner's connections.
  Result<bool> apply_delete(int64_t now, const store::ConversationRecord& conv);

  // ---- store failures (issue 14.8)
  // Marks the store failing, queues a "store_error" event with the cause, and
  // returns the generic error a client gets: unavailable + retryAfterMs.
  Error store_failed(const Error& cause, const char* what);
  void send_unavailable(int64_t now, const std::string& conversation_id, const std::string& message_id);
  // The turn's outcome could not be stored: its clients get `unavailable`, the
  // turn ends here (the store still says received: a resend processes it again).
  Error lose_turn(int64_t now, Turn& t, const Error& cause);
  bool is_running(const std::string& conversation_id, const std::string& message_id) const;

  // ---- helpers
  void ensure_started(int64_t now);
  Conn* find_conn(ConnId id);
  void touch(int64_t now, Conn& c);
  void request_close(Conn& c, int code, std::string reason);
  void send(Conn& c, std::string text);
  void send_error(int64_t now, Conn& c, Error error);
  // The same, about a message of `conversation_id` (the error names it).
  void send_error(int64_t now, Conn& c, Error error, const std::string& conversation_id);
  size_t send_to_conversation(const std::string& conversation_id, const std::string& text);
  void replay_turn(int64_t now, Conn& c, const store::TurnRecord& turn);
  Result<Turn*> find_turn(std::string_view turn_id);
  Result<store::EventRecord> append(int64_t now, const std::string& conversation_id, const char* kind,
                                    const std::string& ref_id, const std::string& reply_to,
                                    protocol::ServerFrame frame);
  Result<bool> end_cancelled(int64_t now, Turn& t, std::optional<protocol::Response> response);
  // Stores the turn's response and outcome in one batch, sends it, ends the turn.
  Result<bool> end_with_response(int64_t now, Turn& t, protocol::Response r, store::TurnStatus status);
  void end_turn(int64_t now, std::string turn_id);
  void abandon(int64_t now, Turn& t, const char* why);
  void set_typing(int64_t now, const std::string& conversation_id, bool on);
  bool has_active_turn(const std::string& conversation_id) const;
  // The parent of a message sent without parentId: the newest message of the
  // active branch, or, when that is the message itself (a retry), its parent.
  Result<std::optional<std::string>> default_parent(const std::string& conversation_id,
                                                    const std::string& message_id);
  // A message `id` with `parent` was stored: the cached active leaf follows.
  void note_message(const std::string& conversation_id, const std::optional<std::string>& parent,
                    const std::string& id);
  void forget_conversation_if_idle(const std::string& conversation_id);
  // The owner of a conversation (live state first, else the store; '' when unknown).
  std::string owner_of_conversation(const std::string& conversation_id);
  // For a message naming `conversation_id`: the conversation when it is the
  // connection owner's, created (owned by the sender) when it is new;
  // not_found when it is another owner's.
  Result<bool> use_conversation(int64_t now, Conn& c, const std::string& conversation_id);
  store::RetentionPolicy retention() const;

  HubConfig config_;
  std::unique_ptr<store::EventStore> own_store_;  // when the hub owns its store
  store::EventStore& store_;
  Entropy& entropy_;
  std::unique_ptr<Fanout> own_fanout_;  // when the owner gave none
  Fanout& fanout_;
  bool started_ = false;
  bool shut_down_ = false;
  int64_t next_prune_at_ = 0;

  std::unordered_map<ConnId, Conn> conns_;
  std::list<ConnId> liveness_;  // open/awaiting connections, least recently heard from first
  std::list<ConnId> awaiting_;  // connections without connect, oldest first
  std::unordered_map<std::string, Conversation> conversations_;
  std::unordered_map<std::string, Turn> turns_;              // by turn id
  std::unordered_map<std::string, std::string> tool_calls_;  // pending toolCallId -> turn id

  // What the open store group did, for commit_group's failure path.
  struct GroupTurn {
    std::string conversation_id;
    std::string message_id;
    std::string turn_id;
  };
  struct GroupJournal {
    std::vector<GroupTurn> started;  // turns whose message (confirm) the group stored
    std::vector<GroupTurn> ended;    // turns whose outcome the group stored
    std::vector<GroupTurn> refused;  // messages answered `unavailable` inside the group
    std::vector<ConnId> connects;    // sockets whose connect the group stored
    std::vector<std::string> tools;  // conversations whose tools the group announced
    bool failed = false;             // a store call failed inside the group
  };
  GroupJournal group_;
  bool store_ok_ = true;
  std::string store_reason_;

  std::deque<Transmit> transmits_;
  std::deque<Close> closes_;
  std::deque<std::string> events_;
};

}  // namespace chatwire::server

#endif  // CHATWIRE_CORE_SERVER_SERVER_HUB_H_
