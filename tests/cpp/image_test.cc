// Image sniffing and the per-image check: every entry of
// tests/fixtures/images/manifest.json (the expectations the JS suites share),
// every truncation of every valid fixture, limits at and past their
// boundaries, and hand-made headers for the corners no encoder writes.
#include "core/media/image.h"

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

namespace chatwire::media {
namespace {

using Bytes = std::vector<uint8_t>;
using namespace std::string_view_literals;

const std::string kFixtures = std::string(CHATWIRE_FIXTURES) + "/images/";

Bytes read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot open " << path;
  return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

Bytes bytes_of(std::string_view s) { return Bytes(s.begin(), s.end()); }

Result<ImageInfo> sniff(const Bytes& b) { return sniff_image(b.data(), b.size()); }

bool same(const Result<ImageInfo>& a, const Result<ImageInfo>& b) {
  if (a.ok() != b.ok()) return false;
  if (!a.ok()) return a.error().message == b.error().message;
  return a->mime_type == b->mime_type && a->width == b->width && a->height == b->height;
}

// Sniffs the first `n` bytes of `b` so that reading past them is caught:
// from a heap block of exactly n bytes (a heap overflow under AddressSanitizer)
// and, for builds without it, from two blocks whose bytes after the first n
// are the complement of the file's and zeros: any answer that depends on
// them differs between the three.
Result<ImageInfo> sniff_prefix(const Bytes& b, size_t n) {
  std::unique_ptr<uint8_t[]> exact(n > 0 ? new uint8_t[n] : nullptr);
  if (n > 0) std::memcpy(exact.get(), b.data(), n);
  Result<ImageInfo> r = sniff_image(exact.get(), n);
  Bytes inverted(b.size() + 64, 0);
  Bytes zeros(b.size() + 64, 0);
  for (size_t i = 0; i < inverted.size(); ++i) {
    const uint8_t byte = i < b.size() ? b[i] : 0x5a;
    inverted[i] = i < n ? byte : static_cast<uint8_t>(~byte);
    if (i < n) zeros[i] = byte;
  }
  EXPECT_TRUE(same(r, sniff_image(inverted.data(), n))) << "read past " << n << " bytes";
  EXPECT_TRUE(same(r, sniff_image(zeros.data(), n))) << "read past " << n << " bytes";
  return r;
}

struct Manifest {
  rapidjson::Document doc;
  const rapidjson::Value& images() const { return doc["images"]; }
};

const Manifest& manifest() {
  static const Manifest* m = [] {
    auto* out = new Manifest;
    std::ifstream in(kFixtures + "manifest.json");
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    out->doc.Parse(text.c_str());
    return out;
  }();
  return *m;
}

void expect_info(const Result<ImageInfo>& r, const rapidjson::Value& want,
                 const std::string& what) {
  ASSERT_TRUE(r.ok()) << what << ": " << r.error().message;
  EXPECT_EQ(r->mime_type, want["mimeType"].GetString()) << what;
  EXPECT_EQ(r->width, want["width"].GetUint()) << what;
  EXPECT_EQ(r->height, want["height"].GetUint()) << what;
}

TEST(ImageManifest, IsWellFormedAndListsEveryFixture) {
  const auto& doc = manifest().doc;
  ASSERT_FALSE(doc.HasParseError()) << "manifest.json does not parse";
  ASSERT_TRUE(doc.IsObject() && doc.HasMember("images") && doc["images"].IsArray());
  std::set<std::string> listed;
  for (const auto& e : manifest().images().GetArray()) {
    ASSERT_TRUE(e.HasMember("file") && e.HasMember("declared") && e.HasMember("sniff") &&
                e.HasMember("expect"));
    listed.insert(e["file"].GetString());
  }
  size_t files = 0;
  for (const auto& f : std::filesystem::directory_iterator(kFixtures)) {
    const std::string name = f.path().filename().string();
    if (name == "manifest.json") continue;
    ++files;
    EXPECT_TRUE(listed.count(name)) << name << " is not in manifest.json";
    EXPECT_LT(std::filesystem::file_size(f.path()), 20u * 1024) << name;
  }
  EXPECT_EQ(files, listed.size());
  EXPECT_GE(files, 25u);
}

TEST(ImageManifest, EveryEntrySniffsAndChecksAsExpected) {
  const Limits limits;  // PROTOCOL.md defaults, as the manifest says
  size_t entries = 0;
  for (const auto& e : manifest().images().GetArray()) {
    ++entries;
    const std::string file = e["file"].GetString();
    const std::string declared = e["declared"].GetString();
    const std::string what = file + " declared " + declared;
    const Bytes data = read_file(kFixtures + file);

    const Result<ImageInfo> s = sniff(data);
    if (e["sniff"]["ok"].GetBool()) {
      expect_info(s, e["sniff"], what + " (sniff)");
    } else {
      ASSERT_FALSE(s.ok()) << what << " sniffed as " << s->mime_type;
      EXPECT_EQ(s.error().code, ErrorCode::image_invalid);
      EXPECT_EQ(s.error().message.rfind("image ", 0), 0u) << s.error().message;
    }

    const Result<ImageInfo> c = check_image(data.data(), data.size(), declared, limits, 2, "img-1");
    const auto& expect = e["expect"];
    if (expect["ok"].GetBool()) {
      expect_info(c, expect, what);
      continue;
    }
    ASSERT_FALSE(c.ok()) << what << " accepted";
    const Error& err = c.error();
    EXPECT_STREQ(error_code_name(err.code), expect["code"].GetString()) << what;
    EXPECT_EQ(err.image_id, "img-1");
    EXPECT_EQ(err.message.rfind("image 2 (img-1) ", 0), 0u) << err.message;
    if (expect.HasMember("messageContains")) {
      EXPECT_NE(err.message.find(expect["messageContains"].GetString()), std::string::npos)
          << what << ": \"" << err.message << "\"";
    }
  }
  EXPECT_GE(entries, 30u);
}

// Every valid fixture cut at every length: never a read past the end, never
// a wrong answer. Once the header is complete the answer is the full file's,
// and it stays so for every longer prefix.
TEST(ImageTruncation, EveryPrefixOfEveryValidFixture) {
  std::set<std::string> done;
  size_t prefixes = 0;
  for (const auto& e : manifest().images().GetArray()) {
    const std::string file = e["file"].GetString();
    if (!e["sniff"]["ok"].GetBool() || !done.insert(file).second) continue;
    const Bytes data = read_file(kFixtures + file);
    const Result<ImageInfo> full = sniff(data);
    ASSERT_TRUE(full.ok()) << file;
    size_t first_ok = data.size() + 1;
    for (size_t n = 0; n <= data.size(); ++n, ++prefixes) {
      const Result<ImageInfo> r = sniff_prefix(data, n);
      if (!r.ok()) {
        ASSERT_EQ(first_ok, data.size() + 1) << file << ": ok at " << first_ok << ", not at " << n;
        EXPECT_EQ(r.error().code, ErrorCode::image_invalid);
        continue;
      }
      if (first_ok > n) first_ok = n;
      ASSERT_EQ(r->mime_type, full->mime_type) << file << " cut at " << n;
      ASSERT_EQ(r->width, full->width) << file << " cut at " << n;
      ASSERT_EQ(r->height, full->height) << file << " cut at " << n;
    }
    // Where the walk ends, per format: the shortest prefix that answers.
    const std::string& mime = full->mime_type;
    ASSERT_GE(first_ok, 4u) << file;
    if (mime == "image/png") {
      EXPECT_EQ(std::string(data.begin() + first_ok - 4, data.begin() + first_ok), "IDAT") << file;
    }
    if (mime == "image/gif") EXPECT_EQ(data[first_ok - 1], 0x3B) << file << ": not the trailer";
    if (mime == "image/webp") {
      const size_t riff = data[4] | (data[5] << 8) | (data[6] << 16) | (size_t{data[7]} << 24);
      EXPECT_EQ(first_ok, riff + 8) << file;
    }
    if (mime == "image/jpeg") {
      // The scan header (ff da, length, ...) is the last thing read.
      size_t sos = 0;
      for (size_t i = 2; i + 3 < data.size(); ++i) {
        if (data[i] == 0xFF && data[i + 1] == 0xDA) {
          sos = i;
          break;
        }
      }
      EXPECT_EQ(first_ok, sos + 2 + ((data[sos + 2] << 8) | data[sos + 3])) << file;
    }
  }
  EXPECT_GE(done.size(), 15u);
  EXPECT_GT(prefixes, 5500u);  // 5931 with the current fixtures
}

TEST(ImageLimits, BytesAtAndJustPastTheLimit) {
  const Bytes data = read_file(kFixtures + "png_rgb_4x3.png");
  Limits limits;
  limits.max_image_bytes = data.size();
  EXPECT_TRUE(check_image(data.data(), data.size(), "image/png", limits, 1, "a").ok());
  limits.max_image_bytes = data.size() - 1;
  const Result<ImageInfo> r = check_image(data.data(), data.size(), "image/png", limits, 1, "a");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::too_large);
  EXPECT_EQ(r.error().message, "image 1 (a) is " + std::to_string(data.size()) +
                                   " bytes, over the limit of " + std::to_string(data.size() - 1) +
                                   " bytes");
  EXPECT_EQ(r.error().image_id, "a");
}

TEST(ImageLimits, SizeIsCheckedBeforeAnythingElse) {
  Limits limits;
  limits.max_image_bytes = 3;
  const Bytes junk = bytes_of("not an image at all"sv);
  const Result<ImageInfo> r = check_image(junk.data(), junk.size(), "image/bmp", limits, 1, "");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::too_large);
}

