#include "core/protocol/codec.h"

#include <rapidjson/error/en.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <set>
#include <type_traits>

#include "core/media/base64.h"
#include "core/media/image.h"
#include "core/protocol/time.h"

namespace chatwire::protocol {

namespace {

using rapidjson::Value;
using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

constexpr size_t kMaxIdBytes = 128;
constexpr unsigned kParseFlags = rapidjson::kParseValidateEncodingFlag | rapidjson::kParseIterativeFlag;

// ------------------------------------------------------------------ reading

// Reads the fields of one JSON object and remembers the first problem, so a
// decoder reads like the field list in PROTOCOL.md and reports the first field
// that is missing or of the wrong type, by name.
class Fields {
 public:
  Fields(const Value& obj, std::string prefix = "") : obj_(obj), prefix_(std::move(prefix)) {}

  bool ok() const { return !error_; }
  const Error& error() const { return *error_; }
  Error take_error() { return std::move(*error_); }

  void fail(ErrorCode code, std::string message) {
    if (!error_) error_ = Error(code, std::move(message));
  }

  std::string name(const char* field) const { return "'" + prefix_ + field + "'"; }

  const Value* find(const char* field) const {
    auto it = obj_.FindMember(field);
    return it == obj_.MemberEnd() ? nullptr : &it->value;
  }

  // A string field. `required`: absent is an error. `nonempty`: "" is an error.
  std::optional<std::string> string(const char* field, bool required, bool nonempty = true,
                                    size_t max_bytes = 0) {
    const Value* v = find(field);
    if (!v || (v->IsNull() && !required)) {
      if (required) fail(ErrorCode::invalid_field, "missing field " + name(field));
      return std::nullopt;
    }
    if (!v->IsString()) {
      fail(ErrorCode::invalid_field, "field " + name(field) + " must be a string");
      return std::nullopt;
    }
    if (nonempty && v->GetStringLength() == 0) {
      fail(ErrorCode::invalid_field, "field " + name(field) + " must not be empty");
      return std::nullopt;
    }
    if (max_bytes && v->GetStringLength() > max_bytes) {
      fail(ErrorCode::invalid_field,
           "field " + name(field) + " is longer than " + std::to_string(max_bytes) + " bytes");
      return std::nullopt;
    }
    return std::string(v->GetString(), v->GetStringLength());
  }

  std::string id(const char* field) { return string(field, true, true, kMaxIdBytes).value_or(""); }
  std::optional<std::string> optional_id(const char* field) {
    return string(field, false, true, kMaxIdBytes);
  }
  std::string text(const char* field, bool nonempty = false) {
    return string(field, true, nonempty).value_or("");
  }

  std::string timestamp(const char* field = "timestamp") {
    auto s = string(field, true);
    if (s && !parse_timestamp(*s)) {
      fail(ErrorCode::invalid_field, "field " + name(field) + " must be an ISO 8601 timestamp");
    }
    return s.value_or("");
  }

  std::optional<int64_t> integer(const char* field, bool required, int64_t min, int64_t max) {
    const Value* v = find(field);
    if (!v || (v->IsNull() && !required)) {
      if (required) fail(ErrorCode::invalid_field, "missing field " + name(field));
      return std::nullopt;
    }
    if (!v->IsInt64() || v->GetInt64() < min || v->GetInt64() > max) {
      std::string range = max == INT64_MAX ? " >= " + std::to_string(min)
                                           : " from " + std::to_string(min) + " to " + std::to_string(max);
      fail(ErrorCode::invalid_field, "field " + name(field) + " must be an integer" + range);
      return std::nullopt;
    }
    return v->GetInt64();
  }

  std::optional<double> number(const char* field) {
    const Value* v = find(field);
    if (!v || v->IsNull()) return std::nullopt;
    if (!v->IsNumber()) {
      fail(ErrorCode::invalid_field, "field " + name(field) + " must be a number");
      return std::nullopt;
    }
    return v->GetDouble();
  }

  std::optional<bool> boolean(const char* field, bool required) {
    const Value* v = find(field);
    if (!v) {
      if (required) fail(ErrorCode::invalid_field, "missing field " + name(field));
      return std::nullopt;
    }
    if (!v->IsBool()) {
      fail(ErrorCode::invalid_field, "field " + name(field) + " must be true or false");
      return std::nullopt;
    }
    return v->GetBool();
  }

  // Any JSON value, kept as text.
  std::optional<RawJson> raw(const char* field, bool required) {
    const Value* v = find(field);
    if (!v) {
      if (required) fail(ErrorCode::invalid_field, "missing field " + name(field));
      return std::nullopt;
    }
    return RawJson{to_json_text(*v)};
  }

  // An array field; nullptr when absent (or on error).
  const Value* array(const char* field, bool required) {
    const Value* v = find(field);
    if (!v || (v->IsNull() && !required)) {
      if (required) fail(ErrorCode::invalid_field, "missing field " + name(field));
      return nullptr;
    }
    if (!v->IsArray()) {
      fail(ErrorCode::invalid_field, "field " + name(field) + " must be an array");
      return nullptr;
    }
    return v;
  }

