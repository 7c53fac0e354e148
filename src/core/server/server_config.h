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

// What ChatServer's JS does around the application's handlers. The numbers
// and texts live here so js/server.mjs holds none of its own: it reads them
// from server_config_json().
struct TurnPolicy {
  // reply.callTool's timeout when the call gives none, and the range a given
  // one must be in (a JS timer runs it: setTimeout's longest delay is 2^31-1).
  int64_t tool_timeout_ms = 30000;
  int64_t tool_timeout_min_ms = 1;
  int64_t tool_timeout_max_ms = (INT64_C(1) << 31) - 1;
  // An onMessage handler that returned without reply.respond() fails its
  // turn with `unanswered`; one that threw, with `failed` (a generic text: the
  // handler's own error may hold secrets and goes to the server's log only).
  // A turn the client cancelled gets the cancelled reply instead, either way.
  Error unanswered{ErrorCode::internal, "the assistant finished without a reply"};
  Error failed{ErrorCode::internal, "the assistant failed while preparing the reply"};
};

struct ServerConfig {
  std::string host = "127.0.0.1";
  int port = 0;
  std::string path = "/ws/chat";
  std::string database = ":memory:";
  int64_t max_database_bytes = 0;  // maxDatabaseBytes: ServerStoreOptions::max_bytes (0: no limit)
  HubConfig hub;
  GateConfig gate;
  TurnPolicy turns;
};

// Parses {"host","port","path","database","heartbeatMs","heartbeatTimeoutMs",
// "limits":{...},"auth":{"secret","ticketTtlMs"},"allowedOrigins":[...],
// "maxConnectionsPerIp","retentionMs","retentionEvents","typingAroundHandler",
// "maxDatabaseBytes"}: the one place their ranges and defaults live (JS checks
// only the types, js/server.mjs). Absent or null fields keep the defaults.
// Errors are invalid_field naming the option, its range and the value given
// ("options.port must be an integer from 0 to 65535, got 70000"); JS throws
// them as RangeErrors.
Result<ServerConfig> parse_server_config(std::string_view json);

// The config as the JS layer reads it back: every option above with its
// value or default (camelCase; `auth` holds only ticketTtlMs, never the
// secret), "limits" in full, and the TurnPolicy as
// "toolTimeout":{"defaultMs","minMs","maxMs"} and
// "turnEnd":{"unanswered":{"code","error"},"failed":{"code","error"}}.
std::string server_config_json(const ServerConfig& config);

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
