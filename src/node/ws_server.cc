// WsServer: chatwire's own HTTP/1.1 (RFC 9112) + WebSocket (RFC 6455) server
// on Node's libuv loop. See lws_transport.h for the interface.
//
// Why not libwebsockets' server (it was, until 0.1.x): lws 4.1.6, the version
// Debian ships, could not be made to hold the promises of docs/security.md:
// - it spins forever on a pipelined request with a body (lws_http_action's
//   while (1) over its buffer list);
// - it accepts folded headers and bare LF, joins two Content-Length headers,
//   and maps `Sec-WebSocket-Origin` onto the Origin token;
// - it never checks that client frames are masked, and answers pings inside
//   its parser with no callback, so a ping flood cannot be rate limited;
// - every adoption walks its sorted timeout list (O(connections)).
// Each of these is a rule about bytes on the wire that we can only enforce
// where the bytes are parsed, so the server parses them itself. The client
// side (WsClient) still uses lws.
//
// Theory of operation
// - One Conn per accepted socket (a uv_tcp_t), in one of these phases:
//   kHead (reading the request head) -> kBody (reading a Content-Length body)
//   -> kHttpWait (the on_http responder has the request) -> kHttpWrite ->
//   kLinger (response written, FIN sent, input discarded until EOF or
//   kLingerMs, so the peer reads the response before any RST); or kHead ->
//   kWs after a 101. Every HTTP response closes its connection (no keep-alive,
//   no pipelining: what follows the first request on a socket is discarded).
// - Parsing is strict: a bare LF, an obs-fold, whitespace before a colon, a
//   control character in a value, a Content-Length that is not one plain
//   number (or appears twice), or Content-Length with Transfer-Encoding: 400.
// - Sockets that have not sent a whole request head are "pending". A pending
//   socket costs a descriptor and ~1 KB, nothing per event; one that sent
//   nothing for kFirstByteMs, or no complete head in kHeadMs, is closed. At
//   most kMaxPendingPerIp per IP and kMaxPending in all: past either, and
//   when accept() runs out of descriptors, the oldest pending socket of the
//   IP that holds the most is closed to make room. So silent sockets never
//   keep the accept path from taking a real client, and one address cannot
//   crowd out the others.
// - WebSocket frames: client frames must be masked (1002), RSV bits zero
//   (1002: no extensions are negotiated), control frames final and <= 125
//   bytes (1002), text only (1003), UTF-8 (1007), messages up to
//   max_frame_bytes (1009), and at most kControlBurst control frames at once,
//   kControlPerSec sustained (1008): pings are answered, but cost a token.
// - Output: each Conn has a queue of frames (header + payload, never copied
//   together). send() queues; the queues of every connection that got
//   something are written once per loop iteration (uv_prepare + uv_check), as
//   one writev per socket (uv_try_write, then uv_write for what the kernel did
//   not take). More than max_queued_bytes queued: the queue is dropped and
//   the socket closed (on_close reports kCloseSlowReader).
// - Single-threaded; callbacks may re-enter send/close/shutdown; a Conn is
//   freed only in its uv_close callback, so pointers stay valid for the rest
//   of the loop phase that closed it.
#include <openssl/sha.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <list>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../core/media/base64.h"
#include "lws_transport.h"
#include "transport_util.h"
#include "wire.h"

namespace chatwire::node {
namespace {

using util::report_exception;
using util::sendable_close_code;
using util::Timer;

constexpr size_t kMaxHeadBytes = 8192;           // request line + headers; past it: 431
constexpr uint64_t kFirstByteMs = 3000;          // a new socket must start its request by then
constexpr uint64_t kHeadMs = 10000;              // ...and finish its head by then
constexpr uint64_t kBodyMs = 10000;              // the body, after the head
constexpr uint64_t kHttpResponseMs = 120000;     // an async responder must answer by then
constexpr uint64_t kHttpWriteMs = 30000;         // writing a response
constexpr uint64_t kLingerMs = 2000;             // after a response: drain input, then close
constexpr uint64_t kCloseMs = 5000;              // close frame queued -> peer's close frame
constexpr size_t kMaxPending = 8192;             // sockets without a whole request head...
constexpr size_t kMaxPendingPerIp = 4096;        // ...and from one IP (see accept_one)
constexpr int kAcceptBatch = 64;                 // accepts per readable event of the listener
constexpr uint64_t kAcceptPauseMs = 50;          // out of descriptors: try again after
constexpr uint64_t kSweepMs = 250;               // timeout granularity
constexpr double kControlPerSec = 10;            // control frames a client may send...
constexpr double kControlBurst = 20;             // ...and at once
constexpr size_t kReadBufBytes = 64 * 1024;      // one buffer for every socket's reads
constexpr int kMaxIov = 64;                      // buffers per writev
constexpr const char* kWsGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

const char* status_text(int status) {
  switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 411: return "Length Required";
    case 413: return "Payload Too Large";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Content";
    case 426: return "Upgrade Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default:
      if (status < 300) return "OK";
      if (status < 400) return "Redirect";
      if (status < 500) return "Client Error";
      return "Server Error";
  }
}

std::string accept_key(const std::string& key) {
  std::string in = key + kWsGuid;
  unsigned char md[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(in.data()), in.size(), md);
  return media::base64_encode(md, sizeof(md));
}

std::string peer_ip_string(const sockaddr_storage& ss) {
  char buf[INET6_ADDRSTRLEN] = {0};
  if (ss.ss_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&ss)->sin_addr, buf, sizeof(buf));
  } else if (ss.ss_family == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&ss)->sin6_addr, buf, sizeof(buf));
  }
  std::string s(buf);
  if (s.rfind("::ffff:", 0) == 0 && s.find('.') != std::string::npos) s.erase(0, 7);
  return s;
}

// Why a listen failed, for the error text.
std::string bind_error_text(const std::string& host, int port, int err) {
  std::string where = (host.empty() ? std::string("*") : host) + ":" + std::to_string(port);
  if (err == EADDRINUSE) return "port " + std::to_string(port) + " in use";
  if (err == EINVAL) return "cannot listen on " + where + ": not a numeric address";
  if (err) return "cannot listen on " + where + ": " + std::strerror(err);
  return "cannot listen on " + where;
}

}  // namespace

