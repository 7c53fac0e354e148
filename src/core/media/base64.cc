#include "core/media/base64.h"

#include <cstring>

#if defined(__wasm_simd128__)
#include <wasm_simd128.h>
#define CHATWIRE_BASE64_WASM_SIMD 1
#elif (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define CHATWIRE_BASE64_AVX2 1
#endif

namespace chatwire::media {

namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// 12 input bits -> their 2 output characters, in output order. Stored as char
// pairs rather than uint16 so the table is the same on any byte order.
struct EncodeTable {
  char pair[4096][2];
};

constexpr EncodeTable make_encode_table() {
  EncodeTable t{};
  for (int i = 0; i < 4096; ++i) {
    t.pair[i][0] = kAlphabet[i >> 6];
    t.pair[i][1] = kAlphabet[i & 63];
  }
  return t;
}

constexpr EncodeTable kEncode = make_encode_table();

// One table per position in a group of 4 characters: the character's 6 bits
// already at their place among the group's 3 output bytes, or kBad (bits
// 24..31) for anything outside the alphabet, '=' included. Output byte i is
// bits [8i, 8i + 8) of the OR of the four lookups, so on a little-endian host
// one 4-byte store writes the 3 bytes (plus one the next group overwrites),
// and the top byte says whether any of the 4 characters was bad.
constexpr uint32_t kBad = 0xFF000000u;

struct DecodeTables {
  uint32_t at[4][256];
};

constexpr DecodeTables make_decode_tables() {
  DecodeTables t{};
  for (int k = 0; k < 4; ++k) {
    for (int c = 0; c < 256; ++c) t.at[k][c] = kBad;
  }
  for (uint32_t v = 0; v < 64; ++v) {
    const auto c = static_cast<unsigned char>(kAlphabet[v]);
    t.at[0][c] = v << 2;                             // byte 0, bits 7..2
    t.at[1][c] = (v >> 4) | ((v & 15) << 12);        // byte 0 bits 1..0, byte 1 bits 7..4
    t.at[2][c] = ((v >> 2) << 8) | ((v & 3) << 22);  // byte 1 bits 3..0, byte 2 bits 7..6
    t.at[3][c] = v << 16;                            // byte 2, bits 5..0
  }
  return t;
}

constexpr DecodeTables kDecode = make_decode_tables();

// Big-endian loads written as shifts: portable, and GCC/Clang compile them to
// one load plus a byte swap.
inline uint64_t load_be64(const uint8_t* p) {
  return (uint64_t{p[0]} << 56) | (uint64_t{p[1]} << 48) | (uint64_t{p[2]} << 40) |
         (uint64_t{p[3]} << 32) | (uint64_t{p[4]} << 24) | (uint64_t{p[5]} << 16) |
         (uint64_t{p[6]} << 8) | uint64_t{p[7]};
}

inline uint32_t load_be24(const uint8_t* p) {
  return (uint32_t{p[0]} << 16) | (uint32_t{p[1]} << 8) | uint32_t{p[2]};
}

inline void put_pair(char* out, uint32_t twelve_bits) {
  std::memcpy(out, kEncode.pair[twelve_bits & 0xFFF], 2);
}

inline uint32_t decode_quad(const uint8_t* p) {
  return kDecode.at[0][p[0]] | kDecode.at[1][p[1]] | kDecode.at[2][p[2]] | kDecode.at[3][p[3]];
}

#if defined(__BYTE_ORDER__) && defined(__ORDER_LITTLE_ENDIAN__) && \
    __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
// Writes the group's 3 bytes and one junk byte: only for a group that is
// followed by at least one more output byte.
inline void put_triple_and_junk(uint8_t* out, uint32_t x) { std::memcpy(out, &x, 4); }
#else
inline void put_triple_and_junk(uint8_t* out, uint32_t x) {
  out[0] = static_cast<uint8_t>(x);
  out[1] = static_cast<uint8_t>(x >> 8);
  out[2] = static_cast<uint8_t>(x >> 16);
}
#endif

// --- reference implementation helpers (deliberately table-free) ---

int sextet_of(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

bool is_whitespace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

std::string hex_byte(unsigned char b) {
  static constexpr char kHex[] = "0123456789abcdef";
  return std::string("0x") + kHex[b >> 4] + kHex[b & 15];
}

Error invalid(std::string message) { return Error(ErrorCode::image_invalid, std::move(message)); }

Error bad_character(std::string_view text, size_t i) {
  const auto b = static_cast<unsigned char>(text[i]);
  const std::string at = " at offset " + std::to_string(i);
  if (is_whitespace(text[i])) {
    return invalid("base64: whitespace (" + hex_byte(b) + ")" + at + " is not allowed");
  }
  if (b >= 0x21 && b < 0x7f) {
    return invalid("base64: invalid character '" + std::string(1, text[i]) + "' (" + hex_byte(b) +
                   ")" + at);
  }
  return invalid("base64: invalid byte " + hex_byte(b) + at);
}

// ---- SIMD encoders (Mula & Lemire, "Faster Base64 Encoding and Decoding
// using AVX2 Instructions", 2018). Each round turns 12 input bytes (per 128-bit
// lane) into 16 characters:
//   1. shuffle every 3 bytes s0 s1 s2 into a 32-bit lane as [s1 s0 s2 s1];
//   2. move the four 6-bit fields of the lane into its four bytes: the
//      multiplies by 0x0040/0x0400 (high half) and 0x0010/0x0100 (low half) are
//      per-16-bit-lane shifts;
//   3. map 0..63 to the alphabet by adding an offset from a 16-entry table
//      picked by a saturating subtract and a compare (A-Z, a-z, 0-9, +, /).
// They return how many input bytes they consumed (a multiple of 3); the
// scalar code below finishes the rest. Tests compare every path with
// base64_encode_reference; the scalar path alone is what runs elsewhere.

#if defined(CHATWIRE_BASE64_WASM_SIMD)
size_t encode_simd(const uint8_t* in, size_t n, char* out) {
  const v128_t shuffle = wasm_i8x16_make(1, 0, 2, 1, 4, 3, 5, 4, 7, 6, 8, 7, 10, 9, 11, 10);
  const v128_t offsets = wasm_i8x16_make('a' - 26, '0' - 52, '0' - 52, '0' - 52, '0' - 52, '0' - 52, '0' - 52,
                                         '0' - 52, '0' - 52, '0' - 52, '0' - 52, '+' - 62, '/' - 63, 'A', 0, 0);
  const v128_t low_halves = wasm_i32x4_splat(0x0000ffff);
  size_t i = 0;
  for (; n - i >= 16; i += 12, out += 16) {  // 16 bytes are loaded, 12 used
    const v128_t v = wasm_i8x16_swizzle(wasm_v128_load(in + i), shuffle);
    const v128_t t0 = wasm_v128_and(v, wasm_i32x4_splat(0x0fc0fc00));
    const v128_t t1 = wasm_v128_bitselect(wasm_u16x8_shr(t0, 10), wasm_u16x8_shr(t0, 6), low_halves);
    const v128_t t2 = wasm_v128_and(v, wasm_i32x4_splat(0x003f03f0));
    const v128_t t3 = wasm_v128_bitselect(wasm_i16x8_shl(t2, 4), wasm_i16x8_shl(t2, 8), low_halves);
    const v128_t index = wasm_v128_or(t1, t3);
    v128_t pick = wasm_u8x16_sub_sat(index, wasm_i8x16_splat(51));
    pick = wasm_v128_or(pick, wasm_v128_and(wasm_i8x16_gt(wasm_i8x16_splat(26), index), wasm_i8x16_splat(13)));
    wasm_v128_store(out, wasm_i8x16_add(index, wasm_i8x16_swizzle(offsets, pick)));
  }
  return i;
}
#elif defined(CHATWIRE_BASE64_AVX2)
__attribute__((target("avx2"))) size_t encode_avx2(const uint8_t* in, size_t n, char* out) {
  const __m256i shuffle = _mm256_setr_epi8(1, 0, 2, 1, 4, 3, 5, 4, 7, 6, 8, 7, 10, 9, 11, 10,  //
                                           1, 0, 2, 1, 4, 3, 5, 4, 7, 6, 8, 7, 10, 9, 11, 10);
  const __m256i offsets = _mm256_setr_epi8(
      'a' - 26, '0' - 52, '0' - 52, '0' - 52, '0' - 52, '0' - 52, '0' - 52, '0' - 52, '0' - 52, '0' - 52, '0' - 52,
      '+' - 62, '/' - 63, 'A', 0, 0,  //
      'a' - 26, '0' - 52, '0' - 52, '0' - 52, '0' - 52, '0' - 52, '0' - 52, '0' - 52, '0' - 52, '0' - 52, '0' - 52,
      '+' - 62, '/' - 63, 'A', 0, 0);
  size_t i = 0;
  for (; n - i >= 28; i += 24, out += 32) {  // two 16-byte loads at +0 and +12, 24 bytes used
    const __m128i lo = _mm_loadu_si128(reinterpret_cast<const __m128i*>(in + i));
    const __m128i hi = _mm_loadu_si128(reinterpret_cast<const __m128i*>(in + i + 12));
    const __m256i v = _mm256_shuffle_epi8(_mm256_inserti128_si256(_mm256_castsi128_si256(lo), hi, 1), shuffle);
    const __m256i t1 = _mm256_mulhi_epu16(_mm256_and_si256(v, _mm256_set1_epi32(0x0fc0fc00)),
                                          _mm256_set1_epi32(0x04000040));
    const __m256i t3 = _mm256_mullo_epi16(_mm256_and_si256(v, _mm256_set1_epi32(0x003f03f0)),
                                          _mm256_set1_epi32(0x01000010));
    const __m256i index = _mm256_or_si256(t1, t3);
    __m256i pick = _mm256_subs_epu8(index, _mm256_set1_epi8(51));
    pick = _mm256_or_si256(pick, _mm256_and_si256(_mm256_cmpgt_epi8(_mm256_set1_epi8(26), index), _mm256_set1_epi8(13)));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out), _mm256_add_epi8(index, _mm256_shuffle_epi8(offsets, pick)));
  }
  return i;
}

