// Base64: the fast paths against RFC 4648's vectors and against the reference
// implementations, round trips at every length, and every class of input the
// strict decoder must refuse (with the offset it names).
#include "core/media/base64.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace chatwire::media {
namespace {

std::string random_bytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng() & 0xFF);
  return s;
}

// Decodes with both decoders, checks they agree exactly (value, or code and
// message), and returns the fast decoder's result.
Result<std::string> decode_both(std::string_view text) {
  Result<std::string> fast = base64_decode(text);
  Result<std::string> ref = base64_decode_reference(text);
  EXPECT_EQ(fast.ok(), ref.ok()) << "text: " << text;
  if (fast.ok() && ref.ok()) {
    EXPECT_EQ(*fast, *ref);
  } else if (!fast.ok() && !ref.ok()) {
    EXPECT_EQ(fast.error().code, ref.error().code);
    EXPECT_EQ(fast.error().message, ref.error().message);
  }
  return fast;
}

// Expects `text` to be refused with image_invalid and a message containing
// each of `parts`.
void expect_refused(std::string_view text, std::initializer_list<std::string> parts) {
  Result<std::string> r = decode_both(text);
  ASSERT_FALSE(r.ok()) << "accepted: " << text;
  EXPECT_EQ(r.error().code, ErrorCode::image_invalid);
  for (const auto& part : parts) {
    EXPECT_NE(r.error().message.find(part), std::string::npos)
        << "message \"" << r.error().message << "\" lacks \"" << part << "\" for: " << text;
  }
}

TEST(Base64Rfc4648, TestVectors) {
  const std::pair<std::string, std::string> vectors[] = {
      {"", ""},
      {"f", "Zg=="},
      {"fo", "Zm8="},
      {"foo", "Zm9v"},
      {"foob", "Zm9vYg=="},
      {"fooba", "Zm9vYmE="},
      {"foobar", "Zm9vYmFy"},
  };
  for (const auto& [plain, encoded] : vectors) {
    EXPECT_EQ(base64_encode(plain), encoded);
    EXPECT_EQ(base64_encode_reference(plain), encoded);
    Result<std::string> d = decode_both(encoded);
    ASSERT_TRUE(d.ok()) << d.error().message;
    EXPECT_EQ(*d, plain);
  }
}

TEST(Base64Encode, AllByteValuesAndBothAlphabetEnds) {
  std::string all;
  for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
  const std::string enc = base64_encode(all);
  EXPECT_EQ(enc, base64_encode_reference(all));
  EXPECT_EQ(enc.substr(0, 8), "AAECAwQF");
  EXPECT_EQ(base64_encode(std::string("\xfb\xff\xbf", 3)), "+/+/");
  EXPECT_EQ(base64_encode(std::string("\0\0\0", 3)), "AAAA");
  EXPECT_EQ(*decode_both(enc), all);
}

TEST(Base64Encode, PointerFormWritesExactlyEncodedSizeCharacters) {
  for (size_t n = 0; n <= 64; ++n) {
    const std::string bytes = random_bytes(n, 7 + static_cast<uint32_t>(n));
    const size_t size = base64_encoded_size(n);
    EXPECT_EQ(size, (n + 2) / 3 * 4);
    std::vector<char> buf(size + 16, '#');
    base64_encode(reinterpret_cast<const uint8_t*>(bytes.data()), n, buf.data());
    EXPECT_EQ(std::string(buf.data(), size), base64_encode_reference(bytes));
    for (size_t i = size; i < buf.size(); ++i) ASSERT_EQ(buf[i], '#') << "n=" << n;
  }
  EXPECT_EQ(base64_encode(static_cast<const uint8_t*>(nullptr), 0), "");
}

