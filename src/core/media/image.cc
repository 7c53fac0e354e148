#include "core/media/image.h"

#include <cstring>

namespace chatwire::media {

namespace {

constexpr char kPng[] = "image/png";
constexpr char kJpeg[] = "image/jpeg";
constexpr char kGif[] = "image/gif";
constexpr char kWebp[] = "image/webp";

constexpr uint8_t kPngSignature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

// Bytes needed to read each format's dimensions.
constexpr size_t kPngHeader = 24;   // signature, IHDR length + type, width, height
constexpr size_t kGifHeader = 10;   // "GIF8?a", width, height
constexpr size_t kRiffHeader = 20;  // "RIFF" size "WEBP", first chunk's type and size
constexpr size_t kVp8Header = 30;   // + frame tag (3), start code (3), width, height
constexpr size_t kVp8lHeader = 25;  // + signature (1), packed sizes (4)
constexpr size_t kVp8xHeader = 30;  // + flags (4), canvas width-1 (3), height-1 (3)

// The sniffers below return Errors whose message is what follows the subject
// ("image", "image 2 (<id>)"): "is a truncated PNG ...".
Error reason(std::string text) { return Error(ErrorCode::image_invalid, std::move(text)); }

uint32_t be16(const uint8_t* p) { return (uint32_t{p[0]} << 8) | p[1]; }
uint32_t be32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}
uint32_t le16(const uint8_t* p) { return uint32_t{p[0]} | (uint32_t{p[1]} << 8); }
uint32_t le24(const uint8_t* p) { return le16(p) | (uint32_t{p[2]} << 16); }
uint32_t le32(const uint8_t* p) { return le24(p) | (uint32_t{p[3]} << 24); }

bool starts_with(const uint8_t* data, size_t n, const void* prefix, size_t len) {
  return n >= len && std::memcmp(data, prefix, len) == 0;
}

// True when all n bytes agree with the start of `sig` (n < len): a cut-off
// signature, reported as "truncated" rather than "unknown".
bool is_cut_signature(const uint8_t* data, size_t n, const void* sig, size_t len) {
  return n < len && std::memcmp(data, sig, n) == 0;
}

std::string hex_byte(uint8_t b) {
  static constexpr char kHex[] = "0123456789abcdef";
  return std::string("0x") + kHex[b >> 4] + kHex[b & 15];
}

std::string hex_bytes(const uint8_t* data, size_t n) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    if (i > 0) out += ' ';
    out += kHex[data[i] >> 4];
    out += kHex[data[i] & 15];
  }
  return out;
}

// A chunk type for a message: printable ASCII as is, anything else as \xNN.
std::string fourcc(const uint8_t* p) {
  std::string out = "'";
  for (int i = 0; i < 4; ++i) {
    if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '\'' && p[i] != '\\') {
      out += static_cast<char>(p[i]);
    } else {
      out += "\\x" + hex_byte(p[i]).substr(2);
    }
  }
  return out + "'";
}

Error truncated(const char* format, size_t needed, size_t given) {
  return reason(std::string("is a truncated ") + format + " (" + std::to_string(needed) +
                " bytes needed for the header, " + std::to_string(given) + " given)");
}

Result<ImageInfo> dimensions(const char* format, const char* mime, uint32_t width,
                             uint32_t height) {
  if (width == 0) return reason(std::string("is a ") + format + " with zero width");
  if (height == 0) return reason(std::string("is a ") + format + " with zero height");
  return ImageInfo{mime, width, height};
}

Result<ImageInfo> sniff_png(const uint8_t* d, size_t n) {
  if (n < kPngHeader) return truncated("PNG", kPngHeader, n);
  if (std::memcmp(d + 12, "IHDR", 4) != 0) {
    return reason("is not a valid PNG (its first chunk is " + fourcc(d + 12) + ", not 'IHDR')");
  }
  if (be32(d + 8) != 13) {
    return reason("is not a valid PNG (its IHDR chunk is " + std::to_string(be32(d + 8)) +
                  " bytes long, not 13)");
  }
  return dimensions("PNG", kPng, be32(d + 16), be32(d + 20));
}

Result<ImageInfo> sniff_gif(const uint8_t* d, size_t n) {
  if (n < kGifHeader) return truncated("GIF", kGifHeader, n);
  return dimensions("GIF", kGif, le16(d + 6), le16(d + 8));
}

bool is_jpeg_frame_header(uint8_t marker) {
  return marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC;
}

