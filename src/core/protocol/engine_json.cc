#include "core/protocol/engine_json.h"

#include "core/protocol/codec.h"
#include "core/protocol/ids.h"
#include "core/protocol/json_fields.h"

namespace chatwire::protocol {

namespace {

using internal::Value;

constexpr size_t kMaxMimeTypeBytes = 64;
constexpr size_t kMaxFilenameBytes = 1024;

Error invalid(const std::string& message) { return Error(ErrorCode::invalid_field, message); }

// The member `key` unless it is absent or null.
const Value* member(const Value& obj, const char* key) {
  auto it = obj.FindMember(key);
  if (it == obj.MemberEnd() || it->value.IsNull()) return nullptr;
  return &it->value;
}

std::string string_of(const Value& v) { return std::string(v.GetString(), v.GetStringLength()); }

// An optional non-empty string member of a draft image, at most `max` bytes.
Result<bool> image_string(const Value& v, const std::string& where, const char* key, size_t max,
                          std::optional<std::string>* out) {
  const Value* f = member(v, key);
  if (!f) return true;
  if (!f->IsString() || f->GetStringLength() == 0) {
    return invalid("field '" + where + "." + key + "' must be a non-empty string");
  }
  if (f->GetStringLength() > max) {
    return invalid("field '" + where + "." + key + "' is longer than " + std::to_string(max) + " bytes");
  }
  *out = string_of(*f);
  return true;
}

DraftImage read_draft_image(const Value& v, size_t i) {
  DraftImage img;
  const std::string where = "images[" + std::to_string(i) + "]";
  if (!v.IsObject()) {
    img.error = invalid("field '" + where + "' must be an object");
    return img;
  }
  for (auto r : {image_string(v, where, "id", kMaxIdBytes, &img.id),
                 image_string(v, where, "mimeType", kMaxMimeTypeBytes, &img.mime_type),
                 image_string(v, where, "filename", kMaxFilenameBytes, &img.filename)}) {
    if (!r) {
      img.error = r.error();
      break;
    }
  }
  return img;
}

// Parses application-given JSON text; `what` names it in the error
// ("<what> must be JSON: invalid JSON at offset N").
Result<bool> parse_value(std::string_view text, rapidjson::Document& doc, const char* what) {
  internal::parse(doc, text);
  if (doc.HasParseError()) {
    return Error(ErrorCode::bad_json, std::string(what) + " must be JSON: invalid JSON at offset " +
                                          std::to_string(doc.GetErrorOffset()));
  }
  return true;
}

}  // namespace

Result<Draft> read_draft(std::string_view json, size_t image_count) {
  rapidjson::Document doc;
  internal::parse(doc, json);
  if (doc.HasParseError() || !doc.IsObject()) return Error(ErrorCode::bad_json, "the draft must be a JSON object");
  Draft d;
  if (const Value* id = member(doc, "messageId")) {
    if (!id->IsString() || !is_uuid(std::string_view(id->GetString(), id->GetStringLength()))) {
      return invalid("field 'messageId' must be a UUID");
    }
    d.message_id = string_of(*id);
  }
  if (const Value* c = member(doc, "content")) {
    if (!c->IsString()) {
      d.error = invalid("field 'content' must be a string");
      return d;
    }
    d.content = string_of(*c);
  }
  if (const Value* images = member(doc, "images")) {
    if (!images->IsArray()) {
      d.error = invalid("field 'images' must be an array");
      return d;
    }
    if (images->Size() != image_count) {
      d.error = invalid("the draft lists " + std::to_string(images->Size()) + " images but " +
                        std::to_string(image_count) + " were given");
      return d;
    }
    d.lists_images = true;
    for (size_t i = 0; i < image_count; ++i) {
      d.images.push_back(read_draft_image((*images)[static_cast<rapidjson::SizeType>(i)], i));
    }
  }
  return d;
}

std::string peek_frame_type(std::string_view text, const Limits& limits) {
  rapidjson::Document doc;
  if (!parse_json_frame(text, limits, doc) || !doc.IsObject()) return "";
  const Value* type = member(doc, "type");
  return type && type->IsString() ? string_of(*type) : "";
}

Result<std::string> component_action_text(std::string_view component_id, std::string_view action,
                                          std::string_view values_json, const std::string& timestamp,
                                          const Limits& limits) {
  rapidjson::Document doc;
  doc.SetObject();
  auto& alloc = doc.GetAllocator();
  rapidjson::Document values(&alloc);
  auto parsed = parse_value(values_json.empty() ? std::string_view("{}") : values_json, values, "values");
  if (!parsed) return parsed.error();
  if (!values.IsObject()) return invalid("field 'values' must be an object");
  doc.AddMember("type", "component_action", alloc);
  doc.AddMember("componentId", Value(component_id.data(), component_id.size(), alloc), alloc);
  doc.AddMember("action", Value(action.data(), action.size(), alloc), alloc);
  doc.AddMember("values", values, alloc);
  doc.AddMember("timestamp", Value(timestamp.data(), timestamp.size(), alloc), alloc);
  auto frame = client_frame_from_json(doc, limits);
  if (!frame) return frame.error();
  std::string encoded = encode(*frame);
  if (encoded.size() > limits.max_frame_bytes) {
    return Error(ErrorCode::too_large, "the component_action frame is larger than maxFrameBytes");
  }
  return encoded;
}

Result<std::string> configure_tools_text(std::string_view tools_json, const Limits& limits) {
  rapidjson::Document doc;
  doc.SetObject();
  rapidjson::Document tools(&doc.GetAllocator());
  auto parsed = parse_value(tools_json, tools, "tools");
  if (!parsed) return parsed.error();
  doc.AddMember("type", "configure_tools", doc.GetAllocator());
  doc.AddMember("tools", tools, doc.GetAllocator());
  auto frame = client_frame_from_json(doc, limits);
  if (!frame) return frame.error();
  return encode(*frame);
}

ToolOutcome tool_outcome(std::string_view result_json, bool is_error) {
  ToolOutcome out;
  rapidjson::Document doc;
  const std::string_view text = result_json.empty() ? std::string_view("null") : result_json;
  internal::parse(doc, text);
  if (is_error) {
    if (doc.HasParseError()) {
      out.error = std::string(result_json);
    } else if (doc.IsString()) {
      out.error = string_of(doc);
    } else {
      out.error = internal::to_text(doc);
    }
    if (out.error->empty() || *out.error == "null") out.error = "the tool failed";
  } else if (doc.HasParseError()) {
    out.error = "the tool returned invalid JSON";
  } else {
    out.result = internal::to_text(doc);
  }
  return out;
}

}  // namespace chatwire::protocol