  std::vector<std::string> strings(const char* field) {
    std::vector<std::string> out;
    const Value* a = array(field, false);
    if (!a) return out;
    for (const auto& e : a->GetArray()) {
      if (!e.IsString()) {
        fail(ErrorCode::invalid_field, "field " + name(field) + " must hold strings");
        return out;
      }
      out.emplace_back(e.GetString(), e.GetStringLength());
    }
    return out;
  }

 private:
  const Value& obj_;
  std::string prefix_;
  std::optional<Error> error_;
};

Error object_error(const std::string& what) {
  return Error(ErrorCode::invalid_field, "field '" + what + "' must be an object");
}

// -------------------------------------------------------- client frame decoders

// One entry of a message's `images`: fields, then base64, then the bytes.
// Errors name the image by 1-based position and id, and carry the id.
Result<Image> read_image(const Value& v, size_t index, const Limits& limits) {
  const std::string where = "images[" + std::to_string(index) + "]";
  if (!v.IsObject()) return object_error(where);
  Fields f(v, where + ".");
  Image img;
  img.id = f.id("id");
  img.mime_type = f.text("mimeType", true);
  img.filename = f.string("filename", false, false, 1024);
  auto data = f.string("data", true, false);
  if (!f.ok()) {
    Error e = f.take_error();
    if (!img.id.empty()) e.image_id = img.id;
    return e;
  }
  const std::string label = "image " + std::to_string(index + 1) + " (" + img.id + ")";
  auto fail = [&](ErrorCode code, std::string message) {
    Error e(code, std::move(message));
    e.image_id = img.id;
    return e;
  };
  if (!media::is_supported_mime(img.mime_type)) {
    return fail(ErrorCode::image_invalid, label + " has unsupported mimeType '" + img.mime_type +
                                              "' (image/png, image/jpeg, image/gif, image/webp)");
  }
  // Refuse by size before decoding, so an oversized image costs no allocation.
  if (data->size() / 4 * 3 > limits.max_image_bytes + 2) {
    return fail(ErrorCode::too_large, label + " is over the " + std::to_string(limits.max_image_bytes) +
                                          "-byte image limit");
  }
  auto bytes = media::base64_decode(*data);
  if (!bytes) {
    return fail(ErrorCode::image_invalid, label + " data is not valid base64: " + bytes.error().message);
  }
  auto info = media::check_image(reinterpret_cast<const uint8_t*>(bytes->data()), bytes->size(),
                                 img.mime_type, limits, index + 1, img.id);
  if (!info) return fail(info.error().code, info.error().message);
  img.bytes = std::move(*bytes);
  img.width = info->width;
  img.height = info->height;
  return img;
}

Result<ClientFrame> read_message(Fields& f, const Limits& limits) {
  Message m;
  m.message_id = f.id("messageId");
  const std::string message_id = f.ok() ? m.message_id : "";
  auto failed = [&](Error e) -> Result<ClientFrame> {
    e.message_id = message_id;
    return e;
  };
  m.client_id = f.id("clientId");
  m.timestamp = f.timestamp();
  m.content = f.string("content", false, false);
  const Value* images = f.array("images", false);
  if (f.ok() && m.content && m.content->size() > limits.max_content_bytes) {
    f.fail(ErrorCode::too_large, "content is " + std::to_string(m.content->size()) + " bytes, over the " +
                                     std::to_string(limits.max_content_bytes) + "-byte limit");
  }
  if (f.ok() && images && images->Size() > limits.max_images) {
    f.fail(ErrorCode::too_large, std::to_string(images->Size()) + " images, over the limit of " +
                                     std::to_string(limits.max_images) + " per message");
  }
  if (f.ok() && (!m.content || m.content->empty()) && (!images || images->Empty())) {
    f.fail(ErrorCode::invalid_field, "a message needs a non-empty 'content' or 'images'");
  }
  if (!f.ok()) return failed(f.take_error());
  std::set<std::string> ids;
  for (size_t i = 0; images && i < images->Size(); ++i) {
    auto img = read_image((*images)[static_cast<rapidjson::SizeType>(i)], i, limits);
    if (!img) return failed(std::move(img.error()));
    if (!ids.insert(img->id).second) {
      return failed(Error(ErrorCode::invalid_field,
                          "field 'images[" + std::to_string(i) + "].id' repeats '" + img->id + "'"));
    }
    m.images.push_back(std::move(*img));
  }
  return ClientFrame{std::move(m)};
}

template <class T>
Result<ClientFrame> finish(Fields& f, T&& value) {
  if (!f.ok()) return f.take_error();
  return ClientFrame{std::forward<T>(value)};
}

Result<ClientFrame> read_client(const std::string& type, Fields& f, const Limits& limits) {
  if (type == "message") return read_message(f, limits);
  if (type == "connect") {
    Connect c;
    c.client_id = f.id("clientId");
    c.timestamp = f.timestamp();
    c.conversation_id = f.optional_id("conversationId");
    c.last_seq = f.integer("lastSeq", false, 0, INT64_MAX);
    return finish(f, std::move(c));
  }
  if (type == "ping") {
    Ping p;
    p.client_id = f.id("clientId");
    p.timestamp = f.timestamp();
    return finish(f, std::move(p));
  }
  if (type == "typing") {
    Typing t;
    t.client_id = f.id("clientId");
    t.is_typing = f.boolean("isTyping", true).value_or(false);
    t.timestamp = f.timestamp();
    return finish(f, std::move(t));
  }
  if (type == "load_messages") {
    LoadMessages l;
    l.conversation_id = f.id("conversationId");
    l.before_seq = f.integer("beforeSeq", false, 0, INT64_MAX);
    l.limit = static_cast<int>(f.integer("limit", false, 1, 200).value_or(50));
    return finish(f, std::move(l));
  }
  if (type == "configure_tools") {
    ConfigureTools c;
    const Value* tools = f.array("tools", true);
    // Counted before anything is copied: 250,000 tools in one frame cost nothing.
    if (f.ok() && tools && tools->Size() > limits.max_tools) {
      return Error(ErrorCode::too_large, std::to_string(tools->Size()) + " tools, over the limit of " +
                                             std::to_string(limits.max_tools));
    }
    if (f.ok() && tools) {
      const size_t bytes = to_json_text(*tools).size();
      if (bytes > limits.max_tools_bytes) {
        return Error(ErrorCode::too_large, "tools are " + std::to_string(bytes) + " bytes encoded, over the limit of " +
                                               std::to_string(limits.max_tools_bytes));
      }
    }
    std::set<std::string> names;
    for (size_t i = 0; f.ok() && tools && i < tools->Size(); ++i) {
      const Value& v = (*tools)[static_cast<rapidjson::SizeType>(i)];
      const std::string where = "tools[" + std::to_string(i) + "]";
      if (!v.IsObject()) return object_error(where);
      Fields t(v, where + ".");
      ToolSpec spec;
      spec.name = t.string("name", true, true, 128).value_or("");
      spec.description = t.string("description", false, false).value_or("");
      spec.parameters = t.raw("parameters", false).value_or(RawJson{"{\"type\":\"object\"}"});
      if (!t.ok()) return t.take_error();
      if (!names.insert(spec.name).second) {
        return Error(ErrorCode::invalid_field, "field '" + where + ".name' repeats '" + spec.name + "'");
      }
      c.tools.push_back(std::move(spec));
    }
    return finish(f, std::move(c));
  }
  if (type == "tool_result") {
    ToolResult r;
    r.tool_call_id = f.id("toolCallId");
    r.result = f.raw("result", false);
    r.error = f.string("error", false, false);
    if (f.ok() && r.result.has_value() == r.error.has_value()) {
      f.fail(ErrorCode::invalid_field, "a tool_result needs exactly one of 'result' or 'error'");
    }
    return finish(f, std::move(r));
  }
  if (type == "component_action") {
    ComponentAction a;
    a.component_id = f.id("componentId");
    a.action = f.text("action", true);
    a.values = f.raw("values", false).value_or(RawJson{"{}"});
    a.timestamp = f.timestamp();
    return finish(f, std::move(a));
  }
  if (type == "cancel") {
    Cancel c;
    c.reply_to = f.id("replyTo");
    c.timestamp = f.timestamp();
    return finish(f, std::move(c));
  }
  if (type == "disconnect") {
    Disconnect d;
    d.client_id = f.id("clientId");
    d.timestamp = f.timestamp();
    return finish(f, std::move(d));
  }
  return Error(ErrorCode::unknown_type, "unknown frame type '" + type + "'");
}

// -------------------------------------------------------- server frame decoders

std::optional<std::vector<ImageAnalysis>> read_analysis(Fields& f) {
  const Value* a = f.array("imageAnalysis", false);
  if (!a) return std::nullopt;
  std::vector<ImageAnalysis> out;
  for (size_t i = 0; i < a->Size(); ++i) {
    const Value& v = (*a)[static_cast<rapidjson::SizeType>(i)];
    const std::string where = "imageAnalysis[" + std::to_string(i) + "]";
    if (!v.IsObject()) {
      f.fail(ErrorCode::invalid_field, "field '" + where + "' must be an object");
      return std::nullopt;
    }
    Fields g(v, where + ".");
    ImageAnalysis x;
    x.image_id = g.id("imageId");
    x.description = g.string("description", false, false).value_or("");
    x.category = g.string("category", false, false).value_or("");
    x.condition = g.string("condition", false, false).value_or("");
    x.features = g.strings("features");
    x.recommendations = g.strings("recommendations");
    if (!g.ok()) {
      f.fail(g.error().code, g.error().message);
      return std::nullopt;
    }
    out.push_back(std::move(x));
  }
  return out;
}

std::optional<std::vector<Citation>> read_citations(Fields& f) {
  const Value* a = f.array("citations", false);
  if (!a) return std::nullopt;
  std::vector<Citation> out;
  for (size_t i = 0; i < a->Size(); ++i) {
    const Value& v = (*a)[static_cast<rapidjson::SizeType>(i)];
    const std::string where = "citations[" + std::to_string(i) + "]";
    if (!v.IsObject()) {
      f.fail(ErrorCode::invalid_field, "field '" + where + "' must be an object");
      return std::nullopt;
    }
    Fields g(v, where + ".");
    Citation c;
    c.document_id = g.string("documentId", false, false).value_or("");
    c.chunk_id = g.string("chunkId", false, false).value_or("");
    c.filename = g.string("filename", false, false).value_or("");
    c.page_start = g.integer("pageStart", false, INT64_MIN, INT64_MAX);
    c.page_end = g.integer("pageEnd", false, INT64_MIN, INT64_MAX);
    c.score = g.number("score");
    if (!g.ok()) {
      f.fail(g.error().code, g.error().message);
      return std::nullopt;
    }
    out.push_back(std::move(c));
  }
  return out;
}

template <class T>
Result<ServerFrame> finish_server(Fields& f, T&& value) {
  if (!f.ok()) return f.take_error();
  return ServerFrame{std::forward<T>(value)};
}

int64_t seq_field(Fields& f) { return f.integer("seq", true, 1, INT64_MAX).value_or(0); }

Result<ServerFrame> read_server(const std::string& type, Fields& f) {
  if (type == "connect_confirm") {
    ConnectConfirm c;
    c.conversation_id = f.id("conversationId");
    c.connection_id = f.id("connectionId");
    c.resumed = f.boolean("resumed", true).value_or(false);
    c.recovered = f.boolean("recovered", false).value_or(true);
    c.heartbeat_ms = f.integer("heartbeatMs", false, 1, INT64_MAX).value_or(10000);
    c.timestamp = f.timestamp();
    return finish_server(f, std::move(c));
  }
  if (type == "pong") {
    Pong p;
    p.timestamp = f.timestamp();
    return finish_server(f, std::move(p));
  }
  if (type == "confirm") {
    Confirm c;
    c.message_id = f.id("messageId");
    c.image_id = f.optional_id("imageId");
    c.status = f.string("status", false);
    if (f.ok() && c.status && *c.status != "received" && *c.status != "processing" &&
        *c.status != "analyzed") {
      f.fail(ErrorCode::invalid_field, "field 'status' must be received, processing or analyzed");
    }
    if (f.ok() && c.image_id.has_value() != c.status.has_value()) {
      f.fail(ErrorCode::invalid_field, "an image confirm needs both 'imageId' and 'status'");
    }
    c.seq = seq_field(f);
    c.timestamp = f.timestamp();
    return finish_server(f, std::move(c));
  }
  if (type == "thinking") {
    Thinking t;
    t.reply_to = f.id("replyTo");
    t.step = f.text("step");
    t.seq = seq_field(f);
    t.timestamp = f.timestamp();
    return finish_server(f, std::move(t));
  }
  if (type == "delta") {
    Delta d;
    d.message_id = f.id("messageId");
    d.reply_to = f.id("replyTo");
    d.index = f.integer("index", true, 0, INT64_MAX).value_or(0);
    d.delta = f.text("delta");
    d.timestamp = f.timestamp();
    return finish_server(f, std::move(d));
  }
  if (type == "response") {
    Response r;
    r.message_id = f.id("messageId");
    r.reply_to = f.id("replyTo");
    r.content = f.text("content");
    r.seq = seq_field(f);
    r.timestamp = f.timestamp();
    r.image_analysis = read_analysis(f);
    r.citations = read_citations(f);
    r.cancelled = f.boolean("cancelled", false).value_or(false);
    return finish_server(f, std::move(r));
  }
  if (type == "tool_call") {
    ToolCall t;
    t.tool_call_id = f.id("toolCallId");
    t.reply_to = f.id("replyTo");
    t.name = f.text("name", true);
    t.arguments = f.raw("arguments", false).value_or(RawJson{"{}"});
    t.seq = seq_field(f);
    t.timestamp = f.timestamp();
    return finish_server(f, std::move(t));
  }
  if (type == "component") {
    Component c;
    c.component_id = f.id("componentId");
    c.reply_to = f.id("replyTo");
    c.component = f.text("component", true);
    c.props = f.raw("props", false).value_or(RawJson{"{}"});
    c.seq = seq_field(f);
    c.timestamp = f.timestamp();
    return finish_server(f, std::move(c));
  }
  if (type == "typing") {
    TypingIndicator t;
    t.is_typing = f.boolean("isTyping", true).value_or(false);
    t.timestamp = f.timestamp();
    return finish_server(f, std::move(t));
  }
  if (type == "history") {
    History h;
    h.conversation_id = f.id("conversationId");
    h.has_more = f.boolean("hasMore", false).value_or(false);
    const Value* msgs = f.array("messages", true);
    for (size_t i = 0; f.ok() && msgs && i < msgs->Size(); ++i) {
      const Value& v = (*msgs)[static_cast<rapidjson::SizeType>(i)];
      const std::string where = "messages[" + std::to_string(i) + "]";
      if (!v.IsObject()) return object_error(where);
      Fields g(v, where + ".");
      HistoryEntry e;
      e.seq = g.integer("seq", true, 1, INT64_MAX).value_or(0);
      e.role = g.text("role", true);
      if (g.ok() && e.role != "user" && e.role != "assistant") {
        g.fail(ErrorCode::invalid_field, "field '" + where + ".role' must be user or assistant");
      }
      e.message_id = g.id("messageId");
      e.reply_to = g.optional_id("replyTo");
      e.content = g.string("content", false, false).value_or("");
      e.timestamp = g.timestamp();
      e.cancelled = g.boolean("cancelled", false).value_or(false);
      e.truncated = g.boolean("truncated", false).value_or(false);
      if (const Value* imgs = g.array("images", false)) {
        for (size_t k = 0; g.ok() && k < imgs->Size(); ++k) {
          const Value& iv = (*imgs)[static_cast<rapidjson::SizeType>(k)];
          const std::string iw = where + ".images[" + std::to_string(k) + "]";
          if (!iv.IsObject()) return object_error(iw);
          Fields im(iv, iw + ".");
          HistoryImage hi;
          hi.id = im.id("id");
          hi.mime_type = im.text("mimeType", true);
          hi.filename = im.string("filename", false, false);
          if (!im.ok()) return im.take_error();
          e.images.push_back(std::move(hi));
        }
      }
      e.image_analysis = read_analysis(g);
      e.citations = read_citations(g);
      if (!g.ok()) return g.take_error();
      h.messages.push_back(std::move(e));
    }
    return finish_server(f, std::move(h));
  }
  if (type == "error") {
    ErrorEvent e;
    auto code = f.text("code", true);
    if (f.ok()) {
      auto parsed = error_code_from_name(code);
      // An unknown code from a newer server is still an error: keep it readable as internal.
      e.error.code = parsed.value_or(ErrorCode::internal);
    }
    e.error.message = f.text("error");
    e.error.message_id = f.optional_id("messageId").value_or("");
    e.error.image_id = f.optional_id("imageId").value_or("");
    e.error.retry_after_ms = f.integer("retryAfterMs", false, 0, INT64_MAX).value_or(-1);
    e.seq = f.integer("seq", false, 1, INT64_MAX);
    e.timestamp = f.timestamp();
    return finish_server(f, std::move(e));
  }
  return Error(ErrorCode::unknown_type, "unknown frame type '" + type + "'");
}

// Frame-level checks shared by both directions: a JSON object with a string `type`.
Result<std::string> frame_type(const Value& value) {
  if (!value.IsObject()) return Error(ErrorCode::bad_json, "a frame must be a JSON object");
  auto it = value.FindMember("type");
  if (it == value.MemberEnd()) return Error(ErrorCode::invalid_field, "missing field 'type'");
  if (!it->value.IsString()) return Error(ErrorCode::invalid_field, "field 'type' must be a string");
  return std::string(it->value.GetString(), it->value.GetStringLength());
}

int hex4(std::string_view text, size_t at) {
  if (at + 4 > text.size()) return -1;
  int v = 0;
  for (size_t k = at; k < at + 4; ++k) {
    const char c = text[k];
    const int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
    if (d < 0) return -1;
    v = v * 16 + d;
  }
  return v;
}

// What RapidJSON 1.1.0 lets through and parse_json_frame must not: the
// nesting depth (checked without recursion, ignoring brackets inside
// strings), and a `\uDC00`-`\uDFFF` escape that does not follow a high
// surrogate escape. RapidJSON refuses a lone HIGH surrogate but decodes a lone
// LOW one into the bytes ED B0 80.., which are not UTF-8: stored and echoed
// back, they would make every browser fail the connection (1007) on replay
// (found by tests/fixtures/bad-frames.json). False with `*where` = the offset
// and `*lone_surrogate` telling which.
bool depth_within(std::string_view text, int max_depth, size_t* where, bool* lone_surrogate) {
  int depth = 0;
  bool in_string = false;
  size_t after_high = std::string_view::npos;  // offset just past a high surrogate escape
  *lone_surrogate = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        if (i + 1 < text.size() && text[i + 1] == 'u') {
          const int unit = hex4(text, i + 2);
          if (unit >= 0xDC00 && unit <= 0xDFFF && after_high != i) {
            *where = i;
            *lone_surrogate = true;
            return false;
          }
          after_high = unit >= 0xD800 && unit <= 0xDBFF ? i + 6 : std::string_view::npos;
          if (unit >= 0) i += 4;
        }
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      if (++depth > max_depth) {
        *where = i;
        return false;
      }
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
  return true;
}

// ------------------------------------------------------------------ writing

void put(Writer& w, const char* key, const std::string& s) {
  w.Key(key);
  w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
}
void put(Writer& w, const char* key, const std::optional<std::string>& s) {
  if (s) put(w, key, *s);
}
void put(Writer& w, const char* key, int64_t v) {
  w.Key(key);
  w.Int64(v);
}
void put_bool(Writer& w, const char* key, bool v) {
  w.Key(key);
  w.Bool(v);
}
void put(Writer& w, const char* key, const RawJson& raw) {
  w.Key(key);
  w.RawValue(raw.text.data(), raw.text.size(), rapidjson::kObjectType);
}
void put_strings(Writer& w, const char* key, const std::vector<std::string>& v) {
  w.Key(key);
  w.StartArray();
  for (const auto& s : v) w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
  w.EndArray();
}
void begin(Writer& w, const char* type) {
  w.StartObject();
  put(w, "type", std::string(type));
}

void write_analysis(Writer& w, const ImageAnalysis& a) {
  w.StartObject();
  put(w, "imageId", a.image_id);
  put(w, "description", a.description);
  put(w, "category", a.category);
  put(w, "condition", a.condition);
  put_strings(w, "features", a.features);
  put_strings(w, "recommendations", a.recommendations);
  w.EndObject();
}

void write_analysis_list(Writer& w, const std::vector<ImageAnalysis>& list) {
  w.StartArray();
  for (const auto& a : list) write_analysis(w, a);
  w.EndArray();
}

void put_analysis(Writer& w, const std::optional<std::vector<ImageAnalysis>>& list) {
  if (!list) return;
  w.Key("imageAnalysis");
  write_analysis_list(w, *list);
}

void write_citations(Writer& w, const std::vector<Citation>& list) {
  w.StartArray();
  for (const auto& c : list) {
    w.StartObject();
    put(w, "documentId", c.document_id);
    put(w, "chunkId", c.chunk_id);
    put(w, "filename", c.filename);
    if (c.page_start) put(w, "pageStart", *c.page_start);
    if (c.page_end) put(w, "pageEnd", *c.page_end);
    if (c.score) {
      w.Key("score");
      w.Double(*c.score);
    }
    w.EndObject();
  }
  w.EndArray();
}

void put_citations(Writer& w, const std::optional<std::vector<Citation>>& list) {
  if (!list) return;
  w.Key("citations");
  write_citations(w, *list);
}

template <class T, class Fn>
std::string write_text(const T& value, Fn fn) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  fn(w, value);
  return std::string(buf.GetString(), buf.GetSize());
}

struct ClientWriter {
  Writer& w;
  void operator()(const Connect& c) {
    begin(w, "connect");
    put(w, "clientId", c.client_id);
    put(w, "timestamp", c.timestamp);
    put(w, "conversationId", c.conversation_id);
    if (c.last_seq) put(w, "lastSeq", *c.last_seq);
  }
  void operator()(const Ping& p) {
    begin(w, "ping");
    put(w, "clientId", p.client_id);
    put(w, "timestamp", p.timestamp);
  }
  void operator()(const Message& m) {
    begin(w, "message");
    put(w, "messageId", m.message_id);
    put(w, "clientId", m.client_id);
    put(w, "timestamp", m.timestamp);
    put(w, "content", m.content);
    if (!m.images.empty()) {
      w.Key("images");
      w.StartArray();
      for (const auto& img : m.images) {
        w.StartObject();
        put(w, "id", img.id);
        put(w, "data", media::base64_encode(img.bytes));
        put(w, "mimeType", img.mime_type);
        put(w, "filename", img.filename);
        w.EndObject();
      }
      w.EndArray();
    }
  }
  void operator()(const Typing& t) {
    begin(w, "typing");
    put(w, "clientId", t.client_id);
    put_bool(w, "isTyping", t.is_typing);
    put(w, "timestamp", t.timestamp);
  }
  void operator()(const LoadMessages& l) {
    begin(w, "load_messages");
    put(w, "conversationId", l.conversation_id);
    if (l.before_seq) put(w, "beforeSeq", *l.before_seq);
    put(w, "limit", int64_t{l.limit});
  }
  void operator()(const ConfigureTools& c) {
    begin(w, "configure_tools");
    w.Key("tools");
    w.StartArray();
    for (const auto& t : c.tools) {
      w.StartObject();
      put(w, "name", t.name);
      put(w, "description", t.description);
      put(w, "parameters", t.parameters);
      w.EndObject();
    }
    w.EndArray();
  }
  void operator()(const ToolResult& r) {
    begin(w, "tool_result");
    put(w, "toolCallId", r.tool_call_id);
    if (r.result) put(w, "result", *r.result);
    put(w, "error", r.error);
  }
  void operator()(const ComponentAction& a) {
    begin(w, "component_action");
    put(w, "componentId", a.component_id);
    put(w, "action", a.action);
    put(w, "values", a.values);
    put(w, "timestamp", a.timestamp);
  }
  void operator()(const Cancel& c) {
    begin(w, "cancel");
    put(w, "replyTo", c.reply_to);
    put(w, "timestamp", c.timestamp);
  }
  void operator()(const Disconnect& d) {
    begin(w, "disconnect");
    put(w, "clientId", d.client_id);
    put(w, "timestamp", d.timestamp);
  }
};

struct ServerWriter {
  Writer& w;
  void operator()(const ConnectConfirm& c) {
    begin(w, "connect_confirm");
    put(w, "conversationId", c.conversation_id);
    put(w, "connectionId", c.connection_id);
    put_bool(w, "resumed", c.resumed);
    put_bool(w, "recovered", c.recovered);
    put(w, "heartbeatMs", c.heartbeat_ms);
    put(w, "timestamp", c.timestamp);
  }
  void operator()(const Pong& p) {
    begin(w, "pong");
    put(w, "timestamp", p.timestamp);
  }
  void operator()(const Confirm& c) {
    begin(w, "confirm");
    put(w, "messageId", c.message_id);
    put(w, "imageId", c.image_id);
    put(w, "status", c.status);
    put(w, "seq", c.seq);
    put(w, "timestamp", c.timestamp);
  }
  void operator()(const Thinking& t) {
    begin(w, "thinking");
    put(w, "replyTo", t.reply_to);
    put(w, "step", t.step);
    put(w, "seq", t.seq);
    put(w, "timestamp", t.timestamp);
  }
  void operator()(const Delta& d) {
    begin(w, "delta");
    put(w, "messageId", d.message_id);
    put(w, "replyTo", d.reply_to);
    put(w, "index", d.index);
    put(w, "delta", d.delta);
    put(w, "timestamp", d.timestamp);
  }
  void operator()(const Response& r) {
    begin(w, "response");
    put(w, "messageId", r.message_id);
    put(w, "replyTo", r.reply_to);
    put(w, "content", r.content);
    put(w, "seq", r.seq);
    put(w, "timestamp", r.timestamp);
    put_analysis(w, r.image_analysis);
    put_citations(w, r.citations);
    if (r.cancelled) put_bool(w, "cancelled", true);
  }
  void operator()(const ToolCall& t) {
    begin(w, "tool_call");
    put(w, "toolCallId", t.tool_call_id);
    put(w, "replyTo", t.reply_to);
    put(w, "name", t.name);
    put(w, "arguments", t.arguments);
    put(w, "seq", t.seq);
    put(w, "timestamp", t.timestamp);
  }
  void operator()(const Component& c) {
    begin(w, "component");
    put(w, "componentId", c.component_id);
    put(w, "replyTo", c.reply_to);
    put(w, "component", c.component);
    put(w, "props", c.props);
    put(w, "seq", c.seq);
    put(w, "timestamp", c.timestamp);
  }
  void operator()(const TypingIndicator& t) {
    begin(w, "typing");
    put_bool(w, "isTyping", t.is_typing);
    put(w, "timestamp", t.timestamp);
  }
  void operator()(const History& h) {
    begin(w, "history");
    put(w, "conversationId", h.conversation_id);
    w.Key("messages");
    w.StartArray();
    for (const auto& e : h.messages) {
      w.StartObject();
      put(w, "seq", e.seq);
      put(w, "role", e.role);
      put(w, "messageId", e.message_id);
      put(w, "replyTo", e.reply_to);
      put(w, "content", e.content);
      put(w, "timestamp", e.timestamp);
      if (e.role == "user") {
        w.Key("images");
        w.StartArray();
        for (const auto& i : e.images) {
          w.StartObject();
          put(w, "id", i.id);
          put(w, "mimeType", i.mime_type);
          put(w, "filename", i.filename);
          w.EndObject();
        }
        w.EndArray();
      }
      put_analysis(w, e.image_analysis);
      put_citations(w, e.citations);
      if (e.cancelled) put_bool(w, "cancelled", true);
      if (e.truncated) put_bool(w, "truncated", true);
      w.EndObject();
    }
    w.EndArray();
    put_bool(w, "hasMore", h.has_more);
  }
  void operator()(const ErrorEvent& e) {
    begin(w, "error");
    put(w, "code", std::string(error_code_name(e.error.code)));
    put(w, "error", e.error.message);
    if (!e.error.message_id.empty()) put(w, "messageId", e.error.message_id);
    if (!e.error.image_id.empty()) put(w, "imageId", e.error.image_id);
    if (e.error.retry_after_ms >= 0) put(w, "retryAfterMs", e.error.retry_after_ms);
    if (e.seq) put(w, "seq", *e.seq);
    put(w, "timestamp", e.timestamp);
  }
};

template <class Frame, class Visitor>
std::string write_frame(const Frame& frame) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  std::visit(Visitor{w}, frame);
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

}  // namespace

