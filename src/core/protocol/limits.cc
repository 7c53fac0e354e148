// Limits as the JS options name them (limits.h). The one parser of a limits
// object: the server's options (server_config.cc) and the bindings' codec
// calls (api/facade.cc) both come here.
#include "core/protocol/limits.h"

#include <algorithm>
#include <cstdint>

#include "core/protocol/json_fields.h"

namespace chatwire {

namespace {

// One row per option: its JS name, the member it sets (exactly one of the
// three), and its minimum. parse_limits and limits_to_json both walk it.
struct LimitField {
  const char* name;
  size_t Limits::*size;
  uint32_t Limits::*u32;
  double Limits::*real;
  double min;
  bool integer() const { return real == nullptr; }
};
constexpr LimitField kLimitFields[] = {
    {"maxFrameBytes", &Limits::max_frame_bytes, nullptr, nullptr, 1},
    {"maxContentBytes", &Limits::max_content_bytes, nullptr, nullptr, 1},
    {"maxImages", &Limits::max_images, nullptr, nullptr, 0},
    {"maxImageBytes", &Limits::max_image_bytes, nullptr, nullptr, 1},
    {"maxImageDimension", nullptr, &Limits::max_image_dimension, nullptr, 1},
    {"maxAudioBytes", &Limits::max_audio_bytes, nullptr, nullptr, 1},
    {"maxAudioDurationMs", nullptr, &Limits::max_audio_duration_ms, nullptr, 1},
    {"messagesPerSecond", nullptr, nullptr, &Limits::messages_per_second, 0.001},
    {"messageBurst", nullptr, nullptr, &Limits::message_burst, 1},
    {"maxTools", &Limits::max_tools, nullptr, nullptr, 0},
    {"maxToolsBytes", &Limits::max_tools_bytes, nullptr, nullptr, 1},
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
    if (!v.IsNumber() || (f.integer() && !v.IsUint64()) || v.GetDouble() < f.min) {
      return Error(ErrorCode::invalid_field, std::string("limits.") + f.name + " must be a " +
                                                 (f.integer() ? "positive integer" : "positive number"));
    }
    if (f.size) limits.*f.size = v.GetUint64();
    if (f.u32) limits.*f.u32 = static_cast<uint32_t>(std::min<uint64_t>(v.GetUint64(), UINT32_MAX));
    if (f.real) limits.*f.real = v.GetDouble();
  }
  return limits;
}

std::string limits_to_json(const Limits& l) {
  rapidjson::StringBuffer buf;
  protocol::internal::Writer w(buf);
  w.StartObject();
  for (const auto& f : kLimitFields) {
    w.Key(f.name);
    if (f.size) w.Uint64(l.*f.size);
    if (f.u32) w.Uint64(l.*f.u32);
    if (f.real) w.Double(l.*f.real);
  }
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

}  // namespace chatwire