bool has_avx2() {
  static const bool yes = __builtin_cpu_supports("avx2");
  return yes;
}

size_t encode_simd(const uint8_t* in, size_t n, char* out) { return has_avx2() ? encode_avx2(in, n, out) : 0; }
#else
size_t encode_simd(const uint8_t*, size_t, char*) { return 0; }
#endif

// ---- SIMD decoders (same paper). Each round turns 16 characters (per
// 128-bit lane) into 12 bytes:
//   1. validate: two 16-entry tables indexed by each character's low and high
//      nibble hold bit sets whose AND is non-zero exactly for characters
//      outside the alphabet ('=' included); faults are OR-ed into `bad` and
//      looked at once, after the loop;
//   2. map the alphabet to 0..63 by adding an offset picked by the high nibble
//      ('/' shares its nibble with '+', so it is moved down by one first);
//   3. pack the four 6-bit fields of each 32-bit lane into 24 bits (a multiply
//      -add of byte pairs, then of 16-bit pairs) and shuffle the 3-byte groups
//      together.
// They return how many characters they consumed (a multiple of 4) and write
// 3/4 as many bytes, plus junk bytes past them (at most 8 for AVX2, 4 for
// SIMD128) that the caller's later groups overwrite; they never touch the
// last group, which may hold padding.

