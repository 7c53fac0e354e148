// embind declarations of the core for the browser build. Like the Node addon
// (src/node/addon.cc) every function is a one-line translation into core/api;
// results come back as JS objects through the JS engine's JSON.parse, and
// nothing here throws (a C++ throw would reach JS as a bare number).
#include <emscripten/bind.h>
#include <emscripten/val.h>
#include <unistd.h>

#include <string>

#include "core/api/facade.h"
#include "core/media/base64.h"
#include "core/protocol/ids.h"

namespace chatwire::wasm {

using emscripten::val;

namespace {

val from_json(const std::string& json) { return val::global("JSON").call<val>("parse", json); }

// Copies a JS Uint8Array into wasm memory (one memcpy through a typed view).
std::string bytes_from(const val& array) {
  const size_t n = array["length"].as<size_t>();
  std::string out(n, '\0');
  if (n) {
    val view(emscripten::typed_memory_view(n, reinterpret_cast<uint8_t*>(out.data())));
    view.call<void>("set", array);
  }
  return out;
}

val bytes_to(const std::string& bytes) {
  val view(emscripten::typed_memory_view(bytes.size(), reinterpret_cast<const uint8_t*>(bytes.data())));
  return val::global("Uint8Array").new_(view);  // a copy that outlives wasm memory growth
}

val decode_frame(std::string text, std::string direction, std::string limits) {
  return from_json(api::decode_frame(text, direction, limits));
}

val encode_frame(std::string frame_json, std::string direction, std::string limits) {
  return from_json(api::encode_frame(frame_json, direction, limits));
}

val sniff_image(val bytes) {
  const std::string b = bytes_from(bytes);
  return from_json(api::sniff_image(reinterpret_cast<const uint8_t*>(b.data()), b.size()));
}

val limits(std::string json) { return from_json(api::limits_json(json)); }
val error_codes() { return from_json(api::error_codes_json()); }

std::string base64_encode(val bytes) {
  const std::string b = bytes_from(bytes);
  return media::base64_encode(b);
}

val base64_decode(std::string text) {
  auto decoded = media::base64_decode(text);
  if (!decoded) return from_json(api::error_json(decoded.error()));
  val out = val::object();
  out.set("ok", true);
  out.set("bytes", bytes_to(*decoded));
  return out;
}

}  // namespace

// crypto.getRandomValues, reached through Emscripten's getentropy().
class BrowserEntropy final : public Entropy {
 public:
  void fill(uint8_t* out, size_t n) override {
    while (n > 0) {
      const size_t chunk = n < 256 ? n : 256;  // getentropy's maximum per call
      getentropy(out, chunk);
      out += chunk;
      n -= chunk;
    }
  }
};

}  // namespace chatwire::wasm

EMSCRIPTEN_BINDINGS(chatwire) {
  using namespace chatwire::wasm;
  emscripten::function("decodeFrame", &decode_frame);
  emscripten::function("encodeFrame", &encode_frame);
  emscripten::function("sniffImage", &sniff_image);
  emscripten::function("limits", &limits);
  emscripten::function("errorCodes", &error_codes);
  emscripten::function("base64Encode", &base64_encode);
  emscripten::function("base64Decode", &base64_decode);
}
