// The server's door: who may open a WebSocket (tickets, Origin allow-list,
// connections per IP) and the answers of the HTTP endpoints that share the
// port (POST /api/ticket, GET /healthz). The Node binding asks the Gate during
// the libwebsockets handshake and for every plain HTTP request, and only moves
// the answers; every rule is here.
#ifndef CHATWIRE_CORE_SERVER_GATE_H_
#define CHATWIRE_CORE_SERVER_GATE_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/protocol/ids.h"
#include "core/server/tickets.h"

namespace chatwire::server {

struct GateConfig {
  std::vector<std::string> allowed_origins;  // empty: any Origin (or none) is allowed
  size_t max_connections_per_ip = 0;         // 0: no limit
  bool tickets = false;                      // auth configured: a ticket is required
  std::string ticket_secret;
  int64_t ticket_ttl_ms = 60000;
};

struct HttpAnswer {
  int status = 200;
  std::string body;  // JSON
};

class Gate {
 public:
  explicit Gate(GateConfig config);

  // The handshake decision for a WebSocket upgrade: `status` 0 accepts (with
  // the ticket's user in `user_id`, "" without auth), else the HTTP status to
  // refuse with: 403 Origin not allowed, 429 too many connections from the
  // IP, 401 missing/forged/expired/reused ticket. `reason` says which (for
  // logs; never contains the ticket). Call opened() when the socket opens.
  struct Decision {
    int status = 0;
    std::string user_id;
    std::string reason;
  };
  Decision handshake(int64_t now, std::string_view query, std::string_view origin, std::string_view peer_ip);
  // The Origin allow-list alone (exact match; an empty list allows every
  // origin, and no Origin): also what the HTTP fallback's CORS answers use.
  bool origin_allowed(std::string_view origin) const;
  // Bookkeeping for the per-IP limit: a socket from `peer_ip` opened / closed.
  void opened(std::string_view peer_ip);
  void closed(std::string_view peer_ip);

  // What a plain HTTP request gets. `needs_authentication` is set for a
  // POST /api/ticket when auth is configured: the binding then runs the
  // application's `authenticate` hook and calls ticket_answer() with its user.
  struct HttpRoute {
    bool needs_authentication = false;
    HttpAnswer answer;
  };
  // `store_problem` is ServerHub::store_health().reason ("" when the store
  // is fine): GET /healthz then answers 503 {"status":"unavailable","reason"}.
  HttpRoute route(std::string_view method, std::string_view path, std::string_view store_problem = {}) const;

  // The answer to POST /api/ticket once `authenticate` decided: 200
  // {"ticket","expiresAt"} for a user, 401 {"error"} for nullopt.
  HttpAnswer ticket_answer(std::optional<std::string> user_id, int64_t now, Entropy& entropy);

  TicketAuthority* tickets() { return tickets_.get(); }

 private:
  GateConfig config_;
  std::unique_ptr<TicketAuthority> tickets_;
  std::unordered_map<std::string, size_t> per_ip_;
};

}  // namespace chatwire::server

#endif  // CHATWIRE_CORE_SERVER_GATE_H_
