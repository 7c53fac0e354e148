#include "core/media/image.h"

#include <cstring>

#include "core/media/bytes.h"

namespace chatwire::media {

namespace {

using namespace bytes;  // NOLINT: the byte readers are this file's vocabulary

constexpr char kPng[] = "image/png";
constexpr char kJpeg[] = "image/jpeg";
constexpr char kGif[] = "image/gif";
constexpr char kWebp[] = "image/webp";

constexpr uint8_t kPngSignature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

// Bytes needed before the walk of each format can start.
constexpr size_t kPngHeader = 33;   // signature, the whole IHDR chunk with its CRC
constexpr size_t kGifHeader = 13;   // "GIF8?a", the logical screen descriptor
constexpr size_t kRiffHeader = 20;  // "RIFF" size "WEBP", first chunk's type and size

// The sniffers below return Errors whose message is what follows the subject
// ("image", "image 2 (<id>)"): "is a truncated PNG ...".
Error reason(std::string text) { return Error(ErrorCode::image_invalid, std::move(text)); }

std::string size_text(uint32_t w, uint32_t h) { return num(w) + "x" + num(h); }

// A file cut before its fixed-size header ends.
Error truncated(const char* format, size_t needed, size_t given) {
  return reason(std::string("is a truncated ") + format + " (" + num(needed) +
                " bytes needed for the header, " + num(given) + " given)");
}

// A file cut during the walk: `where` says what the walk was inside of.
Error truncated_at(const char* format, size_t n, const std::string& where) {
  return reason(std::string("is a truncated ") + format + " (it ends at byte " + num(n) + ", " +
                where + ")");
}

// Bytes that are not the format's structure where the walk expected it.
Error invalid(const char* format, const std::string& what) {
  return reason(std::string("is not a valid ") + format + " (" + what + ")");
}

Result<ImageInfo> dimensions(const char* format, const char* mime, uint32_t width,
                             uint32_t height) {
  if (width == 0) return reason(std::string("is a ") + format + " with zero width");
  if (height == 0) return reason(std::string("is a ") + format + " with zero height");
  return ImageInfo{mime, width, height};
}

// ---- PNG ---------------------------------------------------------------------

// CRC-32 (ISO 3309, the one PNG uses), table built at compile time.
struct Crc32Table {
  uint32_t v[256] = {};
  constexpr Crc32Table() {
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      v[i] = c;
    }
  }
};
constexpr Crc32Table kCrc32;

uint32_t crc32(const uint8_t* p, size_t n) {
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; ++i) c = kCrc32.v[(c ^ p[i]) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

bool is_png_chunk_type(const uint8_t* t) {
  for (int i = 0; i < 4; ++i) {
    const bool letter = (t[i] >= 'A' && t[i] <= 'Z') || (t[i] >= 'a' && t[i] <= 'z');
    if (!letter) return false;
  }
  return true;
}

bool is_type(const uint8_t* t, const char* name) { return std::memcmp(t, name, 4) == 0; }

// Bit depths PNG allows for each colour type (ISO 15948, 11.2.2), or null for
// a colour type that does not exist.
const char* png_depths(uint8_t colour_type) {
  switch (colour_type) {
    case 0: return "1, 2, 4, 8, 16";
    case 2: return "8, 16";
    case 3: return "1, 2, 4, 8";
    case 4: return "8, 16";
    case 6: return "8, 16";
    default: return nullptr;
  }
}

bool png_depth_ok(uint8_t colour_type, uint8_t depth) {
  switch (colour_type) {
    case 0: return depth == 1 || depth == 2 || depth == 4 || depth == 8 || depth == 16;
    case 3: return depth == 1 || depth == 2 || depth == 4 || depth == 8;
    case 2: case 4: case 6: return depth == 8 || depth == 16;
    default: return false;
  }
}

// The signature, IHDR (fields and CRC), then every chunk up to the first IDAT:
// each one's length, type (four letters), CRC and place in the order PNG
// requires. The IDAT's own bytes are pixel data and are not read.
Result<ImageInfo> sniff_png(const uint8_t* d, size_t n) {
  if (n < kPngHeader) return truncated("PNG", kPngHeader, n);
  if (!is_type(d + 12, "IHDR")) {
    return invalid("PNG", "its first chunk is " + fourcc(d + 12) + ", not 'IHDR'");
  }
  if (be32(d + 8) != 13) {
    return invalid("PNG", "its IHDR chunk is " + num(be32(d + 8)) + " bytes long, not 13");
  }
  if (crc32(d + 12, 17) != be32(d + 29)) {
    return invalid("PNG", "the IHDR chunk's CRC is " + hex32(be32(d + 29)) + ", its bytes give " +
                              hex32(crc32(d + 12, 17)));
  }
  const uint32_t width = be32(d + 16);
  const uint32_t height = be32(d + 20);
  Result<ImageInfo> info = dimensions("PNG", kPng, width, height);
  if (!info.ok()) return info;
  if (width > 0x7fffffffu || height > 0x7fffffffu) {
    return invalid("PNG", "IHDR says " + size_text(width, height) + ", over 2^31-1");
  }
  const uint8_t depth = d[24];
  const uint8_t colour = d[25];
  if (png_depths(colour) == nullptr) {
    return invalid("PNG", "colour type " + num(colour) + " in IHDR, not 0, 2, 3, 4 or 6");
  }
  if (!png_depth_ok(colour, depth)) {
    return invalid("PNG", "bit depth " + num(depth) + " for colour type " + num(colour) +
                              ", which allows " + png_depths(colour));
  }
  if (d[26] != 0 || d[27] != 0 || d[28] > 1) {
    return invalid("PNG", "IHDR compression " + num(d[26]) + ", filter " + num(d[27]) +
                              ", interlace " + num(d[28]) + "; only 0, 0, 0 or 1 exist");
  }

  bool palette = false;
  size_t pos = kPngHeader;
  for (;;) {
    // Messages are built only on failure: a file may hold a million chunks.
    const auto at = [pos] { return " at offset " + num(pos); };
    if (n - pos < 8) return truncated_at("PNG", n, "before its first IDAT chunk");
    const uint32_t len = be32(d + pos);
    const uint8_t* type = d + pos + 4;
    if (!is_png_chunk_type(type)) {
      return invalid("PNG", "the chunk" + at() + " has type " + fourcc(type) +
                                ", not four letters");
    }
    if (len > 0x7fffffffu) {
      return invalid("PNG", "chunk " + fourcc(type) + at() + " is " + num(len) +
                                " bytes long, over 2^31-1");
    }
    if (is_type(type, "IDAT")) {
      if (colour == 3 && !palette) {
        return invalid("PNG", "a palette image (colour type 3) with no PLTE chunk before IDAT");
      }
      return info;
    }
    if (is_type(type, "IEND")) return invalid("PNG", "IEND" + at() + " before any IDAT chunk");
    if (is_type(type, "IHDR")) return invalid("PNG", "a second IHDR chunk" + at());
    if (is_type(type, "PLTE")) {
      if (palette) return invalid("PNG", "a second PLTE chunk" + at());
      if (colour == 0 || colour == 4) {
        return invalid("PNG", "a PLTE chunk" + at() + " in a greyscale image");
      }
      if (len == 0 || len > 768 || len % 3 != 0) {
        return invalid("PNG", "PLTE" + at() + " is " + num(len) +
                                  " bytes long, not 3 to 768 in steps of 3");
      }
      palette = true;
    } else if (type[0] >= 'A' && type[0] <= 'Z') {
      // A decoder must stop at a critical chunk it does not know (5.4).
      return invalid("PNG", "unknown critical chunk " + fourcc(type) + at());
    }
    if (n - pos - 8 < uint64_t{len} + 4) {
      return truncated_at("PNG", n, "inside chunk " + fourcc(type) + at());
    }
    const uint32_t stored = be32(d + pos + 8 + len);
    const uint32_t computed = crc32(type, size_t{len} + 4);
    if (stored != computed) {
      return invalid("PNG", "chunk " + fourcc(type) + at() + " has CRC " + hex32(stored) +
                                ", its bytes give " + hex32(computed));
    }
    pos += size_t{len} + 12;
  }
}

// ---- GIF ---------------------------------------------------------------------

// Header, logical screen descriptor, global colour table, then every block to
// the trailer: extensions and image data are skipped by their sub-block
// lengths (no LZW decoding), and every image descriptor must lie inside the
// logical screen. Decoders that meet a frame larger than the screen grow
// their canvas to fit it, so a frame outside the screen would let a file
// declare 8192x8192 and be decoded at 65535x65535.
Result<ImageInfo> sniff_gif(const uint8_t* d, size_t n) {
  if (n < kGifHeader) return truncated("GIF", kGifHeader, n);
  const uint32_t screen_w = le16(d + 6);
  const uint32_t screen_h = le16(d + 8);
  Result<ImageInfo> info = dimensions("GIF", kGif, screen_w, screen_h);
  if (!info.ok()) return info;
  size_t pos = kGifHeader;
  if (d[10] & 0x80) {
    const size_t table = size_t{3} << ((d[10] & 7) + 1);
    if (n - pos < table) return truncated_at("GIF", n, "inside its global colour table");
    pos += table;
  }
  // Sub-blocks: a length byte, that many bytes, ..., a zero length. False
  // when the file ends first. (Messages are built only on failure: a file may
  // hold millions of blocks.)
  const auto skip_sub_blocks = [&]() -> bool {
    for (;;) {
      if (pos >= n) return false;
      const size_t len = d[pos++];
      if (len == 0) return true;
      if (n - pos < len) return false;
      pos += len;
    }
  };
  const auto offset = [](size_t at) { return " at offset " + num(at); };
  size_t frames = 0;
  for (;;) {
    if (pos >= n) return truncated_at("GIF", n, "before its trailer");
    const size_t at = pos;
    const uint8_t block = d[pos];
    if (block == 0x3B) {
      if (frames == 0) return invalid("GIF", "trailer" + offset(at) + " before any image");
      return info;
    }
    if (block == 0x21) {
      const auto inside = [&] { return "inside the extension " + hex_byte(d[at + 1]) + offset(at); };
      if (n - pos < 2) return truncated_at("GIF", n, "inside the extension" + offset(at));
      pos += 2;  // introducer, label
      if (!skip_sub_blocks()) return truncated_at("GIF", n, inside());
      continue;
    }
    if (block != 0x2C) {
      return invalid("GIF", "expected a block (0x21, 0x2c or 0x3b)" + offset(at) + ", found " +
                                hex_byte(block));
    }
    ++frames;
    const auto frame = [&] { return "frame " + num(frames) + offset(at); };
    if (n - pos < 11) return truncated_at("GIF", n, "inside " + frame());
    const uint32_t left = le16(d + pos + 1);
    const uint32_t top = le16(d + pos + 3);
    const uint32_t w = le16(d + pos + 5);
    const uint32_t h = le16(d + pos + 7);
    if (left + w > screen_w || top + h > screen_h) {
      return invalid("GIF", frame() + " is " + size_text(w, h) + " at (" + num(left) + "," +
                                num(top) + "), outside the " + size_text(screen_w, screen_h) +
                                " logical screen");
    }
    const uint8_t flags = d[pos + 9];
    pos += 10;
    if (flags & 0x80) {
      const size_t table = size_t{3} << ((flags & 7) + 1);
      if (n - pos < table) return truncated_at("GIF", n, "inside the colour table of " + frame());
      pos += table;
    }
    if (pos >= n) return truncated_at("GIF", n, "inside " + frame());
    const uint8_t code_size = d[pos++];
    if (code_size > 11) {  // codes are at most 12 bits: a bigger start cannot grow
      return invalid("GIF", frame() + " has LZW minimum code size " + num(code_size) +
                                ", over 11");
    }
    if (!skip_sub_blocks()) return truncated_at("GIF", n, "inside the image data of " + frame());
  }
}

// ---- JPEG --------------------------------------------------------------------

bool is_jpeg_frame_header(uint8_t marker) {
  return marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC;
}

// Walks the marker segments after SOI through the frame header (SOFn) up to
// and including the first scan header (SOS). Each step moves forward by at
// least one byte and every read is bounds-checked first. The entropy-coded
// data after SOS is pixel data and is not read.
Result<ImageInfo> sniff_jpeg(const uint8_t* d, size_t n) {
  bool have_frame = false;
  uint32_t width = 0;
  uint32_t height = 0;
  const auto before = [&have_frame] {
    return std::string(have_frame ? "before its first scan" : "before a frame header");
  };
  const auto cut = [&](size_t at) {
    return truncated_at("JPEG", n, "inside the segment that starts at offset " + num(at) + ", " +
                                       before());
  };
  const auto bad = [](const std::string& what) { return invalid("JPEG", what); };
  size_t i = 2;  // after SOI (ff d8)
  for (;;) {
    const size_t at = i;
    if (i >= n) return truncated_at("JPEG", n, before());
    if (d[i] != 0xFF) {
      return bad("expected a marker at offset " + num(i) + ", found " + hex_byte(d[i]));
    }
    while (i < n && d[i] == 0xFF) ++i;  // a marker may be preceded by any number of fill bytes
    if (i >= n) return cut(at);
    const uint8_t marker = d[i++];
    if (marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) continue;  // TEM, RSTn: no length
    const size_t marker_at = i - 2;
    const auto where = [marker_at] { return " at offset " + num(marker_at); };
    if (marker == 0x00) return bad("stuffed byte ff 00" + where() + " outside a scan");
    if (marker == 0xD8) return bad("second start of image" + where());
    if (marker == 0xD9) return bad("end of image" + where() + " " + before());
    if (marker == 0xDA && !have_frame) return bad("scan" + where() + " before a frame header");
    if (marker >= 0x02 && marker <= 0xBF) {
      // Reserved (T.81 table B.1): decoders stop at them, so what follows is not JPEG.
      return bad("reserved marker " + hex_byte(marker) + where());
    }
    if (n - i < 2) return cut(at);
    const uint32_t length = be16(d + i);  // counts itself, not the marker
    if (length < 2) {
      return bad("segment " + hex_byte(marker) + where() + " has length " + num(length));
    }
    if (marker == 0xDA) {
      // length(2) components(1) [selector, tables](2 each) Ss Se AhAl
      if (n - i < 3) return cut(at);
      const uint32_t components = d[i + 2];
      if (components < 1 || components > 4 || length != 6 + 2 * components) {
        return bad("scan header" + where() + " has length " + num(length) + " for " +
                   num(components) + " components (1 to 4, length 6 + 2 per component)");
      }
      if (n - i < length) return cut(at);
      return ImageInfo{kJpeg, width, height};
    }
    if (is_jpeg_frame_header(marker)) {
      // length(2) precision(1) height(2) width(2) components(1) [id, sampling, table](3 each)
      if (have_frame) return bad("second frame header " + hex_byte(marker) + where());
      if (length < 8) {
        return bad("frame header " + hex_byte(marker) + where() + " has length " + num(length));
      }
      if (n - i < 8) return cut(at);
      Result<ImageInfo> dims = dimensions("JPEG", kJpeg, be16(d + i + 5), be16(d + i + 3));
      if (!dims.ok()) return dims;
      const uint32_t components = d[i + 7];
      if (components < 1 || length != 8 + 3 * components) {
        return bad("frame header " + hex_byte(marker) + where() + " has length " + num(length) +
                   " for " + num(components) + " components (at least 1, length 8 + 3 per "
                   "component)");
      }
      have_frame = true;
      width = dims->width;
      height = dims->height;
    }
    if (n - i < length) return cut(at);
    i += length;
  }
}

// ---- WebP --------------------------------------------------------------------

struct Size {
  uint32_t width = 0;
  uint32_t height = 0;
};

// The size a "VP8 " (lossy) or "VP8L" (lossless) bitstream starts with;
// `p` holds the chunk's `len` payload bytes.
Result<Size> webp_bitstream(const uint8_t* type, const uint8_t* p, uint32_t len,
                            const std::string& where) {
  if (is_type(type, "VP8 ")) {
    if (len < 10) {
      return invalid("WebP", "VP8 chunk" + where + " is " + num(len) +
                                 " bytes, too short for a frame header");
    }
    if ((p[0] & 1) != 0) return invalid("WebP", "its VP8 frame is not a key frame");
    if (p[3] != 0x9d || p[4] != 0x01 || p[5] != 0x2a) {
      return invalid("WebP", "VP8 start code is " + hex_bytes(p + 3, 3) + ", not 9d 01 2a");
    }
    return Size{le16(p + 6) & 0x3fff, le16(p + 8) & 0x3fff};
  }
  if (len < 5) {
    return invalid("WebP", "VP8L chunk" + where + " is " + num(len) +
                               " bytes, too short for its header");
  }
  if (p[0] != 0x2f) {
    return invalid("WebP", "VP8L signature is " + hex_byte(p[0]) + ", not 0x2f");
  }
  const uint32_t bits = le32(p + 1);
  if ((bits >> 29) != 0) return invalid("WebP", "VP8L version " + num(bits >> 29) + ", not 0");
  return Size{(bits & 0x3fff) + 1, ((bits >> 14) & 0x3fff) + 1};
}

bool is_bitstream(const uint8_t* type) { return is_type(type, "VP8 ") || is_type(type, "VP8L"); }

// RIFF chunks in [pos, end): type(4) size(4, little-endian) payload, padded to
// an even length. Every chunk must end inside the RIFF data.
struct RiffChunk {
  const uint8_t* type;
  const uint8_t* payload;
  uint32_t size;
  size_t at;
};

Result<RiffChunk> riff_chunk(const uint8_t* d, size_t pos, size_t end, const char* inside) {
  if (end - pos < 8) {
    return invalid("WebP", "a chunk header at offset " + num(pos) + " runs past the end of " +
                               inside + " at " + num(end));
  }
  const uint32_t size = le32(d + pos + 4);
  if (end - pos - 8 < size) {
    return invalid("WebP", "chunk " + fourcc(d + pos) + " at offset " + num(pos) + " is " +
                               num(size) + " bytes, past the end of " + inside + " at " +
                               num(end));
  }
  return RiffChunk{d + pos, d + pos + 8, size, pos};
}

size_t after(const RiffChunk& c) { return c.at + 8 + size_t{c.size} + (c.size & 1); }

// "RIFF" <size> "WEBP": the size must fit the file (what follows it is not
// read), then the chunk layout: a "VP8 " or "VP8L" bitstream alone, or "VP8X"
// and the chunks after it up to the image's bitstream (a still image, whose
// size must be the canvas's) or through every "ANMF" frame (an animation,
// each frame inside the canvas and its bitstream the frame's size).
Result<ImageInfo> sniff_riff(const uint8_t* d, size_t n) {
  if (n < 12) return truncated("WebP", kRiffHeader, n);
  if (std::memcmp(d + 8, "WEBP", 4) != 0) {
    return reason("is a RIFF file of form " + fourcc(d + 8) + ", not a WebP image");
  }
  if (n < kRiffHeader) return truncated("WebP", kRiffHeader, n);
  const uint64_t riff_end = uint64_t{le32(d + 4)} + 8;
  if (riff_end < kRiffHeader) {
    return invalid("WebP", "its RIFF size is " + num(le32(d + 4)) + ", too small for a chunk");
  }
  if (riff_end > n) {
    return reason("is a truncated WebP (its RIFF header gives " + num(riff_end) + " bytes, " +
                  num(n) + " given)");
  }
  const size_t end = static_cast<size_t>(riff_end);
  if (!is_bitstream(d + 12) && !is_type(d + 12, "VP8X")) {
    return invalid("WebP", "its first chunk is " + fourcc(d + 12) +
                               ", not 'VP8 ', 'VP8L' or 'VP8X'");
  }
  Result<RiffChunk> first = riff_chunk(d, 12, end, "the RIFF data");
  if (!first.ok()) return first.error();
  const RiffChunk c = *first;
  if (is_bitstream(c.type)) {
    Result<Size> s = webp_bitstream(c.type, c.payload, c.size, " at offset 12");
    if (!s.ok()) return s.error();
    // The simple format is that one chunk; anything else needs VP8X.
    if (after(c) < end) {
      return invalid("WebP", num(end - after(c)) + " bytes after its " + fourcc(c.type) +
                                 " chunk inside the RIFF data, which a file without VP8X "
                                 "cannot have");
    }
    return dimensions("WebP", kWebp, s->width, s->height);
  }
  if (c.size != 10) return invalid("WebP", "its VP8X chunk is " + num(c.size) + " bytes, not 10");
  const bool animated = (c.payload[0] & 0x02) != 0;
  const uint32_t canvas_w = le24(c.payload + 4) + 1;
  const uint32_t canvas_h = le24(c.payload + 7) + 1;
  const std::string canvas = size_text(canvas_w, canvas_h) + " canvas";
  size_t frames = 0;
  for (size_t pos = after(c); pos < end;) {
    Result<RiffChunk> next = riff_chunk(d, pos, end, "the RIFF data");
    if (!next.ok()) return next.error();
    const RiffChunk k = *next;
    pos = after(k);
    if (is_bitstream(k.type)) {
      const std::string where = " at offset " + num(k.at);
      if (animated) {
        return invalid("WebP", "an animation with a bare " + fourcc(k.type) + " chunk" + where);
      }
      Result<Size> s = webp_bitstream(k.type, k.payload, k.size, where);
      if (!s.ok()) return s.error();
      if (s->width != canvas_w || s->height != canvas_h) {
        return invalid("WebP", "its bitstream" + where + " is " + size_text(s->width, s->height) +
                                   ", not the " + canvas);
      }
      return ImageInfo{kWebp, canvas_w, canvas_h};
    }
    if (!is_type(k.type, "ANMF")) continue;  // ICCP, ANIM, ALPH, EXIF, XMP, unknown
    const std::string where = " at offset " + num(k.at);
    if (!animated) return invalid("WebP", "an ANMF frame" + where + " in a still image");
    ++frames;
    const std::string frame = "frame " + num(frames) + where;
    if (k.size < 16) return invalid("WebP", frame + " is " + num(k.size) + " bytes, under 16");
    const uint32_t x = le24(k.payload) * 2;
    const uint32_t y = le24(k.payload + 3) * 2;
    const uint32_t w = le24(k.payload + 6) + 1;
    const uint32_t h = le24(k.payload + 9) + 1;
    if (uint64_t{x} + w > canvas_w || uint64_t{y} + h > canvas_h) {
      return invalid("WebP", frame + " is " + size_text(w, h) + " at (" + num(x) + "," + num(y) +
                                 "), outside the " + canvas);
    }
    // The frame's own chunks (ALPH, then its bitstream).
    const size_t frame_end = k.at + 8 + k.size;
    bool bitstream = false;
    for (size_t q = k.at + 8 + 16; q < frame_end && !bitstream;) {
      Result<RiffChunk> sub = riff_chunk(d, q, frame_end, frame.c_str());
      if (!sub.ok()) return sub.error();
      q = after(*sub);
      if (!is_bitstream(sub->type)) continue;
      const std::string sub_where = " at offset " + num(sub->at);
      Result<Size> s = webp_bitstream(sub->type, sub->payload, sub->size, sub_where);
      if (!s.ok()) return s.error();
      if (s->width != w || s->height != h) {
        return invalid("WebP", "the bitstream" + sub_where + " of " + frame + " is " +
                                   size_text(s->width, s->height) + ", not the frame's " +
                                   size_text(w, h));
      }
      bitstream = true;
    }
    if (!bitstream) return invalid("WebP", frame + " has no 'VP8 ' or 'VP8L' bitstream");
  }
  if (animated && frames > 0) return ImageInfo{kWebp, canvas_w, canvas_h};
  return invalid("WebP", animated ? "an animation with no ANMF frame"
                                  : "a VP8X file with no 'VP8 ' or 'VP8L' bitstream");
}

Result<ImageInfo> sniff(const uint8_t* d, size_t n) {
  if (n == 0) return reason("is empty (0 bytes)");
  static constexpr uint8_t kJpegSoi[3] = {0xFF, 0xD8, 0xFF};
  if (starts_with(d, n, kPngSignature, 8)) return sniff_png(d, n);
  if (starts_with(d, n, kJpegSoi, 3)) return sniff_jpeg(d, n);
  if (starts_with(d, n, "GIF87a", 6) || starts_with(d, n, "GIF89a", 6)) return sniff_gif(d, n);
  if (starts_with(d, n, "RIFF", 4)) return sniff_riff(d, n);

  if (is_cut_signature(d, n, kPngSignature, 8)) return truncated("PNG", kPngHeader, n);
  if (is_cut_signature(d, n, kJpegSoi, 3)) {
    return reason("is a truncated JPEG (it ends at byte " + std::to_string(n) +
                  " before a frame header)");
  }
  if (is_cut_signature(d, n, "GIF87a", 6) || is_cut_signature(d, n, "GIF89a", 6)) {
    return truncated("GIF", kGifHeader, n);
  }
  if (is_cut_signature(d, n, "RIFF", 4)) return truncated("WebP", kRiffHeader, n);
  return reason("has an unknown signature (first bytes " + hex_bytes(d, n < 8 ? n : 8) +
                "); expected PNG, JPEG, GIF or WebP");
}

}  // namespace

bool is_supported_mime(std::string_view mime) {
  return mime == kPng || mime == kJpeg || mime == kGif || mime == kWebp;
}

Result<ImageInfo> sniff_image(const uint8_t* data, size_t n) {
  Result<ImageInfo> r = sniff(data, n);
  if (!r.ok()) r.error().message.insert(0, "image ");
  return r;
}

Result<ImageInfo> check_image(const uint8_t* data, size_t n, std::string_view declared_mime,
                              const Limits& limits, size_t index, std::string_view id) {
  std::string subject = "image " + std::to_string(index);
  if (!id.empty()) subject += " (" + printable(id) + ")";
  const auto fail = [&](ErrorCode code, const std::string& text) -> Result<ImageInfo> {
    Error e(code, subject + " " + text);
    e.image_id = std::string(id);
    return e;
  };

  if (n > limits.max_image_bytes) {
    return fail(ErrorCode::too_large, "is " + std::to_string(n) + " bytes, over the limit of " +
                                          std::to_string(limits.max_image_bytes) + " bytes");
  }
  if (!is_supported_mime(declared_mime)) {
    return fail(ErrorCode::image_invalid,
                "was declared '" + printable(declared_mime) +
                    "', which is not one of image/png, image/jpeg, image/gif, image/webp");
  }
  Result<ImageInfo> r = sniff(data, n);
  if (!r.ok()) return fail(ErrorCode::image_invalid, r.error().message);
  if (r->mime_type != declared_mime) {
    return fail(ErrorCode::image_invalid,
                "is " + r->mime_type + " but was declared " + std::string(declared_mime));
  }
  const uint32_t max = limits.max_image_dimension;
  if (r->width > max || r->height > max) {
    return fail(ErrorCode::image_invalid, "is " + std::to_string(r->width) + "x" +
                                              std::to_string(r->height) +
                                              " pixels, over the limit of " + std::to_string(max) +
                                              "x" + std::to_string(max));
  }
  return r;
}

}  // namespace chatwire::media
