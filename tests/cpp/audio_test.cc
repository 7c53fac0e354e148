// Audio sniffing and the per-message audio check (PROTOCOL.md "Voice"):
// every fixture of tests/fixtures/audio/manifest.json (made by real encoders,
// scripts/make-audio-fixtures.sh) against the duration its tool reports,
// every prefix of every fixture, each declared type, the limits at and past
// their boundaries, and the broken files a hostile or buggy client sends.
#include "core/media/audio.h"

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <set>
#include <string>
#include <vector>

namespace chatwire::media {
namespace {

using Bytes = std::vector<uint8_t>;

const std::string kFixtures = std::string(CHATWIRE_FIXTURES) + "/audio/";
constexpr const char* kTypes[] = {"audio/wav", "audio/ogg", "audio/webm", "audio/mpeg"};

Bytes read_file(const std::string& name) {
  std::ifstream in(kFixtures + name, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot open " << name;
  return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

Result<AudioInfo> sniff(const Bytes& b) { return sniff_audio(b.data(), b.size()); }

std::string message_of(const Result<AudioInfo>& r) { return r.ok() ? "(ok)" : r.error().message; }

bool has(const Result<AudioInfo>& r, const std::string& text) {
  return !r.ok() && r.error().message.find(text) != std::string::npos;
}

// The first `n` bytes in a heap block of exactly n bytes, so a read past them
// is a heap overflow under AddressSanitizer.
Result<AudioInfo> sniff_prefix(const Bytes& b, size_t n) {
  std::unique_ptr<uint8_t[]> exact(n > 0 ? new uint8_t[n] : nullptr);
  if (n > 0) std::memcpy(exact.get(), b.data(), n);
  return sniff_audio(exact.get(), n);
}

struct Fixture {
  std::string file;
  std::string mime;
  std::optional<uint64_t> duration_ms;
};

const std::vector<Fixture>& fixtures() {
  static const std::vector<Fixture>* list = [] {
    auto* out = new std::vector<Fixture>;
    std::ifstream in(kFixtures + "manifest.json");
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    rapidjson::Document doc;
    doc.Parse(text.c_str());
    if (doc.HasParseError() || !doc.HasMember("audio")) return out;
    for (const auto& e : doc["audio"].GetArray()) {
      Fixture f{e["file"].GetString(), e["mimeType"].GetString(), std::nullopt};
      if (e["durationMs"].IsUint64()) f.duration_ms = e["durationMs"].GetUint64();
      out->push_back(f);
    }
    return out;
  }();
  return *list;
}

// Ogg's page CRC (polynomial 0x04c11db7, not reflected), for rewriting pages.
uint32_t ogg_crc(const uint8_t* p, size_t n) {
  uint32_t c = 0;
  for (size_t i = 0; i < n; ++i) {
    c ^= uint32_t{p[i]} << 24;
    for (int k = 0; k < 8; ++k) c = (c & 0x80000000u) ? (c << 1) ^ 0x04c11db7u : c << 1;
  }
  return c;
}

// Offsets of every page of a well-formed Ogg file.
std::vector<size_t> ogg_pages(const Bytes& b) {
  std::vector<size_t> pages;
  for (size_t pos = 0; pos + 27 <= b.size();) {
    pages.push_back(pos);
    size_t len = 27 + b[pos + 26];
    for (size_t i = 0; i < b[pos + 26]; ++i) len += b[pos + 27 + i];
    pos += len;
  }
  return pages;
}

void ogg_fix_crc(Bytes& b, size_t page) {
  size_t len = 27 + b[page + 26];
  for (size_t i = 0; i < b[page + 26]; ++i) len += b[page + 27 + i];
  std::fill(b.begin() + page + 22, b.begin() + page + 26, 0);
  const uint32_t crc = ogg_crc(b.data() + page, len);
  for (int k = 0; k < 4; ++k) b[page + 22 + k] = static_cast<uint8_t>(crc >> (8 * k));
}

size_t find(const Bytes& b, const Bytes& needle) {
  auto it = std::search(b.begin(), b.end(), needle.begin(), needle.end());
  EXPECT_NE(it, b.end()) << "pattern not in the fixture";
  return static_cast<size_t>(it - b.begin());
}

void put_le32(Bytes& b, size_t at, uint32_t v) {
  for (int k = 0; k < 4; ++k) b[at + k] = static_cast<uint8_t>(v >> (8 * k));
}

// A canonical 44-byte PCM WAV header for `data_bytes` of samples.
Bytes wav_header(uint32_t rate, uint16_t channels, uint16_t bits, uint32_t data_bytes) {
  Bytes b(44, 0);
  std::memcpy(b.data(), "RIFF", 4);
  put_le32(b, 4, 36 + data_bytes);
  std::memcpy(b.data() + 8, "WAVEfmt ", 8);
  put_le32(b, 16, 16);
  b[20] = 1;
  b[22] = static_cast<uint8_t>(channels);
  put_le32(b, 24, rate);
  const uint32_t align = channels * (bits / 8);
  put_le32(b, 28, rate * align);
  b[32] = static_cast<uint8_t>(align);
  b[34] = static_cast<uint8_t>(bits);
  std::memcpy(b.data() + 36, "data", 4);
  put_le32(b, 40, data_bytes);
  return b;
}

TEST(AudioManifest, ListsEveryFixture) {
  ASSERT_GE(fixtures().size(), 12u) << "manifest.json missing or short";
  std::set<std::string> listed;
  for (const auto& f : fixtures()) listed.insert(f.file);
  for (const auto& entry : std::filesystem::directory_iterator(kFixtures)) {
    const std::string name = entry.path().filename().string();
    if (name != "manifest.json")
      EXPECT_TRUE(listed.count(name)) << name << " is not in manifest.json";
  }
}

// Each file gives its type, and the duration its encoder's tool reports to
// within 10 ms (MP3 and WebM durations are whole frames and milliseconds).
TEST(AudioSniff, EveryFixtureGivesItsTypeAndDuration) {
  for (const auto& f : fixtures()) {
    Result<AudioInfo> r = sniff(read_file(f.file));
    ASSERT_TRUE(r.ok()) << f.file << ": " << message_of(r);
    EXPECT_EQ(r->mime_type, f.mime) << f.file;
    ASSERT_EQ(r->duration_ms.has_value(), f.duration_ms.has_value()) << f.file;
    if (f.duration_ms) {
      const int64_t diff =
          static_cast<int64_t>(*r->duration_ms) - static_cast<int64_t>(*f.duration_ms);
      EXPECT_LE(std::abs(diff), 10)
          << f.file << ": " << *r->duration_ms << " ms, the tool says " << *f.duration_ms;
    }
  }
}

TEST(AudioCheck, EachFixtureIsAcceptedAsItsTypeAndRefusedAsAnyOther) {
  const Limits limits;
  for (const auto& f : fixtures()) {
    const Bytes b = read_file(f.file);
    for (const char* declared : kTypes) {
      Result<AudioInfo> r = check_audio(b.data(), b.size(), declared, limits, "a-1");
      const bool too_long = f.duration_ms && *f.duration_ms > 300000;
      if (declared != f.mime) {
        ASSERT_FALSE(r.ok()) << f.file << " as " << declared;
        EXPECT_EQ(r.error().code, ErrorCode::invalid_field);
        EXPECT_EQ(r.error().message, "audio (a-1) is " + f.mime + " but was declared " + declared);
      } else if (too_long) {
        ASSERT_FALSE(r.ok()) << f.file;
        EXPECT_EQ(r.error().code, ErrorCode::too_large);
        EXPECT_TRUE(has(r, "ms long, over the limit of 300000 ms")) << message_of(r);
      } else {
        EXPECT_TRUE(r.ok()) << f.file << ": " << message_of(r);
      }
    }
    for (const char* declared : {"audio/mp3", "audio/x-wav", "AUDIO/WAV", "", "image/png"}) {
      Result<AudioInfo> r = check_audio(b.data(), b.size(), declared, limits, "a-1");
      ASSERT_FALSE(r.ok());
      EXPECT_EQ(r.error().code, ErrorCode::invalid_field);
      EXPECT_TRUE(has(r, "which is not one of audio/wav, audio/ogg, audio/webm, audio/mpeg"))
          << message_of(r);
    }
  }
}

// A cut file fails as truncated, or (an Ogg cut at a page boundary, an MP3
// cut after its second frame header, a WebM cut after its first Cluster's
// header) is still that type; never "not valid", never a read past the cut.
TEST(AudioSniff, EveryPrefixOfEveryFixtureIsTruncatedOrTheSameType) {
  for (const auto& f : fixtures()) {
    const Bytes b = read_file(f.file);
    size_t ok = 0;
    for (size_t n = 1; n < b.size(); ++n) {
      Result<AudioInfo> r = sniff_prefix(b, n);
      if (r.ok()) {
        ASSERT_EQ(r->mime_type, f.mime) << f.file << " cut at " << n;
        ++ok;
      } else {
        ASSERT_TRUE(has(r, "is a truncated "))
            << f.file << " cut at " << n << ": " << message_of(r);
        ASSERT_EQ(r.error().code, ErrorCode::invalid_field);
      }
    }
    if (f.mime == "audio/wav") EXPECT_EQ(ok, 0u) << f.file << ": its RIFF size is the whole file";
    if (f.mime == "audio/ogg") EXPECT_LT(ok, 20u) << f.file << ": only page boundaries";
  }
}

TEST(AudioSniff, NamesWhatIsWrong) {
  EXPECT_EQ(message_of(sniff_audio(nullptr, 0)), "audio is empty (0 bytes)");
  const Bytes html = {'<', 'h', 't', 'm', 'l', '>', '<', 'b', 'o', 'd', 'y'};
  EXPECT_EQ(message_of(sniff(html)),
            "audio has an unknown signature (first bytes 3c 68 74 6d 6c 3e 3c 62); expected WAV, "
            "Ogg, WebM or MP3");
  const Bytes png = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13};
  EXPECT_TRUE(has(sniff(png), "unknown signature"));
  EXPECT_EQ(message_of(sniff(Bytes{'R', 'I'})),
            "audio is a truncated WAV (it ends at byte 2, inside its RIFF header)");
  Bytes webp = read_file("wav_pcm16_mono_16k_1s.wav");
  std::memcpy(webp.data() + 8, "WEBP", 4);
  EXPECT_EQ(message_of(sniff(webp)), "audio is a RIFF file of form 'WEBP', not WAVE audio");
}

TEST(AudioWav, RefusesADataChunkPastTheRiffDataAndAHugeRiffSize) {
  Bytes b = read_file("wav_pcm16_mono_16k_1s.wav");
  const size_t data = find(b, {'d', 'a', 't', 'a'});
  Bytes huge = b;
  put_le32(huge, data + 4, 0x7ffffff0);  // "2^31 bytes of samples", in a 32 KB file
  EXPECT_TRUE(has(sniff(huge),
                  "is not a valid WAV (chunk 'data' at offset 36 is 2147483632 bytes, past the end "
                  "of the RIFF data at 32044)"))
      << message_of(sniff(huge));
  put_le32(huge, 4, 0xfffffff0);
  EXPECT_TRUE(
      has(sniff(huge), "is a truncated WAV (its RIFF header gives 4294967288 bytes, 32044 given)"))
      << message_of(sniff(huge));
}

TEST(AudioWav, RefusesAFormatChunkThatContradictsItself) {
  Bytes b = read_file("wav_pcm16_mono_16k_1s.wav");
  Bytes wrong_rate = b;
  put_le32(wrong_rate, 28, 1000);  // byte rate: 16 kHz x 2 bytes is 32000
  EXPECT_TRUE(has(sniff(wrong_rate), "says 1 channels of 16 bits at 16000 Hz"))
      << message_of(sniff(wrong_rate));
  Bytes no_channels = b;
  no_channels[22] = 0;
  EXPECT_TRUE(has(sniff(no_channels), "zero channel count")) << message_of(sniff(no_channels));
  Bytes adpcm = b;
  adpcm[20] = 2;  // MS ADPCM: not read
  EXPECT_TRUE(has(sniff(adpcm), "has format 0x00000002")) << message_of(sniff(adpcm));
  Bytes data_first = b;
  std::memcpy(data_first.data() + 12, "LIST", 4);  // the fmt chunk renamed: data comes first
  EXPECT_TRUE(has(sniff(data_first), "comes before any 'fmt ' chunk"))
      << message_of(sniff(data_first));
}

// What follows the RIFF data is not read: a WAV with a script appended is a
// WAV of the same duration.
TEST(AudioWav, BytesAfterTheRiffDataAreNotRead) {
  Bytes b = read_file("wav_pcm16_mono_16k_1s.wav");
  const std::string script = "<script>alert(1)</script>";
  b.insert(b.end(), script.begin(), script.end());
  Result<AudioInfo> r = sniff(b);
  ASSERT_TRUE(r.ok()) << message_of(r);
  EXPECT_EQ(r->duration_ms, uint64_t{1000});
}

TEST(AudioLimits, SizeAndDurationAtAndPastTheirLimits) {
  const Limits limits;
  ASSERT_EQ(limits.max_audio_bytes, 10u << 20);
  ASSERT_EQ(limits.max_audio_duration_ms, 300000u);
  // 48 kHz stereo 16-bit, exactly 10 MiB in all: 54.6 s, accepted; a byte more is too_large.
  Bytes big = wav_header(48000, 2, 16, (10u << 20) - 44);
  big.resize(10u << 20, 0);
  Result<AudioInfo> r = check_audio(big.data(), big.size(), "audio/wav", limits, "a-1");
  ASSERT_TRUE(r.ok()) << message_of(r);
  EXPECT_EQ(r->duration_ms, uint64_t{54613});
  big.push_back(0);
  r = check_audio(big.data(), big.size(), "audio/wav", limits, "a-1");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::too_large);
  EXPECT_EQ(r.error().message, "audio (a-1) is 10485761 bytes, over the limit of 10485760 bytes");
  // Duration: 300 s exactly is accepted, 300.001 s refused (8 kHz mono 8-bit: 8000 bytes a second).
  Bytes at_limit = wav_header(8000, 1, 8, 300 * 8000);
  at_limit.resize(44 + 300 * 8000, 0x80);
  EXPECT_TRUE(check_audio(at_limit.data(), at_limit.size(), "audio/wav", limits, "").ok());
  Bytes past = wav_header(8000, 1, 8, 300 * 8000 + 8);
  past.resize(44 + 300 * 8000 + 8, 0x80);
  r = check_audio(past.data(), past.size(), "audio/wav", limits, "");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::too_large);
  EXPECT_EQ(r.error().message, "audio is 300001 ms long, over the limit of 300000 ms");
  // Configured limits are the ones applied.
  Limits small;
  small.max_audio_duration_ms = 999;
  const Bytes one_second = read_file("ogg_opus_1s.ogg");
  r = check_audio(one_second.data(), one_second.size(), "audio/ogg", small, "");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::too_large);
}

