// Image type and dimensions from the first bytes of a file, and the full check
// of one attached image (PROTOCOL.md "message" and "Limits"): the server runs
// check_image on every decoded image it receives and the clients run the same
// function before anything is stored or sent, so both refuse the same images
// with the same words.
//
// What is read: each format's structure is walked far enough to know the file
// is that format (issue 15), and no further; pixels are never decoded.
//   PNG   signature; IHDR first (length 13, CRC, a colour type and bit depth
//         that exist, compression 0, filter 0, interlace 0 or 1): width and
//         height; then every chunk up to the first IDAT: length <= 2^31-1,
//         a type of four letters, CRC, and order (no second IHDR or PLTE, no
//         IEND, no unknown critical chunk; PLTE before IDAT for colour type
//         3, never for greyscale). The walk ends at the first IDAT's chunk
//         header; its data is not read.
//   JPEG  SOI, then marker segments in order (APPn such as EXIF APP1 first,
//         DQT, DHT, COM, ...; any number of 0xFF fill bytes before a marker;
//         reserved markers 0x02..0xBF refused) through one frame header
//         SOF0..SOF15 other than DHT (C4), JPG (C8) and DAC (CC), whose
//         length must hold its components, to the first scan header (SOS,
//         1 to 4 components, length 6 + 2 each). Height and width come from
//         the frame header. A scan before a frame header, a second frame
//         header or EOI before the scan is an error. The entropy-coded data
//         after SOS is not read.
//   GIF   "GIF87a" / "GIF89a", the logical screen (width, height), the global
//         colour table, then every block to the trailer: extensions and image
//         data skipped by their sub-block lengths (no LZW decoding), at least
//         one image, and every image descriptor inside the logical screen
//         (issue 14.7: decoders grow their canvas to fit a bigger frame, so a
//         frame outside the screen would bypass the dimension limit, which
//         check_image applies to the screen).
//   WebP  "RIFF" <size> "WEBP": the size must fit in the file; then the chunk
//         layout inside it, every chunk ending inside the RIFF data: "VP8 "
//         (lossy: key frame tag, start code 9d 01 2a, 14-bit width and
//         height) or "VP8L" (lossless: signature 0x2f, 14-bit width-1 and
//         height-1) as the only chunk, or "VP8X" (extended: 24-bit canvas
//         width-1 and height-1) followed by other chunks up to the image's
//         bitstream, whose size must be the canvas's, or, for an animation,
//         through every ANMF frame, each inside the canvas and its bitstream
//         the frame's size.
//
// How far the walk goes, and what that means for files that are images only
// in part:
//   - Foreign bytes where the structure must be (HTML after "GIF89a" or after
//     the logical screen, script between IHDR and IDAT, text after a JPEG's
//     APP0): "is not a valid <format> (...)" naming the offset and what was
//     found there.
//   - A file that ends before the walk does: "is a truncated <format> (...)".
//     So a prefix of a file either fails as truncated or, once the walk's
//     end is in it, gives the same answer as the whole file.
//   - Bytes after the end of the walk (after the GIF trailer, the RIFF size,
//     the first IDAT header or the first scan header) are not read, so data
//     appended to a complete image neither changes the verdict nor fails it:
//     a PNG with a script appended is a PNG. Finding the end of a PNG or JPEG
//     would mean reading all of its pixel data, and phones append data after
//     a JPEG's EOI (motion photos). Sniffing says what a file is; it does not
//     make the bytes safe to serve as anything else (see docs/security.md).
//   - Declaring the type the signature does not give fails check_image.
//
// All functions are pure and never read past `data + n`; each step of each
// walk moves forward, so time is linear in n.
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
// 3c 73 76 67 ...)", "image is a truncated PNG (33 bytes needed for the
// header, 20 given)", "image is not a valid GIF (expected a block (0x21, 0x2c
// or 0x3b) at offset 13, found 0x3c)", "image is a GIF with zero width".
// `data` may be null when n is 0.
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
