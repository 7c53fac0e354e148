// The smallest files media::sniff_image accepts, for tests and fuzz targets
// that need an image of a given size but not its pixels: every structure the
// sniffer walks is complete and correct (CRCs included); the pixel data is a
// stub, so a real decoder would refuse them.
#ifndef CHATWIRE_TESTS_CPP_MINIMAL_IMAGES_H_
#define CHATWIRE_TESTS_CPP_MINIMAL_IMAGES_H_

#include <cstddef>
#include <cstdint>
#include <string>

namespace chatwire::test_images {

inline void put_be32(std::string& s, uint32_t v) {
  for (int k = 3; k >= 0; --k) s.push_back(static_cast<char>((v >> (8 * k)) & 0xff));
}

inline uint32_t png_crc(const std::string& s, size_t from) {
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = from; i < s.size(); ++i) {
    c ^= static_cast<uint8_t>(s[i]);
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1)));
  }
  return ~c;
}

inline void png_chunk(std::string& s, const char* type, const std::string& payload) {
  put_be32(s, static_cast<uint32_t>(payload.size()));
  const size_t from = s.size();
  s += std::string(type, 4) + payload;
  put_be32(s, png_crc(s, from));
}

// Signature, IHDR (8-bit RGBA), an empty IDAT, IEND.
inline std::string minimal_png(uint32_t w, uint32_t h) {
  std::string s("\x89PNG\r\n\x1a\n", 8);
  std::string ihdr;
  put_be32(ihdr, w);
  put_be32(ihdr, h);
  ihdr += std::string("\x08\x06\x00\x00\x00", 5);
  png_chunk(s, "IHDR", ihdr);
  png_chunk(s, "IDAT", "");
  png_chunk(s, "IEND", "");
  return s;
}

// GIF89a, a w x h logical screen, one w x h image (two bytes of LZW data), the trailer.
inline std::string minimal_gif(uint16_t w, uint16_t h) {
  const auto le16 = [](uint16_t v) {
    return std::string{static_cast<char>(v & 0xff), static_cast<char>(v >> 8)};
  };
  std::string s = "GIF89a" + le16(w) + le16(h) + std::string(3, '\0');
  s += "\x2c" + le16(0) + le16(0) + le16(w) + le16(h) + std::string(1, '\0');
  s += std::string("\x02\x02\x4c\x01\x00\x3b", 6);
  return s;
}

}  // namespace chatwire::test_images

#endif  // CHATWIRE_TESTS_CPP_MINIMAL_IMAGES_H_
