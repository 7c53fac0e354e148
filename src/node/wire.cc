// See wire.h.
#include "wire.h"

#include <openssl/sha.h>

#include <algorithm>
#include <cstring>

#include "core/media/base64.h"

namespace chatwire::node::wire {
namespace {

bool is_tchar(unsigned char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::strchr("!#$%&'*+-.^_`|~", c) != nullptr && c != '\0';
}

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Percent-decodes; false on a malformed escape or an encoded NUL.
bool percent_decode(std::string_view in, bool plus_is_space, std::string* out) {
  out->clear();
  out->reserve(in.size());
  for (size_t i = 0; i < in.size(); i++) {
    char c = in[i];
    if (c == '%') {
      if (i + 2 >= in.size()) return false;
      int h = hexval(in[i + 1]), l = hexval(in[i + 2]);
      if (h < 0 || l < 0) return false;
      char d = static_cast<char>(h * 16 + l);
      if (d == '\0') return false;
      out->push_back(d);
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out->push_back(' ');
    } else {
      out->push_back(c);
    }
  }
  return true;
}

// Percent-encodes everything but RFC 3986 unreserved characters.
void append_query_encoded(std::string* out, std::string_view s) {
  static const char kHex[] = "0123456789ABCDEF";
  for (unsigned char c : s) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '.' || c == '_' || c == '~') {
      out->push_back(static_cast<char>(c));
    } else {
      out->push_back('%');
      out->push_back(kHex[c >> 4]);
      out->push_back(kHex[c & 15]);
    }
  }
}

// d[i] = p[i] ^ mask[(pos + i) % 4]; p and d may be the same.
void unmask(const char* p, char* d, size_t take, const uint8_t mask[4], uint64_t mp) {
  size_t i = 0;
  if (take >= 16) {  // 8 bytes at a time, the mask rotated to the position
    uint8_t m8[8];
    for (int k = 0; k < 8; k++) m8[k] = mask[(mp + k) & 3];
    uint64_t m;
    std::memcpy(&m, m8, 8);
    for (; i + 8 <= take; i += 8) {
      uint64_t w;
      std::memcpy(&w, p + i, 8);
      w ^= m;
      std::memcpy(d + i, &w, 8);
    }
  }
  for (; i < take; i++) d[i] = static_cast<char>(p[i] ^ mask[(mp + i) & 3]);
}

// Field lines of a head from `pos` on (RFC 9112 5): no obs-fold, no
// whitespace before the colon, tchar names (lowercased), no control
// characters in values (OWS trimmed).
bool parse_fields(std::string_view h, size_t pos, std::vector<std::pair<std::string, std::string>>* out) {
  while (pos < h.size()) {
    size_t e = h.find("\r\n", pos);
    if (e == std::string_view::npos) e = h.size();
    std::string_view f = h.substr(pos, e - pos);
    pos = e + 2;
    if (f.empty()) return false;
    if (f[0] == ' ' || f[0] == '\t') return false;  // obs-fold (RFC 9112 5.2)
    size_t colon = f.find(':');
    if (colon == std::string_view::npos || colon == 0) return false;
    std::string name;
    name.reserve(colon);
    for (size_t i = 0; i < colon; i++) {
      if (!is_tchar(static_cast<unsigned char>(f[i]))) return false;  // incl. "Name :"
      name.push_back(lower(f[i]));
    }
    std::string_view v = f.substr(colon + 1);
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
    for (unsigned char c : v)
      if ((c < 0x20 && c != '\t') || c == 0x7f) return false;
    out->emplace_back(std::move(name), std::string(v));
  }
  return true;
}

}  // namespace

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); i++)
    if (lower(a[i]) != lower(b[i])) return false;
  return true;
}

// True if the comma-separated list `v` has `token` (case-insensitive).
bool has_token(std::string_view v, std::string_view token) {
  size_t i = 0;
  while (i <= v.size()) {
    size_t j = v.find(',', i);
    if (j == std::string_view::npos) j = v.size();
    std::string_view t = v.substr(i, j - i);
    while (!t.empty() && (t.front() == ' ' || t.front() == '\t')) t.remove_prefix(1);
    while (!t.empty() && (t.back() == ' ' || t.back() == '\t')) t.remove_suffix(1);
    if (iequals(t, token)) return true;
    i = j + 1;
  }
  return false;
}

