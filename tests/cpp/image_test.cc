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
    // Where the header ends, per format: the shortest prefix that answers.
    const std::string& mime = full->mime_type;
    if (mime == "image/png") EXPECT_EQ(first_ok, 24u) << file;
    if (mime == "image/gif") EXPECT_EQ(first_ok, 10u) << file;
    if (mime == "image/webp") {
      const std::string chunk(data.begin() + 12, data.begin() + 16);
      EXPECT_EQ(first_ok, chunk == "VP8L" ? 25u : 30u) << file;
    }
    if (mime == "image/jpeg") {
      // The frame header's width ends 9 bytes after its marker's ff.
      size_t sof = 0;
      for (size_t i = 2; i + 1 < data.size(); ++i) {
        if (data[i] == 0xFF && (data[i + 1] == 0xC0 || data[i + 1] == 0xC2)) {
          sof = i;
          break;
        }
      }
      EXPECT_EQ(first_ok, sof + 9) << file;
    }
  }
  EXPECT_GE(done.size(), 15u);
  EXPECT_GT(prefixes, 4000u);  // 4747 with the current fixtures
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

// --- hand-made headers -------------------------------------------------------

Bytes png_header(uint32_t w, uint32_t h, const char* type = "IHDR", uint32_t len = 13) {
  Bytes b = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  for (const uint32_t v : {len}) {
    for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<uint8_t>(v >> s));
  }
  b.insert(b.end(), type, type + 4);
  for (const uint32_t v : {w, h}) {
    for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<uint8_t>(v >> s));
  }
  b.insert(b.end(), {8, 2, 0, 0, 0});
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
  ASSERT_FALSE(r.ok()) << "accepted as " << r->mime_type;
  EXPECT_EQ(r.error().code, ErrorCode::image_invalid);
  EXPECT_NE(r.error().message.find(part), std::string::npos)
      << "\"" << r.error().message << "\" lacks \"" << part << "\"";
}

TEST(ImageSniff, Png) {
  expect_sniff(png_header(1, 1), "image/png", 1, 1);
  expect_sniff(png_header(0x7fffffff, 65536), "image/png", 0x7fffffff, 65536);
  expect_invalid(png_header(0, 5), "is a PNG with zero width");
  expect_invalid(png_header(5, 0), "is a PNG with zero height");
  expect_invalid(png_header(5, 5, "CgBI"), "first chunk is 'CgBI', not 'IHDR'");
  expect_invalid(png_header(5, 5, "IHDR", 14), "IHDR chunk is 14 bytes long, not 13");
  expect_invalid(bytes_of("\x89PN"sv),
                 "image is a truncated PNG (24 bytes needed for the header, 3 given)");
  expect_invalid(bytes_of("\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR\0\0"sv), "is a truncated PNG");
}

TEST(ImageSniff, Gif) {
  expect_sniff(bytes_of(std::string("GIF87a\x01\x00\xff\xff", 10)), "image/gif", 1, 65535);
  expect_sniff(bytes_of(std::string("GIF89a\x34\x12\x02\x00", 10)), "image/gif", 0x1234, 2);
  expect_invalid(bytes_of(std::string("GIF89a\x05\x00\x00\x00", 10)), "is a GIF with zero height");
  expect_invalid(bytes_of("GIF88a\x05\x00\x05\x00"sv), "unknown signature");
  expect_invalid(bytes_of("GIF8"sv), "is a truncated GIF");
  expect_invalid(bytes_of("GIF89a\x05\x00\x05"sv),
                 "is a truncated GIF (10 bytes needed for the header, 9 given)");
}