// ===========================================================================

namespace detail {

struct ServerImpl : std::enable_shared_from_this<ServerImpl> {
  enum class State { kIdle, kListening, kShuttingDown, kDestroying, kDead };

  struct Out {  // one frame or response: two buffers, written as they are
    std::string a, b;
  };

  struct Conn {
    enum class Phase { kHead, kBody, kHttpWait, kHttpWrite, kLinger, kWs };
    ServerImpl* srv = nullptr;
    uv_tcp_t tcp{};
    uv_write_t wreq{};
    uv_shutdown_t sreq{};
    Phase phase = Phase::kHead;
    std::string peer_ip;
    uint64_t since_ms = 0;     // accepted / entered the current phase
    uint64_t deadline_ms = 0;  // 0: none
    bool got_bytes = false;
    bool closing = false;      // uv_close called
    bool reading = false;
    // pending (no whole head yet)
    bool pending = false;
    std::list<Conn*>::iterator pend_it, pend_ip_it;
    std::list<Conn*>::iterator all_it;
    std::string head;
    // HTTP
    uint64_t req_id = 0;
    HttpRequest req;
    size_t body_need = 0;
    bool is_head = false;
    // output
    std::list<Out> outq;
    std::vector<Out> inflight;
    size_t queued_bytes = 0;
    bool writing = false;
    bool dirty = false;
    // WebSocket
    uint64_t conn_id = 0, token = 0;
    bool opened = false, reported = false;
    wire::FrameReader reader{0};  // sized at the upgrade
    double tokens = kControlBurst;
    uint64_t tokens_ms = 0;
    // close
    bool close_queued = false;  // our close frame is in outq (nothing follows it)
    bool input_done = false;    // data frames are dropped (we are closing)
    bool failed = false;        // a protocol error: nothing more is parsed
    int close_code = 0;         // what we sent
    int peer_code = 0;          // from the peer's close frame
    int final_code() const {
      if (peer_code) return peer_code;
      if (close_code) return close_code;
      return 1006;
    }
  };

  State state = State::kIdle;
  uv_loop_t* loop = nullptr;
  int bound_port = 0;
  WsServer::Options opts;
  WsServer::Callbacks cb;
  bool detached = false;  // owner gone: never call cb again
  std::shared_ptr<ServerImpl> self;  // alive while any handle of ours is
  int handles = 0;                   // uv handles not yet closed
  std::vector<std::function<void()>> done_list;

  int listen_fd = -1;
  uv_poll_t* listen_poll = nullptr;
  bool accepting = false;
  Timer* accept_timer = nullptr;
  Timer* sweep_timer = nullptr;
  Timer* grace_timer = nullptr;
  uv_prepare_t* prepare = nullptr;
  uv_check_t* check = nullptr;
  std::unique_ptr<char[]> readbuf{new char[kReadBufBytes]};

  std::list<Conn*> all;
  std::list<Conn*> pending;
  std::unordered_map<std::string, std::list<Conn*>> pending_by_ip;
  std::unordered_map<uint64_t, Conn*> conns;  // open WebSockets
  std::unordered_map<uint64_t, Conn*> http;   // requests not answered yet, or being written
  std::vector<Conn*> dirty;
  uint64_t next_conn_id = 0, next_req_id = 0;

  template <typename F>
  void guard(F&& f) {
    try {
      f();
    } catch (...) {
      report_exception(cb.on_exception, std::current_exception());
    }
  }

  // --- lifecycle
  std::string listen(uv_loop_t* l, WsServer::Options o, WsServer::Callbacks c);
  std::string open_listener();
  void on_listen_readable();
  void pause_accepting();
  void resume_accepting();
  void close_listener();
  void shutdown(std::function<void()> done);
  bool shutdown_can_proceed() const;
  void maybe_proceed_shutdown();
  void begin_destroy();
  void handle_closed();
  void finish();
  void sweep();

  // --- connections
  void accept_one(int fd, const sockaddr_storage& ss);
  void set_pending(Conn* c, bool on);
  bool evict_pending();
  void destroy(Conn* c, bool reset = false);
  void report_close(Conn* c);
  void start_reading(Conn* c);
  void on_read(Conn* c, const char* p, size_t n);
  void on_eof(Conn* c);
  void feed_head(Conn* c, const char* p, size_t n);
  void handle_head(Conn* c, std::string_view head, std::string_view rest);
  void feed_body(Conn* c, const char* p, size_t n);
  void handle_upgrade(Conn* c, const wire::RequestHead& h, const std::string& path, const std::string& query,
                      std::string_view rest);
  void dispatch_http(Conn* c);
  void respond_to(Conn* c, HttpResponse r);
  void respond(uint64_t req_id, HttpResponse r);
  void refuse(Conn* c, int status, const char* extra_headers = "");
  void begin_linger(Conn* c);

  // --- WebSocket
  void ws_feed(Conn* c, const char* p, size_t n);
  void ws_peer_close(Conn* c);
  void ws_fail(Conn* c, int code, const char* reason);
  void queue_close(Conn* c, int code, std::string_view reason);
  bool send(uint64_t id, std::string text);
  void close(uint64_t id, int code, std::string reason);

