// The core's stateless functions as the bindings expose them to JS.
//
// Every function takes and returns strings: JSON text in, JSON text out. The
// Node addon and the WASM module each wrap these in one line and turn the
// result into a JS object with JSON.parse, so neither binding holds a rule
// and both builds give byte-identical answers (tests/js/codec.test.js checks).
//
// Results are {"ok":true, ...} or {"ok":false,"error":{"code","error",
// "messageId"?,"imageId"?}}; the JS layer turns an error into a ChatError.
#ifndef CHATWIRE_CORE_API_FACADE_H_
#define CHATWIRE_CORE_API_FACADE_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "core/protocol/errors.h"
#include "core/protocol/limits.h"

namespace chatwire::api {

// The limits as JSON with the JS option names (defaults when given ""); the
// rules are parse_limits' (core/protocol/limits.h).
std::string limits_json(std::string_view limits_json);

// The core's verdict on ChatClient's options (the JSON js/internal/client.mjs
// passes to ClientSession::open), asked before any store is opened:
// {"ok":true} or {"ok":false,"error":{...}} naming the option and its range
// (client::client_config_from_json, then client::check_client_config).
std::string client_options_json(std::string_view options_json);

// Decodes and validates one frame. `direction` is "client" (a frame a client
// sends: connect, message, ...) or "server" (connect_confirm, confirm, ...).
// -> {"ok":true,"frame":{canonical frame}} or {"ok":false,"error":{...}}
std::string decode_frame(std::string_view text, std::string_view direction, std::string_view limits_json);

// Validates a frame given as JSON (e.g. a JS object stringified) and returns
// its canonical text: -> {"ok":true,"text":"..."} or {"ok":false,"error":{...}}
std::string encode_frame(std::string_view frame_json, std::string_view direction,
                         std::string_view limits_json);

// Image type and size from the bytes' headers.
// -> {"ok":true,"mimeType","width","height"} or {"ok":false,"error":{...}}
std::string sniff_image(const uint8_t* data, size_t n);

// Audio type and duration from the bytes' headers (PROTOCOL.md "Voice").
// Without `declared_mime`: what the bytes are (media::sniff_audio). With it:
// the whole check a message's audio gets, with PROTOCOL.md's limits
// (media::check_audio).
// -> {"ok":true,"mimeType","durationMs": number or null} or {"ok":false,"error":{...}}
std::string sniff_audio(const uint8_t* data, size_t n, const std::string* declared_mime);

// The error result JSON for an Error (shared by every binding-facing API).
std::string error_json(const Error& error);

// PROTOCOL.md's error codes, as a JSON array of strings.
std::string error_codes_json();

}  // namespace chatwire::api

#endif  // CHATWIRE_CORE_API_FACADE_H_
