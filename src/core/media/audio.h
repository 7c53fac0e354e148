// Audio type and duration from a file's headers, and the full check of the
// one audio item a message may carry (PROTOCOL.md "Voice"): the server runs
// check_audio on a message's decoded audio and the clients run the same
// function before anything is stored or sent, so both refuse the same files
// with the same words. Modelled on image.h: each format's structure is walked
// far enough to know the file is that format, and no sample is decoded.
//
// What is read:
//   WAV   "RIFF" <size> "WAVE" (the RIFF size must fit the file), then every
//         chunk inside it up to the "data" chunk's header: "fmt " first
//         (16 bytes or more: format 1 PCM, 3 float, 6 A-law, 7 mu-law or
//         0xfffe extensible with 40 bytes; channels, sample rate, byte rate
//         and block align not 0, and for PCM and float the byte rate and
//         block align that channels x bits give), then "data", whose size must
//         fit in the RIFF data. Duration: data size / byte rate.
//   Ogg   every page from the first to the end of the bytes: "OggS", version
//         0, its CRC, one logical stream (one serial number), sequence
//         numbers 0, 1, 2, ...; the first page alone begins the stream (BOS)
//         and holds exactly the identification header: OpusHead (version
//         0.x, channels not 0) or Vorbis' (packet type 1 "vorbis", version 0,
//         channels and sample rate not 0, framing bit). Duration: the last
//         page's granule position (Opus: 48 kHz samples minus the pre-skip;
//         Vorbis: samples at its rate); unknown when no page gives one.
//   WebM  the EBML header (EBMLVersion 1 when present, DocType "webm" or
//         "matroska", both audio/webm), then the Segment's top-level
//         elements up to the first Cluster (or the Segment's end): each
//         element's size inside its parent and the file; Info (TimecodeScale,
//         Duration) and Tracks, whose every TrackEntry is an audio track
//         (TrackType 2), both before the first Cluster. Duration: Info's
//         Duration x TimecodeScale when present (a live recording, such as
//         MediaRecorder's, has none: unknown). The clusters are not read.
//   MP3   an ID3v2 tag (syncsafe size) skipped, then two MPEG audio frame
//         headers in a row (sync, version, layer, bitrate not free or
//         invalid, sample rate; the second where the first's length says,
//         with the same version, layer and sample rate), or one frame that
//         ends the file. Duration: the frame count of a Xing/Info or VBRI
//         header in the first frame, else the bytes after the tag (less an
//         ID3v1 tag) at the first frame's bitrate.
//
// As for images: foreign bytes where the structure must be are "is not a
// valid <format> (...)"; a file cut before the walk ends is "is a truncated
// <format> (...)", so a prefix either fails as truncated or gives the same
// type; bytes after the walk's end (after the RIFF size, the WebM's first
// Cluster, the second MP3 frame header) are not read. An Ogg stream is walked
// to its end, so anything after its last page is refused.
//
// All functions are pure, never read past `data + n`, and take time linear
// in n.
#ifndef CHATWIRE_CORE_MEDIA_AUDIO_H_
#define CHATWIRE_CORE_MEDIA_AUDIO_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/protocol/errors.h"
#include "core/protocol/limits.h"

namespace chatwire::media {

// What the headers of an audio file say: its MIME type (one of the four
// PROTOCOL.md allows) and its duration in milliseconds, rounded down, when the
// headers tell it (nullopt when they do not, e.g. a WebM from MediaRecorder).
struct AudioInfo {
  std::string mime_type;
  std::optional<uint64_t> duration_ms;
};

// Identifies the audio in `data[0, n)` by its magic number and walks its
// headers (see the top of this file). Call it to learn what a recording is
// before attaching it (the JS sniffAudio). Fails with code invalid_field and a
// message starting "audio ", e.g. "audio is empty (0 bytes)", "audio has an
// unknown signature (first bytes 3c 68 74 6d ...)", "audio is a truncated WAV
// (it ends at byte 30, inside its 'fmt ' chunk)", "audio is not a valid Ogg
// (page 0's CRC is ..., its bytes give ...)". `data` may be null when n is 0.
Result<AudioInfo> sniff_audio(const uint8_t* data, size_t n);

// Checks a message's decoded audio, as the server and the clients both do, in
// this order:
//   1. n <= limits.max_audio_bytes, else too_large;
//   2. `declared_mime` is one of the four (is_supported_audio_mime);
//   3. sniff_audio succeeds;
//   4. the sniffed type equals `declared_mime`
//      ("audio (<id>) is audio/ogg but was declared audio/wav");
//   5. the duration, when known, is <= limits.max_audio_duration_ms, else
//      too_large.
// Failures other than 1 and 5 are invalid_field. The message names the audio
// as "audio (<id>)", or "audio" when `id` is empty; the caller sets the
// Error's message_id. Returns the sniffed info.
Result<AudioInfo> check_audio(const uint8_t* data, size_t n, std::string_view declared_mime,
                              const Limits& limits, std::string_view id);

// True for exactly "audio/wav", "audio/ogg", "audio/webm" and "audio/mpeg"
// (case-sensitive, as PROTOCOL.md spells them; "audio/mp3" is not one).
bool is_supported_audio_mime(std::string_view mime);

}  // namespace chatwire::media

#endif  // CHATWIRE_CORE_MEDIA_AUDIO_H_