  // --- output
  void push(Conn* c, Out o, bool front = false);
  void mark_dirty(Conn* c);
  void flush_dirty();
  void flush(Conn* c);
  void consume(Conn* c, size_t n);
  void drained(Conn* c);
};

using Conn = ServerImpl::Conn;
using Phase = Conn::Phase;

// ---------------------------------------------------------------------------
// Lifecycle

std::string ServerImpl::listen(uv_loop_t* l, WsServer::Options o, WsServer::Callbacks c) {
  if (state != State::kIdle) return "listen() called twice";
  if (!l) return "no event loop";
  if (o.port < 0 || o.port > 65535) return "port out of range";
  loop = l;
  opts = std::move(o);
  cb = std::move(c);
  if (opts.host == "localhost") opts.host = "127.0.0.1";
  if (std::string err = open_listener(); !err.empty()) {
    state = State::kDead;
    return err;
  }
  self = shared_from_this();
  state = State::kListening;
  sweep_timer = Timer::create(loop);
  handles++;
  sweep_timer->unref();  // the listener keeps the loop alive
  sweep_timer->start(kSweepMs, kSweepMs, [this] { sweep(); });
  prepare = new uv_prepare_t;
  check = new uv_check_t;
  uv_prepare_init(loop, prepare);
  uv_check_init(loop, check);
  handles += 2;
  prepare->data = check->data = this;
  uv_prepare_start(prepare, [](uv_prepare_t* h) { static_cast<ServerImpl*>(h->data)->flush_dirty(); });
  uv_check_start(check, [](uv_check_t* h) { static_cast<ServerImpl*>(h->data)->flush_dirty(); });
  uv_unref(reinterpret_cast<uv_handle_t*>(prepare));
  uv_unref(reinterpret_cast<uv_handle_t*>(check));
  return std::string();
}

std::string ServerImpl::open_listener() {
  const std::string& host = opts.host;
  const bool v6 = host.empty() || host.find(':') != std::string::npos;  // "" = every interface, dual stack
  sockaddr_storage ss{};
  socklen_t sl;
  if (v6) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(static_cast<uint16_t>(opts.port));
    a->sin6_addr = in6addr_any;
    if (!host.empty() && inet_pton(AF_INET6, host.c_str(), &a->sin6_addr) != 1)
      return bind_error_text(host, opts.port, EINVAL);
    sl = sizeof(sockaddr_in6);
  } else {
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    a->sin_family = AF_INET;
    a->sin_port = htons(static_cast<uint16_t>(opts.port));
    if (inet_pton(AF_INET, host.c_str(), &a->sin_addr) != 1) return bind_error_text(host, opts.port, EINVAL);
    sl = sizeof(sockaddr_in);
  }
  int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return bind_error_text(host, opts.port, errno);
  int one = 1, zero = 0;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (v6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
  if (bind(fd, reinterpret_cast<sockaddr*>(&ss), sl) != 0 || ::listen(fd, SOMAXCONN) != 0) {
    int err = errno;
    ::close(fd);
    return bind_error_text(host, opts.port, err);
  }
  sockaddr_storage bound{};
  socklen_t bl = sizeof(bound);
  getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &bl);
  bound_port = ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                                 : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  listen_fd = fd;
  listen_poll = new uv_poll_t;
  uv_poll_init(loop, listen_poll, fd);
  handles++;
  listen_poll->data = this;
  resume_accepting();
  return std::string();
}

void ServerImpl::on_listen_readable() {
  // At most kAcceptBatch per event: a socket accepted here is read from in
  // a later iteration, so a pending-cap above two batches means a real
  // client's socket is read before kMaxPendingPerIp newer ones can evict it.
  for (int i = 0; i < kAcceptBatch && listen_fd >= 0; ++i) {
    sockaddr_storage ss{};
    socklen_t sl = sizeof(ss);
    int fd = accept4(listen_fd, reinterpret_cast<sockaddr*>(&ss), &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0 && (errno == EMFILE || errno == ENFILE) && evict_pending()) {
      // Out of descriptors: a pending socket gave its one back (uv_close
      // closes the descriptor at once); try again.
      sl = sizeof(ss);
      fd = accept4(listen_fd, reinterpret_cast<sockaddr*>(&ss), &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
    }
    if (fd < 0) {
      // Still out of descriptors: try again shortly.
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) pause_accepting();
      return;  // EAGAIN: drained
    }
    accept_one(fd, ss);
  }
}

void ServerImpl::pause_accepting() {
  if (!accepting || !listen_poll) return;
  uv_poll_stop(listen_poll);
  accepting = false;
  if (!accept_timer) {
    accept_timer = Timer::create(loop);
    handles++;
  }
  accept_timer->start(kAcceptPauseMs, 0, [this] { resume_accepting(); });
}

void ServerImpl::resume_accepting() {
  if (accepting || !listen_poll) return;
  if (accept_timer) accept_timer->stop();
  uv_poll_start(listen_poll, UV_READABLE, [](uv_poll_t* h, int, int) {
    if (h->data) static_cast<ServerImpl*>(h->data)->on_listen_readable();
  });
  accepting = true;
}

void ServerImpl::close_listener() {
  if (accept_timer) {
    accept_timer->stop();
    accept_timer->close([this] { handle_closed(); });
    accept_timer = nullptr;
  }
  if (!listen_poll) return;
  uv_poll_stop(listen_poll);
  listen_poll->data = this;
  uv_close(reinterpret_cast<uv_handle_t*>(listen_poll), [](uv_handle_t* h) {
    auto* impl = static_cast<ServerImpl*>(h->data);
    ::close(impl->listen_fd);
    impl->listen_fd = -1;
    delete reinterpret_cast<uv_poll_t*>(h);
    impl->handle_closed();
  });
  listen_poll = nullptr;
  accepting = false;
}

void ServerImpl::shutdown(std::function<void()> done) {
  if (done) done_list.push_back(std::move(done));
  switch (state) {
    case State::kIdle:
      state = State::kDead;
      [[fallthrough]];
    case State::kDead: {
      auto list = std::move(done_list);
      done_list.clear();
      if (loop) {
        for (auto& d : list) util::post(loop, std::move(d));
      } else {
        for (auto& d : list) d();  // never listened: there is no loop to run it on
      }
      return;
    }
    case State::kShuttingDown:
    case State::kDestroying:
      return;  // done runs when the shutdown in progress ends
    case State::kListening:
      break;
  }
  state = State::kShuttingDown;
  std::vector<uint64_t> ids;
  ids.reserve(conns.size());
  for (auto& kv : conns) ids.push_back(kv.first);
  for (uint64_t id : ids) close(id, 1001, "server shutdown");
  grace_timer = Timer::create(loop);
  handles++;
  uint64_t grace = shutdown_can_proceed() ? 0 : static_cast<uint64_t>(std::max(0, opts.shutdown_grace_ms));
  grace_timer->start(grace, 0, [this] { begin_destroy(); });
}

