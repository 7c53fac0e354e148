// Decoding and encoding of protocol frames (PROTOCOL.md) with RapidJSON.
//
// decode_* parse one frame's text and validate it completely: syntax and UTF-8
// (bad_json), the `type` (unknown_type), every field's presence and type
// (invalid_field, naming the field), sizes (too_large) and, for attached
// images, base64 and the image bytes (image_invalid / too_large). A frame that
// decodes is safe to act on. When a `message` frame fails after its messageId
// was readable, the Error carries that messageId.
//
// encode produces the canonical text of a frame: `type` first, then the fields
// in PROTOCOL.md's order, optional fields only when set.
//
// Which types exist, and each one's reader and writer, come from the frame
// table (frames.h).
//
// The *_from_json / to_json forms work on a RapidJSON value instead of text;
// the Node and WASM bindings use them with one generic JS<->JSON converter each,
// so validation has a single implementation wherever a frame comes from.
#ifndef CHATWIRE_CORE_PROTOCOL_CODEC_H_
#define CHATWIRE_CORE_PROTOCOL_CODEC_H_

#include <rapidjson/document.h>

#include <string>
#include <string_view>

#include "core/protocol/errors.h"
#include "core/protocol/limits.h"
#include "core/protocol/frames.h"
#include "core/protocol/messages.h"

namespace chatwire::protocol {

// Parses and validates a frame a client sent (server side).
Result<ClientFrame> decode_client_frame(std::string_view text, const Limits& limits);
// Parses and validates a frame a server sent (client side).
Result<ServerFrame> decode_server_frame(std::string_view text, const Limits& limits);

// Validates an already parsed JSON value as a frame (same rules as decode_*).
Result<ClientFrame> client_frame_from_json(const rapidjson::Value& value, const Limits& limits);
Result<ServerFrame> server_frame_from_json(const rapidjson::Value& value, const Limits& limits);

// Canonical frame text. Images are written with their bytes base64-encoded.
std::string encode(const ClientFrame& frame);
std::string encode(const ServerFrame& frame);

// Parses frame text into a JSON value with the protocol's syntax rules (UTF-8
// validated, nesting bounded by limits.max_json_depth, a single object at the
// root). Errors are bad_json with the reason and byte offset.
Result<bool> parse_json_frame(std::string_view text, const Limits& limits, rapidjson::Document& out);

// Compact serialization of any JSON value.
std::string to_json_text(const rapidjson::Value& value);

// The wire JSON of the sub-objects that frames, client events and the client
// store all carry, written by the same code that writes frames.
std::string to_json_text(const ImageAnalysis& analysis);
std::string to_json_text(const std::vector<ImageAnalysis>& list);
std::string to_json_text(const std::vector<Citation>& list);
std::string to_json_text(const std::vector<ToolSpec>& tools);

}  // namespace chatwire::protocol

#endif  // CHATWIRE_CORE_PROTOCOL_CODEC_H_
