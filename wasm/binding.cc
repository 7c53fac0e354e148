// embind declarations of the core for the browser build. Like the Node addon
// (src/node/addon.cc) every function is a one-line translation into core/api;
// results come back as JS objects through the JS engine's JSON.parse, and
// nothing here throws (a C++ throw would reach JS as a bare number).
#include <emscripten/bind.h>
#include <emscripten/val.h>
#include <unistd.h>

#include <string>

#include "core/api/client_session.h"
#include "core/api/facade.h"
#include "core/media/base64.h"
#include "core/protocol/ids.h"

namespace chatwire::wasm {

using emscripten::val;

namespace {

// Text between wasm memory and JS goes through TextDecoder / TextEncoder:
// embind's own std::string conversion walks the bytes one at a time in JS
// (~30 MB/s), which made every large frame (a message with photos: megabytes
// of base64) and base64 itself slow. These run at memcpy-like speed.

// UTF-8 bytes in wasm memory -> a JS string (no NUL scan, no per-byte JS loop).
val js_string(const char* data, size_t n) {
  static const val decoder = val::global("TextDecoder").new_(val("utf-8"));
  return decoder.call<val>("decode", val(emscripten::typed_memory_view(n, reinterpret_cast<const uint8_t*>(data))));
}

val from_json(const std::string& json) { return val::global("JSON").call<val>("parse", js_string(json.data(), json.size())); }

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

val sniff_audio(val bytes, val declared_mime) {
  const std::string b = bytes_from(bytes);
  const bool declared = declared_mime.isString();
  const std::string mime = declared ? declared_mime.as<std::string>() : std::string();
  return from_json(api::sniff_audio(reinterpret_cast<const uint8_t*>(b.data()), b.size(), declared ? &mime : nullptr));
}

val limits(std::string json) { return from_json(api::limits_json(json)); }
val error_codes() { return from_json(api::error_codes_json()); }
val client_options(std::string json) { return from_json(api::client_options_json(json)); }

// Scratch memory reused across base64 calls, so a photo-sized call does not
// allocate (and fault in) fresh wasm pages every time.
std::string& scratch(size_t i) {
  static std::string buffers[2];
  return buffers[i];
}

// Photo-sized inputs are copied in and encoded a chunk at a time, so the
// encoder reads each chunk from cache right after the copy wrote it (one pass
// over the input in memory instead of two); the output is one buffer, turned
// into one string at the end.
constexpr size_t kEncodeChunk = 3 * 64 * 1024;  // a multiple of 3: chunks encode independently

val base64_encode(val bytes) {
  const size_t n = bytes["length"].as<size_t>();
  std::string& in = scratch(0);
  std::string& out = scratch(1);
  const size_t chunk = n < kEncodeChunk ? n : kEncodeChunk;
  if (in.size() < chunk) in.resize(chunk);
  const size_t m = media::base64_encoded_size(n);
  if (out.size() < m) out.resize(m);
  auto* buf = reinterpret_cast<uint8_t*>(in.data());
  val view(emscripten::typed_memory_view(chunk, buf));
  for (size_t off = 0; off < n; off += chunk) {
    const size_t len = n - off < chunk ? n - off : chunk;
    if (len == n) {
      view.call<void>("set", bytes);
    } else {
      view.call<void>("set", bytes.call<val>("subarray", off, off + len));
    }
    media::base64_encode(buf, len, out.data() + off / 3 * 4);
  }
  // ASCII text: the latin-1 decoder skips UTF-8 validation (measurably faster in Chromium).
  static const val latin1 = val::global("TextDecoder").new_(val("latin1"));
  return latin1.call<val>("decode", val(emscripten::typed_memory_view(m, reinterpret_cast<const uint8_t*>(out.data()))));
}

val base64_decode(val text_value) {
  // The text into reused scratch memory (one encodeInto for ASCII, which any
  // valid text is), decoded into the other scratch buffer, then one copy out
  // into a Uint8Array that outlives wasm memory growth.
  const size_t n = text_value["length"].as<size_t>();
  std::string& in = scratch(0);
  std::string& out = scratch(1);
  std::string fallback;
  std::string_view text;
  if (in.size() < n) in.resize(n);
  static const val encoder = val::global("TextEncoder").new_();
  val done = n == 0 ? val::undefined()
                    : encoder.call<val>("encodeInto", text_value,
                                        val(emscripten::typed_memory_view(n, reinterpret_cast<uint8_t*>(in.data()))));
  if (n == 0 || (done["read"].as<size_t>() == n && done["written"].as<size_t>() == n)) {
    text = std::string_view(in.data(), n);
  } else {
    fallback = text_value.as<std::string>();  // non-ASCII: reported by its UTF-8 offset
    text = fallback;
  }
  const size_t size = media::base64_decoded_size(text);
  if (out.size() < size) out.resize(size);
  auto decoded = media::base64_decode(text, reinterpret_cast<uint8_t*>(out.data()));
  if (!decoded) return from_json(api::error_json(decoded.error()));
  val result = val::object();
  result.set("ok", true);
  result.set("bytes", val::global("Uint8Array").new_(
                          val(emscripten::typed_memory_view(*decoded, reinterpret_cast<const uint8_t*>(out.data())))));
  return result;
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

// The client session with the browser's CSPRNG; methods mirror
// api::ClientSession and the Node addon's ClientSessionNative.
class ClientSessionNative : public api::ClientSession {
 public:
  ClientSessionNative() : api::ClientSession(std::make_unique<BrowserEntropy>()) {}

  val open_(std::string config, std::string storage, std::string journal, double now) {
    const std::string err = open(config, storage, journal, now);
    return err.empty() ? val::undefined() : from_json(err);
  }
  void stage_image_(val bytes) { stage_image(bytes_from(bytes)); }
  val send_(double now, std::string draft) { return from_json(send(now, draft)); }
  val retry_(double now, std::string id) { return from_json(retry(now, id)); }
  val cancel_(double now, std::string id) { return from_json(cancel(now, id)); }
  val submit_component_(double now, std::string id, std::string action, std::string values) {
    return from_json(submit_component(now, id, action, values));
  }
  val load_older_(double now) { return from_json(load_older(now)); }
  void handle_ticket_(double now, bool ok, val ticket) {
    handle_ticket(now, ok, ticket.isString() ? ticket.as<std::string>() : std::string());
  }
  val drain_() { return from_json(drain()); }
  // embind (3.1.6) registers only members declared on the bound class itself,
  // so the base's methods are forwarded here.
  void close_() { close(); }
  void connect_(double now) { connect(now); }
  void reconnect_(double now) { reconnect(now); }
  void disconnect_(double now) { disconnect(now); }
  void visibility_changed_(double now, bool visible) { visibility_changed(now, visible); }
  void online_(double now) { online(now); }
  void set_typing_(double now, bool on) { set_typing(now, on); }
  void configure_tools_(double now, std::string tools) { configure_tools(now, tools); }
  void tool_result_(double now, std::string id, std::string result, bool is_error) {
    tool_result(now, id, result, is_error);
  }
  void handle_open_(double now) { handle_open(now); }
  void handle_frame_(double now, std::string text) { handle_frame(now, text); }
  void handle_close_(double now, int code, int http_status) { handle_close(now, code, http_status); }
  void handle_timeout_(double now) { handle_timeout(now); }
  std::string client_id_() const { return client_id(); }
  val messages_() const { return from_json(messages_json()); }
  val connection_() const { return from_json(connection_json()); }
};

}  // namespace chatwire::wasm

EMSCRIPTEN_BINDINGS(chatwire) {
  using namespace chatwire::wasm;
  emscripten::function("decodeFrame", &decode_frame);
  emscripten::function("encodeFrame", &encode_frame);
  emscripten::function("sniffImage", &sniff_image);
  emscripten::function("sniffAudio", &sniff_audio);
  emscripten::function("limits", &limits);
  emscripten::function("errorCodes", &error_codes);
  emscripten::function("clientOptions", &client_options);
  emscripten::function("base64Encode", &base64_encode);
  emscripten::function("base64Decode", &base64_decode);

  using S = ClientSessionNative;
  emscripten::class_<S>("ClientSessionNative")
      .constructor<>()
      .function("open", &S::open_)
      .function("close", &S::close_)
      .function("connect", &S::connect_)
      .function("reconnect", &S::reconnect_)
      .function("disconnect", &S::disconnect_)
      .function("visibilityChanged", &S::visibility_changed_)
      .function("online", &S::online_)
      .function("stageImage", &S::stage_image_)
      .function("send", &S::send_)
      .function("retry", &S::retry_)
      .function("cancel", &S::cancel_)
      .function("submitComponent", &S::submit_component_)
      .function("loadOlder", &S::load_older_)
      .function("setTyping", &S::set_typing_)
      .function("configureTools", &S::configure_tools_)
      .function("toolResult", &S::tool_result_)
      .function("handleTicket", &S::handle_ticket_)
      .function("handleOpen", &S::handle_open_)
      .function("handleFrame", &S::handle_frame_)
      .function("handleClose", &S::handle_close_)
      .function("handleTimeout", &S::handle_timeout_)
      .function("drain", &S::drain_)
      .function("messages", &S::messages_)
      .function("connection", &S::connection_)
      .function("clientId", &S::client_id_);
}