bool ServerImpl::shutdown_can_proceed() const {
  if (!conns.empty()) return false;
  for (const auto& kv : http)
    if (kv.second->phase == Phase::kHttpWrite) return false;
  return true;
}

void ServerImpl::maybe_proceed_shutdown() {
  if (state == State::kShuttingDown && grace_timer && shutdown_can_proceed())
    grace_timer->start(0, 0, [this] { begin_destroy(); });
}

void ServerImpl::begin_destroy() {
  if (state != State::kShuttingDown) return;
  state = State::kDestroying;
  close_listener();
  if (grace_timer) {
    grace_timer->close([this] { handle_closed(); });
    grace_timer = nullptr;
  }
  if (sweep_timer) {
    sweep_timer->close([this] { handle_closed(); });
    sweep_timer = nullptr;
  }
  std::vector<Conn*> list(all.begin(), all.end());
  for (Conn* c : list) destroy(c);
  for (uv_handle_t* h : {reinterpret_cast<uv_handle_t*>(prepare), reinterpret_cast<uv_handle_t*>(check)}) {
    h->data = this;
    uv_close(h, [](uv_handle_t* hh) {
      auto* impl = static_cast<ServerImpl*>(hh->data);
      if (hh->type == UV_PREPARE)
        delete reinterpret_cast<uv_prepare_t*>(hh);
      else
        delete reinterpret_cast<uv_check_t*>(hh);
      impl->handle_closed();
    });
  }
  prepare = nullptr;
  check = nullptr;
}

void ServerImpl::handle_closed() {
  if (--handles == 0 && state == State::kDestroying) finish();
}

void ServerImpl::finish() {
  state = State::kDead;
  auto list = std::move(done_list);
  done_list.clear();
  auto keep = std::move(self);  // freed when this returns, unless the owner holds it
  for (auto& d : list) guard(d);
}

void ServerImpl::sweep() {
  const uint64_t now = uv_now(loop);
  std::vector<Conn*> expired;
  for (Conn* c : all)
    if (c->deadline_ms && now >= c->deadline_ms && !c->closing) expired.push_back(c);
  for (Conn* c : expired) destroy(c);  // a responder that never answered is dropped too
}

// ---------------------------------------------------------------------------
// Connections

void ServerImpl::accept_one(int fd, const sockaddr_storage& ss) {
  auto* c = new Conn();
  c->srv = this;
  if (uv_tcp_init(loop, &c->tcp) != 0) {
    ::close(fd);
    delete c;
    return;
  }
  handles++;
  c->tcp.data = c;
  all.push_back(c);
  c->all_it = std::prev(all.end());
  if (uv_tcp_open(&c->tcp, fd) != 0) {
    ::close(fd);
    destroy(c);
    return;
  }
  uv_tcp_nodelay(&c->tcp, 1);
  c->peer_ip = peer_ip_string(ss);
  c->since_ms = uv_now(loop);
  c->deadline_ms = c->since_ms + kFirstByteMs;
  // Make room: the oldest socket without a request head of the IP that has
  // the most goes first.
  auto mine = pending_by_ip.find(c->peer_ip);
  if (mine != pending_by_ip.end() && mine->second.size() >= kMaxPendingPerIp) {
    destroy(mine->second.front());
  } else if (pending.size() >= kMaxPending) {
    evict_pending();
  }
  set_pending(c, true);
  start_reading(c);
}

// Closes the oldest pending socket of the IP with the most pending sockets.
bool ServerImpl::evict_pending() {
  const std::list<Conn*>* most = nullptr;
  for (const auto& kv : pending_by_ip)
    if (!most || kv.second.size() > most->size()) most = &kv.second;
  if (!most || most->empty()) return false;
  destroy(most->front());
  return true;
}

void ServerImpl::set_pending(Conn* c, bool on) {
  if (c->pending == on) return;
  if (on) {
    pending.push_back(c);
    c->pend_it = std::prev(pending.end());
    auto& l = pending_by_ip[c->peer_ip];
    l.push_back(c);
    c->pend_ip_it = std::prev(l.end());
  } else {
    pending.erase(c->pend_it);
    auto it = pending_by_ip.find(c->peer_ip);
    it->second.erase(c->pend_ip_it);
    if (it->second.empty()) pending_by_ip.erase(it);
  }
  c->pending = on;
}

void ServerImpl::start_reading(Conn* c) {
  if (c->reading || c->closing) return;
  c->reading = true;
  uv_read_start(
      reinterpret_cast<uv_stream_t*>(&c->tcp),
      [](uv_handle_t* h, size_t, uv_buf_t* buf) {
        auto* cc = static_cast<Conn*>(h->data);
        buf->base = cc->srv->readbuf.get();
        buf->len = kReadBufBytes;
      },
      [](uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
        auto* cc = static_cast<Conn*>(s->data);
        if (cc->closing) return;
        if (n > 0) {
          cc->srv->on_read(cc, buf->base, static_cast<size_t>(n));
        } else if (n < 0) {
          cc->srv->on_eof(cc);
        }
      });
}

// Closes the socket now; on_close follows for an open WebSocket.
void ServerImpl::destroy(Conn* c, bool reset) {
  if (c->closing) return;
  c->closing = true;
  set_pending(c, false);
  if (c->dirty) {
    dirty.erase(std::remove(dirty.begin(), dirty.end(), c), dirty.end());
    c->dirty = false;
  }
  if (c->req_id) {
    http.erase(c->req_id);
    c->req_id = 0;
  }
  report_close(c);
  c->outq.clear();
  c->queued_bytes = 0;
  auto on_closed = [](uv_handle_t* h) {
    auto* cc = static_cast<Conn*>(h->data);
    ServerImpl* impl = cc->srv;
    impl->all.erase(cc->all_it);
    delete cc;
    impl->handle_closed();
  };
  if (!reset || uv_tcp_close_reset(&c->tcp, on_closed) != 0)
    uv_close(reinterpret_cast<uv_handle_t*>(&c->tcp), on_closed);
  maybe_proceed_shutdown();
}

