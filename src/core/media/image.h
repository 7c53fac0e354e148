// Image type and dimensions from the first bytes of a file, and the full check
// of one attached image (PROTOCOL.md "message" and "Limits"): the server runs
// check_image on every decoded image it receives and the clients run the same
// function before anything is stored or sent, so both refuse the same images
// with the same words.
//
// What is read (and nothing else; pixels are never decoded):
//   PNG   signature, then the IHDR chunk that must come first: width, height.
//   JPEG  SOI, then marker segments in order (APPn such as EXIF APP1 first,
//         DQT, DHT, COM, ...; any number of 0xFF fill bytes before a marker)
//         up to the first frame header SOF0..SOF15 other than DHT (C4), JPG
//         (C8) and DAC (CC); baseline, progressive (SOF2), lossless and
//         arithmetic frames all carry height and width there. A scan (SOS) or
//         end (EOI) before any frame header is an error.
//   GIF   "GIF87a" / "GIF89a", then the logical screen width and height.
//   WebP  "RIFF" <size> "WEBP", then the first chunk: "VP8 " (lossy: key
//         frame tag, start code 9d 01 2a, 14-bit width and height), "VP8L"
//         (lossless: signature 0x2f, 14-bit width-1 and height-1) or "VP8X"
//         (extended: 24-bit canvas width-1 and height-1).
//
// Polyglots: the verdict is given by the leading signature alone. A GIF header
// followed by PNG data is a GIF (with the GIF's dimensions), a PNG with script
// or an archive appended is a PNG; bytes after the header are never looked at,
// so trailing data can neither change the type nor make it fail. Declaring the
// type the signature does not give fails check_image.
//
// All functions are pure and never read past `data + n`: a file cut anywhere
// either still carries its whole header (and gives the same answer as the
// complete file) or fails with "truncated".
#ifndef CHATWIRE_CORE_MEDIA_IMAGE_H_
#define CHATWIRE_CORE_MEDIA_IMAGE_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/protocol/errors.h"
#include "core/protocol/limits.h"

namespace chatwire::media {

// What the header of an image says: its MIME type (one of the four supported)
// and its dimensions in pixels (both at least 1).
struct ImageInfo {
  std::string mime_type;
  uint32_t width = 0;
  uint32_t height = 0;
};

// Identifies the image in `data[0, n)` by its magic number and reads its
// dimensions from the header (see the top of this file for what is read).
// Call it to learn what a file is before attaching it (the JS sniffImage).
// Fails with code image_invalid and a message starting "image ", e.g.
// "image is empty (0 bytes)", "image has an unknown signature (first bytes
// 3c 73 76 67 ...)", "image is a truncated PNG (24 bytes needed for the
// header, 20 given)", "image has zero width". `data` may be null when n is 0.
Result<ImageInfo> sniff_image(const uint8_t* data, size_t n);

// Checks one decoded image attached to a message, exactly as the server and
// the clients both do, in this order:
//   1. n <= limits.max_image_bytes, else code too_large;
//   2. `declared_mime` is one of the four supported types (is_supported_mime);
//   3. sniff_image succeeds;
//   4. the sniffed type equals `declared_mime`
//      ("image 2 (<id>) is image/gif but was declared image/png");
//   5. width and height are each <= limits.max_image_dimension.
// Failures other than 1 have code image_invalid. `index` is the image's
// 1-based position in the message; the message names the image as
// "image <index> (<id>)", or "image <index>" when `id` is empty; the Error's
// image_id is `id` (the caller sets message_id). Returns the sniffed info.
Result<ImageInfo> check_image(const uint8_t* data, size_t n, std::string_view declared_mime,
                              const Limits& limits, size_t index, std::string_view id);

// True for exactly "image/png", "image/jpeg", "image/gif" and "image/webp"
// (case-sensitive, as PROTOCOL.md spells them; "image/jpg" is not one).
bool is_supported_mime(std::string_view mime);

}  // namespace chatwire::media

#endif  // CHATWIRE_CORE_MEDIA_IMAGE_H_
