#include "core/server/gate.h"

#include <algorithm>

#include "core/protocol/json.h"
#include "core/protocol/time.h"

namespace chatwire::server {

namespace {

// A JSON object of string members, in order (the HTTP answers' bodies).
std::string json_object(std::initializer_list<std::pair<const char*, std::string>> fields) {
  protocol::EventWriter w;
  for (const auto& [k, v] : fields) w.str(k, v);
  return w.done();
}

}  // namespace

Gate::Gate(GateConfig config) : config_(std::move(config)) {
  if (config_.tickets) tickets_ = std::make_unique<TicketAuthority>(config_.ticket_secret, config_.ticket_ttl_ms);
}

bool Gate::origin_allowed(std::string_view origin) const {
  return config_.allowed_origins.empty() ||
         std::find(config_.allowed_origins.begin(), config_.allowed_origins.end(), origin) !=
             config_.allowed_origins.end();
}

Gate::Decision Gate::handshake(int64_t now, std::string_view query, std::string_view origin,
                               std::string_view peer_ip) {
  Decision d;
  if (!origin_allowed(origin)) {
    d.status = 403;
    d.reason = "origin not allowed: '" + std::string(origin) + "'";
    return d;
  }
  if (config_.max_connections_per_ip) {
    auto it = per_ip_.find(std::string(peer_ip));
    if (it != per_ip_.end() && it->second >= config_.max_connections_per_ip) {
      d.status = 429;
      d.reason = "too many connections from " + std::string(peer_ip);
      return d;
    }
  }
  // The ticket is checked last so that a refusal for another reason does not
  // use it up.
  if (tickets_) {
    auto user = tickets_->authorize_query(query, now);
    if (!user) {
      d.status = 401;
      d.reason = user.error().message;
      return d;
    }
    d.user_id = std::move(*user);
  }
  return d;
}

void Gate::opened(std::string_view peer_ip) { ++per_ip_[std::string(peer_ip)]; }

void Gate::closed(std::string_view peer_ip) {
  auto it = per_ip_.find(std::string(peer_ip));
  if (it != per_ip_.end() && --it->second == 0) per_ip_.erase(it);
}

Gate::HttpRoute Gate::route(std::string_view method, std::string_view path, std::string_view store_problem) const {
  HttpRoute r;
  if (path == "/healthz") {
    if ((method == "GET" || method == "HEAD") && !store_problem.empty()) {
      r.answer = {503, json_object({{"status", "unavailable"}, {"reason", std::string(store_problem)}})};
    } else if (method == "GET" || method == "HEAD") {
      r.answer = {200, "{\"status\":\"ok\"}"};
    } else {
      r.answer = {405, json_object({{"error", "use GET /healthz"}})};
    }
    return r;
  }
  if (path == "/api/ticket") {
    if (!tickets_) {
      r.answer = {404, json_object({{"error", "tickets are not enabled on this server (no auth option)"}})};
    } else if (method != "POST") {
      r.answer = {405, json_object({{"error", "use POST /api/ticket"}})};
    } else {
      r.needs_authentication = true;
    }
    return r;
  }
  r.answer = {404, json_object({{"error", "not found"}})};
  return r;
}

HttpAnswer Gate::ticket_answer(std::optional<std::string> user_id, int64_t now, Entropy& entropy) {
  if (!tickets_) return {404, json_object({{"error", "tickets are not enabled on this server"}})};
  if (!user_id || user_id->empty()) return {401, json_object({{"error", "authentication failed"}})};
  Ticket t = tickets_->issue(*user_id, now, entropy);
  return {200, json_object({{"ticket", t.text}, {"expiresAt", format_timestamp(t.expires_at_ms)}})};
}

}  // namespace chatwire::server