void ServerImpl::report_close(Conn* c) {
  if (!c->opened || c->reported) return;
  c->reported = true;
  conns.erase(c->conn_id);
  uint64_t id = c->conn_id;
  int code = c->final_code();
  if (cb.on_close && !detached) guard([&] { cb.on_close(id, code); });
  maybe_proceed_shutdown();
}

void ServerImpl::on_eof(Conn* c) {
  // The peer closed its side. A whole request sent with a FIN after it (a
  // half-close, as `socket.end(request)` does) is still answered; anything
  // else ends here.
  if (c->phase == Phase::kHttpWait || c->phase == Phase::kHttpWrite) {
    uv_read_stop(reinterpret_cast<uv_stream_t*>(&c->tcp));
    c->reading = false;
    return;
  }
  destroy(c);
}

void ServerImpl::on_read(Conn* c, const char* p, size_t n) {
  c->got_bytes = true;
  switch (c->phase) {
    case Phase::kHead:
      feed_head(c, p, n);
      return;
    case Phase::kBody:
      feed_body(c, p, n);
      return;
    case Phase::kWs:
      ws_feed(c, p, n);
      return;
    case Phase::kHttpWait:
    case Phase::kHttpWrite:
    case Phase::kLinger:
      return;  // one request per connection: the rest is discarded
  }
}

void ServerImpl::feed_head(Conn* c, const char* p, size_t n) {
  // RFC 9112 2.2: empty lines before the request line are ignored.
  if (c->head.empty()) {
    while (n >= 2 && p[0] == '\r' && p[1] == '\n') {
      p += 2;
      n -= 2;
    }
    if (n == 0) return;
  }
  size_t old = c->head.size();
  size_t take = std::min(n, kMaxHeadBytes + 4 - std::min(old, kMaxHeadBytes + 4));
  c->head.append(p, take);
  // Look for the end of the head, refusing a bare LF on the way.
  bool bare_lf = false;
  const size_t end = wire::find_head_end(c->head, old, &bare_lf);
  if (bare_lf) {
    refuse(c, 400);
    return;
  }
  if (end == std::string::npos) {
    if (c->head.size() > kMaxHeadBytes) refuse(c, 431);
    else if (c->deadline_ms) c->deadline_ms = c->since_ms + kHeadMs;  // started: the head budget
    return;
  }
  if (end - 4 > kMaxHeadBytes) {
    refuse(c, 431);
    return;
  }
  set_pending(c, false);
  std::string head = std::move(c->head);
  c->head = std::string();
  // Bytes after the head: in this buffer past `take`, plus what `head` holds past `end`.
  std::string rest = head.substr(end);
  rest.append(p + take, n - take);
  head.resize(end - 4);
  handle_head(c, head, rest);
}

void ServerImpl::handle_head(Conn* c, std::string_view raw, std::string_view rest) {
  wire::RequestHead h;
  if (int st = wire::parse_request_head(raw, &h)) {
    refuse(c, st);
    return;
  }
  // Fields: Content-Length twice is an error whatever the values; other
  // repeated fields are joined with ", " (RFC 9110 5.3).
  std::map<std::string, std::string> fields;
  int cl_count = 0;
  for (auto& f : h.fields) {
    if (f.first == "content-length") cl_count++;
    auto it = fields.find(f.first);
    if (it == fields.end()) {
      fields.emplace(f.first, std::move(f.second));
    } else {
      it->second.append(", ").append(f.second);
    }
  }
  std::string_view target = h.target;
  // absolute-form (RFC 9112 3.2.2): keep the path and query.
  if (target.rfind("http://", 0) == 0 || target.rfind("https://", 0) == 0) {
    size_t slash = target.find('/', target.find("//") + 2);
    target = slash == std::string_view::npos ? std::string_view("/") : target.substr(slash);
  }
  size_t hash = target.find('#');
  if (hash != std::string_view::npos) target = target.substr(0, hash);
  size_t qm = target.find('?');
  std::string path, query;
  std::string_view raw_query = qm == std::string_view::npos ? std::string_view() : target.substr(qm + 1);
  if (h.method == "OPTIONS" && target == "*") {
    path = "*";
  } else if (!wire::normalise_path(target.substr(0, qm), &path) || !wire::canonical_query(raw_query, &query)) {
    refuse(c, 400);
    return;
  }

  auto field = [&](const char* name) -> const std::string* {
    auto it = fields.find(name);
    return it == fields.end() ? nullptr : &it->second;
  };
  const std::string* upgrade = field("upgrade");
  if (upgrade && wire::has_token(*upgrade, "websocket")) {
    // TE or a body on an upgrade: framing we do not read.
    if (cl_count || field("transfer-encoding")) {
      refuse(c, 400);
      return;
    }
    h.fields.clear();
    // keep `fields` for handle_upgrade through the request's headers
    c->req.headers = std::move(fields);
    handle_upgrade(c, h, path, query, rest);
    return;
  }

  // RFC 9112 6.3: a Content-Length that is not one plain decimal number, two
  // of them, or one with Transfer-Encoding, is a framing error: 400 and close
  // (request smuggling behind a proxy otherwise).
  const std::string* cl = field("content-length");
  const std::string* te = field("transfer-encoding");
  if (cl && (cl_count > 1 || cl->empty() || cl->size() > 18 ||
             cl->find_first_not_of("0123456789") != std::string::npos)) {
    refuse(c, 400);
    return;
  }
  if (cl && te) {
    refuse(c, 400);
    return;
  }
  if (te) {  // chunked bodies are not read
    refuse(c, 411);
    return;
  }
  static const char* const kMethods[] = {"GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"};
  if (std::find_if(std::begin(kMethods), std::end(kMethods),
                   [&](const char* m) { return h.method == m; }) == std::end(kMethods)) {
    refuse(c, 501);
    return;
  }
  if (state != State::kListening) {
    refuse(c, 503);
    return;
  }
  unsigned long long length = cl ? std::strtoull(cl->c_str(), nullptr, 10) : 0;
  if (length > opts.max_http_body_bytes) {
    refuse(c, 413);
    return;
  }
  HttpRequest& r = c->req;
  r.method = h.method;
  r.path = std::move(path);
  r.query = std::move(query);
  r.peer_ip = c->peer_ip;
  r.headers = std::move(fields);
  c->is_head = r.method == "HEAD";
  c->req_id = ++next_req_id;
  http[c->req_id] = c;
  c->body_need = static_cast<size_t>(length);
  if (c->body_need > 0) {
    c->phase = Phase::kBody;
    c->since_ms = uv_now(loop);
    c->deadline_ms = c->since_ms + kBodyMs;
    r.body.reserve(c->body_need);
    auto e = r.headers.find("expect");
    if (e != r.headers.end() && wire::iequals(e->second, "100-continue") && rest.empty())
      push(c, Out{"HTTP/1.1 100 Continue\r\n\r\n", {}});
    if (!rest.empty()) feed_body(c, rest.data(), rest.size());
    return;
  }
  dispatch_http(c);
}

