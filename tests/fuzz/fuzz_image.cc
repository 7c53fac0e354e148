// libFuzzer target for image sniffing and the per-image check.
//   - sniff_image never crashes or reads past the end (ASan), whatever the
//     bytes;
//   - a success names a supported type with both dimensions >= 1, and
//     appending bytes never changes it (the verdict is the header's);
//   - check_image agrees with sniff_image under every declared type.
//
// Run (the first directory receives new inputs, so make it a scratch one; the
// seeds are read only):
//   mkdir -p /tmp/corpus_image && out/fuzz/fuzz_image -max_total_time=60 \
//       /tmp/corpus_image tests/fixtures/images

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "core/media/image.h"

using chatwire::ErrorCode;
using chatwire::Limits;
using chatwire::Result;
namespace media = chatwire::media;

namespace {
void require(bool condition) {
  if (!condition) std::abort();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Result<media::ImageInfo> r = media::sniff_image(data, size);
  if (!r.ok()) {
    require(r.error().code == ErrorCode::image_invalid);
    require(r.error().message.rfind("image ", 0) == 0);
  } else {
    require(media::is_supported_mime(r->mime_type));
    require(r->width >= 1 && r->height >= 1);
    // Trailing data does not change the verdict.
    std::unique_ptr<uint8_t[]> longer(new uint8_t[size + 7]);
    std::memcpy(longer.get(), data, size);
    std::memset(longer.get() + size, 0xFF, 7);
    Result<media::ImageInfo> again = media::sniff_image(longer.get(), size + 7);
    require(again.ok() && again->mime_type == r->mime_type && again->width == r->width &&
            again->height == r->height);
  }

  Limits limits;
  limits.max_image_dimension = 4096;
  for (const char* mime : {"image/png", "image/jpeg", "image/gif", "image/webp", "image/bmp"}) {
    Result<media::ImageInfo> c = media::check_image(data, size, mime, limits, 1, "fuzz");
    const bool want = r.ok() && r->mime_type == mime && r->width <= 4096 && r->height <= 4096;
    require(c.ok() == want);
    if (!c.ok()) require(c.error().image_id == "fuzz");
  }
  return 0;
}
