#include "core/media/audio.h"

#include <cmath>
#include <cstring>

#include "core/media/bytes.h"

namespace chatwire::media {

namespace {

using namespace bytes;  // NOLINT: the byte readers are this file's vocabulary

constexpr char kWav[] = "audio/wav";
constexpr char kOgg[] = "audio/ogg";
constexpr char kWebm[] = "audio/webm";
constexpr char kMpeg[] = "audio/mpeg";

constexpr uint8_t kEbmlMagic[4] = {0x1A, 0x45, 0xDF, 0xA3};

// The sniffers return Errors whose message is what follows the subject
// ("audio", "audio (<id>)"): "is a truncated WAV ...".
Error reason(std::string text) { return Error(ErrorCode::invalid_field, std::move(text)); }

// A file cut before the walk ends; `where` says what the walk was inside of.
Error cut(const char* format, size_t n, const std::string& where) {
  return reason(std::string("is a truncated ") + format + " (it ends at byte " + num(n) + ", " +
                where + ")");
}

// Bytes that are not the format's structure where the walk expected them.
Error bad(const char* format, const std::string& what) {
  return reason(std::string("is not a valid ") + format + " (" + what + ")");
}

std::string at(size_t pos) { return " at offset " + num(pos); }

// value * 1000 / per_second without overflow (per_second >= 1).
uint64_t to_ms(uint64_t value, uint64_t per_second) {
  return value / per_second * 1000 + value % per_second * 1000 / per_second;
}

// ---- WAV ---------------------------------------------------------------------

// The fmt chunk's fields that the duration and the consistency checks need.
struct WavFormat {
  uint32_t byte_rate = 0;
};

Result<WavFormat> wav_format(const uint8_t* p, uint32_t size, size_t pos) {
  const std::string where = "its 'fmt ' chunk" + at(pos);
  if (size < 16) return bad("WAV", where + " is " + num(size) + " bytes, under 16");
  uint32_t tag = le16(p);
  const uint32_t channels = le16(p + 2);
  const uint32_t rate = le32(p + 4);
  const uint32_t byte_rate = le32(p + 8);
  const uint32_t align = le16(p + 12);
  const uint32_t bits = le16(p + 14);
  if (tag == 0xFFFE) {
    // WAVE_FORMAT_EXTENSIBLE: the real format is the sub-format GUID's first two bytes.
    if (size < 40)
      return bad("WAV", where + " is extensible but " + num(size) + " bytes, under 40");
    tag = le16(p + 24);
  }
  if (tag != 1 && tag != 3 && tag != 6 && tag != 7) {
    return bad("WAV", where + " has format " + hex32(tag) +
                          "; only PCM (1), float (3), A-law (6) and mu-law (7) are read");
  }
  if (channels == 0 || rate == 0 || byte_rate == 0 || align == 0 || bits == 0) {
    return bad(
        "WAV",
        where + " has a zero channel count, sample rate, byte rate, block align or bit depth");
  }
  const uint64_t want_align = uint64_t{channels} * ((bits + 7) / 8);
  if (align != want_align || byte_rate != uint64_t{rate} * align) {
    return bad("WAV", where + " says " + num(channels) + " channels of " + num(bits) + " bits at " +
                          num(rate) + " Hz, so block align " + num(want_align) + " and byte rate " +
                          num(uint64_t{rate} * want_align) + ", but gives " + num(align) + " and " +
                          num(byte_rate));
  }
  return WavFormat{byte_rate};
}

// "RIFF" <size> "WAVE", then the chunks inside the RIFF data up to the header
// of "data" (its samples are not read); "fmt " must come before it.
Result<AudioInfo> sniff_wav(const uint8_t* d, size_t n) {
  if (n < 12) return cut("WAV", n, "inside its RIFF header");
  if (std::memcmp(d + 8, "WAVE", 4) != 0) {
    return reason("is a RIFF file of form " + fourcc(d + 8) + ", not WAVE audio");
  }
  const uint64_t riff_end = uint64_t{le32(d + 4)} + 8;
  if (riff_end > n) {
    return reason("is a truncated WAV (its RIFF header gives " + num(riff_end) + " bytes, " +
                  num(n) + " given)");
  }
  const size_t end = static_cast<size_t>(riff_end);
  std::optional<WavFormat> format;
  for (size_t pos = 12;;) {
    if (pos >= end || end - pos < 8) {
      return bad("WAV", std::string("no '") + (format ? "data" : "fmt ") +
                            "' chunk before the end of the RIFF data at " + num(end));
    }
    const uint8_t* type = d + pos;
    const uint32_t size = le32(d + pos + 4);
    if (end - pos - 8 < size) {
      return bad("WAV", "chunk " + fourcc(type) + at(pos) + " is " + num(size) +
                            " bytes, past the end of the RIFF data at " + num(end));
    }
    if (std::memcmp(type, "fmt ", 4) == 0) {
      if (format) return bad("WAV", "a second 'fmt ' chunk" + at(pos));
      Result<WavFormat> f = wav_format(d + pos + 8, size, pos);
      if (!f.ok()) return f.error();
      format = *f;
    } else if (std::memcmp(type, "data", 4) == 0) {
      if (!format)
        return bad("WAV", "its 'data' chunk" + at(pos) + " comes before any 'fmt ' chunk");
      return AudioInfo{kWav, to_ms(size, format->byte_rate)};
    }
    pos += 8 + size_t{size} + (size & 1);
  }
}

// ---- Ogg ---------------------------------------------------------------------

// CRC-32 as Ogg computes it: polynomial 0x04c11db7, not reflected, initial
// value 0, no final XOR.
struct OggCrcTable {
  uint32_t v[256] = {};
  constexpr OggCrcTable() {
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i << 24;
      for (int k = 0; k < 8; ++k) c = (c & 0x80000000u) ? (c << 1) ^ 0x04c11db7u : c << 1;
      v[i] = c;
    }
  }
};
constexpr OggCrcTable kOggCrc;

// The CRC of a page of `len` bytes, its CRC field (bytes 22..25) read as zero.
uint32_t ogg_crc(const uint8_t* page, size_t len) {
  uint32_t c = 0;
  for (size_t i = 0; i < len; ++i) {
    const uint8_t b = (i >= 22 && i < 26) ? 0 : page[i];
    c = (c << 8) ^ kOggCrc.v[((c >> 24) ^ b) & 0xFF];
  }
  return c;
}

struct OggCodec {
  bool opus = false;
  uint32_t rate = 0;      // Vorbis: samples per second
  uint32_t pre_skip = 0;  // Opus: samples at 48 kHz to drop at the start
};

// The identification header: the one packet of the first page.
Result<OggCodec> ogg_codec(const uint8_t* p, size_t len) {
  if (len >= 8 && std::memcmp(p, "OpusHead", 8) == 0) {
    if (len < 19) return bad("Ogg", "its OpusHead is " + num(len) + " bytes, under 19");
    if ((p[8] & 0xF0) != 0) return bad("Ogg", "OpusHead version " + num(p[8]) + ", not 0.x");
    const uint32_t channels = p[9];
    if (channels == 0) return bad("Ogg", "OpusHead with 0 channels");
    if (p[18] == 0 && channels > 2)
      return bad("Ogg", "OpusHead mapping family 0 with " + num(channels) + " channels");
    if (p[18] != 0 && len < 21 + channels) {
      return bad("Ogg", "OpusHead is " + num(len) + " bytes, too short for its channel mapping");
    }
    return OggCodec{true, 48000, le16(p + 10)};
  }
  if (len >= 7 && p[0] == 1 && std::memcmp(p + 1, "vorbis", 6) == 0) {
    if (len != 30)
      return bad("Ogg", "its Vorbis identification header is " + num(len) + " bytes, not 30");
    if (le32(p + 7) != 0) return bad("Ogg", "Vorbis version " + num(le32(p + 7)) + ", not 0");
    const uint32_t rate = le32(p + 12);
    if (p[11] == 0 || rate == 0)
      return bad("Ogg", "Vorbis header with 0 channels or a 0 Hz sample rate");
    const uint32_t small = p[28] & 15;
    const uint32_t large = p[28] >> 4;
    if (small < 6 || large > 13 || small > large || (p[29] & 1) == 0) {
      return bad("Ogg", "Vorbis header with block sizes 2^" + num(small) + " and 2^" + num(large) +
                            " or no framing bit");
    }
    return OggCodec{false, rate, 0};
  }
  return bad(
      "Ogg",
      "its first packet is neither OpusHead nor a Vorbis identification header (first bytes " +
          hex_bytes(p, len < 8 ? len : 8) + ")");
}

// Every page, from the first to the end of the bytes (see audio.h).
Result<AudioInfo> sniff_ogg(const uint8_t* d, size_t n) {
  OggCodec codec;
  uint32_t serial = 0;
  bool ended = false;
  std::optional<uint64_t> granule;
  uint32_t seq = 0;
  for (size_t pos = 0; pos < n; ++seq) {
    const std::string page = "page " + num(seq) + at(pos);
    if (n - pos < 27) {
      const size_t left = n - pos;
      if (left >= 4 ? std::memcmp(d + pos, "OggS", 4) != 0
                    : !is_cut_signature(d + pos, left, "OggS", 4)) {
        return bad("Ogg", "expected " + page + ", found bytes " +
                              hex_bytes(d + pos, n - pos < 4 ? n - pos : 4));
      }
      return cut("Ogg", n, "inside the header of " + page);
    }
    if (std::memcmp(d + pos, "OggS", 4) != 0) {
      return bad("Ogg",
                 "expected the capture pattern 'OggS' of " + page + ", found " + fourcc(d + pos));
    }
    if (ended) return bad("Ogg", page + " after the page that ends the stream");
    if (d[pos + 4] != 0) return bad("Ogg", page + " has version " + num(d[pos + 4]) + ", not 0");
    const uint8_t flags = d[pos + 5];
    if ((flags & ~7u) != 0) return bad("Ogg", page + " has header flags " + hex_byte(flags));
    const size_t segments = d[pos + 26];
    if (n - pos - 27 < segments) return cut("Ogg", n, "inside the segment table of " + page);
    size_t body = 0;
    for (size_t i = 0; i < segments; ++i) body += d[pos + 27 + i];
    const size_t len = 27 + segments + body;
    if (n - pos < len) return cut("Ogg", n, "inside " + page + ", " + num(len) + " bytes long");
    const uint32_t crc = ogg_crc(d + pos, len);
    if (crc != le32(d + pos + 22)) {
      return bad("Ogg",
                 page + " has CRC " + hex32(le32(d + pos + 22)) + ", its bytes give " + hex32(crc));
    }
    if (le32(d + pos + 18) != seq) {
      return bad("Ogg",
                 page + " has sequence number " + num(le32(d + pos + 18)) + ", not " + num(seq));
    }
    const bool first = seq == 0;
    if (first != ((flags & 2) != 0)) {
      return bad("Ogg", first ? page + " does not begin a stream"
                              : "a second beginning of stream, " + page);
    }
    if (first) {
      serial = le32(d + pos + 14);
      // One packet, ending on this page: every lacing value but the last is 255.
      const uint8_t* lacing = d + pos + 27;
      if (segments == 0 || lacing[segments - 1] == 255) {
        return bad("Ogg", "its first page does not hold one whole identification header");
      }
      for (size_t i = 0; i + 1 < segments; ++i) {
        if (lacing[i] != 255)
          return bad("Ogg", "its first page holds more than the identification header");
      }
      Result<OggCodec> c = ogg_codec(d + pos + 27 + segments, body);
      if (!c.ok()) return c.error();
      codec = *c;
    } else if (le32(d + pos + 14) != serial) {
      return bad("Ogg", page + " belongs to stream " + hex32(le32(d + pos + 14)) + ", not " +
                            hex32(serial) + "; only one logical stream is read");
    }
    const uint64_t g = le64(d + pos + 6);
    if (g != ~uint64_t{0}) {
      if ((g >> 63) != 0) return bad("Ogg", page + " has a negative granule position");
      granule = g;
    }
    ended = (flags & 4) != 0;
    pos += len;
  }
  std::optional<uint64_t> ms;
  if (granule) {
    ms = codec.opus ? (*granule > codec.pre_skip ? (*granule - codec.pre_skip) / 48 : 0)
                    : to_ms(*granule, codec.rate);
  }
  return AudioInfo{kOgg, ms};
}

// ---- WebM / Matroska ---------------------------------------------------------

constexpr uint32_t kEbml = 0x1A45DFA3;
constexpr uint32_t kEbmlVersion = 0x4286;
constexpr uint32_t kDocType = 0x4282;
constexpr uint32_t kSegment = 0x18538067;
constexpr uint32_t kCluster = 0x1F43B675;
constexpr uint32_t kInfo = 0x1549A966;
constexpr uint32_t kTimecodeScale = 0x2AD7B1;
constexpr uint32_t kDuration = 0x4489;
constexpr uint32_t kTracks = 0x1654AE6B;
constexpr uint32_t kTrackEntry = 0xAE;
constexpr uint32_t kTrackType = 0x83;

// An element's header: its ID (marker bits kept, as the spec writes IDs), its
// data size (unknown: all size bits set) and where its data starts.
struct Element {
  uint32_t id = 0;
  uint64_t size = 0;
  bool unknown_size = false;
  size_t at = 0;
  size_t data = 0;
  size_t end() const { return data + static_cast<size_t>(size); }
};

std::string element_name(uint32_t id) { return hex32(id); }

// Reads the element at `pos`, which must end by `limit` (<= n). `cut_at_limit`
// says whether `limit` is where the bytes end before the parent does (then
// running past it is a cut file) or the parent's own end (then it is an
// element that overruns its parent).
Result<Element> ebml_element(const uint8_t* d, size_t n, size_t pos, size_t limit,
                             bool cut_at_limit, const std::string& inside) {
  Element e;
  e.at = pos;
  const auto overrun = [&](const std::string& what) -> Error {
    if (!cut_at_limit) return bad("WebM", what + at(pos) + " runs past the end of " + inside);
    return cut("WebM", n, "inside the header of the element" + at(pos) + " in " + inside);
  };
  if (pos >= limit) return overrun("an element");
  const uint8_t first = d[pos];
  int id_len = 1;
  while (id_len <= 4 && (first & (0x80 >> (id_len - 1))) == 0) ++id_len;
  if (id_len > 4) return bad("WebM", "an element ID" + at(pos) + " starts with " + hex_byte(first));
  if (limit - pos < static_cast<size_t>(id_len) + 1) return overrun("an element header");
  for (int i = 0; i < id_len; ++i) e.id = (e.id << 8) | d[pos + i];
  const size_t s = pos + id_len;
  int size_len = 1;
  while (size_len <= 8 && (d[s] & (0x80 >> (size_len - 1))) == 0) ++size_len;
  if (size_len > 8)
    return bad("WebM", "element " + element_name(e.id) + at(pos) + " has a size starting 0x00");
  if (limit - s < static_cast<size_t>(size_len)) return overrun("an element header");
  uint64_t value = d[s] & (0xFF >> size_len);
  bool all_ones = value == (0xFFu >> size_len);
  for (int i = 1; i < size_len; ++i) {
    value = (value << 8) | d[s + i];
    all_ones = all_ones && d[s + i] == 0xFF;
  }
  e.unknown_size = all_ones;
  e.size = value;
  e.data = s + size_len;
  if (e.unknown_size) return e;
  if (limit - e.data < e.size) {
    if (!cut_at_limit) {
      return bad("WebM", "element " + element_name(e.id) + at(pos) + " is " + num(e.size) +
                             " bytes, past the end of " + inside);
    }
    return cut(
        "WebM", n,
        "inside element " + element_name(e.id) + at(pos) + ", " + num(e.size) + " bytes long");
  }
  return e;
}

// The children of `parent`, each of known size and inside it; `visit` is
// called on each and may fail.
template <class Visit>
std::optional<Error> ebml_children(const uint8_t* d, size_t n, const Element& parent,
                                   const std::string& name, Visit visit) {
  for (size_t pos = parent.data; pos < parent.end();) {
    Result<Element> c = ebml_element(d, n, pos, parent.end(), false, name);
    if (!c.ok()) return c.error();
    if (c->unknown_size)
      return bad("WebM", "element " + element_name(c->id) + at(pos) + " in " + name +
                             " has an unknown size");
    std::optional<Error> e = visit(*c);
    if (e) return e;
    pos = c->end();
  }
  return std::nullopt;
}

Result<uint64_t> ebml_uint(const uint8_t* d, const Element& e, const char* name) {
  if (e.size < 1 || e.size > 8)
    return bad("WebM", std::string(name) + at(e.at) + " is " + num(e.size) + " bytes, not 1 to 8");
  uint64_t v = 0;
  for (size_t i = 0; i < e.size; ++i) v = (v << 8) | d[e.data + i];
  return v;
}

Result<double> ebml_float(const uint8_t* d, const Element& e, const char* name) {
  const uint8_t* p = d + e.data;
  double v = 0;
  if (e.size == 4) {
    const uint32_t bits = be32(p);
    float f;
    std::memcpy(&f, &bits, 4);
    v = f;
  } else if (e.size == 8) {
    const uint64_t bits = (uint64_t{be32(p)} << 32) | be32(p + 4);
    std::memcpy(&v, &bits, 8);
  } else {
    return bad("WebM", std::string(name) + at(e.at) + " is " + num(e.size) + " bytes, not 4 or 8");
  }
  if (!std::isfinite(v) || v < 0)
    return bad("WebM", std::string(name) + at(e.at) + " is not a finite, positive number");
  return v;
}

Result<AudioInfo> sniff_webm(const uint8_t* d, size_t n) {
  Result<Element> header = ebml_element(d, n, 0, n, true, "the file");
  if (!header.ok()) return header.error();
  if (header->unknown_size) return bad("WebM", "its EBML header has an unknown size");
  std::string doc_type;
  bool have_doc_type = false;
  std::optional<Error> e = ebml_children(
      d, n, *header, "the EBML header", [&](const Element& c) -> std::optional<Error> {
        if (c.id == kEbmlVersion) {
          Result<uint64_t> v = ebml_uint(d, c, "EBMLVersion");
          if (!v.ok()) return v.error();
          if (*v != 1) return bad("WebM", "EBMLVersion " + num(*v) + ", not 1");
        } else if (c.id == kDocType) {
          doc_type.assign(reinterpret_cast<const char*>(d + c.data), static_cast<size_t>(c.size));
          while (!doc_type.empty() && doc_type.back() == '\0') doc_type.pop_back();
          have_doc_type = true;
        }
        return std::nullopt;
      });
  if (e) return *e;
  if (!have_doc_type) return bad("WebM", "its EBML header has no DocType");
  if (doc_type != "webm" && doc_type != "matroska") {
    return reason("is an EBML file of DocType '" + printable(doc_type) + "', not webm or matroska");
  }

  Result<Element> segment = ebml_element(d, n, header->end(), n, true, "the file");
  if (!segment.ok()) return segment.error();
  if (segment->id != kSegment) {
    return bad("WebM", "expected a Segment after the EBML header" + at(segment->at) +
                           ", found element " + element_name(segment->id));
  }
  // A Segment of unknown size (a live recording) runs to the end of the
  // bytes; one of known size may run past them (the walk stops at its first
  // Cluster).
  const uint64_t seg_end64 = segment->unknown_size ? n : uint64_t{segment->data} + segment->size;
  const bool seg_cut = seg_end64 >= n;
  const size_t seg_end = seg_cut ? n : static_cast<size_t>(seg_end64);

  uint64_t scale = 1000000;
  std::optional<double> duration;
  bool info = false;
  size_t audio_tracks = 0;
  bool tracks = false;
  for (size_t pos = segment->data;;) {
    if (pos >= seg_end) {
      // Segment of unknown size or cut: the bytes ended before a Cluster.
      if (seg_cut && (segment->unknown_size || seg_end64 > n))
        return cut("WebM", n, "before its first Cluster");
      break;
    }
    Result<Element> c = ebml_element(d, n, pos, seg_end, seg_cut, "the Segment");
    if (!c.ok()) return c.error();
    if (c->id == kCluster) break;
    if (c->unknown_size)
      return bad("WebM", "element " + element_name(c->id) + at(pos) + " has an unknown size");
    if (c->id == kInfo) {
      if (info) return bad("WebM", "a second Info" + at(pos));
      info = true;
      e = ebml_children(d, n, *c, "Info", [&](const Element& k) -> std::optional<Error> {
        if (k.id == kTimecodeScale) {
          Result<uint64_t> v = ebml_uint(d, k, "TimecodeScale");
          if (!v.ok()) return v.error();
          if (*v == 0) return bad("WebM", "TimecodeScale 0" + at(k.at));
          scale = *v;
        } else if (k.id == kDuration) {
          Result<double> v = ebml_float(d, k, "Duration");
          if (!v.ok()) return v.error();
          duration = *v;
        }
        return std::nullopt;
      });
      if (e) return *e;
    } else if (c->id == kTracks) {
      if (tracks) return bad("WebM", "a second Tracks" + at(pos));
      tracks = true;
      e = ebml_children(d, n, *c, "Tracks", [&](const Element& t) -> std::optional<Error> {
        if (t.id != kTrackEntry) return std::nullopt;
        std::optional<uint64_t> type;
        std::optional<Error> te =
            ebml_children(d, n, t, "a TrackEntry", [&](const Element& k) -> std::optional<Error> {
              if (k.id != kTrackType) return std::nullopt;
              Result<uint64_t> v = ebml_uint(d, k, "TrackType");
              if (!v.ok()) return v.error();
              type = *v;
              return std::nullopt;
            });
        if (te) return te;
        if (type != uint64_t{2}) {
          return reason("is a WebM whose track" + at(t.at) + " is not audio (TrackType " +
                        (type ? num(*type) : std::string("missing")) + ", audio is 2)");
        }
        ++audio_tracks;
        return std::nullopt;
      });
      if (e) return *e;
    }
    pos = c->end();
  }
  if (!info) return bad("WebM", "no Info before the first Cluster");
  if (audio_tracks == 0) return bad("WebM", "no audio track before the first Cluster");
  std::optional<uint64_t> ms;
  if (duration) {
    // Duration counts TimecodeScale nanoseconds.
    const double v = *duration * static_cast<double>(scale) / 1e6;
    ms = v >= 1.8e19 ? ~uint64_t{0} : static_cast<uint64_t>(v);
  }
  return AudioInfo{kWebm, ms};
}

// ---- MP3 ---------------------------------------------------------------------

struct MpegFrame {
  int version = 0;       // 1 (MPEG-1), 2 (MPEG-2), 25 (MPEG-2.5)
  int layer = 0;         // 1, 2 or 3
  uint32_t bitrate = 0;  // kbit/s
  uint32_t rate = 0;     // Hz
  bool mono = false;
  size_t length = 0;     // bytes, header included
  uint32_t samples = 0;  // per frame
};

// Bit rates in kbit/s by [MPEG-1 ? 0 : 1][layer - 1][index 1..14].
constexpr uint16_t kBitrates[2][3][15] = {
    {{0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448},
     {0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384},
     {0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320}},
    {{0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256},
     {0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160},
     {0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160}},
};
constexpr uint32_t kRates[3] = {44100, 48000, 32000};

// The frame header at `p` (4 bytes), or what is wrong with it.
Result<MpegFrame> mpeg_frame(const uint8_t* p, size_t pos) {
  const std::string where = "the MPEG audio frame header" + at(pos);
  if (p[0] != 0xFF || (p[1] & 0xE0) != 0xE0) {
    return bad("MP3",
               "expected an MPEG audio frame header" + at(pos) + ", found " + hex_bytes(p, 4));
  }
  const int v = (p[1] >> 3) & 3;
  const int l = (p[1] >> 1) & 3;
  const int b = p[2] >> 4;
  const int r = (p[2] >> 2) & 3;
  if (v == 1 || l == 0 || b == 0 || b == 15 || r == 3 || (p[3] & 3) == 2) {
    return bad("MP3", where + " (" + hex_bytes(p, 4) +
                          ") has a reserved version, layer, sample rate or emphasis, or a "
                          "free or invalid bit rate");
  }
  MpegFrame f;
  f.version = v == 3 ? 1 : v == 2 ? 2 : 25;
  f.layer = 4 - l;
  f.bitrate = kBitrates[f.version == 1 ? 0 : 1][f.layer - 1][b];
  f.rate = kRates[r] / (f.version == 1 ? 1 : f.version == 2 ? 2 : 4);
  f.mono = (p[3] >> 6) == 3;
  const uint32_t pad = (p[2] >> 1) & 1;
  if (f.layer == 1) {
    f.samples = 384;
    f.length = (12 * f.bitrate * 1000 / f.rate + pad) * 4;
  } else {
    f.samples = (f.layer == 3 && f.version != 1) ? 576 : 1152;
    f.length = f.samples / 8 * f.bitrate * 1000 / f.rate + pad;
  }
  return f;
}

// A Xing/Info or VBRI header's frame count in the frame at `p` (`f.length`
// bytes, all present), if it has one.
std::optional<uint64_t> vbr_frames(const uint8_t* p, const MpegFrame& f) {
  const size_t side = f.version == 1 ? (f.mono ? 17 : 32) : (f.mono ? 9 : 17);
  const size_t x = 4 + side;
  if (f.layer == 3 && f.length >= x + 12 &&
      (std::memcmp(p + x, "Xing", 4) == 0 || std::memcmp(p + x, "Info", 4) == 0) &&
      (be32(p + x + 4) & 1) != 0) {
    return be32(p + x + 8);
  }
  if (f.layer == 3 && f.length >= 36 + 18 && std::memcmp(p + 36, "VBRI", 4) == 0)
    return be32(p + 36 + 14);
  return std::nullopt;
}

Result<AudioInfo> sniff_mp3(const uint8_t* d, size_t n) {
  size_t pos = 0;
  if (starts_with(d, n, "ID3", 3)) {
    if (n < 10) return cut("MP3", n, "inside its ID3v2 header");
    if (d[3] < 2 || d[3] > 4 || d[4] == 0xFF)
      return bad("MP3", "ID3v2 version 2." + num(d[3]) + "." + num(d[4]));
    if ((d[6] | d[7] | d[8] | d[9]) & 0x80)
      return bad("MP3", "its ID3v2 size " + hex_bytes(d + 6, 4) + " is not syncsafe");
    const size_t size = (size_t{d[6]} << 21) | (size_t{d[7]} << 14) | (size_t{d[8]} << 7) | d[9];
    const size_t tag_end = 10 + size + ((d[5] & 0x10) ? 10 : 0);
    if (tag_end > n) return cut("MP3", n, "inside its ID3v2 tag of " + num(tag_end) + " bytes");
    pos = tag_end;
  }
  const size_t audio_start = pos;
  if (n - pos < 4) return cut("MP3", n, "inside the first frame header" + at(pos));
  Result<MpegFrame> first = mpeg_frame(d + pos, pos);
  if (!first.ok()) return first.error();
  const MpegFrame f = *first;
  if (n - pos < f.length)
    return cut("MP3", n, "inside the first frame" + at(pos) + ", " + num(f.length) + " bytes long");
  const size_t next = pos + f.length;
  if (next < n) {
    // A frame sync is two bytes any file may hold: the next frame must be where this one's length
    // says.
    if (n - next < 4) return cut("MP3", n, "inside the second frame header" + at(next));
    Result<MpegFrame> second = mpeg_frame(d + next, next);
    if (!second.ok()) return second.error();
    if (second->version != f.version || second->layer != f.layer || second->rate != f.rate) {
      return bad("MP3", "the frame" + at(next) +
                            " has another version, layer or sample rate than the first");
    }
  }
  std::optional<uint64_t> frames = vbr_frames(d + pos, f);
  if (frames) return AudioInfo{kMpeg, to_ms(*frames * f.samples, f.rate)};
  size_t audio_bytes = n - audio_start;
  if (audio_bytes >= f.length + 128 && std::memcmp(d + n - 128, "TAG", 3) == 0)
    audio_bytes -= 128;  // ID3v1
  return AudioInfo{kMpeg, uint64_t{audio_bytes} * 8 / f.bitrate};
}

bool is_mpeg_sync(const uint8_t* d, size_t n) {
  return n >= 2 && d[0] == 0xFF && (d[1] & 0xE0) == 0xE0;
}

Result<AudioInfo> sniff(const uint8_t* d, size_t n) {
  if (n == 0) return reason("is empty (0 bytes)");
  if (starts_with(d, n, "RIFF", 4)) return sniff_wav(d, n);
  if (starts_with(d, n, "OggS", 4)) return sniff_ogg(d, n);
  if (starts_with(d, n, kEbmlMagic, 4)) return sniff_webm(d, n);
  if (starts_with(d, n, "ID3", 3) || is_mpeg_sync(d, n)) return sniff_mp3(d, n);

  if (is_cut_signature(d, n, "RIFF", 4)) return cut("WAV", n, "inside its RIFF header");
  if (is_cut_signature(d, n, "OggS", 4)) return cut("Ogg", n, "inside the header of page 0");
  if (is_cut_signature(d, n, kEbmlMagic, 4)) return cut("WebM", n, "inside its EBML header");
  if (is_cut_signature(d, n, "ID3", 3) || (n == 1 && d[0] == 0xFF))
    return cut("MP3", n, "inside its first header");
  return reason("has an unknown signature (first bytes " + hex_bytes(d, n < 8 ? n : 8) +
                "); expected WAV, Ogg, WebM or MP3");
}

}  // namespace

