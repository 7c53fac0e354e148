// libFuzzer target for the strict base64 decoder (and the encoder).
//   - decoding arbitrary text never crashes or reads out of bounds;
//   - the fast decoder and the reference decoder agree exactly (value, or
//     code and message);
//   - whatever decodes re-encodes to the very same text (one encoding per
//     byte string), and a failure is always image_invalid;
//   - encoding arbitrary bytes decodes back to them, and fast == reference.
//
// Run (the first directory receives new inputs, so make it a scratch one; the
// seeds are read only):
//   mkdir -p /tmp/corpus_base64 && out/fuzz/fuzz_base64 -max_total_time=60 \
//       /tmp/corpus_base64 tests/fuzz/corpus/base64

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "core/media/base64.h"

using chatwire::ErrorCode;
using chatwire::Result;
namespace media = chatwire::media;

namespace {
void require(bool condition) {
  if (!condition) std::abort();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);

  Result<std::string> fast = media::base64_decode(text);
  Result<std::string> ref = media::base64_decode_reference(text);
  require(fast.ok() == ref.ok());
  if (fast.ok()) {
    require(*fast == *ref);
    require(fast->size() <= media::base64_decoded_size_upper(size));
    require(media::base64_encode(*fast) == text);
  } else {
    require(fast.error().code == ErrorCode::image_invalid);
    require(fast.error().code == ref.error().code);
    require(fast.error().message == ref.error().message);
  }

  const std::string encoded = media::base64_encode(data, size);
  require(encoded.size() == media::base64_encoded_size(size));
  require(encoded == media::base64_encode_reference(text));
  Result<std::string> back = media::base64_decode(encoded);
  require(back.ok() && *back == text);
  return 0;
}