void ServerImpl::feed_body(Conn* c, const char* p, size_t n) {
  size_t take = std::min(n, c->body_need - c->req.body.size());
  c->req.body.append(p, take);
  if (c->req.body.size() == c->body_need) dispatch_http(c);
}

void ServerImpl::dispatch_http(Conn* c) {
  c->phase = Phase::kHttpWait;
  c->since_ms = uv_now(loop);
  c->deadline_ms = c->since_ms + kHttpResponseMs;
  if (!cb.on_http || detached) {
    respond_to(c, HttpResponse{404, "text/plain", "Not Found\n"});
    return;
  }
  std::weak_ptr<ServerImpl> weak = shared_from_this();
  uint64_t id = c->req_id;
  HttpResponder responder = [weak, id](HttpResponse resp) {
    if (auto impl = weak.lock()) impl->respond(id, std::move(resp));
  };
  HttpRequest req = std::move(c->req);
  c->req = HttpRequest();
  try {
    cb.on_http(std::move(req), std::move(responder));
  } catch (...) {
    report_exception(cb.on_exception, std::current_exception());
    // The handler failed before answering: answer 500 (no-op if it had).
    respond(id, HttpResponse{500, "text/plain", "Internal Server Error\n"});
  }
}

void ServerImpl::respond(uint64_t req_id, HttpResponse r) {
  auto it = http.find(req_id);
  if (it == http.end()) return;  // socket died, or already answered
  Conn* c = it->second;
  if (c->phase != Phase::kHttpWait) return;
  respond_to(c, std::move(r));
}

void ServerImpl::respond_to(Conn* c, HttpResponse r) {
  if (c->closing) return;
  set_pending(c, false);
  if (r.status < 100 || r.status > 999) r.status = 500;
  c->phase = Phase::kHttpWrite;
  c->since_ms = uv_now(loop);
  c->deadline_ms = c->since_ms + kHttpWriteMs;
  std::string h = "HTTP/1.1 " + std::to_string(r.status) + " " + status_text(r.status) + "\r\n";
  h += "Server: chatwire\r\n";
  if (!r.content_type.empty()) h += "Content-Type: " + r.content_type + "\r\n";
  h += "Content-Length: " + std::to_string(r.body.size()) + "\r\n";
  h += "Cache-Control: no-store\r\nConnection: close\r\n\r\n";
  if (c->is_head) r.body.clear();
  push(c, Out{std::move(h), std::move(r.body)});
}

// Answers `status` with a short text body and closes; for errors found before
// a request is dispatched (and for refused upgrades).
void ServerImpl::refuse(Conn* c, int status, const char* extra_headers) {
  if (c->closing) return;
  set_pending(c, false);
  if (status < 400 || status > 599) status = 403;
  std::string body = std::string(status_text(status)) + "\n";
  c->phase = Phase::kHttpWrite;
  c->since_ms = uv_now(loop);
  c->deadline_ms = c->since_ms + kHttpWriteMs;
  std::string h = "HTTP/1.1 " + std::to_string(status) + " " + status_text(status) + "\r\n";
  h += "Server: chatwire\r\nContent-Type: text/plain\r\nContent-Length: " + std::to_string(body.size()) +
       "\r\nCache-Control: no-store\r\nConnection: close\r\n";
  h += extra_headers;
  h += "\r\n";
  if (c->is_head) body.clear();
  push(c, Out{std::move(h), std::move(body)});
}

void ServerImpl::begin_linger(Conn* c) {
  c->phase = Phase::kLinger;
  c->since_ms = uv_now(loop);
  c->deadline_ms = c->since_ms + kLingerMs;
  if (c->req_id) {
    http.erase(c->req_id);
    c->req_id = 0;
  }
  maybe_proceed_shutdown();
  c->sreq.data = c;
  int rc = uv_shutdown(&c->sreq, reinterpret_cast<uv_stream_t*>(&c->tcp), [](uv_shutdown_t* r, int status) {
    auto* cc = static_cast<Conn*>(r->data);
    if (cc->closing) return;
    if (status < 0) cc->srv->destroy(cc);
  });
  if (rc != 0) {
    destroy(c);
    return;
  }
  start_reading(c);  // until the peer's EOF (on_eof) or kLingerMs
}

