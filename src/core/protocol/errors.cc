#include "core/protocol/errors.h"

namespace chatwire {

namespace {
constexpr const char* kNames[] = {
    "bad_json",     "unknown_type", "invalid_field", "too_large", "image_invalid",
    "unauthorized", "rate_limited", "not_found",     "internal",
    "unavailable",  "conflict",
};
}  // namespace

const char* error_code_name(ErrorCode code) { return kNames[static_cast<int>(code)]; }

std::optional<ErrorCode> error_code_from_name(const std::string& name) {
  for (int i = 0; i < static_cast<int>(sizeof(kNames) / sizeof(kNames[0])); ++i) {
    if (name == kNames[i]) return static_cast<ErrorCode>(i);
  }
  return std::nullopt;
}

}  // namespace chatwire
