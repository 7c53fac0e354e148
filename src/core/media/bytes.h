// Byte readers and the byte-level text of error messages, shared by the
// media sniffers (image.cc, audio.cc). Every reader takes a pointer the
// caller has already bounds-checked for the width it reads.
#ifndef CHATWIRE_CORE_MEDIA_BYTES_H_
#define CHATWIRE_CORE_MEDIA_BYTES_H_

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace chatwire::media::bytes {

inline uint32_t be16(const uint8_t* p) { return (uint32_t{p[0]} << 8) | p[1]; }
inline uint32_t be32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}
inline uint32_t le16(const uint8_t* p) { return uint32_t{p[0]} | (uint32_t{p[1]} << 8); }
inline uint32_t le24(const uint8_t* p) { return le16(p) | (uint32_t{p[2]} << 16); }
inline uint32_t le32(const uint8_t* p) { return le24(p) | (uint32_t{p[3]} << 24); }
inline uint64_t le64(const uint8_t* p) { return uint64_t{le32(p)} | (uint64_t{le32(p + 4)} << 32); }

inline bool starts_with(const uint8_t* data, size_t n, const void* prefix, size_t len) {
  return n >= len && std::memcmp(data, prefix, len) == 0;
}

// True when all n bytes agree with the start of `sig` (n < len): a cut-off
// signature, reported as "truncated" rather than "unknown".
inline bool is_cut_signature(const uint8_t* data, size_t n, const void* sig, size_t len) {
  return n < len && std::memcmp(data, sig, n) == 0;
}

inline std::string num(uint64_t v) { return std::to_string(v); }

inline std::string hex_byte(uint8_t b) {
  static constexpr char kHex[] = "0123456789abcdef";
  return std::string("0x") + kHex[b >> 4] + kHex[b & 15];
}

// "3c 73 76 67": bytes as a message shows them.
inline std::string hex_bytes(const uint8_t* data, size_t n) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    if (i > 0) out += ' ';
    out += kHex[data[i] >> 4];
    out += kHex[data[i] & 15];
  }
  return out;
}

inline std::string hex32(uint32_t v) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "0x";
  for (int s = 28; s >= 0; s -= 4) out += kHex[(v >> s) & 15];
  return out;
}

// A four-character code for a message: printable ASCII as is, anything else
// as \xNN, in quotes.
inline std::string fourcc(const uint8_t* p) {
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

// A declared name or id for a message: at most 64 characters, anything not
// printable ASCII as '?'.
inline std::string printable(std::string_view s) {
  constexpr size_t kMax = 64;
  std::string out;
  for (size_t i = 0; i < s.size() && i < kMax; ++i) {
    const auto c = static_cast<uint8_t>(s[i]);
    out += (c >= 0x20 && c < 0x7f) ? static_cast<char>(c) : '?';
  }
  if (s.size() > kMax) out += "...";
  return out;
}

}  // namespace chatwire::media::bytes

#endif  // CHATWIRE_CORE_MEDIA_BYTES_H_