void ServerImpl::handle_upgrade(Conn* c, const wire::RequestHead& h, const std::string& path, const std::string& query,
                                std::string_view rest) {
  auto& f = c->req.headers;
  auto field = [&](const char* name) -> const std::string* {
    auto it = f.find(name);
    return it == f.end() ? nullptr : &it->second;
  };
  const std::string* connection = field("connection");
  const std::string* key = field("sec-websocket-key");
  const std::string* version = field("sec-websocket-version");
  if (h.method != "GET" || h.version != "HTTP/1.1" || !connection || !wire::has_token(*connection, "upgrade") ||
      !key || !wire::valid_ws_key(*key)) {
    refuse(c, 400);
    return;
  }
  if (!version || *version != "13") {
    refuse(c, 426, "Sec-WebSocket-Version: 13\r\n");
    return;
  }
  if (state != State::kListening) {
    refuse(c, 503);
    return;
  }
  if (path != opts.ws_path) {
    refuse(c, 404);
    return;
  }
  Handshake hs;
  hs.path = path;
  hs.query = query;
  // Only the real Origin header: Sec-WebSocket-Origin (an old draft's name)
  // is not an Origin.
  if (const std::string* o = field("origin")) hs.origin = *o;
  hs.peer_ip = c->peer_ip;
  uint64_t token = 0;
  int status = 0;
  if (cb.on_handshake && !detached) {
    try {
      status = cb.on_handshake(hs, &token);
    } catch (...) {
      report_exception(cb.on_exception, std::current_exception());
      status = 500;
    }
  }
  if (c->closing) return;
  if (status != 0) {
    refuse(c, status);
    return;
  }
  std::string resp =
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Accept: " +
      accept_key(*key) + "\r\n";
  if (const std::string* proto = field("sec-websocket-protocol"); proto && wire::has_token(*proto, "chatwire"))
    resp += "Sec-WebSocket-Protocol: chatwire\r\n";
  resp += "\r\n";
  c->req = HttpRequest();
  c->phase = Phase::kWs;
  c->since_ms = uv_now(loop);
  c->deadline_ms = 0;
  c->tokens_ms = c->since_ms;
  c->reader = wire::FrameReader(opts.max_frame_bytes);
  push(c, Out{std::move(resp), {}});
  c->token = token;
  c->conn_id = ++next_conn_id;
  c->opened = true;
  conns[c->conn_id] = c;
  if (cb.on_open && !detached) guard([&] { cb.on_open(c->conn_id, c->token, c->peer_ip); });
  if (!rest.empty() && !c->closing) {
    std::string copy(rest);  // `rest` may live in a buffer the callback reuses
    ws_feed(c, copy.data(), copy.size());
  }
}

// ---------------------------------------------------------------------------
// WebSocket frames

void ServerImpl::ws_feed(Conn* c, const char* p, size_t n) {
  while (n > 0 && !c->closing && !c->failed) {
    const auto ev = c->reader.next(&p, &n);
    switch (ev) {
      case wire::FrameReader::Event::kNeedMore:
        return;
      case wire::FrameReader::Event::kError:
        ws_fail(c, c->reader.error_code(), c->reader.error_reason());
        return;
      case wire::FrameReader::Event::kPing:
      case wire::FrameReader::Event::kPong: {
        // Control frames cost a token: a ping flood is closed, not served.
        const uint64_t now = uv_now(loop);
        c->tokens = std::min(kControlBurst, c->tokens + (now - c->tokens_ms) * kControlPerSec / 1000.0);
        c->tokens_ms = now;
        if (c->tokens < 1) {
          ws_fail(c, 1008, "too many control frames");
          return;
        }
        c->tokens -= 1;
        // A pong carries the ping's payload, ahead of queued data frames.
        if (ev == wire::FrameReader::Event::kPing && !c->close_queued)
          push(c, Out{wire::ws_header(10, c->reader.control().size()), c->reader.control()}, true);
        break;
      }
      case wire::FrameReader::Event::kClose:
        ws_peer_close(c);
        break;
      case wire::FrameReader::Event::kMessage: {
        std::string msg = c->reader.take_message();
        if (cb.on_message && !detached) guard([&] { cb.on_message(c->conn_id, std::string_view(msg)); });
        break;
      }
    }
  }
}

// The peer's close frame: the answer to ours, or its own close to echo.
void ServerImpl::ws_peer_close(Conn* c) {
  c->reader.discard_data();
  c->input_done = true;
  if (c->close_queued) {
    destroy(c);  // the answer to our close: done
    return;
  }
  const int code = c->reader.close_code();
  c->peer_code = code;
  // RFC 6455 5.5.1: after a close, an endpoint sends nothing but its close.
  c->outq.clear();
  c->queued_bytes = 0;
  for (auto& o : c->inflight) c->queued_bytes += o.a.size() + o.b.size();
  std::string payload;
  if (code != 1005) {
    payload.push_back(static_cast<char>(code >> 8));
    payload.push_back(static_cast<char>(code & 0xff));
  }
  c->close_queued = true;
  c->close_code = code == 1005 ? 1000 : code;
  push(c, Out{wire::ws_header(8, payload.size()), std::move(payload)});
}

void ServerImpl::ws_fail(Conn* c, int code, const char* reason) {
  c->reader = wire::FrameReader(0);  // frees what it assembled
  if (c->close_queued) {  // failing while closing: just go
    destroy(c);
    return;
  }
  c->failed = true;  // a broken stream cannot be parsed further: input is discarded
  queue_close(c, code, reason);
}

void ServerImpl::queue_close(Conn* c, int code, std::string_view reason) {
  if (c->close_queued || c->closing) return;
  c->close_queued = true;
  c->input_done = true;
  c->reader.discard_data();
  c->close_code = sendable_close_code(code);
  std::string payload;
  payload.push_back(static_cast<char>(c->close_code >> 8));
  payload.push_back(static_cast<char>(c->close_code & 0xff));
  payload.append(reason.substr(0, 123));
  c->deadline_ms = uv_now(loop) + kCloseMs + 5000;  // the queue, then the peer's answer
  push(c, Out{wire::ws_header(8, payload.size()), std::move(payload)});
}

bool ServerImpl::send(uint64_t id, std::string text) {
  auto it = conns.find(id);
  if (it == conns.end()) return false;
  Conn* c = it->second;
  if (c->close_queued || c->closing) return false;
  if (c->queued_bytes + text.size() > opts.max_queued_bytes) {
    // A peer that does not read: stop producing for it, free what it would
    // have been sent and drop the socket (a close frame could not reach it).
    // An RST, not a FIN: the kernel frees the socket's buffers now, and the
    // peer learns it at its next read instead of after reading them all.
    c->close_code = kCloseSlowReader;
    destroy(c, /*reset=*/true);
    return false;
  }
  push(c, Out{wire::ws_header(1, text.size()), std::move(text)});
  return true;
}

