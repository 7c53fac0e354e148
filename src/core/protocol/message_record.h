// The client's message records: a message as DESIGN.md describes it
// (UserMessage or AssistantMessage) plus the bookkeeping the client needs,
// and their JSON. The client store keeps them (store/client_store.h), the
// client engine fills them and emits them in `message` events; the JSON of
// both lives here, with the protocol's other JSON, written and read by field
// tables (field_table.h).
#ifndef CHATWIRE_CORE_PROTOCOL_MESSAGE_RECORD_H_
#define CHATWIRE_CORE_PROTOCOL_MESSAGE_RECORD_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace chatwire::protocol {

// One image of a user message (metadata only; bytes live in image_bytes).
struct StoredImage {
  std::string id;
  std::string mime_type;
  std::optional<std::string> filename;
  uint32_t width = 0;
  uint32_t height = 0;
  std::string status;                        // "" (none yet) | received | processing | analyzed
  std::optional<std::string> analysis_json;  // the ImageAnalysis object for this image, as JSON
};

// One tool call of an assistant message.
struct StoredToolCall {
  std::string tool_call_id;
  std::string name;
  std::string arguments_json = "{}";
  std::string status = "running";            // running | done | error
  std::optional<std::string> result_json;    // when done
  std::optional<std::string> error;          // when error
};

// One interactive component of an assistant message.
struct StoredComponent {
  std::string component_id;
  std::string component;
  std::string props_json = "{}";
};

// A message as DESIGN.md describes it (UserMessage or AssistantMessage), plus
// the bookkeeping columns the client needs.
struct StoredMessage {
  int64_t row = 0;        // SQLite rowid; 0 until first put_message
  int64_t ord = 0;        // local order
  std::string id;         // user: client messageId; assistant: server reply id (or provisional)
  std::string role;       // user | assistant
  std::string conversation_id;
  std::string reply_to;   // assistant only
  std::string status;     // user: queued|sent|received|processed|failed; assistant: streaming|complete|cancelled|failed
  int64_t seq = 0;        // seq of its confirm (user) / response (assistant); 0 unknown
  std::string created_at; // ISO 8601
  std::string content;
  std::optional<std::string> error_code;     // set when failed because of an error
  std::optional<std::string> error_message;
  std::vector<StoredImage> images;           // user
  std::vector<std::string> thinking;         // assistant
  std::vector<StoredToolCall> tool_calls;    // assistant
  std::vector<StoredComponent> components;   // assistant
  std::string citations_json = "[]";         // assistant: JSON array
  std::string image_analysis_json = "[]";    // assistant: JSON array
};

// The JSON text of a message in DESIGN.md's shape (UserMessage or
// AssistantMessage, camelCase, optional fields only when set). This is what
// the client engine emits in `message` events and messages_json().
std::string message_to_json(const StoredMessage& message);

// The parts of a record that are not columns of the client store's messages
// table, as the JSON text of its `detail` column: a user message's images, an
// assistant message's thinking, toolCalls, components, citations and
// imageAnalysis, and the error of either.
std::string message_detail_json(const StoredMessage& message);
// Reads a `detail` text back into `message` (written by message_detail_json
// only: a field that is missing or unreadable keeps its default).
void read_message_detail(std::string_view text, StoredMessage& message);

}  // namespace chatwire::protocol

#endif  // CHATWIRE_CORE_PROTOCOL_MESSAGE_RECORD_H_