TEST(AudioOgg, RefusesABadCapturePatternACrcOrAnotherStream) {
  const Bytes b = read_file("ogg_opus_1s.ogg");
  const std::vector<size_t> pages = ogg_pages(b);
  ASSERT_GE(pages.size(), 3u);
  Bytes capture = b;
  capture[pages[1] + 3] = 'X';
  EXPECT_TRUE(has(sniff(capture), "expected the capture pattern 'OggS' of page 1 at offset " +
                                      std::to_string(pages[1]) + ", found 'OggX'"))
      << message_of(sniff(capture));
  Bytes flipped = b;
  flipped[pages[2] + 40] ^= 1;
  EXPECT_TRUE(has(sniff(flipped), "page 2 at offset " + std::to_string(pages[2]) + " has CRC"))
      << message_of(sniff(flipped));
  Bytes other = b;
  other[pages[2] + 14] ^= 1;
  ogg_fix_crc(other, pages[2]);
  EXPECT_TRUE(has(sniff(other), "only one logical stream is read")) << message_of(sniff(other));
  Bytes skipped = b;
  skipped[pages[2] + 18] = 7;
  ogg_fix_crc(skipped, pages[2]);
  EXPECT_TRUE(has(sniff(skipped), "has sequence number 7, not 2")) << message_of(sniff(skipped));
  Bytes appended = b;
  appended.insert(appended.end(), {'<', 'h', 't', 'm', 'l', '>'});
  EXPECT_TRUE(has(sniff(appended), "is not a valid Ogg")) << message_of(sniff(appended));
  Bytes not_opus = b;
  std::memcpy(not_opus.data() + 28, "OpusTail", 8);
  ogg_fix_crc(not_opus, 0);
  EXPECT_TRUE(has(sniff(not_opus), "neither OpusHead nor a Vorbis identification header"))
      << message_of(sniff(not_opus));
}

