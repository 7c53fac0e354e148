#include "core/server/tickets.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <charconv>

#include "core/media/base64url.h"

namespace chatwire::server {

using media::base64url_decode;
using media::base64url_encode;

namespace {

constexpr size_t kNonceBytes = 16;
constexpr size_t kMacBytes = 32;
// A ticket longer than this is not one of ours; refuse before any work.
constexpr size_t kMaxTicketChars = 4096;
constexpr char kDomain[] = "chatwire-ticket-v1\n";

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// application/x-www-form-urlencoded value decoding: %XX and '+'.
std::string url_decode(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '%' && i + 2 < in.size()) {
      const int hi = hex_value(in[i + 1]), lo = hex_value(in[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(in[i] == '+' ? ' ' : in[i]);
  }
  return out;
}

Error refused(const char* reason, std::string_view detail) {
  return Error(ErrorCode::unauthorized, std::string("ticket ") + reason + ": " + std::string(detail));
}

}  // namespace

TicketAuthority::TicketAuthority(std::string secret, int64_t ttl_ms)
    : secret_(std::move(secret)), ttl_ms_(ttl_ms) {}

std::string TicketAuthority::sign(std::string_view payload) const {
  std::string data = kDomain;
  data.append(payload);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret_.data(), static_cast<int>(secret_.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac, &len);
  return std::string(reinterpret_cast<const char*>(mac), len);
}

Ticket TicketAuthority::issue(std::string_view user_id, int64_t now, Entropy& entropy) {
  Ticket t;
  t.expires_at_ms = now + ttl_ms_;
  std::string payload = std::to_string(t.expires_at_ms);
  payload += ':';
  payload += random_hex(entropy, kNonceBytes);
  payload += ':';
  payload.append(user_id);
  t.text = base64url_encode(payload) + "." + base64url_encode(sign(payload));
  return t;
}

void TicketAuthority::forget_expired(int64_t now) {
  while (!used_until_.empty() && used_until_.begin()->first <= now) {
    used_.erase(used_until_.begin()->second);
    used_until_.erase(used_until_.begin());
  }
}

Result<std::string> TicketAuthority::redeem(std::string_view ticket, int64_t now) {
  forget_expired(now);
  if (ticket.empty()) return refused("missing", "no ticket was given");
  if (ticket.size() > kMaxTicketChars) return refused("malformed", "ticket is too long");
  const size_t dot = ticket.find('.');
  if (dot == std::string_view::npos || ticket.find('.', dot + 1) != std::string_view::npos) {
    return refused("malformed", "expected <payload>.<signature>");
  }
  std::string payload, mac;
  if (!base64url_decode(ticket.substr(0, dot), &payload) || payload.empty() ||
      !base64url_decode(ticket.substr(dot + 1), &mac)) {
    return refused("malformed", "not base64url");
  }
  if (mac.size() != kMacBytes) return refused("malformed", "signature has the wrong length");
  const std::string expected = sign(payload);
  if (CRYPTO_memcmp(expected.data(), mac.data(), kMacBytes) != 0) {
    return refused("forged", "signature does not match");
  }
  // Signed by us, so the layout is ours; still parse defensively.
  const size_t c1 = payload.find(':');
  const size_t c2 = c1 == std::string::npos ? c1 : payload.find(':', c1 + 1);
  if (c2 == std::string::npos || c2 - c1 - 1 != kNonceBytes * 2) {
    return refused("malformed", "unreadable payload");
  }
  int64_t expires = 0;
  auto [end, ec] = std::from_chars(payload.data(), payload.data() + c1, expires);
  if (ec != std::errc() || end != payload.data() + c1) return refused("malformed", "unreadable expiry");
  if (now >= expires) return refused("expired", "ticket expired " + std::to_string(now - expires) + " ms ago");
  std::string nonce = payload.substr(c1 + 1, c2 - c1 - 1);
  if (used_.count(nonce)) return refused("reused", "ticket was already used");
  used_.insert(nonce);
  used_until_.emplace(expires, std::move(nonce));
  return payload.substr(c2 + 1);
}

Result<std::string> TicketAuthority::authorize_query(std::string_view query, int64_t now) {
  if (!query.empty() && query.front() == '?') query.remove_prefix(1);
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    const size_t eq = pair.find('=');
    if (url_decode(pair.substr(0, eq)) != "ticket") continue;
    const std::string value = eq == std::string_view::npos ? "" : url_decode(pair.substr(eq + 1));
    if (value.empty()) break;
    return redeem(value, now);
  }
  forget_expired(now);
  return refused("missing", "no 'ticket' query parameter");
}

}  // namespace chatwire::server