TEST(Base64RoundTrip, EveryLengthFrom0To4096) {
  std::mt19937 rng(20261123);
  for (size_t n = 0; n <= 4096; ++n) {
    std::string bytes(n, '\0');
    for (auto& c : bytes) c = static_cast<char>(rng() & 0xFF);
    const std::string enc = base64_encode(bytes);
    ASSERT_EQ(enc, base64_encode_reference(bytes)) << "n=" << n;
    ASSERT_EQ(enc.size(), base64_encoded_size(n));
    ASSERT_EQ(enc, base64_encode(reinterpret_cast<const uint8_t*>(bytes.data()), n));
    Result<std::string> fast = base64_decode(enc);
    Result<std::string> ref = base64_decode_reference(enc);
    ASSERT_TRUE(fast.ok()) << "n=" << n << ": " << fast.error().message;
    ASSERT_TRUE(ref.ok()) << "n=" << n << ": " << ref.error().message;
    ASSERT_EQ(*fast, bytes) << "n=" << n;
    ASSERT_EQ(*ref, bytes) << "n=" << n;
    ASSERT_GE(base64_decoded_size_upper(enc.size()), n);
    ASSERT_LT(base64_decoded_size_upper(enc.size()) - n, 3u);
  }
}

TEST(Base64RoundTrip, LargeRandomInputs) {
  for (const size_t n :
       {size_t{1} << 20, (size_t{1} << 20) + 1, (size_t{1} << 20) + 2, size_t{3} << 20 | 12345}) {
    const std::string bytes = random_bytes(n, static_cast<uint32_t>(n));
    const std::string enc = base64_encode(bytes);
    ASSERT_EQ(enc, base64_encode_reference(bytes)) << "n=" << n;
    Result<std::string> fast = base64_decode(enc);
    ASSERT_TRUE(fast.ok()) << fast.error().message;
    ASSERT_TRUE(*fast == bytes) << "n=" << n;
    Result<std::string> ref = base64_decode_reference(enc);
    ASSERT_TRUE(ref.ok());
    ASSERT_TRUE(*ref == bytes);
  }
}

TEST(Base64RoundTrip, DecodedSizeUpper) {
  EXPECT_EQ(base64_decoded_size_upper(0), 0u);
  EXPECT_EQ(base64_decoded_size_upper(4), 3u);
  EXPECT_EQ(base64_decoded_size_upper(5), 6u);
  EXPECT_EQ(base64_decoded_size_upper(8), 6u);
}

TEST(Base64Reject, InvalidCharacterAtEveryPosition) {
  const std::string good = base64_encode(random_bytes(48, 1));  // 64 characters, no padding
  ASSERT_EQ(good.size(), 64u);
  const char bad[] = {'!', '-', '_',  '.',  ':',    '@',    '[',    '`',    '{',
                      '~', '"', '\\', '\0', '\x01', '\x7f', '\x80', '\xc3', '\xff'};
  for (size_t i = 0; i < good.size(); ++i) {
    for (const char c : bad) {
      std::string text = good;
      text[i] = c;
      expect_refused(text, {"at offset " + std::to_string(i) + ""});
    }
  }
  expect_refused("Zm9v!m9v", {"invalid character '!' (0x21) at offset 4"});
  expect_refused(std::string("Zm9v\0m9v", 8), {"invalid byte 0x00 at offset 4"});
  expect_refused("Zm9\xe2\x82\xac", {"invalid byte 0xe2 at offset 3"});
}

TEST(Base64Reject, UrlAlphabetAndDataUrlPrefix) {
  expect_refused("-_-_", {"invalid character '-' (0x2d) at offset 0"});
  expect_refused("ab_d", {"invalid character '_' (0x5f) at offset 2"});
  expect_refused("data:image/png;base64,iVBORw0KGgo=",
                 {"invalid character ':' (0x3a) at offset 4"});
}