#if defined(CHATWIRE_BASE64_WASM_SIMD)
size_t decode_simd(const uint8_t* in, size_t n, uint8_t* out, bool* bad) {
  const v128_t lut_lo = wasm_i8x16_make(0x15, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x13, 0x1A,
                                        0x1B, 0x1B, 0x1B, 0x1A);
  const v128_t lut_hi = wasm_i8x16_make(0x10, 0x10, 0x01, 0x02, 0x04, 0x08, 0x04, 0x08, 0x10, 0x10, 0x10, 0x10,
                                        0x10, 0x10, 0x10, 0x10);
  const v128_t lut_roll = wasm_i8x16_make(0, 16, 19, 4, -65, -65, -71, -71, 0, 0, 0, 0, 0, 0, 0, 0);
  const v128_t pack = wasm_i8x16_make(2, 1, 0, 6, 5, 4, 10, 9, 8, 14, 13, 12, -1, -1, -1, -1);
  const v128_t nibble = wasm_i8x16_splat(0x0f);
  v128_t faults = wasm_i8x16_splat(0);
  size_t i = 0;
  // 16 characters in, 16 bytes stored (12 used): the 4 junk bytes land where
  // the next groups go, so at least 4 more output bytes must follow, which
  // holds while the round ends at least 8 characters before the last group.
  for (; n >= 24 && i <= n - 24; i += 16, out += 12) {
    const v128_t v = wasm_v128_load(in + i);
    const v128_t hi = wasm_v128_and(wasm_u8x16_shr(v, 4), nibble);
    const v128_t lo = wasm_v128_and(v, nibble);
    faults = wasm_v128_or(faults, wasm_v128_and(wasm_i8x16_swizzle(lut_lo, lo), wasm_i8x16_swizzle(lut_hi, hi)));
    const v128_t slash = wasm_i8x16_eq(v, wasm_i8x16_splat('/'));
    const v128_t sextets = wasm_i8x16_add(v, wasm_i8x16_swizzle(lut_roll, wasm_i8x16_add(slash, hi)));
    // [a b] -> a << 6 | b in each 16-bit lane, then [ab cd] -> ab << 12 | cd.
    const v128_t pairs = wasm_v128_or(wasm_i16x8_shl(wasm_v128_and(sextets, wasm_i16x8_splat(0x00ff)), 6),
                                      wasm_u16x8_shr(sextets, 8));
    const v128_t quads = wasm_v128_or(wasm_i32x4_shl(wasm_v128_and(pairs, wasm_i32x4_splat(0xffff)), 12),
                                      wasm_u32x4_shr(pairs, 16));
    wasm_v128_store(out, wasm_i8x16_swizzle(quads, pack));
  }
  *bad = wasm_v128_any_true(faults);
  return i;
}
#elif defined(CHATWIRE_BASE64_AVX2)
__attribute__((target("avx2"))) size_t decode_avx2(const uint8_t* in, size_t n, uint8_t* out, bool* bad) {
  const __m256i lut_lo = _mm256_setr_epi8(0x15, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x13, 0x1A,
                                          0x1B, 0x1B, 0x1B, 0x1A,  //
                                          0x15, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x13, 0x1A,
                                          0x1B, 0x1B, 0x1B, 0x1A);
  const __m256i lut_hi = _mm256_setr_epi8(0x10, 0x10, 0x01, 0x02, 0x04, 0x08, 0x04, 0x08, 0x10, 0x10, 0x10, 0x10,
                                          0x10, 0x10, 0x10, 0x10,  //
                                          0x10, 0x10, 0x01, 0x02, 0x04, 0x08, 0x04, 0x08, 0x10, 0x10, 0x10, 0x10,
                                          0x10, 0x10, 0x10, 0x10);
  const __m256i lut_roll = _mm256_setr_epi8(0, 16, 19, 4, -65, -65, -71, -71, 0, 0, 0, 0, 0, 0, 0, 0,  //
                                            0, 16, 19, 4, -65, -65, -71, -71, 0, 0, 0, 0, 0, 0, 0, 0);
  const __m256i pack = _mm256_setr_epi8(2, 1, 0, 6, 5, 4, 10, 9, 8, 14, 13, 12, -1, -1, -1, -1,  //
                                        2, 1, 0, 6, 5, 4, 10, 9, 8, 14, 13, 12, -1, -1, -1, -1);
  const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 4, 5, 6, 7, 7);
  const __m256i nibble = _mm256_set1_epi8(0x0f);
  __m256i faults = _mm256_setzero_si256();
  size_t i = 0;
  // 32 characters in, 32 bytes stored (24 used): the 8 junk bytes need 8 more
  // output bytes after them, which holds while the round ends at least 12
  // characters before the last group.
  for (; n >= 48 && i <= n - 48; i += 32, out += 24) {
    const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(in + i));
    const __m256i hi = _mm256_and_si256(_mm256_srli_epi32(v, 4), nibble);
    const __m256i lo = _mm256_and_si256(v, nibble);
    faults = _mm256_or_si256(faults, _mm256_and_si256(_mm256_shuffle_epi8(lut_lo, lo), _mm256_shuffle_epi8(lut_hi, hi)));
    const __m256i slash = _mm256_cmpeq_epi8(v, _mm256_set1_epi8('/'));
    const __m256i sextets = _mm256_add_epi8(v, _mm256_shuffle_epi8(lut_roll, _mm256_add_epi8(slash, hi)));
    const __m256i pairs = _mm256_maddubs_epi16(sextets, _mm256_set1_epi32(0x01400140));
    const __m256i quads = _mm256_madd_epi16(pairs, _mm256_set1_epi32(0x00011000));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out),
                        _mm256_permutevar8x32_epi32(_mm256_shuffle_epi8(quads, pack), lanes));
  }
  *bad = !_mm256_testz_si256(faults, faults);
  return i;
}