TEST(ImageLimits, DimensionsAtAndJustPastTheLimit) {
  struct Case {
    const char* file;
    const char* mime;
    uint32_t big;  // the larger side
  };
  for (const Case& c : {Case{"webp_lossy_300x200.webp", "image/webp", 300},
                        Case{"webp_lossless_23x300.webp", "image/webp", 300},
                        Case{"png_palette_300x2.png", "image/png", 300},
                        Case{"jpeg_progressive_40x30.jpg", "image/jpeg", 40},
                        Case{"gif89a_6x10.gif", "image/gif", 10}}) {
    const Bytes data = read_file(kFixtures + c.file);
    Limits limits;
    limits.max_image_dimension = c.big;
    const Result<ImageInfo> at = check_image(data.data(), data.size(), c.mime, limits, 1, "");
    EXPECT_TRUE(at.ok()) << c.file << ": " << at.error().message;
    limits.max_image_dimension = c.big - 1;
    const Result<ImageInfo> past = check_image(data.data(), data.size(), c.mime, limits, 1, "");
    ASSERT_FALSE(past.ok()) << c.file;
    EXPECT_EQ(past.error().code, ErrorCode::image_invalid);
    EXPECT_NE(past.error().message.find("over the limit of " + std::to_string(c.big - 1) + "x" +
                                        std::to_string(c.big - 1)),
              std::string::npos)
        << past.error().message;
  }
}

