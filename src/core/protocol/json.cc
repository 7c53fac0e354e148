#include "core/protocol/json.h"

#include "core/protocol/codec.h"
#include "core/protocol/frame_codec.h"

namespace chatwire::protocol {

using internal::Writer;

// ------------------------------------------------------------------ JsonWriter

struct JsonWriter::Impl {
  rapidjson::StringBuffer buf;
  Writer w{buf};
};

JsonWriter::JsonWriter() : impl_(std::make_unique<Impl>()) {}
JsonWriter::~JsonWriter() = default;

// Each call writes with RapidJSON's writer and returns the JsonWriter for
// chaining (the writer's bool is always true with a string buffer).
JsonWriter& JsonWriter::begin_object() { return chain(impl_->w.StartObject()); }
JsonWriter& JsonWriter::end_object() { return chain(impl_->w.EndObject()); }
JsonWriter& JsonWriter::begin_array() { return chain(impl_->w.StartArray()); }
JsonWriter& JsonWriter::end_array() { return chain(impl_->w.EndArray()); }
JsonWriter& JsonWriter::key(std::string_view k) {
  return chain(impl_->w.Key(k.data() ? k.data() : "", static_cast<rapidjson::SizeType>(k.size())));
}
JsonWriter& JsonWriter::value(std::string_view v) {
  return chain(impl_->w.String(v.data() ? v.data() : "", static_cast<rapidjson::SizeType>(v.size())));
}
JsonWriter& JsonWriter::integer(int64_t v) { return chain(impl_->w.Int64(v)); }
JsonWriter& JsonWriter::unsigned_integer(uint64_t v) { return chain(impl_->w.Uint64(v)); }
JsonWriter& JsonWriter::number(double v) { return chain(impl_->w.Double(v)); }
JsonWriter& JsonWriter::boolean(bool v) { return chain(impl_->w.Bool(v)); }
JsonWriter& JsonWriter::null() { return chain(impl_->w.Null()); }
JsonWriter& JsonWriter::raw(std::string_view json) {
  return chain(impl_->w.RawValue(json.data(), json.size(), rapidjson::kObjectType));
}
JsonWriter& JsonWriter::error(const Error& e, const char* text_key) {
  impl_->w.StartObject();
  internal::put_error_fields(impl_->w, e, text_key);
  impl_->w.EndObject();
  return *this;
}
JsonWriter& JsonWriter::str(const char* k, std::string_view v) { return key(k).value(v); }
JsonWriter& JsonWriter::str_or_null(const char* k, std::string_view v) {
  if (v.empty()) return key(k).null();
  return str(k, v);
}
JsonWriter& JsonWriter::num(const char* k, int64_t v) { return key(k).integer(v); }
JsonWriter& JsonWriter::boolean(const char* k, bool v) { return key(k).boolean(v); }
JsonWriter& JsonWriter::raw(const char* k, std::string_view json) { return key(k).raw(json); }

std::string JsonWriter::done() { return std::string(impl_->buf.GetString(), impl_->buf.GetSize()); }

std::string error_result_json(const Error& error) {
  EventWriter w;
  w.boolean("ok", false).key("error").error(error, "error");
  return w.done();
}

std::string value_result_json(bool value) {
  EventWriter w;
  w.boolean("ok", true).boolean("value", value);
  return w.done();
}

std::string value_result_json(std::string_view value) {
  EventWriter w;
  w.boolean("ok", true).str("value", value);
  return w.done();
}

// ------------------------------------------------------------------ reading

namespace {

using internal::Value;

// Parses an application-given JSON object ("" is {}); errors say `what`.
Result<bool> parse_object(std::string_view text, const Limits& limits, rapidjson::Document& doc, const char* what) {
  if (text.empty()) {
    doc.SetObject();
    return true;
  }
  auto parsed = parse_json_frame(text, limits, doc);
  if (!parsed) {
    Error e = parsed.error();
    e.message = std::string(what) + ": " + e.message;
    return e;
  }
  return true;
}

void set_string(rapidjson::Document& doc, const char* name, std::string_view v) {
  rapidjson::Value value(v.data() ? v.data() : "", static_cast<rapidjson::SizeType>(v.size()), doc.GetAllocator());
  auto it = doc.FindMember(name);
  if (it != doc.MemberEnd()) {
    it->value = std::move(value);
  } else {
    doc.AddMember(rapidjson::Value(name, doc.GetAllocator()), std::move(value), doc.GetAllocator());
  }
}

// The frame of an application-authored object: read by its row, seq not read.
Result<ServerFrame> read_unsequenced(const rapidjson::Document& doc, const Limits& limits, const char* what) {
  auto prefixed = [what](Error e) {
    e.message = std::string(what) + ": " + e.message;
    return e;
  };
  auto type = doc.FindMember("type");
  if (type == doc.MemberEnd()) return prefixed(Error(ErrorCode::invalid_field, "missing field 'type'"));
  if (!type->value.IsString()) return prefixed(Error(ErrorCode::invalid_field, "field 'type' must be a string"));
  const std::string name(type->value.GetString(), type->value.GetStringLength());
  const auto* row = internal::server_row(name);
  if (!row) return prefixed(Error(ErrorCode::unknown_type, "unknown frame type '" + name + "'"));
  internal::Fields f(doc, "", /*sequenced=*/false);
  auto frame = row->read(f, limits);
  if (!frame) return prefixed(std::move(frame.error()));
  return frame;
}

}  // namespace

Result<std::string> canonical_json(std::string_view text, const char* what, const char* if_empty) {
  if (text.empty()) return std::string(if_empty);
  rapidjson::Document doc;
  internal::parse(doc, text);
  if (doc.HasParseError()) return Error(ErrorCode::bad_json, std::string(what) + " is not valid JSON");
  return internal::to_text(doc);
}

std::string peek_message_id(std::string_view text, const Limits& limits) {
  rapidjson::Document doc;
  if (!parse_json_frame(text, limits, doc)) return "";
  auto type = doc.FindMember("type");
  auto id = doc.FindMember("messageId");
  if (type == doc.MemberEnd() || !type->value.IsString() || std::string_view(type->value.GetString()) != "message" ||
      id == doc.MemberEnd() || !id->value.IsString() || id->value.GetStringLength() == 0 ||
      id->value.GetStringLength() > kMaxIdBytes) {
    return "";
  }
  return std::string(id->value.GetString(), id->value.GetStringLength());
}

Result<ServerFrame> app_server_frame(std::string_view json, const Limits& limits, const FramePatch& patch,
                                     const char* what) {
  rapidjson::Document doc;
  auto parsed = parse_object(json, limits, doc, what);
  if (!parsed) return parsed.error();
  for (const auto& [name, v] : patch.defaults) {
    if (!doc.HasMember(name)) set_string(doc, name, v);
  }
  for (const auto& [name, v] : patch.set) set_string(doc, name, v);
  for (const char* name : patch.drop) doc.RemoveMember(name);
  return read_unsequenced(doc, limits, what);
}

Result<ServerFrame> broadcast_frame(std::string_view json, const Limits& limits, const std::string& timestamp) {
  rapidjson::Document doc;
  auto parsed = parse_object(json, limits, doc, "broadcast event");
  if (!parsed) return parsed.error();
  auto type = doc.FindMember("type");
  if (type == doc.MemberEnd() || !type->value.IsString()) {
    return Error(ErrorCode::invalid_field, "broadcast event needs a string 'type'");
  }
  const std::string name(type->value.GetString(), type->value.GetStringLength());
  const FrameInfo* info = server_frame_info(name);
  if (!info || !info->broadcastable) return Error(ErrorCode::invalid_field, "cannot broadcast a '" + name + "' frame");
  if (!doc.HasMember("timestamp")) set_string(doc, "timestamp", timestamp);
  return read_unsequenced(doc, limits, "broadcast event");
}

namespace {
// The non-empty string members `a` and `b` of a JSON object: exactly one of them.
Result<std::pair<std::string, std::string>> one_of(std::string_view json, const Limits& limits, const char* what,
                                                   const char* a, const char* b) {
  rapidjson::Document doc;
  auto parsed = parse_object(json, limits, doc, what);
  if (!parsed) return parsed.error();
  auto member = [&doc](const char* name) {
    auto it = doc.FindMember(name);
    if (it == doc.MemberEnd() || !it->value.IsString()) return std::string();
    return std::string(it->value.GetString(), it->value.GetStringLength());
  };
  std::pair<std::string, std::string> out{member(a), member(b)};
  if (out.first.empty() == out.second.empty()) {
    return Error(ErrorCode::invalid_field,
                 std::string(what) + " needs exactly one of '" + a + "' or '" + b + "'");
  }
  return out;
}
}  // namespace

Result<BroadcastTarget> broadcast_target(std::string_view json, const Limits& limits) {
  auto r = one_of(json, limits, "broadcast target", "conversationId", "userId");
  if (!r) return r.error();
  return BroadcastTarget{r->first, r->second};
}


Result<OwnerRef> owner_ref(std::string_view json, const Limits& limits) {
  auto r = one_of(json, limits, "owner", "userId", "clientId");
  if (!r) return r.error();
  return OwnerRef{r->first, r->second};
}

}  // namespace chatwire::protocol