// ------------------------------------------------------------------ public

Result<bool> parse_json_frame(std::string_view text, const Limits& limits, rapidjson::Document& doc) {
  if (text.size() > limits.max_frame_bytes) {
    return Error(ErrorCode::too_large, "frame is " + std::to_string(text.size()) + " bytes, over the " +
                                           std::to_string(limits.max_frame_bytes) + "-byte limit");
  }
  size_t where = 0;
  bool lone_surrogate = false;
  if (!depth_within(text, limits.max_json_depth, &where, &lone_surrogate)) {
    if (lone_surrogate) {
      return Error(ErrorCode::bad_json, "invalid JSON at offset " + std::to_string(where) +
                                            ": a low surrogate escape without a high surrogate before it");
    }
    return Error(ErrorCode::bad_json, "JSON nested deeper than " + std::to_string(limits.max_json_depth) +
                                          " levels at offset " + std::to_string(where));
  }
  doc.Parse<kParseFlags>(text.data(), text.size());
  if (doc.HasParseError()) {
    return Error(ErrorCode::bad_json, std::string("invalid JSON at offset ") +
                                          std::to_string(doc.GetErrorOffset()) + ": " +
                                          rapidjson::GetParseError_En(doc.GetParseError()));
  }
  if (!doc.IsObject()) return Error(ErrorCode::bad_json, "a frame must be a JSON object");
  return true;
}