// The last page's granule position gives the duration: 301 s of Opus
// (48 kHz, less the pre-skip) is too long.
TEST(AudioOgg, DurationFromTheLastGranulePosition) {
  Bytes b = read_file("ogg_opus_1s.ogg");
  const size_t last = ogg_pages(b).back();
  const uint64_t pre_skip = b[28 + 10] | (b[28 + 11] << 8);
  const uint64_t granule = 301 * 48000 + pre_skip;
  for (int k = 0; k < 8; ++k) b[last + 6 + k] = static_cast<uint8_t>(granule >> (8 * k));
  ogg_fix_crc(b, last);
  Result<AudioInfo> r = sniff(b);
  ASSERT_TRUE(r.ok()) << message_of(r);
  EXPECT_EQ(r->duration_ms, uint64_t{301000});
  r = check_audio(b.data(), b.size(), "audio/ogg", Limits{}, "a-1");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::too_large);
}

TEST(AudioWebm, RefusesABadDocTypeOrAVideoTrack) {
  const Bytes b = read_file("webm_opus_1s.webm");
  Bytes doc = b;
  std::memcpy(doc.data() + find(doc, {'w', 'e', 'b', 'm'}), "mkv!", 4);
  EXPECT_EQ(message_of(sniff(doc)),
            "audio is an EBML file of DocType 'mkv!', not webm or matroska");
  Bytes video = b;
  video[find(video, {0x83, 0x81, 0x02}) + 2] = 1;  // TrackType 1: video
  EXPECT_TRUE(has(sniff(video), "is not audio (TrackType 1, audio is 2)"))
      << message_of(sniff(video));
  Bytes no_segment = b;
  no_segment[find(no_segment, {0x18, 0x53, 0x80, 0x67})] = 0x1F;
  EXPECT_TRUE(has(sniff(no_segment), "expected a Segment after the EBML header"))
      << message_of(sniff(no_segment));
}