TEST(ImageCheck, MessagesNameTheImageByIndexAndId) {
  const Bytes gif = read_file(kFixtures + "gif89a_6x10.gif");
  const Limits limits;
  Result<ImageInfo> r = check_image(gif.data(), gif.size(), "image/png", limits, 2, "");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "image 2 is image/gif but was declared image/png");
  EXPECT_EQ(r.error().image_id, "");
  r = check_image(gif.data(), gif.size(), "image/png", limits, 2, "5b1c");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "image 2 (5b1c) is image/gif but was declared image/png");
  EXPECT_EQ(r.error().image_id, "5b1c");
  EXPECT_EQ(r.error().message_id, "");
  r = check_image(nullptr, 0, "image/gif", limits, 1, "x");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "image 1 (x) is empty (0 bytes)");
}

TEST(ImageCheck, DeclaredTypeMustBeSupportedAndExact) {
  const Bytes png = read_file(kFixtures + "png_rgb_4x3.png");
  const Limits limits;
  for (const char* mime :
       {"image/jpg", "IMAGE/PNG", "image/png ", "", "image/svg+xml", "application/octet-stream"}) {
    const Result<ImageInfo> r = check_image(png.data(), png.size(), mime, limits, 1, "");
    ASSERT_FALSE(r.ok()) << mime;
    EXPECT_EQ(r.error().code, ErrorCode::image_invalid);
    EXPECT_NE(r.error().message.find("which is not one of image/png, image/jpeg, image/gif, "
                                     "image/webp"),
              std::string::npos);
  }
  const Result<ImageInfo> ok = check_image(png.data(), png.size(), "image/png", limits, 1, "");
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->width, 4u);
}

TEST(ImageCheck, SupportedMimeTypes) {
  for (const char* m : {"image/png", "image/jpeg", "image/gif", "image/webp"}) {
    EXPECT_TRUE(is_supported_mime(m)) << m;
  }
  for (const char* m : {"image/jpg", "image/PNG", "image/bmp", "image/heic", "image", ""}) {
    EXPECT_FALSE(is_supported_mime(m)) << m;
  }
}

// --- hand-made files -----------------------------------------------------------
// Each builder writes the smallest complete structure the walk accepts, so a
// test changes one thing and sees the refusal that one thing causes.

void put_be32(Bytes& b, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<uint8_t>(v >> s));
}
void put_le16(Bytes& b, uint32_t v) {
  b.push_back(static_cast<uint8_t>(v));
  b.push_back(static_cast<uint8_t>(v >> 8));
}
void put_le24(Bytes& b, uint32_t v) {
  put_le16(b, v);
  b.push_back(static_cast<uint8_t>(v >> 16));
}
void put_le32(Bytes& b, uint32_t v) {
  put_le16(b, v);
  put_le16(b, v >> 16);
}
void append(Bytes& b, const Bytes& more) { b.insert(b.end(), more.begin(), more.end()); }
Bytes operator+(Bytes a, const Bytes& b) {
  append(a, b);
  return a;
}


// Bit-at-a-time CRC-32, an oracle independent of the sniffer's table.
uint32_t crc_of(const uint8_t* p, size_t n) {
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; ++i) {
    c ^= p[i];
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1)));
  }
  return ~c;
}

Bytes png_chunk(const char* type, const Bytes& payload, bool good_crc = true) {
  Bytes b;
  put_be32(b, static_cast<uint32_t>(payload.size()));
  b.insert(b.end(), type, type + 4);
  append(b, payload);
  const uint32_t crc = crc_of(b.data() + 4, b.size() - 4);
  put_be32(b, good_crc ? crc : crc ^ 1);
  return b;
}

Bytes ihdr(uint32_t w, uint32_t h, uint8_t depth = 8, uint8_t colour = 2, uint8_t interlace = 0) {
  Bytes p;
  put_be32(p, w);
  put_be32(p, h);
  p.insert(p.end(), {depth, colour, 0, 0, interlace});
  return p;
}

const Bytes kPngSig = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

// Signature, IHDR, `middle` (whole chunks), then an IDAT chunk header: the
// IDAT's data is never read, so none is written.
Bytes png(const Bytes& ihdr_payload, const Bytes& middle = {}) {
  Bytes b = kPngSig;
  append(b, png_chunk("IHDR", ihdr_payload));
  append(b, middle);
  put_be32(b, 100);
  b.insert(b.end(), {'I', 'D', 'A', 'T'});
  return b;
}

void expect_sniff(const Bytes& b, const char* mime, uint32_t w, uint32_t h) {
  const Result<ImageInfo> r = sniff(b);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->mime_type, mime);
  EXPECT_EQ(r->width, w);
  EXPECT_EQ(r->height, h);
}

void expect_invalid(const Bytes& b, const std::string& part) {
  const Result<ImageInfo> r = sniff(b);
  ASSERT_FALSE(r.ok()) << "accepted as " << r->mime_type << " " << r->width << "x" << r->height;
  EXPECT_EQ(r.error().code, ErrorCode::image_invalid);
  EXPECT_NE(r.error().message.find(part), std::string::npos)
      << "\"" << r.error().message << "\" lacks \"" << part << "\"";
}

TEST(ImageSniff, Png) {
  expect_sniff(png(ihdr(1, 1)), "image/png", 1, 1);
  expect_sniff(png(ihdr(0x7fffffff, 65536)), "image/png", 0x7fffffff, 65536);
  expect_invalid(png(ihdr(0x80000000, 1)), "IHDR says 2147483648x1, over 2^31-1");
  expect_invalid(png(ihdr(0, 5)), "is a PNG with zero width");
  expect_invalid(png(ihdr(5, 0)), "is a PNG with zero height");
  Bytes cgbi = kPngSig;
  append(cgbi, png_chunk("CgBI", {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}));
  expect_invalid(cgbi, "first chunk is 'CgBI', not 'IHDR'");
  Bytes long_ihdr = kPngSig;
  append(long_ihdr, png_chunk("IHDR", ihdr(5, 5) + Bytes{0}));
  expect_invalid(long_ihdr, "IHDR chunk is 14 bytes long, not 13");
  expect_invalid(bytes_of("\x89PN"sv),
                 "image is a truncated PNG (33 bytes needed for the header, 3 given)");
  expect_invalid(bytes_of("\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR\0\0"sv), "is a truncated PNG");
}