void ServerImpl::close(uint64_t id, int code, std::string reason) {
  auto it = conns.find(id);
  if (it == conns.end()) return;
  queue_close(it->second, code, reason);
}

// ---------------------------------------------------------------------------
// Output

void ServerImpl::push(Conn* c, Out o, bool front) {
  if (c->closing) return;
  c->queued_bytes += o.a.size() + o.b.size();
  if (front)
    c->outq.push_front(std::move(o));
  else
    c->outq.push_back(std::move(o));
  mark_dirty(c);
}

void ServerImpl::mark_dirty(Conn* c) {
  if (c->dirty || c->writing) return;
  c->dirty = true;
  dirty.push_back(c);
}

void ServerImpl::flush_dirty() {
  if (dirty.empty()) return;
  std::vector<Conn*> list;
  list.swap(dirty);
  for (Conn* c : list) c->dirty = false;
  for (Conn* c : list) flush(c);
}

void ServerImpl::consume(Conn* c, size_t n) {
  c->queued_bytes -= std::min(c->queued_bytes, n);
  while (n > 0 && !c->outq.empty()) {
    Out& o = c->outq.front();
    size_t t = o.a.size() + o.b.size();
    if (n >= t) {
      n -= t;
      c->outq.pop_front();
      continue;
    }
    if (n >= o.a.size()) {
      o.b.erase(0, n - o.a.size());
      o.a.clear();
    } else {
      o.a.erase(0, n);
    }
    n = 0;
  }
}

void ServerImpl::flush(Conn* c) {
  if (c->closing || c->writing) return;
  auto* stream = reinterpret_cast<uv_stream_t*>(&c->tcp);
  while (!c->outq.empty()) {
    uv_buf_t bufs[kMaxIov];
    int nb = 0;
    size_t total = 0;
    for (auto it = c->outq.begin(); it != c->outq.end() && nb + 2 <= kMaxIov; ++it) {
      if (!it->a.empty()) bufs[nb++] = uv_buf_init(const_cast<char*>(it->a.data()), it->a.size());
      if (!it->b.empty()) bufs[nb++] = uv_buf_init(const_cast<char*>(it->b.data()), it->b.size());
      total += it->a.size() + it->b.size();
    }
    int r = nb ? uv_try_write(stream, bufs, nb) : 0;
    if (r == UV_EAGAIN) r = 0;
    if (r < 0) {
      destroy(c);
      return;
    }
    consume(c, static_cast<size_t>(r));
    if (static_cast<size_t>(r) == total) continue;
    // The kernel is full: hand the rest of this batch to uv_write and wait.
    nb = 0;
    c->inflight.clear();
    while (!c->outq.empty() && nb + 2 <= kMaxIov) {
      c->inflight.push_back(std::move(c->outq.front()));
      c->outq.pop_front();
      nb += 2;
    }
    uv_buf_t wb[kMaxIov];
    int nw = 0;
    for (auto& o : c->inflight) {
      if (!o.a.empty()) wb[nw++] = uv_buf_init(o.a.data(), o.a.size());
      if (!o.b.empty()) wb[nw++] = uv_buf_init(o.b.data(), o.b.size());
    }
    c->wreq.data = c;
    c->writing = true;
    int rc = uv_write(&c->wreq, stream, wb, nw, [](uv_write_t* req, int status) {
      auto* cc = static_cast<Conn*>(req->data);
      cc->writing = false;
      size_t n = 0;
      for (auto& o : cc->inflight) n += o.a.size() + o.b.size();
      cc->inflight.clear();
      if (cc->closing) return;
      if (status < 0) {
        cc->srv->destroy(cc);
        return;
      }
      cc->queued_bytes -= std::min(cc->queued_bytes, n);
      cc->srv->flush(cc);
    });
    if (rc != 0) {
      c->writing = false;
      destroy(c);
    }
    return;
  }
  drained(c);
}

// Everything queued is written.
void ServerImpl::drained(Conn* c) {
  if (c->phase == Phase::kHttpWrite) {
    begin_linger(c);
    return;
  }
  if (c->phase == Phase::kWs && c->close_queued) {
    if (c->peer_code) {
      destroy(c);  // we echoed the peer's close
    } else if (c->failed) {
      // Our close frame is out; send FIN and drain the peer's input until its
      // EOF (or kLingerMs), so it reads the close frame before any RST.
      c->deadline_ms = uv_now(loop) + kLingerMs;
      c->sreq.data = c;
      if (uv_shutdown(&c->sreq, reinterpret_cast<uv_stream_t*>(&c->tcp), [](uv_shutdown_t* r, int status) {
            auto* cc = static_cast<Conn*>(r->data);
            if (!cc->closing && status < 0) cc->srv->destroy(cc);
          }) != 0)
        destroy(c);
    } else {
      c->deadline_ms = uv_now(loop) + kCloseMs;  // wait for the peer's close frame
    }
  }
}

}  // namespace detail

WsServer::WsServer() : impl_(std::make_shared<detail::ServerImpl>()) {}

WsServer::~WsServer() {
  impl_->detached = true;
  impl_->shutdown(nullptr);
}

std::string WsServer::listen(uv_loop_t* loop, Options options, Callbacks callbacks) {
  return impl_->listen(loop, std::move(options), std::move(callbacks));
}

int WsServer::port() const { return impl_->bound_port; }

bool WsServer::send(uint64_t conn_id, std::string text) { return impl_->send(conn_id, std::move(text)); }

void WsServer::close(uint64_t conn_id, int code, std::string reason) {
  impl_->close(conn_id, code, std::move(reason));
}

void WsServer::shutdown(std::function<void()> done) { impl_->shutdown(std::move(done)); }

size_t WsServer::connection_count() const { return impl_->conns.size(); }

}  // namespace chatwire::node
