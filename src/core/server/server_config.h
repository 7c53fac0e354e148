// The server's options as the JS ChatServer passes them (JSON, camelCase,
// the names of DESIGN.md's `new ChatServer(options)`), parsed into the
// configs of the hub, the gate and the transport. Absent fields take
// PROTOCOL.md's defaults.
#ifndef CHATWIRE_CORE_SERVER_SERVER_CONFIG_H_
#define CHATWIRE_CORE_SERVER_SERVER_CONFIG_H_

#include <memory>
#include <string>
#include <string_view>

#include "core/protocol/errors.h"
#include "core/server/gate.h"
#include "core/server/server_hub.h"

namespace chatwire::server {

struct ServerConfig {
  std::string host = "127.0.0.1";
  int port = 0;
  std::string path = "/ws/chat";
  std::string database = ":memory:";
  int64_t max_database_bytes = 0;  // maxDatabaseBytes: ServerStoreOptions::max_bytes (0: no limit)
  HubConfig hub;
  GateConfig gate;
};

// Parses {"host","port","path","database","heartbeatMs","heartbeatTimeoutMs",
// "limits":{...},"auth":{"secret","ticketTtlMs"},"allowedOrigins":[...],
// "maxConnectionsPerIp","retentionMs","retentionEvents","typingAroundHandler",
// "maxDatabaseBytes"}.
// Errors are invalid_field naming the option.
Result<ServerConfig> parse_server_config(std::string_view json);

// Opens the store `config.database` names and a hub that owns it, for a
// server on an event loop: the store never checkpoints inside commits (the
// CommitScheduler schedules it) and is capped at max_database_bytes. Opening
// checks the file (quick_check and a test write): a corrupt or read-only
// database fails here, the message naming the file. Today every `database`
// is a SQLite path (or ":memory:"); issue 20's postgresql:// URLs are chosen
// here too, so the binding never names a store.
Result<std::unique_ptr<ServerHub>> open_server_hub(const ServerConfig& config, Entropy& entropy);

}  // namespace chatwire::server

#endif  // CHATWIRE_CORE_SERVER_SERVER_CONFIG_H_