TEST(ImageSniff, PngIhdrFields) {
  for (const auto& [depth, colour] : std::vector<std::pair<uint8_t, uint8_t>>{
           {1, 0}, {16, 0}, {8, 2}, {16, 2}, {1, 3}, {8, 3}, {8, 4}, {16, 4}, {8, 6}, {16, 6}}) {
    const Bytes plte = colour == 3 ? png_chunk("PLTE", {0, 0, 0}) : Bytes{};
    expect_sniff(png(ihdr(3, 2, depth, colour), plte), "image/png", 3, 2);
  }
  expect_invalid(png(ihdr(3, 2, 8, 5)), "colour type 5 in IHDR, not 0, 2, 3, 4 or 6");
  expect_invalid(png(ihdr(3, 2, 4, 2)), "bit depth 4 for colour type 2, which allows 8, 16");
  expect_invalid(png(ihdr(3, 2, 16, 3), png_chunk("PLTE", {0, 0, 0})),
                 "bit depth 16 for colour type 3, which allows 1, 2, 4, 8");
  expect_invalid(png(ihdr(3, 2, 8, 2, 2)), "interlace 2; only 0, 0, 0 or 1 exist");
  expect_sniff(png(ihdr(3, 2, 8, 2, 1)), "image/png", 3, 2);  // Adam7
  Bytes bad_crc = kPngSig;
  append(bad_crc, png_chunk("IHDR", ihdr(3, 2), false));
  put_be32(bad_crc, 0);
  bad_crc.insert(bad_crc.end(), {'I', 'D', 'A', 'T'});
  expect_invalid(bad_crc, "the IHDR chunk's CRC is");
}

TEST(ImageSniff, PngChunksBeforeIdat) {
  // Ancillary chunks of any kind are skipped, their CRCs checked.
  Bytes middle = png_chunk("tEXt", bytes_of("Comment\0hi"sv));
  append(middle, png_chunk("gAMA", {0, 0, 0xb1, 0x8f}));
  append(middle, png_chunk("zzZz", {}));
  expect_sniff(png(ihdr(4, 3), middle), "image/png", 4, 3);
  expect_invalid(png(ihdr(4, 3), png_chunk("tEXt", bytes_of("a\0b"sv), false)),
                 "chunk 'tEXt' at offset 33 has CRC");
  expect_invalid(png(ihdr(4, 3), png_chunk("zzZz", {}, false)), "chunk 'zzZz' at offset 33");
  expect_invalid(png(ihdr(4, 3), png_chunk("IHDR", ihdr(4, 3))),
                 "a second IHDR chunk at offset 33");
  expect_invalid(png(ihdr(4, 3), png_chunk("IEND", {})), "IEND at offset 33 before any IDAT");
  expect_invalid(png(ihdr(4, 3), png_chunk("QQQQ", {})), "unknown critical chunk 'QQQQ'");
  expect_invalid(png(ihdr(4, 3), bytes_of("<script>"sv)), "at offset 33 has type 'ipt>'");
  // PLTE: required before IDAT for a palette image, refused in greyscale, once.
  expect_invalid(png(ihdr(4, 3, 8, 3)), "palette image (colour type 3) with no PLTE");
  expect_invalid(png(ihdr(4, 3, 8, 0), png_chunk("PLTE", {1, 2, 3})), "in a greyscale image");
  Bytes two = png_chunk("PLTE", {1, 2, 3});
  append(two, png_chunk("PLTE", {1, 2, 3}));
  expect_invalid(png(ihdr(4, 3, 8, 3), two), "a second PLTE chunk at offset 48");
  expect_invalid(png(ihdr(4, 3, 8, 3), png_chunk("PLTE", {1, 2})),
                 "PLTE at offset 33 is 2 bytes long, not 3 to 768");
  expect_sniff(png(ihdr(4, 3, 8, 6), png_chunk("PLTE", {1, 2, 3})), "image/png", 4, 3);
  // A length over 2^31-1, and one past the end of the file.
  Bytes huge = png(ihdr(4, 3));
  huge[33] = 0x80;
  expect_invalid(huge, "chunk 'IDAT' at offset 33 is 2147483748 bytes long, over 2^31-1");
  Bytes past = png(ihdr(4, 3), png_chunk("tEXt", bytes_of("a\0b"sv)));
  past[36] = 0x7f;
  expect_invalid(past, "is a truncated PNG (it ends at byte 56, inside chunk 'tEXt' at offset 33)");
  // Cut before the first IDAT's header.
  const Bytes whole = png(ihdr(4, 3));
  expect_invalid(Bytes(whole.begin(), whole.begin() + 40),
                 "is a truncated PNG (it ends at byte 40, before its first IDAT chunk)");
}

// "GIF89a", a logical screen of w x h (no colour table), then `blocks`.
Bytes gif(uint32_t w, uint32_t h, const Bytes& blocks, const char* version = "GIF89a") {
  Bytes b(version, version + 6);
  put_le16(b, w);
  put_le16(b, h);
  b.insert(b.end(), {0, 0, 0});
  append(b, blocks);
  return b;
}

// An image descriptor and one sub-block of LZW data.
Bytes gif_image(uint32_t left, uint32_t top, uint32_t w, uint32_t h, uint8_t flags = 0) {
  Bytes b = {0x2C};
  for (const uint32_t v : {left, top, w, h}) put_le16(b, v);
  b.push_back(flags);
  if (flags & 0x80) b.insert(b.end(), size_t{3} << ((flags & 7) + 1), 0);
  b.insert(b.end(), {2, 2, 0x4c, 0x01, 0});
  return b;
}

