// Typed frames of the chatwire wire protocol, version 1 (PROTOCOL.md).
//
// One struct per frame type and direction. Field names are the snake_case of
// the wire's camelCase names. Values that the protocol leaves as "any JSON"
// (tool arguments and results, component props and values, tool parameter
// schemas) are kept as serialized JSON text in RawJson, so the core never
// needs a second JSON model and the bindings never need per-type code.
#ifndef CHATWIRE_CORE_PROTOCOL_MESSAGES_H_
#define CHATWIRE_CORE_PROTOCOL_MESSAGES_H_

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "core/protocol/errors.h"

namespace chatwire::protocol {

// A JSON value kept as its compact serialized text, e.g. `{"lat":1}` or `null`.
struct RawJson {
  std::string text = "null";
  bool operator==(const RawJson& o) const { return text == o.text; }
};

// ---------------------------------------------------------------- client -> server

// Version 1.1: one conversation a connect resumes.
struct ResumeConversation {
  std::string conversation_id;
  int64_t last_seq = 0;
};
constexpr size_t kMaxResumeConversations = 100;

struct Connect {
  std::string client_id;
  std::string timestamp;
  std::optional<std::string> conversation_id;
  std::optional<int64_t> last_seq;
  std::optional<std::vector<ResumeConversation>> conversations;  // at most kMaxResumeConversations
};

struct Ping {
  std::string client_id;
  std::string timestamp;
};

// An image attached to a message. On the wire `data` is base64; in the core the
// image is held decoded (`bytes`), with the type and size sniffed from them.
struct Image {
  std::string id;
  std::string mime_type;
  std::optional<std::string> filename;
  std::string bytes;     // decoded image bytes
  uint32_t width = 0;    // from the image headers (set by decode / check)
  uint32_t height = 0;
};

struct Message {
  std::string message_id;
  std::string client_id;
  std::string timestamp;
  std::optional<std::string> content;
  std::vector<Image> images;
  // Version 1.1: absent = the connection's current conversation.
  std::optional<std::string> conversation_id;
  std::optional<RawJson> metadata;  // a JSON object, at most kMaxMetadataBytes
  // Absent: the newest message of the active branch; a null inside: a new root.
  std::optional<std::optional<std::string>> parent_id;
};

struct Typing {  // client -> server
  std::string client_id;
  bool is_typing = false;
  std::string timestamp;
};

struct LoadMessages {
  std::string conversation_id;
  std::optional<int64_t> before_seq;
  int limit = 50;
};

struct ToolSpec {
  std::string name;
  std::string description;
  RawJson parameters;
};

struct ConfigureTools {
  std::vector<ToolSpec> tools;
};

struct ToolResult {
  std::string tool_call_id;
  std::optional<RawJson> result;     // exactly one of result / error
  std::optional<std::string> error;
};

struct ComponentAction {
  std::string component_id;
  std::string action;
  RawJson values;
  std::string timestamp;
};

struct Cancel {
  std::string reply_to;
  std::string timestamp;
};

struct Disconnect {
  std::string client_id;
  std::string timestamp;
};

// Version 1.1, Conversations (PROTOCOL.md). A title is at most
// kMaxTitleChars characters, metadata at most kMaxMetadataBytes of JSON.
constexpr size_t kMaxTitleChars = 200;
constexpr size_t kMaxMetadataBytes = 4096;

// The title rule, for update_conversation and reply.setTitle alike:
// too_large past kMaxTitleChars characters (UTF-8 code points).
inline std::optional<Error> title_error(const std::string& title) {
  size_t chars = 0;
  for (unsigned char ch : title) chars += (ch & 0xC0) != 0x80;
  if (chars <= kMaxTitleChars) return std::nullopt;
  return Error(ErrorCode::too_large, "field 'title' is " + std::to_string(chars) +
                                         " characters, over the limit of " + std::to_string(kMaxTitleChars));
}

struct ListConversations {
  int limit = 20;                     // 1..100
  std::optional<std::string> before;  // a cursor of an earlier page
};

struct UpdateConversation {
  std::string conversation_id;
  std::optional<std::string> title;
  std::optional<bool> archived;
  std::optional<RawJson> metadata;  // a JSON object
};

struct DeleteConversation {
  std::string conversation_id;
};

using ClientFrame = std::variant<Connect, Ping, Message, Typing, LoadMessages, ConfigureTools,
                                 ToolResult, ComponentAction, Cancel, Disconnect, ListConversations,
                                 UpdateConversation, DeleteConversation>;

// ---------------------------------------------------------------- server -> client

// Version 1.1: how one conversation of connect.conversations was resumed.
struct ResumedConversation {
  std::string conversation_id;
  bool resumed = false;
  bool recovered = true;
};

struct ConnectConfirm {
  std::string conversation_id;
  std::string connection_id;
  bool resumed = false;
  bool recovered = true;
  int64_t heartbeat_ms = 10000;
  std::string timestamp;
  std::optional<std::vector<ResumedConversation>> conversations;  // when connect had them, in its order
};

struct Pong {
  std::string timestamp;
};

// Message receipt (no image_id) or one image's status (image_id + status).
struct Confirm {
  std::string message_id;
  std::optional<std::string> image_id;
  std::optional<std::string> status;  // received | processing | analyzed
  int64_t seq = 0;
  std::string timestamp;
  std::optional<std::string> conversation_id;  // version 1.1: the conversation it belongs to
};

struct Thinking {
  std::string reply_to;
  std::string step;
  int64_t seq = 0;
  std::string timestamp;
  std::optional<std::string> conversation_id;  // version 1.1: the conversation it belongs to
};

struct Delta {
  std::string message_id;
  std::string reply_to;
  int64_t index = 0;
  std::string delta;
  std::string timestamp;
  std::optional<std::string> conversation_id;  // version 1.1: the conversation it belongs to
};

struct ImageAnalysis {
  std::string image_id;
  std::string description;
  std::string category;
  std::string condition;
  std::vector<std::string> features;
  std::vector<std::string> recommendations;
};

struct Citation {
  std::string document_id;
  std::string chunk_id;
  std::string filename;
  std::optional<int64_t> page_start;
  std::optional<int64_t> page_end;
  std::optional<double> score;
};

struct Response {
  std::string message_id;
  std::string reply_to;
  std::string content;
  int64_t seq = 0;
  std::string timestamp;
  std::optional<std::vector<ImageAnalysis>> image_analysis;
  std::optional<std::vector<Citation>> citations;
  bool cancelled = false;  // on the wire only when true
  std::optional<std::string> conversation_id;  // version 1.1: the conversation it belongs to
  std::optional<int64_t> version;   // 1-based count of replies to reply_to (1.1, Branches)
  std::optional<RawJson> metadata;  // what the handler set (1.1)
};

struct ToolCall {
  std::string tool_call_id;
  std::string reply_to;
  std::string name;
  RawJson arguments;
  int64_t seq = 0;
  std::string timestamp;
  std::optional<std::string> conversation_id;  // version 1.1: the conversation it belongs to
};

struct Component {
  std::string component_id;
  std::string reply_to;
  std::string component;
  RawJson props;
  int64_t seq = 0;
  std::string timestamp;
  std::optional<std::string> conversation_id;  // version 1.1: the conversation it belongs to
};

struct TypingIndicator {  // server -> client
  bool is_typing = false;
  std::string timestamp;
  std::optional<std::string> conversation_id;  // version 1.1: the conversation it belongs to
};

struct HistoryImage {
  std::string id;
  std::string mime_type;
  std::optional<std::string> filename;
};

struct HistoryEntry {
  int64_t seq = 0;
  std::string role;  // user | assistant
  std::string message_id;
  std::optional<std::string> reply_to;  // assistant only
  std::string content;
  std::string timestamp;
  std::vector<HistoryImage> images;     // user only
  std::optional<std::vector<ImageAnalysis>> image_analysis;
  std::optional<std::vector<Citation>> citations;
  bool cancelled = false;
  // The server cut `content` so that this one message fits a history frame
  // (limits.max_frame_bytes); chatwire's own extension, ignored by others.
  bool truncated = false;
  // Version 1.1: the message it follows (a null inside: a root; absent: not
  // known), the reply's version, the message's metadata.
  std::optional<std::optional<std::string>> parent_id;
  std::optional<int64_t> version;
  std::optional<RawJson> metadata;
};

struct History {
  std::string conversation_id;
  std::vector<HistoryEntry> messages;
  bool has_more = false;
};

struct ErrorEvent {
  Error error;                  // code, text, message_id, image_id, retry_after_ms
  std::optional<int64_t> seq;   // stored errors about a message carry a seq
  std::string timestamp;
  std::optional<std::string> conversation_id;  // version 1.1: when it names a message
};

struct ConversationLastMessage {
  std::string role;
  std::string content;  // its first 200 characters
  std::string timestamp;
};

struct ConversationItem {
  std::string conversation_id;
  std::optional<std::string> title;
  std::string created_at;
  std::string updated_at;
  bool archived = false;
  RawJson metadata{"{}"};
  std::optional<ConversationLastMessage> last_message;
};

// Answer to list_conversations.
struct Conversations {
  std::vector<ConversationItem> items;
  bool has_more = false;
  std::optional<std::string> cursor;
};

// A conversation's title / archived / metadata changed (type "conversation").
struct ConversationUpdated {
  std::string conversation_id;
  std::optional<std::string> title;
  bool archived = false;
  RawJson metadata{"{}"};
  std::string updated_at;
  int64_t seq = 0;
  std::string timestamp;
};

struct ConversationDeleted {
  std::string conversation_id;
  std::string timestamp;
};

using ServerFrame = std::variant<ConnectConfirm, Pong, Confirm, Thinking, Delta, Response, ToolCall,
                                 Component, TypingIndicator, History, ErrorEvent, Conversations,
                                 ConversationUpdated, ConversationDeleted>;

// What each frame type is (its wire name, seq, storage, ...) is in the frame
// table: frames.h.

}  // namespace chatwire::protocol

#endif  // CHATWIRE_CORE_PROTOCOL_MESSAGES_H_
