// The Node addon's transports: WebSocket text frames and HTTP requests moved
// between the network and C++ callbacks, on Node's own libuv loop.
// WsServer is chatwire's own HTTP/1.1 + WebSocket server (ws_server.cc);
// WsClient its own WebSocket client, ws:// and wss:// (ws_client.cc). Both
// take their bytes-on-the-wire rules from wire.h.
//
// Theory of operation
// - No protocol knowledge: frames are opaque text, HTTP bodies opaque bytes.
// - Single-threaded: every method must be called on the thread that runs the
//   loop given to listen()/open(); every callback runs on that thread. No locks.
// - Only libuv handles and requests of our own on the loop Node exports (no
//   second event library); every one is closed before `done` (shutdown) runs.
// - A listening server keeps Node alive (its listen socket is an active uv
//   handle, like net.Server); an open client connection does too. An idle
//   WsClient (never opened, or its connection closed) holds no handle at all.
// - Callbacks may call back into the transport (send/close/shutdown) at any
//   time.
// - An exception thrown by a callback never unwinds into the transport: it is
//   caught and handed to Callbacks::on_exception (default: printed to stderr).
// - The objects may be destroyed at any time: the destructor stops callbacks
//   and starts shutdown; what is left is freed later on the loop.
#ifndef CHATWIRE_NODE_TRANSPORT_H_
#define CHATWIRE_NODE_TRANSPORT_H_

#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>

namespace chatwire::node {

// One HTTP request that is not a WebSocket upgrade (e.g. POST /api/ticket).
struct HttpRequest {
  std::string method;  // "GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"
  std::string path;    // percent-decoded, "//", "." and ".." resolved, e.g. "/api/ticket"
  std::string query;   // without '?'; see Handshake::query for the encoding
  // Read fully before on_http. The server itself answers 413 over
  // Options::max_http_body_bytes, and 411 to a chunked body (only
  // Content-Length bodies are read).
  std::string body;
  // Lowercase names without the colon ("authorization", "origin",
  // "content-type", "x-forwarded-for", ...): every header of the request;
  // a repeated one has its values joined with ", ".
  std::map<std::string, std::string> headers;
  std::string peer_ip;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
};

// Answers one HttpRequest. May be called later (asynchronously), at most once
// (later calls are ignored). Safe to call after the request's socket died, or
// after the server was shut down or destroyed: it is then a no-op.
using HttpResponder = std::function<void(HttpResponse)>;

// What a WebSocket upgrade request carries, for the accept/refuse decision.
struct Handshake {
  std::string path;  // e.g. "/ws/chat"
  // Without '?', e.g. "ticket=abc". The server percent-decodes each name and
  // value of the query and re-encodes it (RFC 3986
  // unreserved characters stay as they are), so "a%26b=c%3Dd" arrives as
  // "a%26b=c%3Dd" and "a+b" as "a%20b" ('+' means space in a query).
  std::string query;
  std::string origin;   // the Origin header only; "" when absent
  std::string peer_ip;  // e.g. "127.0.0.1"
  std::string transport = "websocket";  // or "http": the fallback (docs/protocol.md)
};

// Called when a callback threw; the exception is swallowed after this returns.
// Default (empty): print what() to stderr.
using ExceptionHandler = std::function<void(std::exception_ptr)>;

namespace detail {
struct ServerImpl;
struct ClientImpl;
}  // namespace detail

// Close code reported when a connection's outgoing queue passed
// Options::max_queued_bytes (a peer that does not read what it is sent).
constexpr int kCloseSlowReader = 4013;

// A WebSocket + HTTP/1.1 server on one port (ws_server.cc has the rules it
// enforces on the wire: strict request heads, one request per connection,
// masked client frames, a budget for control frames, bounds on sockets that
// have not sent a request yet).
class WsServer {
 public:
  struct Options {
    std::string host = "127.0.0.1";  // numeric IPv4/IPv6 address, "localhost", or "" for all
    int port = 0;                    // 0 = any free port (see port())
    std::string ws_path = "/ws/chat";
    size_t max_frame_bytes = 16u << 20;  // whole-message limit; over it: close 1009
    size_t max_http_body_bytes = 64u << 10;  // over it: 413
    // Bytes queued for one WebSocket that its peer has not read yet. Past it
    // the queue is dropped and the socket killed; on_close reports
    // kCloseSlowReader. Twice the frame limit, so one largest frame fits.
    size_t max_queued_bytes = 32u << 20;
    int shutdown_grace_ms = 1000;  // shutdown(): wait this long for close acks
  };
  struct Callbacks {
    // Synchronous decision during the HTTP upgrade, before it completes:
    // return 0 to accept, or an HTTP status (401, 403, 429...) to refuse: the
    // client then receives that status and no WebSocket opens. `accepted_token`
    // (out, starts at 0) is an opaque value handed back in on_open.
    // Unset: every upgrade on ws_path is accepted. A throw refuses with 500.
    std::function<int(const Handshake&, uint64_t* accepted_token)> on_handshake;
    std::function<void(uint64_t conn_id, uint64_t token, const std::string& peer_ip)> on_open;
    // One whole text message (fragments reassembled, up to max_frame_bytes).
    std::function<void(uint64_t conn_id, std::string_view text)> on_message;
    // Exactly once per connection that got on_open, whatever the cause:
    // the peer's close code (1005 if its close frame had none), the code
    // this side closed with (close(), 1009, 1007 bad UTF-8, 1003 binary,
    // 1001 shutdown, 1002 a protocol error, 1008 too many control frames,
    // kCloseSlowReader), or 1006 when the TCP connection just ended.
    std::function<void(uint64_t conn_id, int close_code)> on_close;
    // Any non-upgrade request. Unset: 404. The connection waits up to
    // 120 s for the responder, then the server drops it. Every response
    // closes its connection (Connection: close).
    std::function<void(HttpRequest, HttpResponder)> on_http;
    // Whether a cross-origin page from `origin` may use the HTTP fallback
    // endpoints (CORS). Unset: every origin may.
    std::function<bool(const std::string& origin)> origin_allowed;
    ExceptionHandler on_exception;
  };