size_t decode_simd(const uint8_t* in, size_t n, uint8_t* out, bool* bad) {
  *bad = false;
  return has_avx2() ? decode_avx2(in, n, out, bad) : 0;
}
#else
size_t decode_simd(const uint8_t*, size_t, uint8_t*, bool* bad) {
  *bad = false;
  return 0;
}
#endif

// The fast decoder found a fault; the reference decoder says which and where.
Result<std::string> describe_failure(std::string_view text) {
  Result<std::string> r = base64_decode_reference(text);
  if (!r.ok()) return r;
  // Unreachable unless the two decoders disagree; tests and fuzz_base64 check.
  return Error(ErrorCode::internal, "base64: fast and reference decoders disagree");
}

}  // namespace

size_t base64_encoded_size(size_t n) { return n / 3 * 4 + (n % 3 != 0 ? 4 : 0); }

size_t base64_decoded_size_upper(size_t text_len) {
  return text_len / 4 * 3 + (text_len % 4 != 0 ? 3 : 0);
}

void base64_encode(const uint8_t* in, size_t n, char* out) {
  size_t i = encode_simd(in, n, out);
  out += i / 3 * 4;
  // 12 bytes -> 16 characters per round; each 8-byte load uses its first 6
  // bytes, so the loop stops while 14 bytes remain readable.
  for (; n - i >= 14; i += 12) {
    const uint64_t a = load_be64(in + i);
    const uint64_t b = load_be64(in + i + 6);
    put_pair(out + 0, static_cast<uint32_t>(a >> 52));
    put_pair(out + 2, static_cast<uint32_t>(a >> 40));
    put_pair(out + 4, static_cast<uint32_t>(a >> 28));
    put_pair(out + 6, static_cast<uint32_t>(a >> 16));
    put_pair(out + 8, static_cast<uint32_t>(b >> 52));
    put_pair(out + 10, static_cast<uint32_t>(b >> 40));
    put_pair(out + 12, static_cast<uint32_t>(b >> 28));
    put_pair(out + 14, static_cast<uint32_t>(b >> 16));
    out += 16;
  }
  for (; n - i >= 3; i += 3) {
    const uint32_t x = load_be24(in + i);
    put_pair(out, x >> 12);
    put_pair(out + 2, x);
    out += 4;
  }
  switch (n - i) {
    case 1:
      put_pair(out, uint32_t{in[i]} << 4);
      out[2] = '=';
      out[3] = '=';
      break;
    case 2: {
      const uint32_t x = (uint32_t{in[i]} << 16) | (uint32_t{in[i + 1]} << 8);
      put_pair(out, x >> 12);
      out[2] = kAlphabet[(x >> 6) & 63];
      out[3] = '=';
      break;
    }
    default:
      break;
  }
}

