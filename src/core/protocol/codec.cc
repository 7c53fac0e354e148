// The codec's entry points (codec.h): the protocol's JSON syntax rules, and
// decode / encode by way of the frame table (frames.cc), whose rows hold each
// frame type's reader and writer (frames_client.cc, frames_server.cc).
#include "core/protocol/codec.h"

#include <rapidjson/error/en.h>

#include "core/protocol/frame_codec.h"

namespace chatwire::protocol {

namespace internal {

std::string to_text(const Value& value) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  value.Accept(w);
  return std::string(buf.GetString(), buf.GetSize());
}

void put_error_fields(Writer& w, const Error& e, const char* text_key) {
  put(w, "code", std::string(error_code_name(e.code)));
  put(w, text_key, e.message);
  if (!e.message_id.empty()) put(w, "messageId", e.message_id);
  if (!e.image_id.empty()) put(w, "imageId", e.image_id);
  if (e.retry_after_ms >= 0) put(w, "retryAfterMs", e.retry_after_ms);
}

}  // namespace internal

namespace {

using internal::Fields;
using internal::Value;
using internal::Writer;

Error unknown_type(const std::string& type) {
  return Error(ErrorCode::unknown_type, "unknown frame type '" + type + "'");
}

// Frame-level checks shared by both directions: a JSON object with a string `type`.
Result<std::string> frame_type(const Value& value) {
  if (!value.IsObject()) return Error(ErrorCode::bad_json, "a frame must be a JSON object");
  auto it = value.FindMember("type");
  if (it == value.MemberEnd()) return Error(ErrorCode::invalid_field, "missing field 'type'");
  if (!it->value.IsString()) return Error(ErrorCode::invalid_field, "field 'type' must be a string");
  return std::string(it->value.GetString(), it->value.GetStringLength());
}

int hex4(std::string_view text, size_t at) {
  if (at + 4 > text.size()) return -1;
  int v = 0;
  for (size_t k = at; k < at + 4; ++k) {
    const char c = text[k];
    const int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
    if (d < 0) return -1;
    v = v * 16 + d;
  }
  return v;
}

// What RapidJSON 1.1.0 lets through and parse_json_frame must not: the
// nesting depth (checked without recursion, ignoring brackets inside
// strings), and a `\uDC00`-`\uDFFF` escape that does not follow a high
// surrogate escape. RapidJSON refuses a lone HIGH surrogate but decodes a lone
// LOW one into the bytes ED B0 80.., which are not UTF-8: stored and echoed
// back, they would make every browser fail the connection (1007) on replay
// (found by tests/fixtures/bad-frames.json). False with `*where` = the offset
// and `*lone_surrogate` telling which.
bool depth_within(std::string_view text, int max_depth, size_t* where, bool* lone_surrogate) {
  int depth = 0;
  bool in_string = false;
  size_t after_high = std::string_view::npos;  // offset just past a high surrogate escape
  *lone_surrogate = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        if (i + 1 < text.size() && text[i + 1] == 'u') {
          const int unit = hex4(text, i + 2);
          if (unit >= 0xDC00 && unit <= 0xDFFF && after_high != i) {
            *where = i;
            *lone_surrogate = true;
            return false;
          }
          after_high = unit >= 0xD800 && unit <= 0xDBFF ? i + 6 : std::string_view::npos;
          if (unit >= 0) i += 4;
        }
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      if (++depth > max_depth) {
        *where = i;
        return false;
      }
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
  return true;
}

// A parsed frame of one direction, read by the row of its `type`.
template <class Frame, class Row>
Result<Frame> frame_from_json(const Value& value, const Limits& limits, const Row* (*row_of)(std::string_view)) {
  auto type = frame_type(value);
  if (!type) return type.error();
  const Row* row = row_of(*type);
  if (!row) return unknown_type(*type);
  Fields f(value);
  return row->read(f, limits);
}

// `{"type":<the row's type>, <the row's writer>}`.
template <class Row, class Frame>
std::string write_frame(const Row& row, const Frame& frame) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  internal::put(w, "type", std::string(row.info.type));
  row.write(w, frame);
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

template <class T, class Fn>
std::string write_text(const T& value, Fn fn) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  fn(w, value);
  return std::string(buf.GetString(), buf.GetSize());
}

}  // namespace

// ------------------------------------------------------------------ public

Result<bool> parse_json_frame(std::string_view text, const Limits& limits, rapidjson::Document& doc) {
  if (text.size() > limits.max_frame_bytes) {
    return Error(ErrorCode::too_large, "frame is " + std::to_string(text.size()) + " bytes, over the " +
                                           std::to_string(limits.max_frame_bytes) + "-byte limit");
  }
  size_t where = 0;
  bool lone_surrogate = false;
  if (!depth_within(text, limits.max_json_depth, &where, &lone_surrogate)) {
    if (lone_surrogate) {
      return Error(ErrorCode::bad_json, "invalid JSON at offset " + std::to_string(where) +
                                            ": a low surrogate escape without a high surrogate before it");
    }
    return Error(ErrorCode::bad_json, "JSON nested deeper than " + std::to_string(limits.max_json_depth) +
                                          " levels at offset " + std::to_string(where));
  }
  internal::parse(doc, text);
  if (doc.HasParseError()) {
    return Error(ErrorCode::bad_json, std::string("invalid JSON at offset ") +
                                          std::to_string(doc.GetErrorOffset()) + ": " +
                                          rapidjson::GetParseError_En(doc.GetParseError()));
  }
  if (!doc.IsObject()) return Error(ErrorCode::bad_json, "a frame must be a JSON object");
  return true;
}

Result<ClientFrame> client_frame_from_json(const rapidjson::Value& value, const Limits& limits) {
  return frame_from_json<ClientFrame, internal::ClientRow>(value, limits, internal::client_row);
}

Result<ServerFrame> server_frame_from_json(const rapidjson::Value& value, const Limits& limits) {
  return frame_from_json<ServerFrame, internal::ServerRow>(value, limits, internal::server_row);
}

Result<ClientFrame> decode_client_frame(std::string_view text, const Limits& limits) {
  rapidjson::Document doc;
  auto parsed = parse_json_frame(text, limits, doc);
  if (!parsed) return parsed.error();
  return client_frame_from_json(doc, limits);
}

Result<ServerFrame> decode_server_frame(std::string_view text, const Limits& limits) {
  rapidjson::Document doc;
  auto parsed = parse_json_frame(text, limits, doc);
  if (!parsed) return parsed.error();
  return server_frame_from_json(doc, limits);
}

std::string encode(const ClientFrame& frame) { return write_frame(internal::client_row(frame), frame); }
std::string encode(const ServerFrame& frame) { return write_frame(internal::server_row(frame), frame); }

std::string to_json_text(const ImageAnalysis& analysis) {
  return write_text(analysis, internal::write_object<internal::kAnalysisFields, ImageAnalysis>);
}
std::string to_json_text(const std::vector<ImageAnalysis>& list) {
  return write_text(list, internal::write_array<internal::kAnalysisFields, ImageAnalysis>);
}
std::string to_json_text(const std::vector<Citation>& list) {
  return write_text(list, internal::write_array<internal::kCitationFields, Citation>);
}
std::string to_json_text(const std::vector<ToolSpec>& tools) {
  return write_text(tools, internal::write_array<internal::kToolSpecFields, ToolSpec>);
}

std::string to_json_text(const rapidjson::Value& value) { return internal::to_text(value); }

}  // namespace chatwire::protocol
