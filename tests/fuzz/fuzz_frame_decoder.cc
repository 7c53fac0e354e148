// libFuzzer target for both frame decoders (client -> server and server ->
// client), the text a hostile peer controls completely.
//   - decoding arbitrary bytes never crashes, reads out of bounds or hits
//     undefined behaviour (ASan + UBSan), however deep, long or badly encoded;
//   - a refusal is one of the codes a decoder may give (bad_json,
//     unknown_type, invalid_field, too_large, image_invalid) with a sentence;
//   - whatever decodes re-encodes to canonical text that decodes again to the
//     very same canonical text (encode . decode is idempotent), so what the
//     hub stores and replays is what a client accepts;
//   - that canonical text is valid UTF-8 (a browser fails the connection on
//     a text frame that is not, so an accepted frame must never lead to one).
//
// Input: byte 0 picks the limits (bit 0: small limits, so the size checks are
// reachable with short inputs); the rest is the frame text.
//
// Run (the first directory receives new inputs, so make it a scratch one; the
// seeds are read only):
//   mkdir -p /tmp/corpus_frame && out/fuzz/fuzz_frame_decoder -max_total_time=60 \
//       /tmp/corpus_frame tests/fuzz/corpus/frame_decoder

#include <rapidjson/document.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "core/protocol/codec.h"
#include "fuzz_util.h"

using chatwire::Error;
using chatwire::ErrorCode;
using chatwire::Limits;
namespace protocol = chatwire::protocol;

namespace {

void require(bool condition, const char* what) {
  if (!condition) {
    std::fprintf(stderr, "fuzz_frame_decoder: invariant broken: %s\n", what);
    std::abort();
  }
}

void check_refusal(const Error& e) {
  require(e.code == ErrorCode::bad_json || e.code == ErrorCode::unknown_type ||
              e.code == ErrorCode::invalid_field || e.code == ErrorCode::too_large ||
              e.code == ErrorCode::image_invalid,
          "decoder refusal has a code a decoder may not give");
  require(!e.message.empty(), "decoder refusal without a sentence");
}

template <class Decode>
void round_trip(std::string_view text, const Limits& limits, Decode decode) {
  auto first = decode(text, limits);
  if (!first.ok()) {
    check_refusal(first.error());
    return;
  }
  const std::string canonical = protocol::encode(*first);
  chatwire::fuzz::require(chatwire::fuzz::valid_utf8(canonical), "canonical text of a decoded frame is not UTF-8",
                          canonical);
  auto second = decode(canonical, limits);
  if (!second.ok()) {
    std::fprintf(stderr, "input:     %.*s\ncanonical: %s\nrefused:   %s\n", static_cast<int>(text.size()),
                 text.data(), canonical.c_str(), second.error().message.c_str());
  }
  require(second.ok(), "canonical text of a decoded frame does not decode");
  require(protocol::encode(*second) == canonical, "encode(decode(canonical)) != canonical");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  Limits limits;
  if (data[0] & 1) {
    limits.max_frame_bytes = 2048;
    limits.max_content_bytes = 64;
    limits.max_images = 2;
    limits.max_image_bytes = 256;
    limits.max_image_dimension = 64;
    limits.max_json_depth = 8;
  }
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);

  round_trip(text, limits, [](std::string_view t, const Limits& l) { return protocol::decode_client_frame(t, l); });
  round_trip(text, limits, [](std::string_view t, const Limits& l) { return protocol::decode_server_frame(t, l); });

  rapidjson::Document doc;
  auto parsed = protocol::parse_json_frame(text, limits, doc);
  if (parsed.ok()) {
    require(doc.IsObject(), "parse_json_frame accepted a non-object");
    // Compact serialization parses back under the same rules.
    const std::string compact = protocol::to_json_text(doc);
    rapidjson::Document again;
    require(protocol::parse_json_frame(compact, limits, again).ok() || compact.size() > limits.max_frame_bytes,
            "to_json_text output is refused by parse_json_frame");
  } else {
    require(parsed.error().code == ErrorCode::bad_json || parsed.error().code == ErrorCode::too_large,
            "parse_json_frame refusal is not bad_json/too_large");
  }
  return 0;
}
