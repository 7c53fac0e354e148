// The options objects of the public API as the JS layer passes them (JSON,
// camelCase, only what the application gave), read one field at a time for
// the layers above the protocol (server/server_config.cc reads ChatServer's
// options with it), so RapidJSON stays under src/core/protocol/.
//
// An absent or null field leaves the caller's default untouched. Every error
// is invalid_field naming the option as JS spells it, with the rule and the
// value given: "options.port must be an integer from 0 to 65535, got 70000".
#ifndef CHATWIRE_CORE_PROTOCOL_OPTIONS_JSON_H_
#define CHATWIRE_CORE_PROTOCOL_OPTIONS_JSON_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/protocol/errors.h"

namespace chatwire::protocol {

// The largest integer a JS number holds exactly (Number.MAX_SAFE_INTEGER):
// the bound of the integer options that have no other.
constexpr int64_t kMaxSafeInteger = (INT64_C(1) << 53) - 1;

// One row of a config's table of integer options: the option's JS name (as
// it follows "options."), its range, and its field in the config `C`. `set`
// is null when the table is only checked (the field is read elsewhere).
template <typename C>
struct IntegerOption {
  const char* name;
  int64_t min;
  int64_t max;
  int64_t (*get)(const C&);
  void (*set)(C&, int64_t);
};

// The one text of an integer option out of its range:
// "<name> must be an integer from <min> to <max>, got <given>".
Error integer_range_error(const std::string& name, int64_t min, int64_t max, const std::string& given);

class OptionsReader {
 public:
  // Reads `json`, which must be a JSON object ("<prefix> must be an object"
  // otherwise). `prefix` names it in errors: "options" gives "options.port".
  static Result<OptionsReader> parse(std::string_view json, std::string prefix);

  // The option's name as errors spell it: "options.auth.ticketTtlMs".
  std::string name(const char* field) const;
  // True when the field is present and not null.
  bool has(const char* field) const;

  // Each reads one field into `out` when it is present (not null) and valid,
  // and returns the error otherwise.
  std::optional<Error> string(const char* field, std::string& out) const;
  std::optional<Error> integer(const char* field, int64_t min, int64_t max, int64_t& out) const;
  std::optional<Error> boolean(const char* field, bool& out) const;
  std::optional<Error> strings(const char* field, std::vector<std::string>& out) const;

  // A nested options object ("auth"): its reader, nullopt when absent or null.
  Result<std::optional<OptionsReader>> object(const char* field) const;
  // A field's value as compact JSON text ("" when absent or null), for a
  // reader of its own (parse_limits for "limits").
  std::string text(const char* field) const;

 private:
  struct Doc;
  OptionsReader(std::shared_ptr<const Doc> doc, const void* object, std::string prefix);
  const void* find(const char* field) const;  // the field's rapidjson::Value, nullptr when absent or null
  std::optional<Error> bad(const char* field, const std::string& rule, const void* value) const;

  std::shared_ptr<const Doc> doc_;
  const void* object_;  // a rapidjson::Value inside doc_
  std::string prefix_;
};

}  // namespace chatwire::protocol

#endif  // CHATWIRE_CORE_PROTOCOL_OPTIONS_JSON_H_