std::string base64_encode(const uint8_t* in, size_t n) {
  std::string out(base64_encoded_size(n), '\0');
  base64_encode(in, n, out.data());
  return out;
}

std::string base64_encode(std::string_view bytes) {
  return base64_encode(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
}

size_t base64_decoded_size(std::string_view text) {
  const size_t len = text.size();
  if (len == 0 || len % 4 != 0) return base64_decoded_size_upper(len);
  return len / 4 * 3 - (text[len - 1] != '=' ? 0 : text[len - 2] != '=' ? 1 : 2);
}

// Writes only inside [out, out + base64_decoded_size(text)): the SIMD rounds
// stop while more output follows their junk bytes, every scalar group but
// the last is followed by at least one more output byte, and the last group
// writes exactly its 1 to 3 bytes.
Result<size_t> base64_decode(std::string_view text, uint8_t* out) {
  const size_t len = text.size();
  if (len == 0) return size_t{0};
  if (len % 4 != 0) return Error(describe_failure(text).error());

  const auto* p = reinterpret_cast<const uint8_t*>(text.data());
  const size_t size = base64_decoded_size(text);
  const size_t pad = len / 4 * 3 - size;
  uint8_t* o = out;

  // Every group but the last cannot hold padding, and is followed by at least
  // one more output byte. The SIMD path goes first (it stops well before the
  // last group); faults are OR-ed into `bad` and looked at once at the end:
  // no branch per character.
  const size_t body = len - 4;  // characters before the last group
  bool simd_bad = false;
  const size_t done = decode_simd(p, body, o, &simd_bad);
  p += done;
  o += done / 4 * 3;
  uint32_t bad = simd_bad ? kBad : 0;
  const uint8_t* last = reinterpret_cast<const uint8_t*>(text.data()) + body;
  for (; last - p >= 16; p += 16, o += 12) {
    const uint32_t a = decode_quad(p);
    const uint32_t b = decode_quad(p + 4);
    const uint32_t c = decode_quad(p + 8);
    const uint32_t d = decode_quad(p + 12);
    bad |= a | b | c | d;
    put_triple_and_junk(o, a);
    put_triple_and_junk(o + 3, b);
    put_triple_and_junk(o + 6, c);
    put_triple_and_junk(o + 9, d);
  }
  for (; p < last; p += 4, o += 3) {
    const uint32_t a = decode_quad(p);
    bad |= a;
    put_triple_and_junk(o, a);
  }

  // The last group: "xxxx", "xxx=" or "xx==". Unused low bits must be zero.
  uint32_t x;
  switch (pad) {
    case 0:
      x = decode_quad(p);
      bad |= x;
      o[2] = static_cast<uint8_t>(x >> 16);
      break;
    case 1:
      x = kDecode.at[0][p[0]] | kDecode.at[1][p[1]] | kDecode.at[2][p[2]];
      bad |= x | ((x & 0x00FF0000u) != 0 ? kBad : 0);
      break;
    default:
      x = kDecode.at[0][p[0]] | kDecode.at[1][p[1]];
      bad |= x | ((x & 0x00FFFF00u) != 0 ? kBad : 0);
      break;
  }
  if (pad < 2) o[1] = static_cast<uint8_t>(x >> 8);
  o[0] = static_cast<uint8_t>(x);
  if ((bad & kBad) != 0) return Error(describe_failure(text).error());
  return size;
}

Result<std::string> base64_decode(std::string_view text) {
  std::string out(base64_decoded_size(text), '\0');
  Result<size_t> n = base64_decode(text, reinterpret_cast<uint8_t*>(out.data()));
  if (!n) return n.error();
  out.resize(*n);
  return out;
}

std::string base64_encode_reference(std::string_view bytes) {
  std::string out;
  out.reserve(base64_encoded_size(bytes.size()));
  uint32_t acc = 0;
  int bits = 0;
  for (const char ch : bytes) {
    acc = (acc << 8) | static_cast<unsigned char>(ch);
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out += kAlphabet[(acc >> bits) & 63];
    }
    acc &= (1u << bits) - 1;
  }
  if (bits > 0) out += kAlphabet[(acc << (6 - bits)) & 63];
  while (out.size() % 4 != 0) out += '=';
  return out;
}

