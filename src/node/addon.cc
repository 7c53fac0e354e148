// Module entry of the Node addon: the stateless core functions (codec, images,
// base64) and, from server.cc and client.cc, the ChatServer and ChatClient
// natives. Each function is a one-line translation into core/api.
#include <napi.h>

#include <cstdlib>
#include <cstring>
#include <string_view>

#include "core/api/facade.h"
#include "core/api/server_options.h"
#include "core/media/base64.h"
#include "node/conversions.h"

// Node >= 20.4 exports this (experimental in node-api, so not in the headers
// at NAPI_VERSION 8). Declared weak: on a Node without it the pointer is null
// and base64_encode copies instead.
extern "C" napi_status __attribute__((weak))
node_api_create_external_string_latin1(napi_env env, char* str, size_t length, napi_finalize finalize_callback,
                                       void* finalize_hint, napi_value* result, bool* copied);

namespace chatwire::node {

Napi::Object init_server(Napi::Env env, Napi::Object exports);  // server.cc
Napi::Object init_client(Napi::Env env, Napi::Object exports);  // client.cc

namespace {

Napi::Value decode_frame(const Napi::CallbackInfo& info) {
  return from_json(info.Env(), api::decode_frame(string_arg(info, 0, "text"), string_arg(info, 1, "direction"),
                                                 optional_string_arg(info, 2)));
}

Napi::Value encode_frame(const Napi::CallbackInfo& info) {
  return from_json(info.Env(), api::encode_frame(string_arg(info, 0, "frameJson"),
                                                 string_arg(info, 1, "direction"), optional_string_arg(info, 2)));
}

Napi::Value sniff_image(const Napi::CallbackInfo& info) {
  auto bytes = bytes_arg(info, 0, "bytes");
  return from_json(info.Env(), api::sniff_image(bytes.Data(), bytes.ByteLength()));
}

Napi::Value sniff_audio(const Napi::CallbackInfo& info) {
  auto bytes = bytes_arg(info, 0, "bytes");
  const bool declared = info.Length() > 1 && info[1].IsString();
  const std::string mime = optional_string_arg(info, 1);
  return from_json(info.Env(), api::sniff_audio(bytes.Data(), bytes.ByteLength(), declared ? &mime : nullptr));
}

Napi::Value limits(const Napi::CallbackInfo& info) {
  return from_json(info.Env(), api::limits_json(optional_string_arg(info, 0)));
}

Napi::Value error_codes(const Napi::CallbackInfo& info) {
  return from_json(info.Env(), api::error_codes_json());
}

// The core's verdict on ChatClient / ChatServer options before anything is
// opened (the rules: client/client_config.cc, server/server_config.cc).
Napi::Value client_options(const Napi::CallbackInfo& info) {
  return from_json(info.Env(), api::client_options_json(string_arg(info, 0, "options")));
}

Napi::Value server_options(const Napi::CallbackInfo& info) {
  return from_json(info.Env(), api::server_options_json(string_arg(info, 0, "options")));
}

// Base64 is the hot path for photos (4-8 MB per image), so these two avoid
// every copy and zero-fill they can:
//  - encode: large outputs are handed to V8 as an external one-byte string
//    (node_api_create_external_string_latin1, Node >= 20.4): the text is
//    written once, by the encoder, and never copied. Small outputs, or a Node
//    without that function, are encoded into a reused buffer and copied.
//  - decode: the string is read with one UTF-8 write into a reused buffer
//    (the one copy node-api allows), and decoded straight into a Buffer's
//    uninitialised memory (no zero-fill, no second copy).
// (Measured by bench/base64.mjs.)
constexpr size_t kExternalStringMin = 64 * 1024;

// A reused buffer of at least `n` bytes. malloc'd, not a std::string: growing
// it does not zero-fill, so only the pages a call writes become resident (the
// decoder asks for 3 bytes per character of room but an ASCII text uses one).
char* scratch(size_t n) {
  static char* buffer = nullptr;  // the addon runs on Node's main thread only
  static size_t capacity = 0;
  if (capacity < n) {
    std::free(buffer);
    buffer = static_cast<char*>(std::malloc(n));
    capacity = buffer != nullptr ? n : 0;
  }
  return buffer;
}

// Finalizer of an external string: frees the text and tells V8 the memory is
// gone. V8 is told of the memory when the string is made (as Node's own
// Buffer.toString does), so it collects these strings about as often as it
// would collect heap strings of that size; without that, freed pages are
// returned to the OS and faulted in again by the next encode.
void free_text(napi_env env, void* data, void* hint) {
  std::free(data);
  int64_t ignored;
  napi_adjust_external_memory(env, -static_cast<int64_t>(reinterpret_cast<uintptr_t>(hint)), &ignored);
}

Napi::Value base64_encode(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto bytes = bytes_arg(info, 0, "bytes");
  const size_t n = media::base64_encoded_size(bytes.ByteLength());
  napi_value s;
  if (n >= kExternalStringMin && node_api_create_external_string_latin1 != nullptr) {
    char* out = static_cast<char*>(std::malloc(n));
    if (out != nullptr) {
      media::base64_encode(bytes.Data(), bytes.ByteLength(), out);
      bool copied = false;
      // On success V8 owns `out` (free_text runs when the string is collected,
      // or at once if V8 chose to copy). The call fails only for lengths over
      // V8's string limit, far above any image; then `out` is released here.
      void* hint = reinterpret_cast<void*>(static_cast<uintptr_t>(n));
      if (node_api_create_external_string_latin1(env, out, n, free_text, hint, &s, &copied) == napi_ok) {
        // (+n in both cases: if V8 copied, free_text already ran and took n off.)
        int64_t ignored;
        napi_adjust_external_memory(env, static_cast<int64_t>(n), &ignored);
        return Napi::Value(env, s);
      }
      std::free(out);
    }
  }
  char* out = scratch(n > 0 ? n : 1);
  if (out == nullptr) throw Napi::Error::New(env, "base64: out of memory");
  media::base64_encode(bytes.Data(), bytes.ByteLength(), out);
  // Latin-1 creation skips UTF-8 validation: base64 is ASCII.
  napi_create_string_latin1(env, out, n, &s);
  return Napi::Value(env, s);
}

// The text of a string argument for the decoder, as UTF-8 in a reused
// buffer, written by one V8 call (no separate length or ASCII scan): a JS
// string of `length` code units takes at most 3 * length UTF-8 bytes, and the
// buffer's pages are only touched as far as V8 writes. Base64 is ASCII, so a
// valid text comes out byte for byte; a non-ASCII character is reported by
// its UTF-8 offset, like every other decoder error.
std::string_view base64_text(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) throw Napi::TypeError::New(env, "text must be a string");
  napi_value v = info[0];
  size_t length = 0;
  napi_get_value_string_utf16(env, v, nullptr, 0, &length);  // O(1): the string's length
  const size_t room = length * 3 + 1;  // + napi's NUL
  char* buf = scratch(room);
  if (buf == nullptr) throw Napi::Error::New(env, "base64: out of memory");
  size_t written = 0;
  napi_get_value_string_utf8(env, v, buf, room, &written);
  return std::string_view(buf, written);
}

Napi::Value base64_decode(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string_view text = base64_text(info);
  // Decoded straight into a Node Buffer's memory (allocated uninitialised by
  // Node, freed by V8's GC like any Buffer): no zero-fill, no copy, and no
  // fresh pages per call, which an external ArrayBuffer (freed only when its
  // finalizer runs, after the current JS turn) cost at photo sizes. The
  // decoder writes nothing past base64_decoded_size(text).
  const size_t size = media::base64_decoded_size(text);
  void* data = nullptr;
  napi_value buffer;
  if (napi_create_buffer(env, size, &data, &buffer) != napi_ok) {
    throw Napi::Error::New(env, "base64: could not allocate " + std::to_string(size) + " bytes");
  }
  Result<size_t> n = media::base64_decode(text, static_cast<uint8_t*>(data));
  if (!n) return from_json(env, api::error_json(n.error()));
  // A plain Uint8Array over the Buffer's memory, so callers get the type the
  // WASM build returns.
  napi_value array_buffer;
  size_t offset = 0;
  napi_get_typedarray_info(env, buffer, nullptr, nullptr, nullptr, &array_buffer, &offset);
  auto out = Napi::Object::New(env);
  out.Set("ok", true);
  out.Set("bytes", Napi::Uint8Array::New(env, *n, Napi::ArrayBuffer(env, array_buffer), offset));
  return out;
}

}  // namespace

