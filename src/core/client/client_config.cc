#include "core/client/client_config.h"

#include <cstdint>
#include <string>

#include "core/protocol/json.h"
#include "core/protocol/options_json.h"

namespace chatwire::client {

namespace {

constexpr int64_t kMaxSafe = protocol::kMaxSafeInteger;

// The integer options' ranges (their fields are read by
// client_config_from_json, so the rows have no setter).
const protocol::IntegerOption<ClientConfig> kIntegerOptions[] = {
    {"heartbeatMs", 100, kMaxSafe, [](const ClientConfig& c) { return c.heartbeat_ms; }, nullptr},
    {"toolTimeoutMs", 1, kMaxSafe, [](const ClientConfig& c) { return c.tool_timeout_ms; }, nullptr},
    {"typingIdleMs", 1, kMaxSafe, [](const ClientConfig& c) { return c.typing_idle_ms; }, nullptr},
    {"historyPage", 1, 200, [](const ClientConfig& c) -> int64_t { return c.history_page; }, nullptr},
    {"reconnect.maxAttempts", 0, INT32_MAX,
     [](const ClientConfig& c) -> int64_t { return c.reconnect.max_attempts; }, nullptr},
    {"reconnect.minDelayMs", 0, kMaxSafe, [](const ClientConfig& c) { return c.reconnect.min_delay_ms; }, nullptr},
};

Error invalid(std::string message) { return Error(ErrorCode::invalid_field, std::move(message)); }

std::string number_text(double v) {
  protocol::JsonWriter w;
  w.number(v);
  return w.done();
}

}  // namespace

std::optional<Error> check_client_config(const ClientConfig& c) {
  if (c.url.empty()) return invalid("options.url is required");
  for (const auto& f : kIntegerOptions) {
    const int64_t v = f.get(c);
    if (v < f.min || v > f.max) {
      return protocol::integer_range_error(std::string("options.") + f.name, f.min, f.max, std::to_string(v));
    }
  }
  // An empty list would leave no delay to wait before a retry.
  bool delays_ok = !c.reconnect.delays_ms.empty();
  for (int64_t d : c.reconnect.delays_ms) delays_ok = delays_ok && d >= 0 && d <= kMaxSafe;
  if (!delays_ok) return invalid("options.reconnect.delaysMs must be a non-empty array of integers >= 0");
  if (!(c.reconnect.jitter >= 0 && c.reconnect.jitter <= 1)) {
    return invalid("options.reconnect.jitter must be a number from 0 to 1, got " + number_text(c.reconnect.jitter));
  }
  return std::nullopt;
}

}  // namespace chatwire::client