Result<std::string> base64_decode_reference(std::string_view text) {
  const size_t len = text.size();
  // 1. Every character in order: the first unacceptable one is the error.
  for (size_t i = 0; i < len; ++i) {
    if (sextet_of(text[i]) >= 0) continue;
    if (text[i] == '=') {
      const bool last = i + 1 == len;
      const bool second_last = i + 2 == len && text[len - 1] == '=';
      if (last || second_last) continue;
      return invalid("base64: padding '=' at offset " + std::to_string(i) +
                     " is misplaced (only the last one or two characters may be '=')");
    }
    return bad_character(text, i);
  }
  // 2. The length (padding is mandatory).
  if (len % 4 != 0) {
    return invalid("base64: length " + std::to_string(len) +
                   " is not a multiple of 4 (padding '=' is required)");
  }
  // 3. The bits the last character holds beyond the last whole byte (4 of
  //    them before "==", 2 before "=") must be zero. Checked before decoding
  //    so no failure costs a decode.
  size_t data_len = len;
  while (data_len > 0 && text[data_len - 1] == '=') --data_len;
  const int unused_bits = static_cast<int>(data_len * 6 % 8);
  if (unused_bits != 0 && (sextet_of(text[data_len - 1]) & ((1 << unused_bits) - 1)) != 0) {
    const size_t at = data_len - 1;
    return invalid("base64: non-zero trailing bits in '" + std::string(1, text[at]) +
                   "' at offset " + std::to_string(at) +
                   " (the last character before the padding must end in zero bits)");
  }
  // 4. Decode bit by bit.
  std::string out;
  out.reserve(data_len * 3 / 4);
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < data_len; ++i) {
    acc = (acc << 6) | static_cast<uint32_t>(sextet_of(text[i]));
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xFF);
      acc &= (1u << bits) - 1;
    }
  }
  return out;
}

}  // namespace chatwire::media
