// WsServer: chatwire's own HTTP/1.1 (RFC 9112) + WebSocket (RFC 6455) server
// on Node's libuv loop. See transport.h for the interface.
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
// side (WsClient, ws_client.cc) is chatwire's own too.
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
#include "ws_server_impl.h"

namespace chatwire::node {
namespace {

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

namespace detail {


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
  sse_keepalive(now);
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
  if (!c->sse_post && !c->stream_id.empty()) {
    auto it = sse_streams.find(c->stream_id);
    if (it != sse_streams.end() && it->second == c) sse_streams.erase(it);
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
    case Phase::kSse:  // a stream's client sends nothing after its request
    case Phase::kHttpWait:
    case Phase::kHttpWrite:
    case Phase::kLinger:
      return;  // one request per connection: the rest is discarded
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
  if (c->phase == Phase::kSse) {
    std::string ev = "event: close\ndata: {\"code\":" + std::to_string(c->close_code) + ",\"reason\":\"";
    for (unsigned char ch : reason.substr(0, 123)) {
      if (ch == '"' || ch == '\\') ev.push_back('\\');
      ev.push_back(ch < 0x20 ? ' ' : static_cast<char>(ch));
    }
    ev += "\"}\n\n";
    push(c, Out{std::move(ev), {}});
    return;
  }
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
  if (c->phase == Phase::kSse) {
    // One Server-Sent Event per frame; frames are one line of JSON, but a
    // line break in one must not end the event early.
    if (text.find('\n') == std::string::npos) {
      text.append("\n\n");
      push(c, Out{"data: ", std::move(text)});
    } else {
      std::string ev;
      size_t i = 0;
      while (i <= text.size()) {
        size_t j = text.find('\n', i);
        if (j == std::string::npos) j = text.size();
        ev.append("data: ").append(text, i, j - i).append("\n");
        i = j + 1;
      }
      ev.append("\n");
      push(c, Out{std::move(ev), {}});
    }
    return true;
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
  c->last_out_ms = uv_now(loop);
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
  if (c->phase == Phase::kHttpWrite || (c->phase == Phase::kSse && c->close_queued)) {
    begin_linger(c);  // a fallback stream ends after its close event
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