TEST(Base64Reject, WhitespaceAnywhere) {
  const std::string good = base64_encode(random_bytes(48, 2));
  for (size_t i = 0; i <= good.size(); ++i) {
    for (const char ws : {' ', '\t', '\n', '\r', '\v', '\f'}) {
      std::string inserted = good;
      inserted.insert(i, 1, ws);  // length 65: the whitespace is still reported first
      expect_refused(inserted, {"whitespace", "at offset " + std::to_string(i), "not allowed"});
      if (i < good.size()) {
        std::string replaced = good;
        replaced[i] = ws;
        expect_refused(replaced, {"whitespace", "at offset " + std::to_string(i)});
      }
    }
  }
  expect_refused("Zm9v\n", {"base64: whitespace (0x0a) at offset 4 is not allowed"});
  expect_refused("Zm9v\r\nZm9v", {"whitespace (0x0d) at offset 4"});
  // MIME-style line wrapping at 76 characters.
  std::string wrapped = base64_encode(random_bytes(120, 3));
  wrapped.insert(76, "\r\n");
  expect_refused(wrapped, {"whitespace (0x0d) at offset 76"});
}

TEST(Base64Reject, LengthNotAMultipleOfFour) {
  const std::string good = base64_encode(random_bytes(30, 4));  // 40 characters
  for (size_t len = 1; len < good.size(); ++len) {
    if (len % 4 == 0) continue;
    expect_refused(good.substr(0, len),
                   {"length " + std::to_string(len) + " is not a multiple of 4"});
  }
  expect_refused("Zg", {"length 2 is not a multiple of 4"});
  expect_refused("Zg=", {"length 3 is not a multiple of 4"});
  expect_refused("Zm9v=", {"length 5 is not a multiple of 4"});
  expect_refused("Zm9vZ", {"length 5 is not a multiple of 4"});
  expect_refused("==", {"length 2 is not a multiple of 4"});
}

TEST(Base64Reject, MisplacedOrExcessPadding) {
  expect_refused("====", {"padding '=' at offset 0 is misplaced"});
  expect_refused("Z===", {"padding '=' at offset 1 is misplaced"});
  expect_refused("Zm=v", {"padding '=' at offset 2 is misplaced"});
  expect_refused("=Zm9", {"padding '=' at offset 0 is misplaced"});
  expect_refused("Zg==Zm9v", {"padding '=' at offset 2 is misplaced"});
  expect_refused("Zm9=Zm9v", {"padding '=' at offset 3 is misplaced"});
  expect_refused("Zm9vZ===", {"padding '=' at offset 5 is misplaced"});
  expect_refused("Zg===", {"padding '=' at offset 2 is misplaced"});
  expect_refused("Zm9vYg==Zg==", {"padding '=' at offset 6 is misplaced"});
  // '=' at any position of a 64-character text but the last is misplaced
  // (second-to-last included: padding there needs a '=' after it).
  const std::string good = base64_encode(random_bytes(48, 5));
  for (size_t i = 0; i + 1 < good.size(); ++i) {
    std::string text = good;
    text[i] = '=';
    expect_refused(text, {"padding '=' at offset " + std::to_string(i) + " is misplaced"});
  }
}

TEST(Base64Reject, NonZeroTrailingBits) {
  expect_refused("Zh==", {"non-zero trailing bits in 'h' at offset 1"});
  expect_refused("Zm9=", {"non-zero trailing bits in '9' at offset 2"});
  expect_refused("Zm9vZh==", {"at offset 5"});
  // Exhaustively: "xy==" is accepted iff y's low 4 bits are zero, "xyz=" iff
  // z's low 2 bits are zero; so each byte string has exactly one encoding.
  const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  int accepted_two = 0;
  int accepted_three = 0;
  for (int y = 0; y < 64; ++y) {
    for (int x = 0; x < 64; ++x) {
      const std::string two = {alphabet[x], alphabet[y], '=', '='};
      Result<std::string> r2 = decode_both(two);
      EXPECT_EQ(r2.ok(), (y & 15) == 0) << two;
      accepted_two += r2.ok();
      const std::string three = {'Q', alphabet[x], alphabet[y], '='};
      Result<std::string> r3 = decode_both(three);
      EXPECT_EQ(r3.ok(), (y & 3) == 0) << three;
      accepted_three += r3.ok();
      if (r3.ok()) EXPECT_EQ(base64_encode(*r3), three);
    }
  }
  EXPECT_EQ(accepted_two, 64 * 4);     // 2^8 one-byte strings
  EXPECT_EQ(accepted_three, 64 * 16);  // 2^10 of the 2^16 two-byte strings start with 'Q'
}

