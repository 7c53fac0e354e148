// Internal to src/core/protocol/: the RapidJSON reader and writer helpers the
// frame readers and writers (frames_client.cc, frames_server.cc) and the JSON
// helpers (json.cc) are written with. No header outside protocol/ includes
// this one, so RapidJSON stays behind the protocol layer.
#ifndef CHATWIRE_CORE_PROTOCOL_JSON_FIELDS_H_
#define CHATWIRE_CORE_PROTOCOL_JSON_FIELDS_H_

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/protocol/errors.h"
#include "core/protocol/limits.h"
#include "core/protocol/messages.h"
#include "core/protocol/time.h"

namespace chatwire::protocol::internal {

using rapidjson::Value;
using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

std::string to_text(const Value& value);

// Reads the fields of one JSON object and remembers the first problem, so a
// reader reads like the field list in PROTOCOL.md and reports the first field
// that is missing or of the wrong type, by name.
//
// `sequenced` false: the frame comes from the application, not the wire
// (ServerHub::respond / broadcast): its `seq` is not read, the store assigns it.
class Fields {
 public:
  Fields(const Value& obj, std::string prefix = "", bool sequenced = true)
      : obj_(obj), prefix_(std::move(prefix)), sequenced_(sequenced) {}

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

  // The `seq` of a frame whose row carries one: required on the wire, not read
  // from the application (0 until the store assigns it).
  int64_t seq() { return sequenced_ ? integer("seq", true, 1, INT64_MAX).value_or(0) : 0; }
  // The `seq` of a frame that carries one only when stored (error).
  std::optional<int64_t> optional_seq() {
    return sequenced_ ? integer("seq", false, 1, INT64_MAX) : std::nullopt;
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
    return RawJson{to_text(*v)};
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
  bool sequenced_ = true;
  std::optional<Error> error_;
};

inline Error object_error(const std::string& what) {
  return Error(ErrorCode::invalid_field, "field '" + what + "' must be an object");
}

// Version 1.1's application metadata: an optional JSON object of at most
// kMaxMetadataBytes encoded (too_large past it, invalid_field when not an
// object). Absent or null: nullopt.
inline std::optional<RawJson> read_metadata(Fields& f, const char* field) {
  const Value* v = f.find(field);
  if (!v || v->IsNull() || !f.ok()) return std::nullopt;
  if (!v->IsObject()) {
    f.fail(ErrorCode::invalid_field, "field " + f.name(field) + " must be a JSON object");
    return std::nullopt;
  }
  RawJson raw{to_text(*v)};
  if (raw.text.size() > kMaxMetadataBytes) {
    f.fail(ErrorCode::too_large, "field " + f.name(field) + " is " + std::to_string(raw.text.size()) +
                                     " bytes of JSON, over the limit of " + std::to_string(kMaxMetadataBytes));
    return std::nullopt;
  }
  return raw;
}

// An id that may be null (version 1.1's parentId): absent -> nullopt, null ->
// an empty optional inside, a string -> the id.
inline std::optional<std::optional<std::string>> read_nullable_id(Fields& f, const char* field) {
  const Value* v = f.find(field);
  if (!v) return std::nullopt;
  if (v->IsNull()) return std::optional<std::string>();
  return f.optional_id(field);
}

// The objects of array `field` (`max` at most: too_large past it), each read
// by read_item(Fields of that object) into `out`; the first error fails `f`.
// Absent or null: `out` stays nullopt.
template <class T, class Read>
void read_objects(Fields& f, const char* field, size_t max, std::optional<std::vector<T>>& out, Read read_item) {
  const Value* list = f.array(field, false);
  if (!list || !f.ok()) return;
  if (list->Size() > max) {
    f.fail(ErrorCode::too_large, std::to_string(list->Size()) + " " + field + ", over the limit of " +
                                     std::to_string(max));
    return;
  }
  out.emplace();
  for (size_t i = 0; f.ok() && i < list->Size(); ++i) {
    const Value& v = (*list)[static_cast<rapidjson::SizeType>(i)];
    const std::string where = std::string(field) + "[" + std::to_string(i) + "]";
    if (!v.IsObject()) {
      Error e = object_error(where);
      f.fail(e.code, e.message);
      return;
    }
    Fields g(v, where + ".");
    T item = read_item(g);
    if (!g.ok()) {
      Error e = g.take_error();
      f.fail(e.code, e.message);
      return;
    }
    out->push_back(std::move(item));
  }
}

// A reader's result: the first problem Fields saw, or the value.
template <class T>
Result<T> finish(Fields& f, T&& value) {
  if (!f.ok()) return f.take_error();
  return std::forward<T>(value);
}

// ------------------------------------------------------------------ writing

inline void put(Writer& w, const char* key, const std::string& s) {
  w.Key(key);
  w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
}
inline void put(Writer& w, const char* key, const std::optional<std::string>& s) {
  if (s) put(w, key, *s);
}
inline void put(Writer& w, const char* key, int64_t v) {
  w.Key(key);
  w.Int64(v);
}
// `key`: [ one object per item, its members written by write_members(item) ].
template <class List, class Write>
void put_objects(Writer& w, const char* key, const List& items, Write write_members) {
  w.Key(key);
  w.StartArray();
  for (const auto& item : items) {
    w.StartObject();
    write_members(item);
    w.EndObject();
  }
  w.EndArray();
}

// Writes nothing when absent, null for an empty optional inside.
inline void put_nullable(Writer& w, const char* key, const std::optional<std::optional<std::string>>& s) {
  if (!s) return;
  if (*s) {
    put(w, key, **s);
  } else {
    w.Key(key);
    w.Null();
  }
}
inline void put_bool(Writer& w, const char* key, bool v) {
  w.Key(key);
  w.Bool(v);
}
inline void put(Writer& w, const char* key, const RawJson& raw) {
  w.Key(key);
  w.RawValue(raw.text.data(), raw.text.size(), rapidjson::kObjectType);
}
inline void put_strings(Writer& w, const char* key, const std::vector<std::string>& v) {
  w.Key(key);
  w.StartArray();
  for (const auto& s : v) w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
  w.EndArray();
}

// The fields of an Error, as every error object carries them: code, the text
// under `text_key` ("error" on the wire and in binding results, "message" in
// client events and the client store), then messageId, imageId, retryAfterMs
// when set. The one writer of an error's fields (json.h: write_error).
void put_error_fields(Writer& w, const Error& e, const char* text_key);

// The sub-objects frames, client events and the client store all carry
// (frames_server.cc).
void write_analysis(Writer& w, const ImageAnalysis& a);
void write_analysis_list(Writer& w, const std::vector<ImageAnalysis>& list);
void write_citations(Writer& w, const std::vector<Citation>& list);
void write_tools(Writer& w, const std::vector<ToolSpec>& tools);

}  // namespace chatwire::protocol::internal

#endif  // CHATWIRE_CORE_PROTOCOL_JSON_FIELDS_H_
