// Every JS <-> native conversion of the addon (as node-tree-sitter keeps them
// in one file). The core speaks JSON text; JS values cross through the JS
// engine's own JSON.parse / JSON.stringify, and bytes as Uint8Array.
#ifndef CHATWIRE_NODE_CONVERSIONS_H_
#define CHATWIRE_NODE_CONVERSIONS_H_

#include <napi.h>

#include <cstring>

#include <string>
#include <string_view>

namespace chatwire::node {

// Per-environment state (worker threads and Jest each get their own).
struct AddonData {
  Napi::FunctionReference json_parse;
  Napi::FunctionReference json_stringify;
  Napi::FunctionReference server_constructor;
  Napi::FunctionReference client_constructor;
};

inline AddonData& addon_data(Napi::Env env) { return *env.GetInstanceData<AddonData>(); }

// JSON text made by the core -> JS value.
inline Napi::Value from_json(Napi::Env env, std::string_view json) {
  return addon_data(env).json_parse.Call({Napi::String::New(env, json.data(), json.size())});
}

// A JS value -> JSON text for the core ("" for undefined).
inline std::string to_json(Napi::Env env, Napi::Value value) {
  if (value.IsUndefined()) return "";
  Napi::Value text = addon_data(env).json_stringify.Call({value});
  return text.IsString() ? text.As<Napi::String>().Utf8Value() : std::string();
}

// A string argument, or a TypeError naming it.
inline std::string string_arg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (info.Length() <= i || !info[i].IsString()) {
    throw Napi::TypeError::New(info.Env(), std::string(name) + " must be a string");
  }
  return info[i].As<Napi::String>().Utf8Value();
}

inline std::string optional_string_arg(const Napi::CallbackInfo& info, size_t i) {
  return info.Length() > i && info[i].IsString() ? info[i].As<Napi::String>().Utf8Value() : std::string();
}

// Bytes of a Uint8Array / Buffer argument, or a TypeError naming it.
inline Napi::Uint8Array bytes_arg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (info.Length() <= i || !info[i].IsTypedArray() ||
      info[i].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    throw Napi::TypeError::New(info.Env(), std::string(name) + " must be a Uint8Array or Buffer");
  }
  return info[i].As<Napi::Uint8Array>();
}

inline Napi::Value bytes_value(Napi::Env env, const std::string& bytes) {
  auto out = Napi::Uint8Array::New(env, bytes.size());
  if (!bytes.empty()) std::memcpy(out.Data(), bytes.data(), bytes.size());
  return out;
}

}  // namespace chatwire::node

#endif  // CHATWIRE_NODE_CONVERSIONS_H_
