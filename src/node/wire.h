// The bytes-on-the-wire rules of the server (ws_server.cc) and the client
// (ws_client.cc), without any I/O, so that the C++ tests and a fuzzer
// (tests/fuzz/fuzz_wire.cc) exercise exactly what the transports run:
// - HTTP/1.1 heads, strictly (RFC 9112): find_head_end refuses a bare LF;
//   parse_request_head and parse_response_head refuse obs-fold, whitespace
//   before a colon, control characters, bad start lines;
// - request targets: normalise_path and canonical_query;
// - the upgrade's key and accept value (ws_accept_key, RFC 6455 4.2.2) and
//   the client's check of a 101 answer (check_upgrade_response);
// - WebSocket frames (RFC 6455): FrameReader, incremental, over any split of
//   the input, reading client frames (masked) on the server and server
//   frames (unmasked) on the client; ws_header and mask_payload write them.
// Pure functions and one small state machine; no allocation beyond the
// strings handed back.
#ifndef CHATWIRE_NODE_WIRE_H_
#define CHATWIRE_NODE_WIRE_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <cstring>

namespace chatwire::node::wire {

// A close code we may put on the wire (RFC 6455 7.4): 1005/1006/1015 and
// out-of-range values are reserved for reporting, not for sending.
inline int sendable_close_code(int code) {
  if (code < 1000 || code > 4999 || code == 1004 || code == 1005 || code == 1006 ||
      code == 1015)
    return 1000;
  return code;
}

// Incremental UTF-8 validation (RFC 3629: no overlongs, no surrogates, at
// most U+10FFFF) across the chunks of one message.
struct Utf8Check {
  unsigned need = 0;  // continuation bytes still expected
  unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the next one

  bool feed(const unsigned char* p, size_t n) {
    size_t i = 0;
    while (i < n) {
      if (need == 0) {
        // ASCII runs, 8 bytes at a time
        while (i + 8 <= n) {
          uint64_t w;
          std::memcpy(&w, p + i, 8);
          if (w & 0x8080808080808080ull) break;
          i += 8;
        }
        if (i >= n) break;
        unsigned char c = p[i++];
        if (c < 0x80) continue;
        lo = 0x80;
        hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF) {
          need = 1;
        } else if (c == 0xE0) {
          need = 2;
          lo = 0xA0;
        } else if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) {
          need = 2;
        } else if (c == 0xED) {
          need = 2;
          hi = 0x9F;
        } else if (c == 0xF0) {
          need = 3;
          lo = 0x90;
        } else if (c >= 0xF1 && c <= 0xF3) {
          need = 3;
        } else if (c == 0xF4) {
          need = 3;
          hi = 0x8F;
        } else {
          return false;
        }
      } else {
        unsigned char c = p[i++];
        if (c < lo || c > hi) return false;
        lo = 0x80;
        hi = 0xBF;
        need--;
      }
    }
    return true;
  }
};

bool iequals(std::string_view a, std::string_view b);
// True if the comma-separated list `v` has `token` (case-insensitive).
bool has_token(std::string_view v, std::string_view token);

// Where the head in `buf` ends (the index just past its empty line), looking
// from `from` (where the previous call stopped; 0 at first). npos: not yet.
// Sets *bare_lf when a LF without its CR comes first (a 400).
size_t find_head_end(std::string_view buf, size_t from, bool* bare_lf);

struct RequestHead {
  std::string method, target, version;
  std::vector<std::pair<std::string, std::string>> fields;  // lowercase name, value without OWS
};
// Parses a head: the request line and field lines, CRLF-separated, without
// the final empty line. Returns 0, or the HTTP status to answer (400, 505).
int parse_request_head(std::string_view head, RequestHead* out);

struct ResponseHead {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> fields;  // as in RequestHead
  // The value of field `name` (lowercase), repeated ones joined with ", ";
  // "" when absent.
  std::string field(std::string_view name) const;
  bool has_field(std::string_view name) const;
};
// Parses a response head (status line "HTTP/1.x NNN reason", then field
// lines as parse_request_head reads them, without the final empty line).
// Returns "" or what is wrong with it.
std::string parse_response_head(std::string_view head, ResponseHead* out);