// The query in one canonical encoding (Handshake::query): each name and value
// decoded ('+' is a space) and re-encoded. False on a malformed escape.
bool canonical_query(std::string_view q, std::string* out) {
  out->clear();
  std::string name, value;
  size_t i = 0;
  while (i <= q.size()) {
    size_t j = q.find('&', i);
    if (j == std::string_view::npos) j = q.size();
    std::string_view part = q.substr(i, j - i);
    i = j + 1;
    if (part.empty()) continue;
    size_t eq = part.find('=');
    if (!percent_decode(part.substr(0, eq), true, &name)) return false;
    if (!out->empty()) out->push_back('&');
    append_query_encoded(out, name);
    if (eq != std::string_view::npos) {
      if (!percent_decode(part.substr(eq + 1), true, &value)) return false;
      out->push_back('=');
      append_query_encoded(out, value);
    }
  }
  return true;
}

// Decoded, normalised path: "//" collapsed, "." and ".." resolved (never above
// the root). False when not an origin-form path or malformed.
bool normalise_path(std::string_view raw, std::string* out) {
  std::string dec;
  if (raw.empty() || raw[0] != '/' || !percent_decode(raw, false, &dec)) return false;
  std::vector<std::string_view> segs;
  std::string_view d(dec);
  size_t i = 1;
  bool trailing = false;
  while (i <= d.size()) {
    size_t j = d.find('/', i);
    if (j == std::string_view::npos) j = d.size();
    std::string_view seg = d.substr(i, j - i);
    trailing = j == d.size() ? false : true;
    if (seg == "..") {
      if (!segs.empty()) segs.pop_back();
    } else if (!seg.empty() && seg != ".") {
      segs.push_back(seg);
    }
    i = j + 1;
  }
  out->clear();
  for (auto s : segs) {
    out->push_back('/');
    out->append(s);
  }
  if (out->empty() || (trailing && d.back() == '/')) out->push_back('/');
  return true;
}


// Parses a request head (everything before the empty line, CRLF-separated,
// bare LF already refused). Returns 0 or the status to answer.
int parse_request_head(std::string_view h, RequestHead* out) {
  size_t eol = h.find("\r\n");
  std::string_view line = h.substr(0, eol);
  size_t sp1 = line.find(' ');
  if (sp1 == std::string_view::npos || sp1 == 0) return 400;
  size_t sp2 = line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || sp2 == sp1 + 1 || line.find(' ', sp2 + 1) != std::string_view::npos)
    return 400;
  std::string_view method = line.substr(0, sp1), target = line.substr(sp1 + 1, sp2 - sp1 - 1),
                   version = line.substr(sp2 + 1);
  for (unsigned char c : method)
    if (!is_tchar(c)) return 400;
  for (unsigned char c : target)
    if (c <= 0x20 || c >= 0x7f) return 400;
  if (version.size() != 8 || version.substr(0, 5) != "HTTP/") return 400;
  if (version != "HTTP/1.1" && version != "HTTP/1.0") return 505;
  out->method.assign(method);
  out->target.assign(target);
  out->version.assign(version);
  size_t pos = eol == std::string_view::npos ? h.size() : eol + 2;
  return parse_fields(h, pos, &out->fields) ? 0 : 400;
}

std::string ResponseHead::field(std::string_view name) const {
  std::string v;
  for (auto& f : fields) {
    if (f.first != name) continue;
    if (!v.empty()) v += ", ";
    v += f.second;
  }
  return v;
}

bool ResponseHead::has_field(std::string_view name) const {
  for (auto& f : fields)
    if (f.first == name) return true;
  return false;
}

std::string parse_response_head(std::string_view h, ResponseHead* out) {
  size_t eol = h.find("\r\n");
  std::string_view line = h.substr(0, eol);
  // status-line = HTTP-version SP 3DIGIT SP [ reason-phrase ]
  if (line.size() < 12 || line.substr(0, 7) != "HTTP/1." || (line[7] != '0' && line[7] != '1') ||
      line[8] != ' ')
    return "not an HTTP/1.x status line";
  int status = 0;
  for (size_t i = 9; i < 12; i++) {
    if (line[i] < '0' || line[i] > '9') return "bad status code";
    status = status * 10 + (line[i] - '0');
  }
  if (status < 100 || (line.size() > 12 && line[12] != ' ')) return "bad status code";
  for (unsigned char c : line.substr(12))
    if ((c < 0x20 && c != '\t') || c == 0x7f) return "control character in the status line";
  out->status = status;
  size_t pos = eol == std::string_view::npos ? h.size() : eol + 2;
  if (!parse_fields(h, pos, &out->fields)) return "malformed header field";
  return std::string();
}

