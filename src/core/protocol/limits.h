// The server's limits (PROTOCOL.md, "Limits"). Clients use the same struct to
// refuse, before anything is stored or sent, what the server would refuse.
#ifndef CHATWIRE_CORE_PROTOCOL_LIMITS_H_
#define CHATWIRE_CORE_PROTOCOL_LIMITS_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/protocol/errors.h"

namespace chatwire {

// Every id on the wire (messageId, clientId, imageId, toolCallId, ...) is at
// most this many bytes: longer is invalid_field. Not configurable.
constexpr size_t kMaxIdBytes = 128;

struct Limits {
  size_t max_frame_bytes = 16u << 20;     // hard: over it the socket closes with 1009
  size_t max_content_bytes = 32u << 10;   // UTF-8 bytes of a message's `content`
  size_t max_images = 5;                  // images per message
  size_t max_image_bytes = 8u << 20;      // one image, decoded
  uint32_t max_image_dimension = 8192;    // width and height, each
  size_t max_audio_bytes = 10u << 20;     // a message's audio, decoded (PROTOCOL.md "Voice")
  uint32_t max_audio_duration_ms = 300000;  // its duration, where the headers tell it
  double messages_per_second = 20;        // sustained rate per connection
  double message_burst = 40;              // token-bucket capacity
  // Not in PROTOCOL.md's table (issue 14.4): what one configure_tools may
  // declare. The server hands the list to the application, so it is bounded
  // like a message: over either, too_large and the previous list stays.
  size_t max_tools = 128;                 // tools in one configure_tools
  size_t max_tools_bytes = 256u << 10;    // the `tools` array, encoded (compact JSON)
  // Not in PROTOCOL.md's table but needed to keep hostile input cheap: JSON
  // nesting deeper than this is refused as bad_json before it is parsed.
  int max_json_depth = 64;
};

// Limits from JS option names ({"maxFrameBytes", "maxContentBytes", "maxImages",
// "maxImageBytes", "maxImageDimension", "maxAudioBytes", "maxAudioDurationMs",
// "messagesPerSecond", "messageBurst", "maxTools", "maxToolsBytes"}); absent or null fields keep the defaults above;
// "" gives all defaults. A field of the wrong type or under its minimum is
// invalid_field naming it ("limits.maxImages must be a positive integer").
Result<Limits> parse_limits(std::string_view limits_json);

// The limits as a JSON object with the JS option names, every field present.
std::string limits_to_json(const Limits& limits);

}  // namespace chatwire

#endif  // CHATWIRE_CORE_PROTOCOL_LIMITS_H_
