#include "core/protocol/options_json.h"

#include "core/protocol/json_fields.h"

namespace chatwire::protocol {

using internal::Value;

struct OptionsReader::Doc {
  rapidjson::Document doc;
};

namespace {

const Value& value_of(const void* v) { return *static_cast<const Value*>(v); }

// A value as errors show it, cut short: an option can be any size of JSON.
std::string shown(const Value& value) {
  constexpr size_t kShown = 40;
  std::string given = internal::to_text(value);
  if (given.size() > kShown) given = given.substr(0, kShown) + "...";
  return given;
}

}  // namespace

Error integer_range_error(const std::string& name, int64_t min, int64_t max, const std::string& given) {
  return Error(ErrorCode::invalid_field, name + " must be an integer from " + std::to_string(min) + " to " +
                                             std::to_string(max) + ", got " + given);
}

OptionsReader::OptionsReader(std::shared_ptr<const Doc> doc, const void* object, std::string prefix)
    : doc_(std::move(doc)), object_(object), prefix_(std::move(prefix)) {}

Result<OptionsReader> OptionsReader::parse(std::string_view json, std::string prefix) {
  auto doc = std::make_shared<Doc>();
  doc->doc.Parse<rapidjson::kParseValidateEncodingFlag>(json.data(), json.size());
  if (doc->doc.HasParseError() || !doc->doc.IsObject()) {
    return Error(ErrorCode::invalid_field, prefix + " must be an object");
  }
  const void* object = &doc->doc;
  return OptionsReader(std::move(doc), object, std::move(prefix));
}

std::string OptionsReader::name(const char* field) const { return prefix_ + "." + field; }

const void* OptionsReader::find(const char* field) const {
  const Value& obj = value_of(object_);
  auto it = obj.FindMember(field);
  if (it == obj.MemberEnd() || it->value.IsNull()) return nullptr;
  return &it->value;
}

bool OptionsReader::has(const char* field) const { return find(field) != nullptr; }

std::optional<Error> OptionsReader::bad(const char* field, const std::string& rule, const void* value) const {
  return Error(ErrorCode::invalid_field, name(field) + " must be " + rule + ", got " + shown(value_of(value)));
}

std::optional<Error> OptionsReader::string(const char* field, std::string& out) const {
  const void* v = find(field);
  if (!v) return std::nullopt;
  if (!value_of(v).IsString()) return bad(field, "a string", v);
  out.assign(value_of(v).GetString(), value_of(v).GetStringLength());
  return std::nullopt;
}

std::optional<Error> OptionsReader::integer(const char* field, int64_t min, int64_t max, int64_t& out) const {
  const void* v = find(field);
  if (!v) return std::nullopt;
  const Value& n = value_of(v);
  if (!n.IsInt64() || n.GetInt64() < min || n.GetInt64() > max) {
    return integer_range_error(name(field), min, max, shown(n));
  }
  out = n.GetInt64();
  return std::nullopt;
}

std::optional<Error> OptionsReader::boolean(const char* field, bool& out) const {
  const void* v = find(field);
  if (!v) return std::nullopt;
  if (!value_of(v).IsBool()) return bad(field, "true or false", v);
  out = value_of(v).GetBool();
  return std::nullopt;
}

std::optional<Error> OptionsReader::strings(const char* field, std::vector<std::string>& out) const {
  const void* v = find(field);
  if (!v) return std::nullopt;
  const Value& list = value_of(v);
  bool ok = list.IsArray();
  if (ok) {
    for (const auto& s : list.GetArray()) ok = ok && s.IsString();
  }
  if (!ok) return bad(field, "an array of strings", v);
  out.clear();
  for (const auto& s : list.GetArray()) out.emplace_back(s.GetString(), s.GetStringLength());
  return std::nullopt;
}

Result<std::optional<OptionsReader>> OptionsReader::object(const char* field) const {
  const void* v = find(field);
  if (!v) return std::optional<OptionsReader>();
  if (!value_of(v).IsObject()) return *bad(field, "an object", v);
  return std::optional<OptionsReader>(OptionsReader(doc_, v, name(field)));
}

std::string OptionsReader::text(const char* field) const {
  const void* v = find(field);
  return v ? internal::to_text(value_of(v)) : std::string();
}

}  // namespace chatwire::protocol
