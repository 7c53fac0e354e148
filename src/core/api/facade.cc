#include "core/api/facade.h"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "core/media/image.h"
#include "core/protocol/codec.h"

namespace chatwire::api {

namespace {

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

void write_error(Writer& w, const Error& e) {
  w.StartObject();
  w.Key("code");
  w.String(error_code_name(e.code));
  w.Key("error");
  w.String(e.message.c_str(), static_cast<rapidjson::SizeType>(e.message.size()));
  if (!e.message_id.empty()) {
    w.Key("messageId");
    w.String(e.message_id.c_str(), static_cast<rapidjson::SizeType>(e.message_id.size()));
  }
  if (!e.image_id.empty()) {
    w.Key("imageId");
    w.String(e.image_id.c_str(), static_cast<rapidjson::SizeType>(e.image_id.size()));
  }
  if (e.retry_after_ms >= 0) {
    w.Key("retryAfterMs");
    w.Int64(e.retry_after_ms);
  }
  w.EndObject();
}

std::string finish(rapidjson::StringBuffer& buf) { return std::string(buf.GetString(), buf.GetSize()); }

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

std::string error_json(const Error& error) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  w.Key("ok");
  w.Bool(false);
  w.Key("error");
  write_error(w, error);
  w.EndObject();
  return finish(buf);
}

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

std::string limits_json(std::string_view json) {
  auto limits = parse_limits(json);
  if (!limits) return error_json(limits.error());
  const Limits& l = *limits;
  rapidjson::StringBuffer buf;
  Writer w(buf);
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
  return finish(buf);
}

std::string decode_frame(std::string_view text, std::string_view direction, std::string_view limits_text) {
  auto limits = parse_limits(limits_text);
  if (!limits) return error_json(limits.error());
  std::string canonical;
  if (direction == "client") {
    auto frame = protocol::decode_client_frame(text, *limits);
    if (!frame) return error_json(frame.error());
    canonical = protocol::encode(*frame);
  } else if (direction == "server") {
    auto frame = protocol::decode_server_frame(text, *limits);
    if (!frame) return error_json(frame.error());
    canonical = protocol::encode(*frame);
  } else {
    return error_json(Error(ErrorCode::invalid_field, "direction must be 'client' or 'server'"));
  }
  std::string out = "{\"ok\":true,\"frame\":";
  out += canonical;
  out += '}';
  return out;
}

std::string encode_frame(std::string_view frame_json, std::string_view direction, std::string_view limits_text) {
  auto limits = parse_limits(limits_text);
  if (!limits) return error_json(limits.error());
  std::string canonical;
  rapidjson::Document doc;
  auto parsed = protocol::parse_json_frame(frame_json, *limits, doc);
  if (!parsed) return error_json(parsed.error());
  if (direction == "client") {
    auto frame = protocol::client_frame_from_json(doc, *limits);
    if (!frame) return error_json(frame.error());
    canonical = protocol::encode(*frame);
  } else if (direction == "server") {
    auto frame = protocol::server_frame_from_json(doc, *limits);
    if (!frame) return error_json(frame.error());
    canonical = protocol::encode(*frame);
  } else {
    return error_json(Error(ErrorCode::invalid_field, "direction must be 'client' or 'server'"));
  }
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  w.Key("ok");
  w.Bool(true);
  w.Key("text");
  w.String(canonical.c_str(), static_cast<rapidjson::SizeType>(canonical.size()));
  w.EndObject();
  return finish(buf);
}

std::string sniff_image(const uint8_t* data, size_t n) {
  auto info = media::sniff_image(data, n);
  if (!info) return error_json(info.error());
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  w.Key("ok");
  w.Bool(true);
  w.Key("mimeType");
  w.String(info->mime_type.c_str());
  w.Key("width");
  w.Uint(info->width);
  w.Key("height");
  w.Uint(info->height);
  w.EndObject();
  return finish(buf);
}

std::string error_codes_json() {
  std::string out = "[";
  for (int i = 0; i <= static_cast<int>(ErrorCode::internal); ++i) {
    if (i) out += ',';
    out += '"';
    out += error_code_name(static_cast<ErrorCode>(i));
    out += '"';
  }
  return out + "]";
}

}  // namespace chatwire::api