  WsServer();
  ~WsServer();  // no callback runs after this; shutdown continues on the loop
  WsServer(const WsServer&) = delete;
  WsServer& operator=(const WsServer&) = delete;

  // Starts listening on `loop` (Node's: napi_get_uv_event_loop). Returns ""
  // or an error text, e.g. "port 8080 in use". Call once per object.
  std::string listen(uv_loop_t* loop, Options options, Callbacks callbacks);
  // The bound port (useful with port 0); 0 before listen() succeeded.
  int port() const;
  // Queues a text frame; frames are written in order when the socket is
  // writable. Returns false if the connection is gone or closing.
  bool send(uint64_t conn_id, std::string text);
  // Sends a close frame with code/reason after the queued frames, then
  // closes; on_close(conn_id, code) follows. No-op for an unknown id.
  void close(uint64_t conn_id, int code, std::string reason);
  // Stops accepting (new upgrades and requests get 503), closes every
  // connection with 1001 (on_close follows for each), waits up to
  // shutdown_grace_ms for the close handshakes and for HTTP responses already
  // given to a responder to be written, then closes every socket (requests
  // still waiting for their responder are dropped). `done` runs on the loop
  // when every uv handle of the server is closed
  // (right away if listen() was never called). May be called from any
  // callback. Idempotent: later calls only add their `done`.
  void shutdown(std::function<void()> done);
  // Connections opened (on_open) and not yet closed (on_close).
  size_t connection_count() const;

 private:
  std::shared_ptr<detail::ServerImpl> impl_;
};

// One outgoing WebSocket connection (a Node ChatClient's socket).
class WsClient {
 public:
  struct Callbacks {
    std::function<void()> on_open;
    // One whole text message (fragments reassembled, up to max_frame_bytes;
    // over it the client closes with 1009).
    std::function<void(std::string_view text)> on_message;
    // Exactly once per successful open(): code is the close code received
    // (1005 if none), the code this side closed with (close(), 1009, 1007,
    // 1003, 1001 on shutdown), or 1006 when abnormal (including a failed
    // connect or handshake); http_status is non-zero when the server answered
    // the upgrade with another status than 101 (e.g. 401).
    std::function<void(int code, int http_status)> on_close;
    ExceptionHandler on_exception;
  };

  WsClient();
  ~WsClient();  // no callback runs after this
  WsClient(const WsClient&) = delete;
  WsClient& operator=(const WsClient&) = delete;

  // Connects to ws://host:port/path?query (wss:// works too, verifying the
  // server certificate and host name against the system CAs, or the file
  // SSL_CERT_FILE names). Returns "" (on_open or on_close follows, never
  // inside this call) or an error text (no callback follows). May be called
  // again after on_close, for a new connection. A refused TLS handshake or
  // a refused 101 answer (wrong Sec-WebSocket-Accept...) is printed to stderr
  // in one line and reported as on_close(1006, 0). ws_client.cc lists the
  // rules.
  std::string open(uv_loop_t* loop, const std::string& url, Callbacks callbacks,
                   size_t max_frame_bytes = 16u << 20);
  // Queues a text frame. Returns false unless the connection is open.
  bool send(std::string text);
  // Sends a close frame after the queued frames; on_close(code, 0) follows
  // once the server answered (or after 5 s). Before the connection opened,
  // abandons the attempt: on_close(1006, 0) follows.
  void close(int code, std::string reason);
  // Closes the connection if any (1001, then 500 ms for the server's answer)
  // and frees everything; `done` runs on the loop once no handle is left
  // (right away if open() was never called). on_close may run before it.
  // open() fails afterwards.
  void shutdown(std::function<void()> done);
  // True between on_open and on_close.
  bool is_open() const;

 private:
  std::shared_ptr<detail::ClientImpl> impl_;
};

}  // namespace chatwire::node

#endif  // CHATWIRE_NODE_TRANSPORT_H_