// Walks the marker segments after SOI up to the first frame header. Each step
// moves forward by at least one byte and every read is bounds-checked first.
Result<ImageInfo> sniff_jpeg(const uint8_t* d, size_t n) {
  const auto cut = [n](size_t at) {
    return reason("is a truncated JPEG (it ends at byte " + std::to_string(n) +
                  ", inside the segment that starts at offset " + std::to_string(at) +
                  ", before a frame header)");
  };
  const auto bad = [](const std::string& what) {
    return reason("is not a valid JPEG (" + what + ")");
  };
  size_t i = 2;  // after SOI (ff d8)
  for (;;) {
    const size_t at = i;
    if (i >= n) {
      return reason("is a truncated JPEG (it ends at byte " + std::to_string(n) +
                    " before a frame header)");
    }
    if (d[i] != 0xFF) {
      return bad("expected a marker at offset " + std::to_string(i) + ", found " + hex_byte(d[i]));
    }
    while (i < n && d[i] == 0xFF) ++i;  // a marker may be preceded by any number of fill bytes
    if (i >= n) return cut(at);
    const uint8_t marker = d[i++];
    const std::string where = " at offset " + std::to_string(i - 2);
    if (marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) continue;  // TEM, RSTn: no length
    if (marker == 0x00) return bad("stuffed byte ff 00" + where + " outside a scan");
    if (marker == 0xD8) return bad("second start of image" + where);
    if (marker == 0xD9) return bad("end of image" + where + " before a frame header");
    if (marker == 0xDA) return bad("scan" + where + " before a frame header");
    if (n - i < 2) return cut(at);
    const uint32_t length = be16(d + i);  // counts itself, not the marker
    if (length < 2) {
      return bad("segment " + hex_byte(marker) + where + " has length " + std::to_string(length));
    }
    if (is_jpeg_frame_header(marker)) {
      // length(2) precision(1) height(2) width(2) components(1) ...
      if (length < 8) {
        return bad("frame header " + hex_byte(marker) + where + " has length " +
                   std::to_string(length));
      }
      if (n - i < 7) return cut(at);
      return dimensions("JPEG", kJpeg, be16(d + i + 5), be16(d + i + 3));
    }
    if (n - i < length) return cut(at);
    i += length;
  }
}

Result<ImageInfo> sniff_riff(const uint8_t* d, size_t n) {
  if (n < 12) return truncated("WebP", kRiffHeader, n);
  if (std::memcmp(d + 8, "WEBP", 4) != 0) {
    return reason("is a RIFF file of form " + fourcc(d + 8) + ", not a WebP image");
  }
  if (n < kRiffHeader) return truncated("WebP", kRiffHeader, n);
  const uint8_t* chunk = d + 12;
  const uint8_t* payload = d + 20;
  if (std::memcmp(chunk, "VP8 ", 4) == 0) {
    if (n < kVp8Header) return truncated("WebP", kVp8Header, n);
    if ((payload[0] & 1) != 0)
      return reason("is not a valid WebP (its VP8 frame is not a key frame)");
    if (payload[3] != 0x9d || payload[4] != 0x01 || payload[5] != 0x2a) {
      return reason("is not a valid WebP (VP8 start code is " + hex_bytes(payload + 3, 3) +
                    ", not 9d 01 2a)");
    }
    return dimensions("WebP", kWebp, le16(payload + 6) & 0x3fff, le16(payload + 8) & 0x3fff);
  }
  if (std::memcmp(chunk, "VP8L", 4) == 0) {
    if (n < kVp8lHeader) return truncated("WebP", kVp8lHeader, n);
    if (payload[0] != 0x2f) {
      return reason("is not a valid WebP (VP8L signature is " + hex_byte(payload[0]) +
                    ", not 0x2f)");
    }
    const uint32_t bits = le32(payload + 1);
    if ((bits >> 29) != 0) {
      return reason("is not a valid WebP (VP8L version " + std::to_string(bits >> 29) + ", not 0)");
    }
    return dimensions("WebP", kWebp, (bits & 0x3fff) + 1, ((bits >> 14) & 0x3fff) + 1);
  }
  if (std::memcmp(chunk, "VP8X", 4) == 0) {
    if (n < kVp8xHeader) return truncated("WebP", kVp8xHeader, n);
    return dimensions("WebP", kWebp, le24(payload + 4) + 1, le24(payload + 7) + 1);
  }
  return reason("is not a valid WebP (its first chunk is " + fourcc(chunk) +
                ", not 'VP8 ', 'VP8L' or 'VP8X')");
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

std::string printable(std::string_view s) {
  constexpr size_t kMax = 64;
  std::string out;
  for (size_t i = 0; i < s.size() && i < kMax; ++i) {
    const auto c = static_cast<uint8_t>(s[i]);
    out += (c >= 0x20 && c < 0x7f) ? static_cast<char>(c) : '?';
  }
  if (s.size() > kMax) out += "...";
  return out;
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