Result<ClientFrame> client_frame_from_json(const rapidjson::Value& value, const Limits& limits) {
  auto type = frame_type(value);
  if (!type) return type.error();
  Fields f(value);
  return read_client(*type, f, limits);
}

Result<ServerFrame> server_frame_from_json(const rapidjson::Value& value, const Limits& limits) {
  auto type = frame_type(value);
  if (!type) return type.error();
  Fields f(value);
  return read_server(*type, f);
}

Result<ClientFrame> decode_client_frame(std::string_view text, const Limits& limits) {
  rapidjson::Document doc;
  auto parsed = parse_json_frame(text, limits, doc);
  if (!parsed) return parsed.error();
  return client_frame_from_json(doc, limits);
}

Result<ServerFrame> decode_server_frame(std::string_view text, const Limits& limits) {
  rapidjson::Document doc;
  auto parsed = parse_json_frame(text, limits, doc);
  if (!parsed) return parsed.error();
  return server_frame_from_json(doc, limits);
}

std::string encode(const ClientFrame& frame) { return write_frame<ClientFrame, ClientWriter>(frame); }
std::string encode(const ServerFrame& frame) { return write_frame<ServerFrame, ServerWriter>(frame); }

void to_json(const ClientFrame& frame, rapidjson::Document& out) { out.Parse(encode(frame).c_str()); }
void to_json(const ServerFrame& frame, rapidjson::Document& out) { out.Parse(encode(frame).c_str()); }

