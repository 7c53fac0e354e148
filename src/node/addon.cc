// Module entry of the Node addon: the stateless core functions (codec, images,
// base64) and, from server.cc and client.cc, the ChatServer and ChatClient
// natives. Each function is a one-line translation into core/api.
#include <napi.h>

#include <cstring>

#include "core/api/facade.h"
#include "core/media/base64.h"
#include "node/conversions.h"

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

Napi::Value base64_encode(const Napi::CallbackInfo& info) {
  auto bytes = bytes_arg(info, 0, "bytes");
  const size_t n = media::base64_encoded_size(bytes.ByteLength());
  std::string out(n, '\0');
  media::base64_encode(bytes.Data(), bytes.ByteLength(), out.data());
  // Latin-1 creation skips UTF-8 validation: base64 is ASCII.
  napi_value s;
  napi_create_string_latin1(info.Env(), out.data(), out.size(), &s);
  return Napi::Value(info.Env(), s);
}

Napi::Value base64_decode(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto decoded = media::base64_decode(string_arg(info, 0, "text"));
  if (!decoded) return from_json(env, api::error_json(decoded.error()));
  auto out = Napi::Object::New(env);
  out.Set("ok", true);
  out.Set("bytes", bytes_value(env, *decoded));
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
