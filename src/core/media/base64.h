// Base64 (RFC 4648 section 4: standard alphabet, '=' padding) as the wire
// carries image bytes: `"data":"<base64, no data: prefix>"` (PROTOCOL.md,
// "message").
//
// Decoding is strict, because the server and both client builds must agree on
// exactly which texts are images. Refused, with code image_invalid and a
// message naming what is wrong and at which offset:
//   - any character outside A-Z a-z 0-9 + / (including '-' and '_' of the URL
//     alphabet, and "data:" prefixes);
//   - whitespace of any kind, line breaks included (policy: none allowed; MIME
//     line wrapping is not part of the protocol);
//   - a length that is not a multiple of 4 (padding is required);
//   - '=' anywhere but the last one or two positions, or three of them;
//   - non-zero bits in the unused low bits of the last character before the
//     padding (so every byte string has exactly one accepted encoding).
//
// Speed: the fast paths are portable table-driven scalar code (a 4096-entry
// table that turns 12 input bits into 2 characters; four 256-entry 32-bit
// tables that turn 4 characters into 3 bytes plus an error bit), processed in
// blocks with no per-byte branches. Both directions have SIMD paths in front
// of the scalar one: WebAssembly SIMD128 in the WASM build (-msimd128), and
// AVX2 on x86-64 when the CPU has it (checked once at run time); the scalar
// code finishes what they leave (the last few dozen bytes or characters) and
// runs everywhere else. The *_reference functions are the simple
// bit-by-bit versions the tests and fuzzers compare the fast paths with.
// Everything here is pure: no I/O, no allocation beyond the returned string,
// no mutable state.
#ifndef CHATWIRE_CORE_MEDIA_BASE64_H_
#define CHATWIRE_CORE_MEDIA_BASE64_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/protocol/errors.h"

namespace chatwire::media {

// Number of characters base64_encode writes for `n` input bytes, padding
// included: 4 * ceil(n / 3). Call it to size a buffer for the pointer form of
// base64_encode. `n` must be at most SIZE_MAX / 4 * 3 (no overflow check).
size_t base64_encoded_size(size_t n);

// Encodes `n` bytes at `in` into exactly base64_encoded_size(n) characters at
// `out` (standard alphabet, '=' padding, no NUL terminator, no line breaks).
// `out` must not overlap `in`. Use this form to encode into a buffer you own
// (e.g. a frame being built); the string forms below allocate.
void base64_encode(const uint8_t* in, size_t n, char* out);

// Encodes `n` bytes at `in` and returns the base64 text.
std::string base64_encode(const uint8_t* in, size_t n);

// Encodes the bytes of `bytes` (any content, NULs included) and returns the
// base64 text.
std::string base64_encode(std::string_view bytes);

// Strictly decodes `text` (see the rules at the top of this file) and returns
// the bytes, or an Error with code image_invalid whose message says what is
// wrong and at which 0-based offset, e.g.
// "base64: whitespace (0x0a) at offset 76 is not allowed". The empty text
// decodes to the empty string. When a text has several faults, the first
// offending character is reported; a length that is not a multiple of 4 is
// reported only when every character is acceptable.
Result<std::string> base64_decode(std::string_view text);

// The same decoder writing into a buffer you own: `out` must have room for
// base64_decoded_size(text) bytes, and nothing past them is written. Returns
// how many bytes the text decodes to (that same number), or the same Error as
// above; bytes in `out` are unspecified after a failure. Use it to decode
// straight into memory that outlives the call (a Buffer's or ArrayBuffer's
// store) without a zero-fill or a copy.
Result<size_t> base64_decode(std::string_view text, uint8_t* out);

// An upper bound on the bytes base64_decode returns for a text of `text_len`
// characters: 3 * ceil(text_len / 4). Use it to check a size limit before
// decoding (the exact size of a valid text is that minus its '=' count).
size_t base64_decoded_size_upper(size_t text_len);

// The exact number of bytes a valid `text` decodes to: 3 per 4 characters
// minus the trailing '=' count (at most 2). For a text whose length is not a
// multiple of 4 (which never decodes) it is base64_decoded_size_upper.
size_t base64_decoded_size(std::string_view text);

// Reference encoder: 6 bits at a time, no tables beyond the alphabet. Same
// output as base64_encode; kept for tests, fuzzers and benchmarks.
std::string base64_encode_reference(std::string_view bytes);

// Reference decoder: validates every character in order, then decodes bit by
// bit. Same results as base64_decode (value and, on failure, the identical
// Error); kept for tests, fuzzers and benchmarks. base64_decode defers to it
// to describe a failure, so error messages have a single source.
Result<std::string> base64_decode_reference(std::string_view text);

}  // namespace chatwire::media

#endif  // CHATWIRE_CORE_MEDIA_BASE64_H_