// Sec-WebSocket-Accept for a Sec-WebSocket-Key: base64(SHA-1(key + GUID)).
std::string ws_accept_key(std::string_view key);
// A client's check of the server's answer to its upgrade request (RFC 6455
// 4.1, the client's duties): 101, "Upgrade: websocket", "Connection" with
// "upgrade", the Sec-WebSocket-Accept of `key`, and no extension or
// subprotocol (the client offers none). Returns "" or what is wrong; the
// status is not checked here (the caller reports a non-101 as such).
std::string check_upgrade_response(const ResponseHead& h, std::string_view key);

// A decoded, normalised origin-form path: "//" collapsed, "." and ".."
// resolved (never above the root). False when it is not "/..." or has a
// malformed or NUL escape.
bool normalise_path(std::string_view raw, std::string* out);
// The query in one canonical encoding: each name and value percent-decoded
// ('+' is a space) and re-encoded (RFC 3986 unreserved kept), joined by '&',
// empty parts dropped. False on a malformed escape.
bool canonical_query(std::string_view q, std::string* out);

// Sec-WebSocket-Key: base64 of 16 bytes.
bool valid_ws_key(std::string_view k);
// A close code a peer may send (RFC 6455 7.4.1, plus IANA's 1012-1014).
bool valid_peer_close_code(int c);
// The header of a frame with FIN set: unmasked (a server's) when `mask` is
// null, else masked with those 4 bytes (a client's; mask_payload the payload).
std::string ws_header(uint8_t opcode, size_t payload_bytes, const uint8_t* mask = nullptr);
// XORs a payload with a client frame's masking key, in place.
void mask_payload(char* p, size_t n, const uint8_t mask[4]);

// Reads frames from any split of the byte stream. Enforces: client frames
// masked on the server and server frames unmasked on the client (1002, RFC
// 6455 5.1), RSV bits zero (1002, no extensions), known opcodes (1002),
// control frames final and <= 125 bytes (1002), continuation only inside a
// message and no new message inside one (1002), text only (1003), UTF-8
// (1007, checked as it arrives), messages up to max_message_bytes (1009,
// known from the frame header), close frames well-formed (1002, 1007).
class FrameReader {
 public:
  enum class Event {
    kNeedMore,  // all input consumed, nothing complete
    kMessage,   // a whole text message: take_message()
    kPing,      // control(): the payload
    kPong,
    kClose,     // close_code() (1005 if none), close_reason()
    kError,     // error_code(), error_reason(); the reader is dead after it
  };
  // Which end's frames this reader reads.
  enum class From { kClient, kServer };
  explicit FrameReader(size_t max_message_bytes, From from = From::kClient)
      : max_(max_message_bytes), from_(from) {}
  // Consumes input from *p/*n up to and including the next event.
  Event next(const char** p, size_t* n);
  std::string take_message();
  const std::string& control() const { return ctrl_; }
  int close_code() const { return close_code_; }
  std::string_view close_reason() const;
  int error_code() const { return error_code_; }
  const char* error_reason() const { return error_reason_; }
  // From now on data frames are parsed but dropped (we are closing).
  void discard_data() { discard_ = true; }

 private:
  Event fail(int code, const char* reason);
  Event frame_start();
  Event frame_done();

  size_t max_;
  From from_;
  bool masked_ = false;
  uint8_t hdr_[14] = {0};
  uint8_t hlen_ = 0;
  bool in_payload_ = false;
  uint8_t opcode_ = 0;
  bool fin_ = false;
  uint64_t remaining_ = 0;
  uint8_t mask_[4] = {0};
  uint64_t mask_pos_ = 0;
  bool in_message_ = false;
  bool discard_ = false;
  bool dead_ = false;
  std::string rx_, ctrl_;
  Utf8Check utf8_;
  int close_code_ = 0;
  int error_code_ = 0;
  const char* error_reason_ = "";
};

}  // namespace chatwire::node::wire

#endif  // CHATWIRE_NODE_WIRE_H_