const Bytes kGifTrailer = {0x3B};

TEST(ImageSniff, Gif) {
  expect_sniff(gif(1, 65535, gif_image(0, 0, 1, 1) + kGifTrailer, "GIF87a"), "image/gif", 1, 65535);
  expect_sniff(gif(0x1234, 2, gif_image(0, 0, 0x1234, 2) + kGifTrailer), "image/gif", 0x1234, 2);
  // Extensions (graphic control, comment, application) and a local colour table.
  const Bytes gce = {0x21, 0xF9, 4, 1, 0, 0, 0, 0};
  const Bytes comment = {0x21, 0xFE, 3, '<', 'b', '>', 2, 'h', 'i', 0};
  const Bytes netscape = {0x21, 0xFF, 11, 'N', 'E', 'T', 'S', 'C', 'A', 'P', 'E', '2', '.', '0',
                          3, 1, 0, 0, 0};
  expect_sniff(gif(8, 8, netscape + comment + gce + gif_image(2, 2, 6, 6, 0x81) + kGifTrailer),
               "image/gif", 8, 8);
  // A global colour table of 2^(n+1) entries.
  Bytes gct = gif(8, 8, {});
  gct[10] = 0x82;
  append(gct, Bytes(24, 7) + gif_image(0, 0, 8, 8) + kGifTrailer);
  expect_sniff(gct, "image/gif", 8, 8);
  expect_invalid(gif(5, 0, gif_image(0, 0, 1, 1) + kGifTrailer), "is a GIF with zero height");
  expect_invalid(bytes_of("GIF88a\x05\x00\x05\x00\0\0\0"sv), "unknown signature");
  expect_invalid(bytes_of("GIF8"sv), "is a truncated GIF");
  expect_invalid(bytes_of("GIF89a\x05\x00\x05"sv),
                 "is a truncated GIF (13 bytes needed for the header, 9 given)");
}

TEST(ImageSniff, GifBlocks) {
  expect_invalid(gif(1, 1, bytes_of("<html>"sv)),
                 "is not a valid GIF (expected a block (0x21, 0x2c or 0x3b) at offset 13, found "
                 "0x3c)");
  expect_invalid(gif(1, 1, kGifTrailer), "trailer at offset 13 before any image");
  expect_invalid(gif(1, 1, gif_image(0, 0, 1, 1) + bytes_of("<html>"sv)),
                 "expected a block (0x21, 0x2c or 0x3b) at offset 28, found 0x3c");
  expect_invalid(gif(1, 1, gif_image(0, 0, 1, 1)),
                 "is a truncated GIF (it ends at byte 28, before its trailer)");
  expect_invalid(gif(1, 1, {0x21, 0xFE, 9, 'a'}),
                 "is a truncated GIF (it ends at byte 17, inside the extension 0xfe at offset 13)");
  expect_invalid(gif(1, 1, {0x2C, 0, 0, 0, 0, 1}), "inside frame 1 at offset 13");
  Bytes local = gif_image(0, 0, 1, 1, 0x87);  // 256-entry local table, cut inside it
  local.resize(100);
  expect_invalid(gif(1, 1, local), "inside the colour table of frame 1 at offset 13");
  Bytes code = gif_image(0, 0, 1, 1) + kGifTrailer;
  code[10] = 12;
  expect_invalid(gif(1, 1, code), "frame 1 at offset 13 has LZW minimum code size 12, over 11");
  Bytes cut_global = gif(1, 1, {});
  cut_global[10] = 0x87;
  expect_invalid(cut_global, "inside its global colour table");
}

TEST(ImageSniff, GifEveryFrameInsideTheScreen) {
  // Issue 14.7: the screen says 8192x8192, the first image 16384x16384.
  expect_invalid(gif(8192, 8192, gif_image(0, 0, 16384, 16384) + kGifTrailer),
                 "frame 1 at offset 13 is 16384x16384 at (0,0), outside the 8192x8192 logical "
                 "screen");
  expect_invalid(gif(8192, 8192, gif_image(0, 0, 65535, 65535) + kGifTrailer), "65535x65535");
  // At the edge, and one past it through the offset, in each direction.
  expect_sniff(gif(10, 6, gif_image(4, 2, 6, 4) + kGifTrailer), "image/gif", 10, 6);
  expect_invalid(gif(10, 6, gif_image(5, 2, 6, 4) + kGifTrailer), "6x4 at (5,2), outside the 10x6");
  expect_invalid(gif(10, 6, gif_image(4, 3, 6, 4) + kGifTrailer), "6x4 at (4,3), outside the 10x6");
  expect_invalid(gif(10, 6, gif_image(65535, 0, 1, 1) + kGifTrailer), "at (65535,0)");
  // Every frame, not only the first.
  const Bytes ok_frame = gif_image(0, 0, 10, 6);
  expect_sniff(gif(10, 6, ok_frame + ok_frame + ok_frame + kGifTrailer), "image/gif", 10, 6);
  expect_invalid(gif(10, 6, ok_frame + ok_frame + gif_image(0, 0, 11, 6) + kGifTrailer),
                 "frame 3 at offset 43 is 11x6");
  // check_image then applies the dimension limit to the screen, which holds every frame.
  const Bytes big = gif(8193, 10, gif_image(0, 0, 8193, 10) + kGifTrailer);
  const Result<ImageInfo> r = check_image(big.data(), big.size(), "image/gif", Limits{}, 1, "");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "image 1 is 8193x10 pixels, over the limit of 8192x8192");
}

// "RIFF" <size of what follows> "WEBP" and the chunks (each padded to even).
Bytes riff(std::initializer_list<Bytes> chunks) {
  Bytes body = bytes_of("WEBP"sv);
  for (const Bytes& c : chunks) append(body, c);
  Bytes b = bytes_of("RIFF"sv);
  put_le32(b, static_cast<uint32_t>(body.size()));
  append(b, body);
  return b;
}

