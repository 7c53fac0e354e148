// One-use, short-lived connection tickets (PROTOCOL.md "Transport").
//
// A ticket is issued over HTTP (`POST /api/ticket`) after the application's
// `authenticate` hook accepted the request, and redeemed once during the
// WebSocket handshake (`/ws/chat?ticket=<ticket>`), before the upgrade: a
// missing, malformed, forged, expired or reused ticket refuses the handshake
// with HTTP 401.
//
// Format (opaque to clients, URL-safe without escaping):
//   base64url(payload) "." base64url(HMAC-SHA256(secret, "chatwire-ticket-v1\n" payload))
//   payload = <expiresAtMs, decimal> ":" <nonce, 32 hex chars> ":" <userId bytes>
// base64url has no padding. The nonce makes every ticket distinct; redeeming
// remembers it until the ticket's expiry (after that the expiry check refuses
// it anyway), so memory stays proportional to the tickets redeemed in one TTL.
//
// Errors are code `unauthorized`; the message starts with the reason:
// "ticket missing", "ticket malformed", "ticket forged", "ticket expired" or
// "ticket reused". The Node binding turns any of them into HTTP 401.
//
// Server only (Node addon): uses OpenSSL's libcrypto, never compiled to WASM.
// Like the engines it reads no clock and no OS randomness: `now` and an
// Entropy come in from the caller.
#ifndef CHATWIRE_CORE_SERVER_TICKETS_H_
#define CHATWIRE_CORE_SERVER_TICKETS_H_

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <unordered_set>

#include "core/protocol/errors.h"
#include "core/protocol/ids.h"

namespace chatwire::server {

// An issued ticket: the text to hand to the client and when it stops working.
struct Ticket {
  std::string text;           // goes into `?ticket=` as is (URL-safe)
  int64_t expires_at_ms = 0;  // ms since the epoch; format_timestamp() gives `expiresAt`
};

// Issues and redeems tickets signed with one secret. Not thread-safe (one per
// server, used from the event loop).
class TicketAuthority {
 public:
  // `secret`: the HMAC key (the `auth.secret` option; any bytes, should be
  // long and random). `ttl_ms`: how long an issued ticket stays valid.
  explicit TicketAuthority(std::string secret, int64_t ttl_ms = 60000);

  // Issues a ticket for `user_id`, valid until now + ttl_ms. Call it from the
  // `POST /api/ticket` handler after `authenticate` returned a user; answer
  // {"ticket": text, "expiresAt": format_timestamp(expires_at_ms)}.
  Ticket issue(std::string_view user_id, int64_t now, Entropy& entropy);

  // Checks a ticket and consumes it: returns its userId, or an `unauthorized`
  // Error whose message starts with "ticket malformed", "ticket forged",
  // "ticket expired" (now >= expiry) or "ticket reused". A ticket is accepted
  // at most once.
  Result<std::string> redeem(std::string_view ticket, int64_t now);

  // Takes the query string of a WebSocket handshake (with or without the
  // leading '?', e.g. "ticket=abc.def&x=1"), URL-decodes the first `ticket`
  // parameter and redeems it. No ticket parameter (or an empty one) is
  // "ticket missing". Call it during the handshake; on error refuse with 401,
  // on success pass the userId to ServerHub::handle_open.
  Result<std::string> authorize_query(std::string_view query_string, int64_t now);

  // The configured time to live, in ms.
  int64_t ttl_ms() const { return ttl_ms_; }

  // How many redeemed nonces are remembered right now (they are forgotten
  // once their ticket expired). For tests and metrics.
  size_t remembered_nonces() const { return used_.size(); }

 private:
  std::string sign(std::string_view payload) const;
  void forget_expired(int64_t now);

  std::string secret_;
  int64_t ttl_ms_;
  std::unordered_set<std::string> used_;           // nonces already redeemed
  std::multimap<int64_t, std::string> used_until_;  // expiry -> nonce, for pruning
};

}  // namespace chatwire::server

#endif  // CHATWIRE_CORE_SERVER_TICKETS_H_
