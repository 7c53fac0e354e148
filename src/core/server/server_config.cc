#include "core/server/server_config.h"

#include <rapidjson/document.h>

#include "core/protocol/codec.h"
#include "core/store/server_store.h"

namespace chatwire::server {

namespace {

Error bad(const std::string& name, const char* what) {
  return Error(ErrorCode::invalid_field, "options." + name + " must be " + what);
}

}  // namespace

Result<ServerConfig> parse_server_config(std::string_view json) {
  ServerConfig c;
  rapidjson::Document doc;
  doc.Parse(json.data(), json.size());
  if (doc.HasParseError() || !doc.IsObject()) return Error(ErrorCode::invalid_field, "options must be an object");

  auto str = [&](const char* name, std::string& out) -> std::optional<Error> {
    auto it = doc.FindMember(name);
    if (it == doc.MemberEnd() || it->value.IsNull()) return std::nullopt;
    if (!it->value.IsString()) return bad(name, "a string");
    out.assign(it->value.GetString(), it->value.GetStringLength());
    return std::nullopt;
  };
  auto integer = [&](const rapidjson::Value& obj, const char* name, int64_t min, int64_t max,
                     int64_t& out) -> std::optional<Error> {
    auto it = obj.FindMember(name);
    if (it == obj.MemberEnd() || it->value.IsNull()) return std::nullopt;
    if (!it->value.IsInt64() || it->value.GetInt64() < min || it->value.GetInt64() > max) {
      return bad(name, ("an integer from " + std::to_string(min) + " to " + std::to_string(max)).c_str());
    }
    out = it->value.GetInt64();
    return std::nullopt;
  };

  int64_t port = 0, per_ip = 0, ttl = c.gate.ticket_ttl_ms;
  for (auto e : {str("host", c.host), str("path", c.path), str("database", c.database),
                 integer(doc, "port", 0, 65535, port),
                 integer(doc, "heartbeatMs", 100, INT64_C(86400000), c.hub.heartbeat_ms),
                 integer(doc, "heartbeatTimeoutMs", 100, INT64_C(86400000) * 3, c.hub.heartbeat_timeout_ms),
                 integer(doc, "maxConnectionsPerIp", 0, INT64_MAX, per_ip),
                 integer(doc, "retentionMs", 0, INT64_MAX, c.hub.retention_ms),
                 integer(doc, "retentionEvents", 0, INT64_MAX, c.hub.retention_events),
                 integer(doc, "maxDatabaseBytes", 0, INT64_MAX, c.max_database_bytes)}) {
    if (e) return *e;
  }
  c.port = static_cast<int>(port);
  c.gate.max_connections_per_ip = static_cast<size_t>(per_ip);
  if (c.path.empty() || c.path[0] != '/') return bad("path", "a path starting with '/'");
  // The one place heartbeatMs and heartbeatTimeoutMs are reconciled (issue 15):
  // without a timeout, silence of 3 heartbeats closes (PROTOCOL.md); with only
  // a timeout, the advertised heartbeat is a third of it, so a client that
  // follows it is never closed; both given, the timeout may not be shorter.
  const bool has_hb = doc.HasMember("heartbeatMs") && !doc["heartbeatMs"].IsNull();
  const bool has_timeout = doc.HasMember("heartbeatTimeoutMs") && !doc["heartbeatTimeoutMs"].IsNull();
  if (!has_timeout) {
    c.hub.heartbeat_timeout_ms = 3 * c.hub.heartbeat_ms;
  } else if (!has_hb) {
    c.hub.heartbeat_ms = c.hub.heartbeat_timeout_ms / 3;
  } else if (c.hub.heartbeat_timeout_ms < c.hub.heartbeat_ms) {
    return Error(ErrorCode::invalid_field, "options.heartbeatTimeoutMs (" + std::to_string(c.hub.heartbeat_timeout_ms) +
                                               ") must not be less than options.heartbeatMs (" +
                                               std::to_string(c.hub.heartbeat_ms) + ")");
  }

  if (auto it = doc.FindMember("limits"); it != doc.MemberEnd() && !it->value.IsNull()) {
    auto limits = parse_limits(protocol::to_json_text(it->value));
    if (!limits) return limits.error();
    c.hub.limits = *limits;
  }
  if (auto it = doc.FindMember("typingAroundHandler"); it != doc.MemberEnd() && it->value.IsBool()) {
    c.hub.typing_around_handler = it->value.GetBool();
  }
  if (auto it = doc.FindMember("allowedOrigins"); it != doc.MemberEnd() && !it->value.IsNull()) {
    if (!it->value.IsArray()) return bad("allowedOrigins", "an array of strings");
    for (const auto& o : it->value.GetArray()) {
      if (!o.IsString()) return bad("allowedOrigins", "an array of strings");
      c.gate.allowed_origins.emplace_back(o.GetString(), o.GetStringLength());
    }
  }
  if (auto it = doc.FindMember("auth"); it != doc.MemberEnd() && !it->value.IsNull()) {
    const auto& auth = it->value;
    if (!auth.IsObject()) return bad("auth", "an object");
    auto secret = auth.FindMember("secret");
    if (secret == auth.MemberEnd() || !secret->value.IsString() || secret->value.GetStringLength() < 16) {
      return bad("auth.secret", "a string of at least 16 characters");
    }
    c.gate.tickets = true;
    c.gate.ticket_secret.assign(secret->value.GetString(), secret->value.GetStringLength());
    if (auto e = integer(auth, "ticketTtlMs", 1000, INT64_C(86400000), ttl)) return *e;
    c.gate.ticket_ttl_ms = ttl;
  }
  return c;
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
