#include "core/protocol/ids.h"

namespace chatwire {

namespace {
constexpr char kHex[] = "0123456789abcdef";
}

std::string uuid_v4(Entropy& entropy) {
  uint8_t b[16];
  entropy.fill(b, sizeof b);
  b[6] = static_cast<uint8_t>((b[6] & 0x0f) | 0x40);  // version 4
  b[8] = static_cast<uint8_t>((b[8] & 0x3f) | 0x80);  // RFC 4122 variant
  std::string out;
  out.reserve(36);
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out.push_back('-');
    out.push_back(kHex[b[i] >> 4]);
    out.push_back(kHex[b[i] & 15]);
  }
  return out;
}

bool is_uuid(std::string_view t) {
  if (t.size() != 36) return false;
  for (size_t i = 0; i < 36; ++i) {
    const char c = t[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != '-') return false;
    } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) {
      return false;
    }
  }
  return true;
}

double random_unit(Entropy& entropy) {
  uint8_t b[8];
  entropy.fill(b, sizeof b);
  uint64_t v = 0;
  for (uint8_t x : b) v = (v << 8) | x;
  return static_cast<double>(v >> 11) * (1.0 / 9007199254740992.0);  // 53 bits
}

std::string random_hex(Entropy& entropy, size_t n) {
  std::string bytes(n, '\0');
  entropy.fill(reinterpret_cast<uint8_t*>(bytes.data()), n);
  std::string out;
  out.reserve(n * 2);
  for (unsigned char c : bytes) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  return out;
}

}  // namespace chatwire
