#include "core/api/facade.h"

#include "core/client/client_config.h"
#include "core/media/audio.h"
#include "core/media/image.h"
#include "core/protocol/codec.h"
#include "core/protocol/json.h"

namespace chatwire::api {

std::string error_json(const Error& error) { return protocol::error_result_json(error); }

std::string limits_json(std::string_view json) {
  auto limits = parse_limits(json);
  if (!limits) return error_json(limits.error());
  return limits_to_json(*limits);
}

std::string client_options_json(std::string_view json) {
  auto config = client::client_config_from_json(json);
  if (!config) return error_json(config.error());
  if (auto e = client::check_client_config(*config)) return error_json(*e);
  return "{\"ok\":true}";
}

namespace {

// The frame `text` of `direction` decoded with the limits and encoded again:
// its canonical JSON, or the error (as a binding result).
Result<std::string> canonical_frame(std::string_view text, std::string_view direction,
                                    std::string_view limits_text) {
  auto limits = parse_limits(limits_text);
  if (!limits) return limits.error();
  if (direction == "client") {
    auto frame = protocol::decode_client_frame(text, *limits);
    if (!frame) return frame.error();
    return protocol::encode(*frame);
  }
  if (direction == "server") {
    auto frame = protocol::decode_server_frame(text, *limits);
    if (!frame) return frame.error();
    return protocol::encode(*frame);
  }
  return Error(ErrorCode::invalid_field, "direction must be 'client' or 'server'");
}

}  // namespace

std::string decode_frame(std::string_view text, std::string_view direction, std::string_view limits_text) {
  auto canonical = canonical_frame(text, direction, limits_text);
  if (!canonical) return error_json(canonical.error());
  std::string out = "{\"ok\":true,\"frame\":";
  out += *canonical;
  out += '}';
  return out;
}

std::string encode_frame(std::string_view frame_json, std::string_view direction, std::string_view limits_text) {
  auto canonical = canonical_frame(frame_json, direction, limits_text);
  if (!canonical) return error_json(canonical.error());
  protocol::EventWriter w;
  w.boolean("ok", true).str("text", *canonical);
  return w.done();
}

std::string sniff_image(const uint8_t* data, size_t n) {
  auto info = media::sniff_image(data, n);
  if (!info) return error_json(info.error());
  protocol::EventWriter w;
  w.boolean("ok", true).str("mimeType", info->mime_type);
  w.key("width").unsigned_integer(info->width).key("height").unsigned_integer(info->height);
  return w.done();
}

std::string sniff_audio(const uint8_t* data, size_t n, const std::string* declared_mime) {
  auto info = declared_mime ? media::check_audio(data, n, *declared_mime, Limits{}, "")
                            : media::sniff_audio(data, n);
  if (!info) return error_json(info.error());
  protocol::EventWriter w;
  w.boolean("ok", true).str("mimeType", info->mime_type).key("durationMs");
  if (info->duration_ms) {
    w.unsigned_integer(*info->duration_ms);
  } else {
    w.null();
  }
  return w.done();
}

std::string error_codes_json() {
  std::string out = "[";
  for (int i = 0; i < kErrorCodeCount; ++i) {
    if (i) out += ',';
    out += '"';
    out += error_code_name(static_cast<ErrorCode>(i));
    out += '"';
  }
  return out + "]";
}

}  // namespace chatwire::api