bool is_supported_audio_mime(std::string_view mime) {
  return mime == kWav || mime == kOgg || mime == kWebm || mime == kMpeg;
}

Result<AudioInfo> sniff_audio(const uint8_t* data, size_t n) {
  Result<AudioInfo> r = sniff(data, n);
  if (!r.ok()) r.error().message.insert(0, "audio ");
  return r;
}

Result<AudioInfo> check_audio(const uint8_t* data, size_t n, std::string_view declared_mime,
                              const Limits& limits, std::string_view id) {
  std::string subject = "audio";
  if (!id.empty()) subject += " (" + printable(id) + ")";
  const auto fail = [&](ErrorCode code, const std::string& text) -> Result<AudioInfo> {
    return Error(code, subject + " " + text);
  };

  if (n > limits.max_audio_bytes) {
    return fail(ErrorCode::too_large, "is " + num(n) + " bytes, over the limit of " +
                                          num(limits.max_audio_bytes) + " bytes");
  }
  if (!is_supported_audio_mime(declared_mime)) {
    return fail(ErrorCode::invalid_field,
                "was declared '" + printable(declared_mime) +
                    "', which is not one of audio/wav, audio/ogg, audio/webm, audio/mpeg");
  }
  Result<AudioInfo> r = sniff(data, n);
  if (!r.ok()) return fail(ErrorCode::invalid_field, r.error().message);
  if (r->mime_type != declared_mime) {
    return fail(ErrorCode::invalid_field,
                "is " + r->mime_type + " but was declared " + std::string(declared_mime));
  }
  if (r->duration_ms && *r->duration_ms > limits.max_audio_duration_ms) {
    return fail(ErrorCode::too_large, "is " + num(*r->duration_ms) +
                                          " ms long, over the limit of " +
                                          num(limits.max_audio_duration_ms) + " ms");
  }
  return r;
}

}  // namespace chatwire::media