std::string ws_accept_key(std::string_view key) {
  static constexpr std::string_view kGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  std::string in(key);
  in.append(kGuid);
  unsigned char md[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(in.data()), in.size(), md);
  return media::base64_encode(md, sizeof(md));
}

std::string check_upgrade_response(const ResponseHead& h, std::string_view key) {
  if (h.status != 101) return "status is not 101";
  if (!iequals(h.field("upgrade"), "websocket")) return "no 'Upgrade: websocket' header";
  if (!has_token(h.field("connection"), "upgrade")) return "no 'Connection: Upgrade' header";
  if (h.field("sec-websocket-accept") != ws_accept_key(key)) return "wrong Sec-WebSocket-Accept";
  if (h.has_field("sec-websocket-extensions")) return "an extension the client did not offer";
  if (h.has_field("sec-websocket-protocol")) return "a subprotocol the client did not offer";
  return std::string();
}

bool valid_ws_key(std::string_view k) {
  // base64 of 16 bytes: 22 characters and "=="
  if (k.size() != 24 || k[22] != '=' || k[23] != '=') return false;
  for (size_t i = 0; i < 22; i++) {
    char c = k[i];
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
          c == '/'))
      return false;
  }
  return true;
}

// A close code a peer may send (RFC 6455 7.4.1, plus IANA's 1012-1014).
bool valid_peer_close_code(int c) {
  return (c >= 1000 && c <= 1003) || (c >= 1007 && c <= 1014) || (c >= 3000 && c <= 4999);
}

std::string ws_header(uint8_t opcode, size_t n, const uint8_t* mask) {
  std::string h;
  const char m = mask ? static_cast<char>(0x80) : 0;
  h.push_back(static_cast<char>(0x80 | opcode));
  if (n < 126) {
    h.push_back(static_cast<char>(m | n));
  } else if (n <= 0xffff) {
    h.push_back(static_cast<char>(m | 126));
    h.push_back(static_cast<char>(n >> 8));
    h.push_back(static_cast<char>(n & 0xff));
  } else {
    h.push_back(static_cast<char>(m | 127));
    for (int i = 7; i >= 0; i--) h.push_back(static_cast<char>((static_cast<uint64_t>(n) >> (8 * i)) & 0xff));
  }
  if (mask) h.append(reinterpret_cast<const char*>(mask), 4);
  return h;
}

void mask_payload(char* p, size_t n, const uint8_t mask[4]) {
  unmask(p, p, n, mask, 0);
}

size_t find_head_end(std::string_view buf, size_t from, bool* bare_lf) {
  *bare_lf = false;
  for (size_t i = from; i < buf.size(); i++) {
    if (buf[i] != '\n') continue;
    if (i == 0 || buf[i - 1] != '\r') {
      *bare_lf = true;
      return std::string_view::npos;
    }
    if (i >= 3 && buf[i - 2] == '\n' && buf[i - 3] == '\r') return i + 1;
  }
  return std::string_view::npos;
}

// ---------------------------------------------------------------------------
// FrameReader

FrameReader::Event FrameReader::fail(int code, const char* reason) {
  dead_ = true;
  error_code_ = code;
  error_reason_ = reason;
  rx_.clear();
  rx_.shrink_to_fit();
  return Event::kError;
}

std::string FrameReader::take_message() {
  std::string m;
  m.swap(rx_);
  return m;
}

std::string_view FrameReader::close_reason() const {
  return ctrl_.size() > 2 ? std::string_view(ctrl_).substr(2) : std::string_view();
}