Bytes chunk(const char* type, const Bytes& payload) {
  Bytes b(type, type + 4);
  put_le32(b, static_cast<uint32_t>(payload.size()));
  append(b, payload);
  if (payload.size() & 1) b.push_back(0);
  return b;
}

Bytes webp(const char* type, const Bytes& payload) { return riff({chunk(type, payload)}); }

// A VP8 key frame header of w x h, and a VP8L header.
Bytes vp8(uint32_t w, uint32_t h) {
  Bytes p = {0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a};
  put_le16(p, w);
  put_le16(p, h);
  return chunk("VP8 ", p);
}
Bytes vp8l(uint32_t w, uint32_t h) {
  Bytes p = {0x2f};
  put_le32(p, (w - 1) | ((h - 1) << 14));
  return chunk("VP8L", p);
}
Bytes vp8x(uint32_t w, uint32_t h, uint8_t flags = 0) {
  Bytes p = {flags, 0, 0, 0};
  put_le24(p, w - 1);
  put_le24(p, h - 1);
  return chunk("VP8X", p);
}
Bytes anmf(uint32_t x, uint32_t y, uint32_t w, uint32_t h, const Bytes& frame_chunks) {
  Bytes p;
  put_le24(p, x / 2);
  put_le24(p, y / 2);
  put_le24(p, w - 1);
  put_le24(p, h - 1);
  put_le24(p, 100);
  p.push_back(0);
  append(p, frame_chunks);
  return chunk("ANMF", p);
}

TEST(ImageSniff, WebpLossy) {
  // frame tag (key frame), start code, 14-bit sizes whose top 2 bits are scale.
  expect_sniff(webp("VP8 ", {0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0xff, 0xff, 0x01, 0xc0}),
               "image/webp", 0x3fff, 1);
  expect_invalid(webp("VP8 ", {0x11, 0x02, 0x00, 0x9d, 0x01, 0x2a, 5, 0, 5, 0}), "not a key frame");
  expect_invalid(webp("VP8 ", {0x10, 0x02, 0x00, 0x9d, 0x01, 0x2b, 5, 0, 5, 0}),
                 "VP8 start code is 9d 01 2b, not 9d 01 2a");
  expect_invalid(webp("VP8 ", {0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0, 0xc0, 5, 0}),
                 "is a WebP with zero width");
  expect_invalid(webp("VP8 ", {0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 5}),
                 "VP8 chunk at offset 12 is 7 bytes, too short for a frame header");
}

TEST(ImageSniff, WebpLosslessAndExtended) {
  // VP8L: 0x2f, then 14 bits width-1, 14 bits height-1, alpha, 3 bits version.
  const uint32_t bits = (99u) | (49u << 14) | (1u << 28);
  expect_sniff(webp("VP8L", {0x2f, static_cast<uint8_t>(bits), static_cast<uint8_t>(bits >> 8),
                             static_cast<uint8_t>(bits >> 16), static_cast<uint8_t>(bits >> 24)}),
               "image/webp", 100, 50);
  expect_sniff(webp("VP8L", {0x2f, 0xff, 0xff, 0xff, 0x0f}), "image/webp", 16384, 16384);
  expect_invalid(webp("VP8L", {0x2e, 0, 0, 0, 0}), "VP8L signature is 0x2e, not 0x2f");
  expect_invalid(webp("VP8L", {0x2f, 0, 0, 0, 0x20}), "VP8L version 1, not 0");
  expect_invalid(webp("VP8L", {0x2f, 0, 0}), "VP8L chunk at offset 12 is 3 bytes, too short");
  // VP8X: flags, 3 reserved, 24-bit canvas width-1 and height-1, then the bitstream.
  expect_sniff(riff({vp8x(100, 50, 0x10), chunk("ALPH", {0, 1, 2}), vp8l(100, 50)}), "image/webp",
               100, 50);
  expect_sniff(riff({vp8x(0x1f40, 0x3fff), chunk("ICCP", {1, 2}), vp8(0x1f40, 0x3fff),
                     chunk("EXIF", {1})}),
               "image/webp", 0x1f40, 0x3fff);
  expect_invalid(webp("ALPH", {0, 0, 0, 0, 0, 0, 0, 0, 0, 0}),
                 "first chunk is 'ALPH', not 'VP8 ', 'VP8L' or 'VP8X'");
  expect_invalid(bytes_of("RIFF\x10\x00\x00\x00WAVEfmt "sv),
                 "is a RIFF file of form 'WAVE', not a WebP image");
  expect_invalid(bytes_of("RIF"sv), "is a truncated WebP");
  expect_invalid(bytes_of("RIFF\x10\x00\x00\x00WEBPVP8"sv), "is a truncated WebP (20 bytes needed");
  expect_invalid(webp("VP8X", {0, 0, 0, 0, 0, 0, 0, 0, 0}), "its VP8X chunk is 9 bytes, not 10");
  expect_invalid(riff({vp8x(4, 4)}), "a VP8X file with no 'VP8 ' or 'VP8L' bitstream");
}

TEST(ImageSniff, WebpRiffSizeAndLayout) {
  Bytes b = riff({vp8(7, 9)});
  b[4] += 2;  // the RIFF size says 2 bytes more than the file has
  expect_invalid(b, "is a truncated WebP (its RIFF header gives 32 bytes, 30 given)");
  b = riff({vp8(7, 9)});
  b[4] = 3;
  expect_invalid(b, "its RIFF size is 3, too small for a chunk");
  // A chunk running past the RIFF data, and bytes after a simple file's bitstream.
  b = riff({vp8(7, 9)});
  b[16] = 11;
  expect_invalid(b, "chunk 'VP8 ' at offset 12 is 11 bytes, past the end of the RIFF data at 30");
  expect_invalid(riff({vp8(7, 9), chunk("EXIF", {1, 2})}),
                 "10 bytes after its 'VP8 ' chunk inside the RIFF data");
  // Bytes after the RIFF data are not read.
  b = riff({vp8(7, 9)});
  append(b, bytes_of("<script>"sv));
  expect_sniff(b, "image/webp", 7, 9);
}

