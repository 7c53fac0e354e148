// libFuzzer target for image sniffing and the per-image check.
//   - sniff_image never crashes or reads past the end (ASan), whatever the
//     bytes;
//   - a success names a supported type with both dimensions >= 1, and
//     appending bytes never changes it (what follows the walk is not read);
//   - a prefix of a success either gives the same answer or fails as
//     "truncated" (never "not valid": a cut is not foreign bytes);
//   - check_image agrees with sniff_image under every declared type.
// PNG inputs are checked twice: as given, and with every chunk's CRC
// rewritten to match, so mutations reach the chunk walk behind the CRC check
// instead of all dying at it.
//
// Run (the first directory receives new inputs, so make it a scratch one; the
// seeds are read only):
//   mkdir -p /tmp/corpus_image && out/fuzz/fuzz_image -max_total_time=60 \
//       -dict=tests/fuzz/image.dict /tmp/corpus_image tests/fixtures/images

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "core/media/image.h"

using chatwire::ErrorCode;
using chatwire::Limits;
using chatwire::Result;
namespace media = chatwire::media;

namespace {
void require(bool condition) {
  if (!condition) std::abort();
}

bool same(const Result<media::ImageInfo>& a, const Result<media::ImageInfo>& b) {
  return a.ok() && b.ok() && a->mime_type == b->mime_type && a->width == b->width &&
         a->height == b->height;
}

uint32_t be32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

uint32_t crc32(const uint8_t* p, size_t n) {
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; ++i) {
    c ^= p[i];
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1)));
  }
  return ~c;
}

// Rewrites the CRC of every whole chunk after a PNG signature; false when
// there is nothing to rewrite.
bool fix_png_crcs(std::vector<uint8_t>& b) {
  static constexpr uint8_t kSig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  if (b.size() < 8 || std::memcmp(b.data(), kSig, 8) != 0) return false;
  bool changed = false;
  for (size_t pos = 8; b.size() - pos >= 12;) {
    const uint64_t len = be32(b.data() + pos);
    if (b.size() - pos - 12 < len) break;
    const uint32_t crc = crc32(b.data() + pos + 4, static_cast<size_t>(len) + 4);
    uint8_t* at = b.data() + pos + 8 + len;
    for (int k = 0; k < 4; ++k) at[k] = static_cast<uint8_t>(crc >> (24 - 8 * k));
    changed = true;
    pos += static_cast<size_t>(len) + 12;
  }
  return changed;
}

void check(const uint8_t* data, size_t size) {
  Result<media::ImageInfo> r = media::sniff_image(data, size);
  if (!r.ok()) {
    require(r.error().code == ErrorCode::image_invalid);
    require(r.error().message.rfind("image ", 0) == 0);
  } else {
    require(media::is_supported_mime(r->mime_type));
    require(r->width >= 1 && r->height >= 1);
    // Trailing data does not change the verdict.
    std::vector<uint8_t> longer(data, data + size);
    longer.insert(longer.end(), 7, 0xFF);
    require(same(r, media::sniff_image(longer.data(), longer.size())));
    // Prefixes: the same answer, or "truncated". Exact-size copies, so ASan
    // sees a read past the cut.
    for (const size_t cut : {size / 2, size - 1, size * 7 / 8}) {
      if (cut == 0) continue;  // "empty", not a cut file
      std::vector<uint8_t> prefix(data, data + cut);
      Result<media::ImageInfo> p = media::sniff_image(prefix.data(), prefix.size());
      require(p.ok() ? same(r, p) : p.error().message.find("truncated") != std::string::npos);
    }
  }

  Limits limits;
  limits.max_image_dimension = 4096;
  for (const char* mime : {"image/png", "image/jpeg", "image/gif", "image/webp", "image/bmp"}) {
    Result<media::ImageInfo> c = media::check_image(data, size, mime, limits, 1, "fuzz");
    const bool want = r.ok() && r->mime_type == mime && r->width <= 4096 && r->height <= 4096;
    require(c.ok() == want);
    if (!c.ok()) require(c.error().image_id == "fuzz");
  }
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  check(data, size);
  std::vector<uint8_t> fixed(data, data + size);
  if (fix_png_crcs(fixed)) check(fixed.data(), fixed.size());
  return 0;
}