TEST(Base64Reject, EveryByteValueAtEveryPositionOf64Characters) {
  // 62 characters + "==": the last group is "x==", so the bits-in-padding
  // rule is exercised too.
  const std::string original = random_bytes(46, 6);
  const std::string good = base64_encode(original);
  ASSERT_EQ(good.size(), 64u);
  ASSERT_EQ(good.substr(62), "==");
  size_t accepted = 0;
  for (size_t i = 0; i < good.size(); ++i) {
    for (int b = 0; b < 256; ++b) {
      std::string text = good;
      text[i] = static_cast<char>(b);
      Result<std::string> r = decode_both(text);  // fast and reference must agree
      if (!r.ok()) {
        EXPECT_EQ(r.error().code, ErrorCode::image_invalid);
        continue;
      }
      ++accepted;
      // Whatever is accepted is the unique encoding of what it decodes to.
      EXPECT_EQ(base64_encode(*r), text);
      EXPECT_EQ(r->size(), text[62] == '=' ? 46u : 47u);
      if (text == good) EXPECT_EQ(*r, original);
    }
  }
  // Positions 0..60 take any of the 64 characters; 61 (the last before
  // "==") only the 4 with zero low bits; 62 the original '=' or one of the
  // 16 characters with zero low 2 bits (the text then ends "xyz=" and holds
  // 47 bytes); 63 only '='.
  EXPECT_EQ(accepted, 61u * 64 + 4 + (1 + 16) + 1);
}

TEST(Base64Reject, EveryByteValueAtEveryPositionOf200Characters) {
  // Long enough that the SIMD decoders (32 characters a round with AVX2, 16
  // with SIMD128) run several rounds before the scalar code takes over: a
  // fault in any lane of any round, or at the hand-over, must be found and
  // described exactly as the reference does.
  const std::string original = random_bytes(150, 7);
  const std::string good = base64_encode(original);
  ASSERT_EQ(good.size(), 200u);
  for (size_t i = 0; i < good.size(); ++i) {
    for (int b = 0; b < 256; ++b) {
      std::string text = good;
      text[i] = static_cast<char>(b);
      Result<std::string> r = decode_both(text);
      if (r.ok()) EXPECT_EQ(base64_encode(*r), text);
    }
  }
}

TEST(Base64Decode, PointerFormWritesOnlyTheDecodedSize) {
  for (size_t n : {0u, 1u, 2u, 3u, 47u, 48u, 100u, 1000u, 4099u}) {
    const std::string bytes = random_bytes(n, static_cast<uint32_t>(n) + 11);
    const std::string text = base64_encode(bytes);
    const size_t bound = base64_decoded_size(text);
    ASSERT_EQ(bound, n);
    std::vector<uint8_t> buf(bound + 64, 0xA5);  // guard bytes after the result
    Result<size_t> got = base64_decode(text, buf.data());
    ASSERT_TRUE(got.ok()) << n;
    EXPECT_EQ(*got, n);
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(buf.data()), n), bytes);
    for (size_t k = bound; k < buf.size(); ++k) ASSERT_EQ(buf[k], 0xA5) << "n=" << n << " wrote at " << k;
  }
  std::vector<uint8_t> buf(16);
  Result<size_t> bad = base64_decode("Zm9v!mFy", buf.data());
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().message, "base64: invalid character '!' (0x21) at offset 4");
}

}  // namespace
}  // namespace chatwire::media