std::string to_json_text(const ImageAnalysis& analysis) { return write_text(analysis, write_analysis); }
std::string to_json_text(const std::vector<ImageAnalysis>& list) { return write_text(list, write_analysis_list); }
std::string to_json_text(const std::vector<Citation>& list) { return write_text(list, write_citations); }

std::string to_json_text(const rapidjson::Value& value) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  value.Accept(w);
  return std::string(buf.GetString(), buf.GetSize());
}

// ------------------------------------------------------------------ messages.h

namespace {
constexpr const char* kClientTypes[] = {"connect",         "ping",        "message",          "typing",
                                        "load_messages",   "configure_tools", "tool_result",
                                        "component_action", "cancel",     "disconnect"};
constexpr const char* kServerTypes[] = {"connect_confirm", "pong",      "confirm", "thinking",
                                        "delta",           "response",  "tool_call", "component",
                                        "typing",          "history",   "error"};
}  // namespace

const char* type_name(const ClientFrame& frame) { return kClientTypes[frame.index()]; }
const char* type_name(const ServerFrame& frame) { return kServerTypes[frame.index()]; }

std::optional<int64_t> seq_of(const ServerFrame& frame) {
  return std::visit(
      [](const auto& f) -> std::optional<int64_t> {
        using T = std::decay_t<decltype(f)>;
        if constexpr (std::is_same_v<T, ErrorEvent>) {
          return f.seq;
        } else if constexpr (std::is_same_v<T, Confirm> || std::is_same_v<T, Thinking> ||
                             std::is_same_v<T, Response> || std::is_same_v<T, ToolCall> ||
                             std::is_same_v<T, Component>) {
          return f.seq;
        } else {
          return std::nullopt;
        }
      },
      frame);
}

}  // namespace chatwire::protocol
