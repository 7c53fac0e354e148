// JSON for the client engine (src/core/client/): what the host hands it as
// JSON text (a draft, a tool's result, a component's values, the tools) read
// here (its options: options_json.h), and the client frames built from them checked
// by the frame table's readers. The engine itself never parses or builds
// JSON; its events are written with EventWriter (json.h).
#ifndef CHATWIRE_CORE_PROTOCOL_ENGINE_JSON_H_
#define CHATWIRE_CORE_PROTOCOL_ENGINE_JSON_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/protocol/errors.h"
#include "core/protocol/limits.h"

namespace chatwire::protocol {

// A draft handed to ClientEngine::send: {"messageId"?, "content"?,
// "images"?: [{"id"?, "mimeType"?, "filename"?}]}.
struct DraftImage {
  std::optional<std::string> id, mime_type, filename;
  std::optional<Error> error;  // this entry's first problem (reported in image order)
};
struct Draft {
  std::string message_id;       // "" when absent; else a UUID
  std::optional<Error> error;   // the first problem after messageId (content, images)
  std::string content;
  bool lists_images = false;    // "images" is present
  std::vector<DraftImage> images;
};
// Errors: bad_json (not a JSON object), invalid_field "field 'messageId' must
// be a UUID". Problems after the messageId are in `error` (so a draft whose
// messageId is already stored is answered before them): a non-string content,
// a non-array images, or an images list of another length than `image_count`.
Result<Draft> read_draft(std::string_view json, size_t image_count);

// The `type` of a frame's text when it is a readable JSON object with a
// string type, else "".
std::string peek_frame_type(std::string_view text, const Limits& limits);

// A `component_action` frame's text, checked as the server checks it:
// `values_json` a JSON object ("" is {}; bad_json / invalid_field otherwise),
// the encoded frame at most limits.max_frame_bytes (too_large).
Result<std::string> component_action_text(std::string_view component_id, std::string_view action,
                                          std::string_view values_json, const std::string& timestamp,
                                          const Limits& limits);

// A `configure_tools` frame's text from the host's JSON array of tools,
// checked as the server checks it (bad_json, invalid_field, too_large).
Result<std::string> configure_tools_text(std::string_view tools_json, const Limits& limits);

// What a host's tool answer becomes: exactly one of `result` (compact JSON)
// and `error` (text). `result_json` "" is null. With `is_error` the error is
// the JSON string's text, or the JSON as written, or the text as given when it
// is not JSON ("the tool failed" when that is empty or null); without it,
// invalid JSON is the error "the tool returned invalid JSON".
struct ToolOutcome {
  std::optional<std::string> result;
  std::optional<std::string> error;
};
ToolOutcome tool_outcome(std::string_view result_json, bool is_error);

}  // namespace chatwire::protocol

#endif  // CHATWIRE_CORE_PROTOCOL_ENGINE_JSON_H_