TEST(ImageSniff, WebpBitstreamAndFramesMatchTheCanvas) {
  expect_invalid(riff({vp8x(8192, 8192), vp8(16383, 16383)}),
                 "its bitstream at offset 30 is 16383x16383, not the 8192x8192 canvas");
  expect_invalid(riff({vp8x(64, 48), vp8l(32, 24)}), "is 32x24, not the 64x48 canvas");
  // Animation: every ANMF frame inside the canvas, its bitstream the frame's size.
  const Bytes anim = chunk("ANIM", {0, 0, 0, 0, 0, 0});
  expect_sniff(riff({vp8x(20, 10, 0x02), anim, anmf(0, 0, 20, 10, vp8(20, 10)),
                     anmf(10, 4, 10, 6, chunk("ALPH", {1}) + vp8l(10, 6))}),
               "image/webp", 20, 10);
  expect_invalid(riff({vp8x(20, 10, 0x02), anim, anmf(0, 0, 20, 10, vp8(20, 10)),
                       anmf(12, 4, 10, 6, vp8l(10, 6))}),
                 "frame 2 at offset 86 is 10x6 at (12,4), outside the 20x10 canvas");
  expect_invalid(riff({vp8x(20, 10, 0x02), anmf(0, 0, 20, 10, vp8(16383, 16383))}),
                 "is 16383x16383, not the frame's 20x10");
  expect_invalid(riff({vp8x(20, 10, 0x02), anmf(0, 0, 20, 10, chunk("ALPH", {1}))}),
                 "frame 1 at offset 30 has no 'VP8 ' or 'VP8L' bitstream");
  expect_invalid(riff({vp8x(20, 10, 0x02), anim}), "an animation with no ANMF frame");
  expect_invalid(riff({vp8x(20, 10, 0x02), vp8(20, 10)}), "an animation with a bare 'VP8 ' chunk");
  expect_invalid(riff({vp8x(20, 10), anmf(0, 0, 20, 10, vp8(20, 10))}),
                 "an ANMF frame at offset 30 in a still image");
}

Bytes jpeg(std::initializer_list<Bytes> segments) {
  Bytes b = {0xFF, 0xD8};
  for (const Bytes& s : segments) b.insert(b.end(), s.begin(), s.end());
  return b;
}

Bytes segment(uint8_t marker, Bytes body) {
  const size_t len = body.size() + 2;
  Bytes b = {0xFF, marker, static_cast<uint8_t>(len >> 8), static_cast<uint8_t>(len)};
  b.insert(b.end(), body.begin(), body.end());
  return b;
}

Bytes sof(uint8_t marker, uint16_t w, uint16_t h) {
  return segment(marker, {8, static_cast<uint8_t>(h >> 8), static_cast<uint8_t>(h),
                          static_cast<uint8_t>(w >> 8), static_cast<uint8_t>(w), 1, 1, 0x11, 0});
}

// A one-component scan header, and the entropy-coded bytes after it.
const Bytes kSos = segment(0xDA, {1, 1, 0, 0, 63, 0}) + Bytes{0x12, 0x34, 0xFF, 0xD9};

TEST(ImageSniff, JpegSkipsDhtJpgDacAndFindsEveryFrameHeaderType) {
  const Bytes dht = segment(0xC4, {0, 1, 2, 3});
  const Bytes jpg = segment(0xC8, {0});
  const Bytes dac = segment(0xCC, {0x00, 0x10});
  expect_sniff(jpeg({dht, jpg, dac, sof(0xC0, 640, 480), kSos}), "image/jpeg", 640, 480);
  for (int m = 0xC0; m <= 0xCF; ++m) {
    if (m == 0xC4 || m == 0xC8 || m == 0xCC) continue;
    expect_sniff(
        jpeg({segment(0xE0, {'J', 'F', 'I', 'F', 0}), sof(static_cast<uint8_t>(m), 3, 65535), kSos}),
        "image/jpeg", 3, 65535);
  }
  // Standalone markers (RSTn, TEM) and fill bytes between segments.
  expect_sniff(jpeg({{0xFF, 0xD0}, {0xFF, 0x01}, {0xFF, 0xFF, 0xFF}, sof(0xC2, 7, 9), kSos}),
               "image/jpeg", 7, 9);
  // A COM segment holding ff c0 is skipped as a whole, not read as a frame.
  expect_sniff(jpeg({segment(0xFE, {0xFF, 0xC0, 0, 11, 8, 0, 1, 0, 1}), sof(0xC0, 2, 4), kSos}),
               "image/jpeg", 2, 4);
  // Tables between the frame header and the scan.
  expect_sniff(jpeg({sof(0xC0, 2, 4), dht, segment(0xDB, {0, 1}), segment(0xDD, {0, 4}), kSos}),
               "image/jpeg", 2, 4);
}

