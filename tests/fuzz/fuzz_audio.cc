// libFuzzer target for audio sniffing and the per-message audio check.
//   - sniff_audio never crashes or reads past the end (ASan), whatever the
//     bytes; every failure is invalid_field with a message starting "audio ";
//   - a success names a supported type; for WAV and WebM, appending bytes
//     never changes it (what follows the walk is not read; an Ogg stream is
//     walked to its end, so there it must fail);
//   - a prefix of a success either gives the same type or fails as
//     "truncated" (never "not valid": a cut is not foreign bytes);
//   - check_audio agrees with sniff_audio under every declared type and the
//     duration limit.
// Ogg inputs are checked twice: as given, and with every page's CRC rewritten
// to match, so mutations reach the page walk and the identification headers
// behind the CRC check instead of all dying at it.
//
// Run (the first directory receives new inputs, so make it a scratch one; the
// seeds are read only):
//   mkdir -p /tmp/corpus_audio && out/fuzz/fuzz_audio -max_total_time=60 \
//       -dict=tests/fuzz/audio.dict /tmp/corpus_audio tests/fixtures/audio

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "core/media/audio.h"
#include "fuzz_util.h"

using chatwire::ErrorCode;
using chatwire::Limits;
using chatwire::Result;
using chatwire::fuzz::require;
namespace media = chatwire::media;

namespace {
bool same(const Result<media::AudioInfo>& a, const Result<media::AudioInfo>& b) {
  return a.ok() && b.ok() && a->mime_type == b->mime_type && a->duration_ms == b->duration_ms;
}

uint32_t ogg_crc(const uint8_t* p, size_t n) {
  uint32_t c = 0;
  for (size_t i = 0; i < n; ++i) {
    c ^= uint32_t{(i >= 22 && i < 26) ? uint8_t{0} : p[i]} << 24;
    for (int k = 0; k < 8; ++k) c = (c & 0x80000000u) ? (c << 1) ^ 0x04c11db7u : c << 1;
  }
  return c;
}

// Rewrites the CRC of every whole page from the start; false when there is
// nothing to rewrite.
bool fix_ogg_crcs(std::vector<uint8_t>& b) {
  bool changed = false;
  for (size_t pos = 0; b.size() - pos >= 27 && std::memcmp(b.data() + pos, "OggS", 4) == 0;) {
    const size_t segments = b[pos + 26];
    if (b.size() - pos - 27 < segments) break;
    size_t len = 27 + segments;
    for (size_t i = 0; i < segments; ++i) len += b[pos + 27 + i];
    if (b.size() - pos < len) break;
    const uint32_t crc = ogg_crc(b.data() + pos, len);
    for (int k = 0; k < 4; ++k) b[pos + 22 + k] = static_cast<uint8_t>(crc >> (8 * k));
    changed = true;
    pos += len;
  }
  return changed;
}

void check(const uint8_t* data, size_t size) {
  Result<media::AudioInfo> r = media::sniff_audio(data, size);
  if (!r.ok()) {
    require(r.error().code == ErrorCode::invalid_field, "a sniff failure is invalid_field",
            r.error().message);
    require(r.error().message.rfind("audio ", 0) == 0, "a sniff failure starts 'audio '",
            r.error().message);
  } else {
    require(media::is_supported_audio_mime(r->mime_type), "a success names a supported type",
            r->mime_type);
    std::vector<uint8_t> longer(data, data + size);
    longer.insert(longer.end(), 7, 0xFF);
    Result<media::AudioInfo> l = media::sniff_audio(longer.data(), longer.size());
    // (An MP3 is left out: a one-frame file's second frame header is what
    // follows it, and a CBR estimate counts the bytes.)
    if (r->mime_type == "audio/ogg")
      require(!l.ok(), "an Ogg with bytes after its last page is refused");
    if (r->mime_type == "audio/wav" || r->mime_type == "audio/webm") {
      require(same(r, l), "bytes after the walk change nothing", r->mime_type);
    }
    // Prefixes: the same type, or "truncated". Exact-size copies, so ASan
    // sees a read past the cut.
    for (const size_t cut : {size / 2, size - 1, size * 7 / 8}) {
      if (cut == 0) continue;  // "empty", not a cut file
      std::vector<uint8_t> prefix(data, data + cut);
      Result<media::AudioInfo> p = media::sniff_audio(prefix.data(), prefix.size());
      require(p.ok() ? p->mime_type == r->mime_type
                     : p.error().message.find("truncated") != std::string::npos,
              "a prefix is the same type or truncated", p.ok() ? p->mime_type : p.error().message);
    }
  }

  Limits limits;
  limits.max_audio_duration_ms = 2000;
  for (const char* mime : {"audio/wav", "audio/ogg", "audio/webm", "audio/mpeg", "audio/mp3"}) {
    Result<media::AudioInfo> c = media::check_audio(data, size, mime, limits, "fuzz");
    const bool too_long = r.ok() && r->duration_ms && *r->duration_ms > 2000;
    const bool want = r.ok() && r->mime_type == mime && !too_long;
    require(c.ok() == want, "check_audio agrees with sniff_audio", mime);
    if (!c.ok()) {
      require(c.error().message.rfind("audio (fuzz) ", 0) == 0, "check_audio names the audio",
              c.error().message);
      const bool over = r.ok() && r->mime_type == mime && too_long;
      require(c.error().code == (over ? ErrorCode::too_large : ErrorCode::invalid_field),
              "too_large exactly when over the duration limit", c.error().message);
    }
  }
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  check(data, size);
  std::vector<uint8_t> fixed(data, data + size);
  if (fix_ogg_crcs(fixed)) check(fixed.data(), fixed.size());
  return 0;
}
