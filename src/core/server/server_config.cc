#include "core/server/server_config.h"

#include <cstdint>

#include "core/protocol/json.h"
#include "core/protocol/limits.h"
#include "core/protocol/options_json.h"
#include "core/store/server_store.h"

namespace chatwire::server {

namespace {

constexpr int64_t kDayMs = INT64_C(86400000);
constexpr int64_t kMaxSafe = protocol::kMaxSafeInteger;

// The integer options at the top level: parse_server_config and
// server_config_json both walk this table.
const protocol::IntegerOption<ServerConfig> kIntegerOptions[] = {
    {"port", 0, 65535, [](const ServerConfig& c) -> int64_t { return c.port; },
     [](ServerConfig& c, int64_t v) { c.port = static_cast<int>(v); }},
    {"heartbeatMs", 100, kDayMs, [](const ServerConfig& c) { return c.hub.heartbeat_ms; },
     [](ServerConfig& c, int64_t v) { c.hub.heartbeat_ms = v; }},
    {"heartbeatTimeoutMs", 100, 3 * kDayMs, [](const ServerConfig& c) { return c.hub.heartbeat_timeout_ms; },
     [](ServerConfig& c, int64_t v) { c.hub.heartbeat_timeout_ms = v; }},
    {"maxConnectionsPerIp", 0, kMaxSafe,
     [](const ServerConfig& c) { return static_cast<int64_t>(c.gate.max_connections_per_ip); },
     [](ServerConfig& c, int64_t v) { c.gate.max_connections_per_ip = static_cast<size_t>(v); }},
    {"retentionMs", 0, kMaxSafe, [](const ServerConfig& c) { return c.hub.retention_ms; },
     [](ServerConfig& c, int64_t v) { c.hub.retention_ms = v; }},
    {"retentionEvents", 0, kMaxSafe, [](const ServerConfig& c) { return c.hub.retention_events; },
     [](ServerConfig& c, int64_t v) { c.hub.retention_events = v; }},
    {"maxDatabaseBytes", 0, kMaxSafe, [](const ServerConfig& c) { return c.max_database_bytes; },
     [](ServerConfig& c, int64_t v) { c.max_database_bytes = v; }},
};

constexpr int64_t kTicketTtlMin = 1000;
constexpr size_t kSecretMinBytes = 16;

Error invalid(std::string message) { return Error(ErrorCode::invalid_field, std::move(message)); }

}  // namespace

Result<ServerConfig> parse_server_config(std::string_view json) {
  ServerConfig c;
  auto read = protocol::OptionsReader::parse(json, "options");
  if (!read) return read.error();
  const protocol::OptionsReader& o = *read;

  for (auto e : {o.string("host", c.host), o.string("path", c.path), o.string("database", c.database),
                 o.boolean("typingAroundHandler", c.hub.typing_around_handler),
                 o.strings("allowedOrigins", c.gate.allowed_origins)}) {
    if (e) return *e;
  }
  for (const auto& f : kIntegerOptions) {
    int64_t v = f.get(c);
    if (auto e = o.integer(f.name, f.min, f.max, v)) return *e;
    f.set(c, v);
  }
  if (c.path.empty() || c.path[0] != '/') return invalid("options.path must be a path starting with '/'");
  // The one place heartbeatMs and heartbeatTimeoutMs are reconciled (issue 15):
  // without a timeout, silence of 3 heartbeats closes (PROTOCOL.md); with only
  // a timeout, the advertised heartbeat is a third of it, so a client that
  // follows it is never closed; both given, the timeout may not be shorter.
  if (!o.has("heartbeatTimeoutMs")) {
    c.hub.heartbeat_timeout_ms = 3 * c.hub.heartbeat_ms;
  } else if (!o.has("heartbeatMs")) {
    c.hub.heartbeat_ms = c.hub.heartbeat_timeout_ms / 3;
  } else if (c.hub.heartbeat_timeout_ms < c.hub.heartbeat_ms) {
    return invalid("options.heartbeatTimeoutMs (" + std::to_string(c.hub.heartbeat_timeout_ms) +
                   ") must not be less than options.heartbeatMs (" + std::to_string(c.hub.heartbeat_ms) + ")");
  }

  if (o.has("limits")) {
    auto limits = parse_limits(o.text("limits"));
    if (!limits) return invalid("options." + limits.error().message);
    c.hub.limits = *limits;
  }
  auto auth = o.object("auth");
  if (!auth) return auth.error();
  if (*auth) {
    const protocol::OptionsReader& a = **auth;
    // (the error never shows the value: it is a secret)
    if (a.string("secret", c.gate.ticket_secret) || c.gate.ticket_secret.size() < kSecretMinBytes) {
      return invalid(a.name("secret") + " must be a string of at least " + std::to_string(kSecretMinBytes) +
                     " characters");
    }
    c.gate.tickets = true;
    if (auto e = a.integer("ticketTtlMs", kTicketTtlMin, kDayMs, c.gate.ticket_ttl_ms)) return *e;
  }
  return c;
}

std::string server_config_json(const ServerConfig& c) {
  protocol::EventWriter w;
  w.str("host", c.host).str("path", c.path).str("database", c.database);
  for (const auto& f : kIntegerOptions) w.num(f.name, f.get(c));
  w.boolean("typingAroundHandler", c.hub.typing_around_handler);
  w.key("allowedOrigins").begin_array();
  for (const auto& origin : c.gate.allowed_origins) w.value(origin);
  w.end_array();
  w.raw("limits", limits_to_json(c.hub.limits));
  if (c.gate.tickets) w.key("auth").begin_object().num("ticketTtlMs", c.gate.ticket_ttl_ms).end_object();
  w.key("toolTimeout").begin_object();
  w.num("defaultMs", c.turns.tool_timeout_ms).num("minMs", c.turns.tool_timeout_min_ms);
  w.num("maxMs", c.turns.tool_timeout_max_ms).end_object();
  w.key("turnEnd").begin_object();
  w.key("unanswered").error(c.turns.unanswered, "error");
  w.key("failed").error(c.turns.failed, "error");
  w.end_object();
  return w.done();
}

Result<std::unique_ptr<ServerHub>> open_server_hub(const ServerConfig& config, Entropy& entropy) {
  store::ServerStoreOptions options;
  options.external_checkpoint = true;  // the CommitScheduler's rounds, off the loop
  options.max_bytes = config.max_database_bytes;
  auto store = store::ServerStore::open(config.database, options);
  if (!store) return store.error();
  return std::make_unique<ServerHub>(config.hub, std::unique_ptr<store::EventStore>(std::move(*store)), entropy);
}

}  // namespace chatwire::server