FrameReader::Event FrameReader::next(const char** pp, size_t* np) {
  const char* p = *pp;
  size_t n = *np;
  Event ev = Event::kNeedMore;
  while (n > 0 && ev == Event::kNeedMore && !dead_) {
    if (!in_payload_) {
      // The header: 2 bytes, then the extended length and the mask.
      auto needed = [this] {
        uint8_t l7 = hdr_[1] & 0x7f;
        return size_t{2} + (l7 == 126 ? 2 : l7 == 127 ? 8 : 0) + ((hdr_[1] & 0x80) ? 4 : 0);
      };
      size_t need = hlen_ >= 2 ? needed() : 2;
      while (hlen_ < need && n > 0) {
        hdr_[hlen_++] = static_cast<uint8_t>(*p++);
        n--;
        if (hlen_ == 2) need = needed();
      }
      if (hlen_ < need) break;
      ev = frame_start();
      if (ev == Event::kNeedMore && remaining_ == 0) ev = frame_done();
      continue;
    }
    size_t take = static_cast<size_t>(std::min<uint64_t>(n, remaining_));
    const bool control = opcode_ >= 8;
    if (control || !discard_) {
      std::string& dst = control ? ctrl_ : rx_;
      size_t off = dst.size();
      dst.resize(off + take);
      char* d = &dst[off];
      if (masked_)
        unmask(p, d, take, mask_, mask_pos_);
      else
        std::memcpy(d, p, take);
      if (!control && !utf8_.feed(reinterpret_cast<const unsigned char*>(d), take)) {
        ev = fail(1007, "invalid UTF-8");
        p += take;
        n -= take;
        break;
      }
    }
    mask_pos_ += take;
    remaining_ -= take;
    p += take;
    n -= take;
    if (remaining_ == 0) ev = frame_done();
  }
  if (dead_ && ev == Event::kNeedMore) n = 0;  // a dead reader swallows input
  *pp = p;
  *np = n;
  return ev;
}

FrameReader::Event FrameReader::frame_start() {
  const uint8_t b0 = hdr_[0], b1 = hdr_[1];
  hlen_ = 0;
  fin_ = (b0 & 0x80) != 0;
  opcode_ = b0 & 0x0f;
  uint64_t len = b1 & 0x7f;
  size_t at = 2;
  if (len == 126) {
    len = (static_cast<uint64_t>(hdr_[2]) << 8) | hdr_[3];
    at = 4;
  } else if (len == 127) {
    len = 0;
    for (int i = 0; i < 8; i++) len = (len << 8) | hdr_[2 + i];
    at = 10;
    if (len >> 63) return fail(1002, "bad frame length");
  }
  if (b0 & 0x70) return fail(1002, "reserved bits set");
  // RFC 6455 5.1: a server MUST close the connection on an unmasked frame,
  // a client on a masked one.
  masked_ = (b1 & 0x80) != 0;
  if (from_ == From::kClient && !masked_) return fail(1002, "client frames must be masked");
  if (from_ == From::kServer && masked_) return fail(1002, "server frames must not be masked");
  if (masked_) std::memcpy(mask_, hdr_ + at, 4);
  mask_pos_ = 0;
  remaining_ = len;
  in_payload_ = true;
  if (opcode_ >= 8) {
    if (opcode_ > 10) return fail(1002, "unknown opcode");
    if (!fin_ || len > 125) return fail(1002, "bad control frame");
    ctrl_.clear();
    return Event::kNeedMore;
  }
  switch (opcode_) {
    case 0:
      if (!in_message_ && !discard_) return fail(1002, "continuation without a message");
      break;
    case 1:
    case 2:
      if (in_message_ && !discard_) return fail(1002, "new message inside a fragmented one");
      if (opcode_ == 2 && !discard_) return fail(1003, "text frames only");
      break;
    default:
      return fail(1002, "unknown opcode");
  }
  if (discard_) return Event::kNeedMore;
  if (rx_.size() + len > max_) return fail(1009, "message too big");
  if (opcode_ == 1) {
    in_message_ = true;
    utf8_ = Utf8Check();
    if (len > rx_.capacity()) rx_.reserve(static_cast<size_t>(len));
  }
  return Event::kNeedMore;
}

FrameReader::Event FrameReader::frame_done() {
  in_payload_ = false;
  if (opcode_ >= 8) {
    if (opcode_ == 9) return Event::kPing;
    if (opcode_ == 10) return Event::kPong;
    close_code_ = 1005;
    if (ctrl_.size() == 1) return fail(1002, "bad close frame");
    if (ctrl_.size() >= 2) {
      close_code_ = (static_cast<uint8_t>(ctrl_[0]) << 8) | static_cast<uint8_t>(ctrl_[1]);
      if (!valid_peer_close_code(close_code_)) return fail(1002, "bad close code");
      Utf8Check u;
      if (!u.feed(reinterpret_cast<const unsigned char*>(ctrl_.data()) + 2, ctrl_.size() - 2) || u.need)
        return fail(1007, "invalid UTF-8");
    }
    return Event::kClose;
  }
  if (!fin_ || discard_) return Event::kNeedMore;
  in_message_ = false;
  if (utf8_.need) return fail(1007, "invalid UTF-8");
  return Event::kMessage;
}

}  // namespace chatwire::node::wire