TEST(AudioWebm, DurationIsInfoDurationTimesTimecodeScale) {
  Bytes b = read_file("webm_opus_1s.webm");
  const size_t at = find(b, {0x44, 0x89, 0x88});  // Duration, an 8-byte float
  const double ms = 301000.0;                     // TimecodeScale 1 ms: 301 s
  uint64_t bits;
  std::memcpy(&bits, &ms, 8);
  for (int k = 0; k < 8; ++k) b[at + 3 + k] = static_cast<uint8_t>(bits >> (56 - 8 * k));
  Result<AudioInfo> r = sniff(b);
  ASSERT_TRUE(r.ok()) << message_of(r);
  EXPECT_EQ(r->duration_ms, uint64_t{301000});
  EXPECT_EQ(check_audio(b.data(), b.size(), "audio/webm", Limits{}, "").error().code,
            ErrorCode::too_large);
}

TEST(AudioMp3, RefusesAFrameSyncThatIsNotFollowedByFrames) {
  const Bytes b = read_file("mp3_cbr_32k_notag_1s.mp3");
  Bytes second = b;
  second[144] = 0;  // 32 kbit/s at 16 kHz: 144-byte frames, the second header broken
  second[145] = 0;
  EXPECT_TRUE(
      has(sniff(second), "is not a valid MP3 (expected an MPEG audio frame header at offset 144"))
      << message_of(sniff(second));
  // Two bytes that look like a frame sync, then text.
  const std::string text =
      "\xff\xfb\x90\x00 this is a text file, not an MP3 at all, long enough for a frame";
  Bytes fake(text.begin(), text.end());
  fake.resize(1000, 'x');
  EXPECT_TRUE(has(sniff(fake), "is not a valid MP3")) << message_of(sniff(fake));
  Bytes id3 = read_file("mp3_id3v2_1s.mp3");
  id3[9] = 0x7f;
  id3[8] = 0x7f;  // an ID3v2 tag of 16 KB in a 4 KB file
  EXPECT_TRUE(has(sniff(id3), "is a truncated MP3 (it ends at byte 4458, inside its ID3v2 tag"))
      << message_of(sniff(id3));
}

// Random bytes are never audio, and the sniffer says so without crashing.
TEST(AudioSniff, RandomBytesAreRefused) {
  uint64_t state = 1;
  for (int i = 0; i < 2000; ++i) {
    Bytes b(1 + i % 700);
    for (auto& byte : b) {
      state = state * 6364136223846793005ull + 1442695040888963407ull;
      byte = static_cast<uint8_t>(state >> 56);
    }
    Result<AudioInfo> r = sniff(b);
    ASSERT_FALSE(r.ok()) << "random input " << i << " sniffed as " << r->mime_type;
    EXPECT_EQ(r.error().code, ErrorCode::invalid_field);
    EXPECT_EQ(r.error().message.rfind("audio ", 0), 0u);
  }
}

}  // namespace
}  // namespace chatwire::media
