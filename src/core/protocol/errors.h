// Error codes and the error value every core entry point returns instead of
// throwing. The enumerator names are PROTOCOL.md's codes, and the JS ChatError's
// `code` is the same string (error_code_name), so there is one list.
#ifndef CHATWIRE_CORE_PROTOCOL_ERRORS_H_
#define CHATWIRE_CORE_PROTOCOL_ERRORS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace chatwire {

enum class ErrorCode {
  bad_json,
  unknown_type,
  invalid_field,
  too_large,
  image_invalid,
  unauthorized,
  rate_limited,
  not_found,
  internal,
  unavailable,  // Version 1.1: a dependency (the database) is down; carries retryAfterMs
  conflict,     // Version 1.1: a request that contradicts stored state (regenerate with no reply yet)
  // Add new codes above; kErrorCodeCount follows the last one.
};
constexpr int kErrorCodeCount = static_cast<int>(ErrorCode::conflict) + 1;

// The wire name of a code, e.g. "invalid_field".
const char* error_code_name(ErrorCode code);
// Inverse of error_code_name; nullopt for a name that is not a code.
std::optional<ErrorCode> error_code_from_name(const std::string& name);

// An error as the protocol reports it: the code, a human sentence naming the
// field / image / limit involved, and the ids of what it concerns when known.
struct Error {
  ErrorCode code = ErrorCode::internal;
  std::string message;
  std::string message_id;       // empty when the frame was not readable that far
  std::string image_id;         // empty unless the error is about one image
  int64_t retry_after_ms = -1;  // rate_limited and unavailable only

  Error() = default;
  Error(ErrorCode c, std::string m) : code(c), message(std::move(m)) {}
};

// A value or an Error. Core functions return these; nothing in the core throws
// across its public API (exceptions must never reach embind or lws callbacks).
template <class T>
class Result {
 public:
  Result(T value) : v_(std::move(value)) {}            // NOLINT: implicit by design
  Result(Error error) : v_(std::move(error)) {}        // NOLINT
  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() { return std::get<0>(v_); }
  const T& value() const { return std::get<0>(v_); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() { return value(); }
  const Error& error() const { return std::get<1>(v_); }
  Error& error() { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

}  // namespace chatwire

#endif  // CHATWIRE_CORE_PROTOCOL_ERRORS_H_
