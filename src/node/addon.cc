// Module entry of the Node addon: the stateless core functions (codec, images,
// base64) and, from server.cc and client.cc, the ChatServer and ChatClient
// natives. Each function is a one-line translation into core/api.
#include <napi.h>

#include <cstdlib>
#include <cstring>
#include <string_view>

#include "core/api/facade.h"
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

Napi::Value limits(const Napi::CallbackInfo& info) {
  return from_json(info.Env(), api::limits_json(optional_string_arg(info, 0)));
}

Napi::Value error_codes(const Napi::CallbackInfo& info) {
  return from_json(info.Env(), api::error_codes_json());
}

// Base64 is the hot path for photos (4-8 MB per image), so these two avoid
// every copy and zero-fill they can:
//  - encode: large outputs are handed to V8 as an external one-byte string
//    (node_api_create_external_string_latin1, Node >= 20.4): the text is
//    written once, by the encoder, and never copied. Small outputs, or a Node
//    without that function, are encoded into a reused buffer and copied.
//  - decode: an ASCII string is read with one latin-1 copy into a reused
//    buffer (not through UTF-8 conversion into a fresh std::string), and the
//    decoded bytes become the ArrayBuffer's memory without a copy.
// (Measured by bench/base64.mjs.)
constexpr size_t kExternalStringMin = 64 * 1024;

std::string& scratch() {
  static std::string buffer;  // the addon runs on Node's main thread only
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
  std::string& out = scratch();
  if (out.size() < n) out.resize(n);
  media::base64_encode(bytes.Data(), bytes.ByteLength(), out.data());
  // Latin-1 creation skips UTF-8 validation: base64 is ASCII.
  napi_create_string_latin1(env, out.data(), n, &s);
  return Napi::Value(env, s);
}

// The text of a string argument for the decoder: its latin-1 copy when it is
// pure ASCII (UTF-8 length == length), else its UTF-8 (so a non-ASCII
// character is reported exactly as before, by its UTF-8 offset).
std::string_view base64_text(const Napi::CallbackInfo& info, std::string& utf8_fallback) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) throw Napi::TypeError::New(env, "text must be a string");
  napi_value v = info[0];
  size_t length = 0;
  size_t utf8_length = 0;
  napi_get_value_string_latin1(env, v, nullptr, 0, &length);
  napi_get_value_string_utf8(env, v, nullptr, 0, &utf8_length);
  if (length != utf8_length) {
    utf8_fallback = info[0].As<Napi::String>().Utf8Value();
    return utf8_fallback;
  }
  std::string& buf = scratch();
  if (buf.size() < length + 1) buf.resize(length + 1);  // napi writes a NUL after the text
  size_t copied = 0;
  napi_get_value_string_latin1(env, v, buf.data(), length + 1, &copied);
  return std::string_view(buf.data(), copied);
}

Napi::Value base64_decode(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string utf8;
  auto decoded = media::base64_decode(base64_text(info, utf8));
  if (!decoded) return from_json(env, api::error_json(decoded.error()));
  auto out = Napi::Object::New(env);
  out.Set("ok", true);
  if (decoded->empty()) {
    out.Set("bytes", Napi::Uint8Array::New(env, 0));
    return out;
  }
  // The decoded std::string becomes the ArrayBuffer's memory (no copy).
  auto* owned = new std::string(std::move(*decoded));
  auto buffer = Napi::ArrayBuffer::New(env, owned->data(), owned->size(),
                                       [](Napi::Env, void*, std::string* s) { delete s; }, owned);
  out.Set("bytes", Napi::Uint8Array::New(env, owned->size(), buffer, 0));
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
  exports.Set("limits", Napi::Function::New(env, limits, "limits"));
  exports.Set("errorCodes", Napi::Function::New(env, error_codes, "errorCodes"));
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