TEST(ImageSniff, JpegRefusals) {
  expect_invalid(jpeg({sof(0xC0, 640, 0)}), "is a JPEG with zero height");
  expect_invalid(jpeg({sof(0xC1, 0, 4)}), "is a JPEG with zero width");
  expect_invalid(jpeg({segment(0xDB, {1, 2}), {0xFF, 0xDA, 0, 2}}),
                 "scan at offset 8 before a frame header");
  expect_invalid(jpeg({{0xFF, 0xD9}}), "end of image at offset 2 before a frame header");
  expect_invalid(jpeg({{0xFF, 0xD8}}), "second start of image at offset 2");
  expect_invalid(jpeg({{0xFF, 0x00}}), "stuffed byte ff 00 at offset 2 outside a scan");
  expect_invalid(jpeg({{0xFF, 0xE0, 0x00, 0x01}}), "segment 0xe0 at offset 2 has length 1");
  expect_invalid(jpeg({{0xFF, 0xC0, 0x00, 0x05, 8, 0, 1}}),
                 "frame header 0xc0 at offset 2 has length 5");
  expect_invalid(jpeg({segment(0xE1, {1}), {0x12, 0xFF, 0xC0}}),
                 "expected a marker at offset 7, found 0x12");
  expect_invalid(jpeg({{0xFF, 0xE1, 0xFF, 0xFF, 0, 0, 0}}), "is a truncated JPEG");
  expect_invalid(bytes_of("\xff\xd8\xff"sv), "is a truncated JPEG");
  expect_invalid(bytes_of("\xff\xd8\xff\xff\xff"sv), "is a truncated JPEG");
  expect_invalid(bytes_of("\xff"sv), "is a truncated JPEG");
  expect_invalid(bytes_of("\xff\xd8"sv), "is a truncated JPEG");
}

TEST(ImageSniff, JpegFrameHeaderToScan) {
  // HTML after the SOI: '<' is a reserved marker.
  expect_invalid(bytes_of("\xff\xd8\xff<html>"sv), "reserved marker 0x3c at offset 2");
  expect_invalid(jpeg({{0xFF, 0x02, 0, 2}}), "reserved marker 0x02");
  expect_invalid(jpeg({{0xFF, 0xBF, 0, 2}}), "reserved marker 0xbf");
  // The frame header: its length must hold its components.
  expect_invalid(jpeg({segment(0xC0, {8, 0, 4, 0, 2, 2, 1, 0x11, 0}), kSos}),
                 "frame header 0xc0 at offset 2 has length 11 for 2 components");
  expect_invalid(jpeg({segment(0xC0, {8, 0, 4, 0, 2, 0}), kSos}), "for 0 components");
  // One frame header; then a scan, not the end of the image.
  expect_invalid(jpeg({sof(0xC0, 2, 4), sof(0xC2, 2, 4), kSos}),
                 "second frame header 0xc2 at offset 15");
  expect_invalid(jpeg({sof(0xC0, 2, 4), {0xFF, 0xD9}}), "end of image at offset 15 before its first scan");
  expect_invalid(jpeg({sof(0xC0, 2, 4), bytes_of("<html>"sv)}),
                 "expected a marker at offset 15, found 0x3c");
  // The scan header: 1 to 4 components, length 6 + 2 each, all present.
  expect_invalid(jpeg({sof(0xC0, 2, 4), segment(0xDA, {0, 0, 63, 0})}),
                 "scan header at offset 15 has length 6 for 0 components");
  expect_invalid(jpeg({sof(0xC0, 2, 4), segment(0xDA, {2, 1, 0, 0, 63, 0})}),
                 "has length 8 for 2 components");
  const Bytes whole = jpeg({sof(0xC0, 2, 4), kSos});
  expect_invalid(Bytes(whole.begin(), whole.begin() + 22),
                 "is a truncated JPEG (it ends at byte 22, inside the segment that starts at "
                 "offset 15, before its first scan)");
  expect_invalid(Bytes(whole.begin(), whole.begin() + 15),
                 "is a truncated JPEG (it ends at byte 15, before its first scan)");
}

TEST(ImageSniff, UnknownSignatures) {
  expect_invalid({}, "image is empty (0 bytes)");
  EXPECT_FALSE(sniff_image(nullptr, 0).ok());
  expect_invalid(bytes_of("BM\x3a\0\0\0"sv),
                 "has an unknown signature (first bytes 42 4d 3a 00 00 00)");
  expect_invalid(bytes_of("II*\0\x08\0\0\0xxxx"sv), "first bytes 49 49 2a 00 08 00 00 00);");
  expect_invalid(bytes_of(std::string("\0\0\0\x18"
                                      "ftypheic",
                                      12)),
                 "unknown signature");
  expect_invalid(bytes_of("<svg xmlns="sv), "expected PNG, JPEG, GIF or WebP");
  expect_invalid(bytes_of("\x89PNX"sv), "unknown signature");
  expect_invalid(bytes_of("\xff\xd9"sv), "unknown signature");
}

TEST(ImageSniff, WhatFollowsACompleteImageIsNotRead) {
  // A PNG (through its first IDAT header) followed by a GIF and a JPEG: the PNG.
  const Bytes g = gif(1, 1, gif_image(0, 0, 1, 1) + kGifTrailer);
  const Bytes j = jpeg({sof(0xC0, 9, 9), kSos});
  expect_sniff(png(ihdr(4, 3)) + g + j, "image/png", 4, 3);
  // A GIF through its trailer followed by a PNG: the GIF, and declaring the
  // PNG does not make it one.
  const Bytes gp = g + png(ihdr(100, 100));
  expect_sniff(gp, "image/gif", 1, 1);
  const Result<ImageInfo> r = check_image(gp.data(), gp.size(), "image/png", Limits{}, 1, "");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "image 1 is image/gif but was declared image/png");
  // A JPEG through its scan header, then anything.
  expect_sniff(j + bytes_of("<html>"sv), "image/jpeg", 9, 9);
  // Leading junk before a real signature is not looked through.
  expect_invalid(bytes_of("xx"sv) + png(ihdr(100, 100)), "unknown signature");
}

}  // namespace
}  // namespace chatwire::media