Napi::Object init(Napi::Env env, Napi::Object exports) {
  auto* data = new AddonData();
  Napi::Object json = env.Global().Get("JSON").As<Napi::Object>();
  data->json_parse = Napi::Persistent(json.Get("parse").As<Napi::Function>());
  data->json_stringify = Napi::Persistent(json.Get("stringify").As<Napi::Function>());
  env.SetInstanceData(data);

  exports.Set("decodeFrame", Napi::Function::New(env, decode_frame, "decodeFrame"));
  exports.Set("encodeFrame", Napi::Function::New(env, encode_frame, "encodeFrame"));
  exports.Set("sniffImage", Napi::Function::New(env, sniff_image, "sniffImage"));
  exports.Set("sniffAudio", Napi::Function::New(env, sniff_audio, "sniffAudio"));
  exports.Set("limits", Napi::Function::New(env, limits, "limits"));
  exports.Set("errorCodes", Napi::Function::New(env, error_codes, "errorCodes"));
  exports.Set("clientOptions", Napi::Function::New(env, client_options, "clientOptions"));
  exports.Set("serverOptions", Napi::Function::New(env, server_options, "serverOptions"));
  exports.Set("base64Encode", Napi::Function::New(env, base64_encode, "base64Encode"));
  exports.Set("base64Decode", Napi::Function::New(env, base64_decode, "base64Decode"));
  init_server(env, exports);
  init_client(env, exports);
  return exports;
}

}  // namespace chatwire::node

static Napi::Object InitChatwire(Napi::Env env, Napi::Object exports) {
  return chatwire::node::init(env, exports);
}
NODE_API_MODULE(chatwire, InitChatwire)
