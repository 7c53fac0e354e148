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
#include <string_view>
#include <utility>
#include <vector>

#include "core/protocol/errors.h"
#include "core/protocol/limits.h"
#include "core/protocol/messages.h"
#include "core/protocol/time.h"

namespace chatwire::protocol::internal {

using rapidjson::Value;
using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

// How the protocol layer parses JSON: UTF-8 validated, without recursion, and
// numbers to the nearest double (RapidJSON's default fast path can be off by
// a few units in the last place for long numbers, so a value kept as text,
// such as a tool result of 192233720036854775808, would change each time it
// is re-encoded: found by fuzz_frame_decoder).
constexpr unsigned kParseFlags =
    rapidjson::kParseValidateEncodingFlag | rapidjson::kParseIterativeFlag | rapidjson::kParseFullPrecisionFlag;

// Debian's RapidJSON 1.1 full-precision path computes clz(0) (undefined
// behaviour; UBSan aborts) for a number whose significand is all zeros and
// that has a fraction or an exponent ("0e40", "-0.0"): found by
// fuzz_frame_decoder. Such a number is exactly 0 on either path, so a text
// holding one is parsed on the fast path.
inline bool has_zero_significand_number(std::string_view t) {
  bool in_string = false;
  for (size_t i = 0; i < t.size(); ++i) {
    const char c = t[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') { in_string = true; continue; }
    if (c != '-' && (c < '0' || c > '9')) continue;
    bool nonzero = false, fraction_or_exponent = false;
    size_t j = i + (c == '-' ? 1 : 0);
    for (; j < t.size(); ++j) {
      const char d = t[j];
      if (d >= '1' && d <= '9') nonzero = true;
      else if (d == '.') fraction_or_exponent = true;
      else if (d != '0') break;
    }
    if (j < t.size() && (t[j] == 'e' || t[j] == 'E')) fraction_or_exponent = true;
    if (!nonzero && fraction_or_exponent) return true;
    while (j < t.size() && (t[j] == 'e' || t[j] == 'E' || t[j] == '+' || t[j] == '-' || (t[j] >= '0' && t[j] <= '9'))) ++j;
    i = j - 1;
  }
  return false;
}

// Every parse of the protocol layer.
template <class Document>
Document& parse(Document& doc, std::string_view text) {
  if (has_zero_significand_number(text)) {
    return doc.template Parse<kParseFlags & ~rapidjson::kParseFullPrecisionFlag>(text.data(), text.size());
  }
  return doc.template Parse<kParseFlags>(text.data(), text.size());
}

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
  // The first problem, which leaves the reader ok() again.
  Error take_error() {
    Error e = std::move(*error_);
    error_.reset();
    return e;
  }

  void fail(ErrorCode code, std::string message) { fail(Error(code, std::move(message))); }
  void fail(Error e) {
    if (!error_) error_ = std::move(e);
  }

  // A field's path ("messages[2].role") and its quoted form for errors.
  std::string path(const char* field) const { return prefix_ + field; }
  std::string name(const char* field) const { return "'" + path(field) + "'"; }

  const Value* find(const char* field) const {
    auto it = obj_.FindMember(field);
    return it == obj_.MemberEnd() ? nullptr : &it->value;
  }

  // A field's value, or nullptr when it is absent (a problem when
  // `required`). `null_absent`: an optional field given as null counts as
  // absent.
  const Value* present(const char* field, bool required, bool null_absent = true) {
    const Value* v = find(field);
    if (!v || (null_absent && v->IsNull() && !required)) {
      if (required) fail(ErrorCode::invalid_field, "missing field " + name(field));
      return nullptr;
    }
    return v;
  }

  // A problem with a field that is there: "field '<name>' <what>".
  void wrong(const char* field, const std::string& what) {
    fail(ErrorCode::invalid_field, "field " + name(field) + " " + what);
  }

  // A string field. `required`: absent is an error. `nonempty`: "" is an error.
  std::optional<std::string> string(const char* field, bool required, bool nonempty = true,
                                    size_t max_bytes = 0) {
    const Value* v = present(field, required);
    if (!v) return std::nullopt;
    if (!v->IsString()) {
      wrong(field, "must be a string");
    } else if (nonempty && v->GetStringLength() == 0) {
      wrong(field, "must not be empty");
    } else if (max_bytes && v->GetStringLength() > max_bytes) {
      wrong(field, "is longer than " + std::to_string(max_bytes) + " bytes");
    } else {
      return std::string(v->GetString(), v->GetStringLength());
    }
    return std::nullopt;
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
    if (s && !parse_timestamp(*s)) wrong(field, "must be an ISO 8601 timestamp");
    return s.value_or("");
  }

  std::optional<int64_t> integer(const char* field, bool required, int64_t min, int64_t max) {
    const Value* v = present(field, required);
    if (!v) return std::nullopt;
    if (!v->IsInt64() || v->GetInt64() < min || v->GetInt64() > max) {
      std::string range = max == INT64_MAX ? " >= " + std::to_string(min)
                                           : " from " + std::to_string(min) + " to " + std::to_string(max);
      wrong(field, "must be an integer" + range);
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
    return scalar(field, false, true, &Value::IsNumber, &Value::GetDouble, "must be a number");
  }

  std::optional<bool> boolean(const char* field, bool required) {
    return scalar(field, required, false, &Value::IsBool, &Value::GetBool, "must be true or false");
  }

  // Any JSON value, kept as text.
  std::optional<RawJson> raw(const char* field, bool required) {
    const Value* v = present(field, required, false);
    if (!v) return std::nullopt;
    return RawJson{to_text(*v)};
  }

  // An array field; nullptr when absent (or on error).
  const Value* array(const char* field, bool required) {
    const Value* v = present(field, required);
    if (v && !v->IsArray()) {
      wrong(field, "must be an array");
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
        wrong(field, "must hold strings");
        return out;
      }
      out.emplace_back(e.GetString(), e.GetStringLength());
    }
    return out;
  }

 private:
  // A field of one JSON type, read with `get` when `is` says so.
  template <class V>
  std::optional<V> scalar(const char* field, bool required, bool null_absent, bool (Value::*is)() const,
                          V (Value::*get)() const, const char* what) {
    const Value* v = present(field, required, null_absent);
    if (!v) return std::nullopt;
    if (!(v->*is)()) {
      wrong(field, what);
      return std::nullopt;
    }
    return (v->*get)();
  }

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

}  // namespace chatwire::protocol::internal

#endif  // CHATWIRE_CORE_PROTOCOL_JSON_FIELDS_H_
