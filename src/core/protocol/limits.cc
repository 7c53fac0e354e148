// Limits as the JS options name them (limits.h). The one parser of a limits
// object: the server's options (server_config.cc) and the bindings' codec
// calls (api/facade.cc) both come here.
#include "core/protocol/limits.h"

#include "core/protocol/json_fields.h"

namespace chatwire {

namespace {

struct LimitField {
  const char* name;
  bool integer;
  double min;
};
constexpr LimitField kLimitFields[] = {
    {"maxFrameBytes", true, 1},        {"maxContentBytes", true, 1}, {"maxImages", true, 0},
    {"maxImageBytes", true, 1},        {"maxImageDimension", true, 1},
    {"messagesPerSecond", false, 0.001}, {"messageBurst", false, 1},
    {"maxTools", true, 0},             {"maxToolsBytes", true, 1},
};

}  // namespace

Result<Limits> parse_limits(std::string_view json) {
  Limits limits;
  if (json.empty()) return limits;
  rapidjson::Document doc;
  doc.Parse(json.data(), json.size());
  if (doc.HasParseError() || !doc.IsObject()) {
    return Error(ErrorCode::invalid_field, "limits must be an object");
  }
  for (const auto& f : kLimitFields) {
    auto it = doc.FindMember(f.name);
    if (it == doc.MemberEnd() || it->value.IsNull()) continue;
    const auto& v = it->value;
    if (!v.IsNumber() || (f.integer && !v.IsUint64()) || v.GetDouble() < f.min) {
      return Error(ErrorCode::invalid_field, std::string("limits.") + f.name + " must be a " +
                                                 (f.integer ? "positive integer" : "positive number"));
    }
    const std::string name = f.name;
    if (name == "maxFrameBytes") limits.max_frame_bytes = v.GetUint64();
    if (name == "maxContentBytes") limits.max_content_bytes = v.GetUint64();
    if (name == "maxImages") limits.max_images = v.GetUint64();
    if (name == "maxImageBytes") limits.max_image_bytes = v.GetUint64();
    if (name == "maxImageDimension") limits.max_image_dimension = static_cast<uint32_t>(v.GetUint64());
    if (name == "messagesPerSecond") limits.messages_per_second = v.GetDouble();
    if (name == "messageBurst") limits.message_burst = v.GetDouble();
    if (name == "maxTools") limits.max_tools = v.GetUint64();
    if (name == "maxToolsBytes") limits.max_tools_bytes = v.GetUint64();
  }
  return limits;
}

std::string limits_to_json(const Limits& l) {
  rapidjson::StringBuffer buf;
  protocol::internal::Writer w(buf);
  w.StartObject();
  w.Key("maxFrameBytes");
  w.Uint64(l.max_frame_bytes);
  w.Key("maxContentBytes");
  w.Uint64(l.max_content_bytes);
  w.Key("maxImages");
  w.Uint64(l.max_images);
  w.Key("maxImageBytes");
  w.Uint64(l.max_image_bytes);
  w.Key("maxImageDimension");
  w.Uint64(l.max_image_dimension);
  w.Key("messagesPerSecond");
  w.Double(l.messages_per_second);
  w.Key("messageBurst");
  w.Double(l.message_burst);
  w.Key("maxTools");
  w.Uint64(l.max_tools);
  w.Key("maxToolsBytes");
  w.Uint64(l.max_tools_bytes);
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

}  // namespace chatwire