Bytes webp(const char* chunk, Bytes payload) {
  Bytes b = bytes_of("RIFF\x00\x00\x00\x00WEBP"sv);
  b[4] = 0x7f;  // the RIFF size is not looked at
  b.insert(b.end(), chunk, chunk + 4);
  b.insert(b.end(), {static_cast<uint8_t>(payload.size()), 0, 0, 0});
  b.insert(b.end(), payload.begin(), payload.end());
  return b;
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
  // VP8X: flags, 3 reserved, 24-bit canvas width-1 and height-1.
  expect_sniff(webp("VP8X", {0x10, 0, 0, 0, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00}), "image/webp",
               1u << 24, 1);
  expect_sniff(webp("VP8X", {0, 0, 0, 0, 0x3f, 0x1f, 0x00, 0x01, 0x02, 0x03}), "image/webp", 0x1f40,
               0x030202);
  expect_invalid(webp("ALPH", {0, 0, 0, 0, 0, 0, 0, 0, 0, 0}),
                 "first chunk is 'ALPH', not 'VP8 ', 'VP8L' or 'VP8X'");
  expect_invalid(bytes_of("RIFF\x10\x00\x00\x00WAVEfmt "sv),
                 "is a RIFF file of form 'WAVE', not a WebP image");
  expect_invalid(bytes_of("RIF"sv), "is a truncated WebP");
  expect_invalid(bytes_of("RIFF\x10\x00\x00\x00WEBPVP8"sv), "is a truncated WebP (20 bytes needed");
  expect_invalid(webp("VP8X", {0, 0, 0, 0, 0, 0, 0, 0, 0}), "is a truncated WebP (30 bytes needed");
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

TEST(ImageSniff, JpegSkipsDhtJpgDacAndFindsEveryFrameHeaderType) {
  const Bytes dht = segment(0xC4, {0, 1, 2, 3});
  const Bytes jpg = segment(0xC8, {0});
  const Bytes dac = segment(0xCC, {0x00, 0x10});
  expect_sniff(jpeg({dht, jpg, dac, sof(0xC0, 640, 480)}), "image/jpeg", 640, 480);
  for (int m = 0xC0; m <= 0xCF; ++m) {
    if (m == 0xC4 || m == 0xC8 || m == 0xCC) continue;
    expect_sniff(
        jpeg({segment(0xE0, {'J', 'F', 'I', 'F', 0}), sof(static_cast<uint8_t>(m), 3, 65535)}),
        "image/jpeg", 3, 65535);
  }
  // Standalone markers (RSTn, TEM) and fill bytes between segments.
  expect_sniff(jpeg({{0xFF, 0xD0}, {0xFF, 0x01}, {0xFF, 0xFF, 0xFF}, sof(0xC2, 7, 9)}),
               "image/jpeg", 7, 9);
  // A COM segment holding ff c0 is skipped as a whole, not read as a frame.
  expect_sniff(jpeg({segment(0xFE, {0xFF, 0xC0, 0, 11, 8, 0, 1, 0, 1}), sof(0xC0, 2, 4)}),
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

TEST(ImageSniff, PolyglotVerdictIsTheLeadingSignature) {
  // A PNG followed by a GIF and a JPEG: still the PNG.
  Bytes b = png_header(4, 3);
  const Bytes gif = bytes_of(std::string("GIF89a\x01\x00\x01\x00", 10));
  b.insert(b.end(), gif.begin(), gif.end());
  const Bytes j = jpeg({sof(0xC0, 9, 9)});
  b.insert(b.end(), j.begin(), j.end());
  expect_sniff(b, "image/png", 4, 3);
  // A GIF header followed by PNG data: the GIF.
  Bytes g = gif;
  const Bytes p = png_header(100, 100);
  g.insert(g.end(), p.begin(), p.end());
  expect_sniff(g, "image/gif", 1, 1);
  const Result<ImageInfo> r = check_image(g.data(), g.size(), "image/png", Limits{}, 1, "");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "image 1 is image/gif but was declared image/png");
  // Leading junk before a real signature is not looked through.
  Bytes junk = bytes_of("xx"sv);
  junk.insert(junk.end(), p.begin(), p.end());
  expect_invalid(junk, "unknown signature");
}

}  // namespace
}  // namespace chatwire::media
