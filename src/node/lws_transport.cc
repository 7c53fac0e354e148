// libwebsockets client transport (WsClient); see lws_transport.h for the
// theory of operation. The server (WsServer) is chatwire's own, in
// ws_server.cc: lws 4.1.6's server side could not be made strict enough (see
// there).
//
// Choices made here, and why:
// - One lws context per WsClient connection, not one shared client context per
//   loop. Measured on Debian 12 (lws 4.1.6): creating a context costs ~1.1 ms
//   of loop time, almost all of it lws scanning and sorting
//   /usr/lib/x86_64-linux-gnu for its evlib plugin (it does so for every
//   context); destroying it ~10 us; memory a few KB plus an eventfd and two
//   uv handles. A shared, refcounted context would save that 1.1 ms only for
//   connections opened while another client is still connected: an idle
//   context's event-pipe poll handle keeps Node alive, so it could not linger
//   between reconnects anyway. In exchange for 1.1 ms per connect there is no
//   registry keyed by loop (no global mutable state, nothing for Jest's shared
//   native state to carry from one test file to the next), every connection
//   frees everything it used when it ends, and an idle WsClient holds no uv
//   handle. Client contexts use lws's small "slow fd lookup" tables
//   (fd_limit_per_thread) rather than a table sized by ulimit -n.
// - Per-wsi state lives in the ClientImpl; anything that outlives a callback
//   refers to ids, never to a wsi pointer.
// - Contexts are destroyed from a uv timer of ours, never inside an lws
//   callback, in the two phases described in the header, with two lws 4.1
//   bugs worked around (see ws_start_close and park_if_closed).
// - UTF-8 is validated here, not by lws (see Utf8Check).

#include "lws_transport.h"
#include "transport_util.h"

#include <dlfcn.h>
#include <libwebsockets.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <list>
#include <mutex>
#include <unordered_map>
#include <utility>
#include <vector>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

namespace chatwire::node {
namespace {

using util::post;
using util::report_exception;
using util::sendable_close_code;
using util::Timer;
using util::Utf8Check;

constexpr size_t kRxChunkBytes = 16 * 1024;      // lws ws rx buffer per connection (client)
constexpr size_t kServBufBytes = 32 * 1024;      // lws per-thread read buffer
constexpr int kClientFdLimit = 8;                // event pipe + one connection, spare
constexpr uint64_t kClientShutdownGraceMs = 500;
constexpr uint64_t kClientConnectTimeoutMs = 10000;  // TCP connect + upgrade
constexpr int kClientLwsTimeoutS = 30;  // lws's own timeouts: backstops only
constexpr uint64_t kDestroyPollMs = 1;
constexpr uint64_t kDestroyGiveUpMs = 10000;

// ---------------------------------------------------------------------------
// Process-wide, set once, never changed afterwards.

void lws_log_to_stderr(int level, const char* line) {
  std::fprintf(stderr, "chatwire lws: %s", line);
}

void init_lws_once() {
  static std::once_flag once;
  std::call_once(once, [] {
    // Trap 1: lws's evlib_uv plugin links Debian's libuv.so.1, whose symbols
    // bind to the libuv Node exports. When lws unloads the plugin, libuv.so.1
    // would be unloaded too and its destructor would tear down *Node's* libuv.
    // Loading it NODELETE first keeps it mapped for the life of the process.
    if (!dlopen("libuv.so.1", RTLD_NOW | RTLD_NODELETE))
      std::fprintf(stderr, "chatwire lws: dlopen libuv.so.1: %s\n", dlerror());
    // lws dlopens its libuv plugin for every context and dlcloses it with
    // the last one; pinning it saves reloading it for each client connection.
    dlopen(LWS_INSTALL_LIBDIR "/libwebsockets-evlib_uv.so", RTLD_NOW | RTLD_NODELETE);
    int level = LLL_ERR;
    if (const char* env = std::getenv("CHATWIRE_LWS_LOG")) level = std::atoi(env);
    lws_set_log_level(level, lws_log_to_stderr);
  });
}

// ---------------------------------------------------------------------------
// Small helpers.




// lws 4.1 bug worked around here: lws_destroy_event_pipe() (phase 1 of
// lws_context_destroy) closes the context's eventfd right after asking libuv
// to close its poll handle, and the handle's close callback then closes the
// same fd number again (wsi->desc.sockfd is left set). Between the two, in
// the same loop iteration, anything that opens an fd (an accept, a file)
// can receive that number and would have it closed under its feet (seen as
// libuv aborting in uv__epoll_ctl_prep with EBADF). So: note the eventfd
// when the context is created, and after phase 1 park /dev/null on that
// number if it was closed; lws's second close then closes the placeholder.
// User callbacks that phase 1 triggers (on_close) are held back until the
// number is parked (CallbackGate): a callback that reconnects would
// otherwise open its own eventfd or socket on exactly that number.

// Holds callbacks back while held; runs them in order on release.
struct CallbackGate {
  int holds = 0;
  std::vector<std::function<void()>> queued;
  void run(std::function<void()> f) {
    if (holds)
      queued.push_back(std::move(f));
    else
      f();
  }
  void release() {
    if (--holds) return;
    auto q = std::move(queued);
    queued.clear();
    for (auto& f : q) f();
  }
};

void collect_handles(uv_handle_t* h, void* arg) {
  static_cast<std::vector<uv_handle_t*>*>(arg)->push_back(h);
}

bool is_eventfd(int fd) {
  char path[64], target[64];
  std::snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
  ssize_t n = readlink(path, target, sizeof(target) - 1);
  if (n <= 0) return false;
  target[n] = '\0';
  return std::strstr(target, "eventfd") != nullptr;
}

// What the transport knows about one lws context's uv footprint, learnt by
// comparing the loop's handles before and after lws_create_context.
struct LwsCtx {
  lws_context* ctx = nullptr;
  int pipe_fd = -1;  // the eventfd behind the context's event-pipe poll handle
  // lws's "static" handles (an idle and a timer, .data = context). They live
  // inside the context's memory, so their addresses stay valid, and unique,
  // until the final lws_context_destroy().
  std::vector<uv_handle_t*> static_handles;
};

LwsCtx create_context(uv_loop_t* loop, const lws_context_creation_info& info) {
  LwsCtx lc;
  std::vector<uv_handle_t*> before, after;
  uv_walk(loop, collect_handles, &before);
  lc.ctx = lws_create_context(&info);
  if (!lc.ctx) return lc;
  uv_walk(loop, collect_handles, &after);
  std::sort(before.begin(), before.end());
  for (uv_handle_t* h : after) {
    if (std::binary_search(before.begin(), before.end(), h)) continue;
    uv_os_fd_t fd;
    if (h->type == UV_POLL && uv_fileno(h, &fd) == 0 && fd >= 0 && is_eventfd(fd)) lc.pipe_fd = fd;
    if ((h->type == UV_IDLE || h->type == UV_TIMER) && h->data == lc.ctx)
      lc.static_handles.push_back(h);
  }
  return lc;
}

void park_if_closed(int fd) {
  if (fd < 0 || fcntl(fd, F_GETFD) != -1 || errno != EBADF) return;
  int ph = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (ph < 0) return;
  if (ph != fd) {
    dup3(ph, fd, O_CLOEXEC);
    ::close(ph);
  }
}

struct WalkFind {
  const std::vector<uv_handle_t*>* wanted;
  int found;
};

// Trap 2: with a foreign loop, lws_context_destroy() only starts closing.
// Phase 1 closes every wsi; when the last wsi's uv handle has closed, lws
// closes its "static" handles (idle, timer). When they have left the loop,
// the second lws_context_destroy() frees the context. `keepalive` holds the state that lws
// callbacks reach through lws_context_user() until then.
void destroy_context_async(uv_loop_t* loop, LwsCtx lc, CallbackGate* gate,
                           std::shared_ptr<void> keepalive,
                           std::function<void()> done) {
  Timer* t = Timer::create(loop);
  struct State {
    int phase = 0;
    uint64_t started_ms = 0;
  };
  auto st = std::make_shared<State>();
  t->start(0, kDestroyPollMs, [t, loop, lc = std::move(lc), gate, st, keepalive = std::move(keepalive),
                               done = std::move(done)]() mutable {
    if (st->phase == 0) {
      st->phase = 1;
      st->started_ms = uv_now(loop);
      gate->holds++;
      lws_context_destroy(lc.ctx);
      park_if_closed(lc.pipe_fd);
      gate->release();
      return;  // lws's handles close in this iteration's close phase at the earliest
    }
    WalkFind wf{&lc.static_handles, 0};
    uv_walk(loop, [](uv_handle_t* h, void* arg) {
      auto* w = static_cast<WalkFind*>(arg);
      if (std::find(w->wanted->begin(), w->wanted->end(), h) != w->wanted->end()) w->found++;
    }, &wf);
    if (lc.static_handles.empty() || wf.found != 0) {
      if (uv_now(loop) - st->started_ms < kDestroyGiveUpMs) return;
      // Freeing now could run lws close callbacks on freed memory: leak the
      // context and the state its callbacks reach, and let the owner go on.
      std::fprintf(stderr, "chatwire lws: context %p did not close its handles; leaking it\n",
                   static_cast<void*>(lc.ctx));
      new std::shared_ptr<void>(keepalive);
    } else {
      lws_context_destroy(lc.ctx);
    }
    t->stop();
    auto d = std::move(done);
    auto k = std::move(keepalive);
    t->close([d = std::move(d), k = std::move(k)]() mutable {
      if (d) d();
      k.reset();  // may free the owner, after `done` used it
    });
  });
}

int peer_close_code(const void* in, size_t len) {
  if (!in || len < 2) return 1005;
  const auto* b = static_cast<const unsigned char*>(in);
  return (b[0] << 8) | b[1];
}

// Frames are stored with LWS_PRE bytes of headroom in front, as lws_write needs.
std::string make_frame(const std::string& text) {
  std::string buf;
  buf.reserve(LWS_PRE + text.size());
  buf.append(LWS_PRE, '\0');
  buf.append(text);
  return buf;
}


// What both ends do with a WebSocket connection: outgoing queue, reassembly,
// close bookkeeping.
struct WsState {
  std::list<std::string> outq;  // each with LWS_PRE headroom (a list: empty costs nothing; a deque allocates 512 B)
  size_t queued_bytes = 0;       // payload bytes in outq
  std::string rx;
  Utf8Check utf8;
  bool close_requested = false;  // close() called: send queue, then close frame
  bool close_started = false;    // close frame handed to lws
  int close_code = 0;            // what we send / sent
  std::string close_reason;
  int peer_code = 0;             // from the peer's close frame
  bool reported = false;

  // The code on_close reports.
  int final_code() const {
    if (peer_code) return peer_code;
    if (close_code) return close_code;
    return 1006;
  }
};

// Outcome of feeding one LWS_CALLBACK_(CLIENT_)RECEIVE chunk.
enum class RxResult { kPartial, kMessage, kClose };

RxResult ws_receive(lws* wsi, WsState* ws, const void* in, size_t len, size_t max_bytes) {
  if (ws->close_requested) return RxResult::kPartial;  // we are closing; drop input
  if (lws_frame_is_binary(wsi)) {
    ws->close_requested = true;
    ws->close_code = 1003;
    ws->close_reason = "text frames only";
    return RxResult::kClose;
  }
  size_t remaining = lws_remaining_packet_payload(wsi);
  if (ws->rx.size() + len + remaining > max_bytes) {
    ws->close_requested = true;
    ws->close_code = 1009;
    ws->close_reason = "message too big";
    ws->rx.clear();
    ws->rx.shrink_to_fit();
    return RxResult::kClose;
  }
  bool last = lws_is_final_fragment(wsi) && !remaining;
  if (!ws->utf8.feed(static_cast<const unsigned char*>(in), len) || (last && ws->utf8.need)) {
    ws->close_requested = true;
    ws->close_code = 1007;
    ws->close_reason = "invalid UTF-8";
    ws->rx.clear();
    return RxResult::kClose;
  }
  if (ws->rx.empty() && remaining) ws->rx.reserve(len + remaining);
  ws->rx.append(static_cast<const char*>(in), len);
  return last ? RxResult::kMessage : RxResult::kPartial;
}

// Starts lws's close handshake with our code and reason; call it from an lws
// callback for this wsi, which then returns 0.
//
// Not "lws_close_reason() + return -1" as lws documents: Debian builds lws
// with _DEBUG, and in debug builds with libuv, lws_service_fd closes a wsi
// whose callback returned -1 a second time at once ("close_and_handled uv
// repeat test"); the second close sees the close frame still waiting to be
// sent and kills the socket, so the peer sees 1006 instead of our code.
// LWS_TO_KILL_SYNC calls the same close entry point once: for an established
// WebSocket it only queues the close frame (LRS_WAITING_TO_SEND_CLOSE) and
// frees nothing; lws then sends it, waits up to 5 s for the peer's close,
// and closes (LWS_CALLBACK_CLOSED / CLIENT_CLOSED).
void ws_start_close(lws* wsi, WsState* ws) {
  ws->close_started = true;
  const std::string& r = ws->close_reason;
  size_t n = std::min<size_t>(r.size(), 123);
  lws_close_reason(wsi, static_cast<lws_close_status>(sendable_close_code(ws->close_code)),
                   reinterpret_cast<unsigned char*>(const_cast<char*>(r.data())), n);
  lws_set_timeout(wsi, PENDING_TIMEOUT_CLOSE_SEND, LWS_TO_KILL_SYNC);
}

// LWS_CALLBACK_(SERVER|CLIENT)_WRITEABLE: write queued frames while the socket
// takes them, then start the close if one was asked for. Returns the value
// for lws (-1 drops the connection).
int ws_writable(lws* wsi, WsState* ws) {
  if (ws->close_started) return 0;
  bool wrote = false;
  while (!ws->outq.empty()) {
    if (wrote && lws_send_pipe_choked(wsi)) {
      lws_callback_on_writable(wsi);
      return 0;
    }
    std::string& f = ws->outq.front();
    size_t n = f.size() - LWS_PRE;
    int m = lws_write(wsi, reinterpret_cast<unsigned char*>(&f[LWS_PRE]), n, LWS_WRITE_TEXT);
    if (m < static_cast<int>(n)) return -1;  // lws buffers partial sends itself
    ws->queued_bytes -= std::min(ws->queued_bytes, n);
    ws->outq.pop_front();
    wrote = true;
  }
  if (ws->close_requested) {
    // lws flushes what it buffered before calling us again; closing now
    // with output still buffered would drop the close frame.
    if (wrote) {
      lws_callback_on_writable(wsi);
      return 0;
    }
    ws_start_close(wsi, ws);
  }
  return 0;
}

}  // namespace

// ===========================================================================
// Client

namespace detail {

struct ClientImpl;

// One connection attempt, with its own lws context (see the top comment).
struct ClientConn {
  enum class State { kConnecting, kOpen, kEnded };
  State state = State::kConnecting;
  // Strong: the WsClient may be destroyed while this context is still being
  // freed. The cycle with ClientImpl::conn ends when the context is gone.
  std::shared_ptr<ClientImpl> owner;
  bool report = true;  // false when open() failed synchronously
  uv_loop_t* loop = nullptr;
  lws_context* ctx = nullptr;
  LwsCtx lws_ctx;  // for destroy_context_async
  CallbackGate gate;
  lws* wsi = nullptr;
  size_t max_frame_bytes = 0;
  WsState ws;
  bool in_connect = false;  // inside lws_client_connect_via_info
  bool failed_in_connect = false;
  bool destroying = false;
  Timer* grace_timer = nullptr;
  Timer* connect_timer = nullptr;
  std::shared_ptr<ClientConn> self;
  // URL pieces; lws keeps pointers to them while connecting.
  std::string host, host_header, path;
  int port = 0;
  bool tls = false;

  static int callback(lws* wsi, lws_callback_reasons reason, void* user, void* in, size_t len);
  int on_callback(lws* wsi, lws_callback_reasons reason, void* in, size_t len);
  void ended(int code, int http_status);
  void destroy();
  // Abandons a connection attempt from outside lws's callbacks: lws closes
  // the wsi at its next service (CONNECTION_ERROR follows). That service
  // would wait for lws's next timer, maybe many seconds away, so wake it.
  void kill_attempt() {
    lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
    lws_cancel_service(ctx);
  }
  void stop_connect_timer() {
    if (connect_timer) {
      connect_timer->close();
      connect_timer = nullptr;
    }
  }
};

struct ClientImpl : std::enable_shared_from_this<ClientImpl> {
  WsClient::Callbacks cb;
  bool detached = false;
  bool shut = false;
  uv_loop_t* loop = nullptr;
  std::shared_ptr<ClientConn> conn;  // the current attempt, if any
  int contexts_alive = 0;            // current + ones still being destroyed
  std::vector<std::function<void()>> done_list;

  template <typename F>
  void guard(F&& f) {
    util::guarded(cb.on_exception, std::forward<F>(f));
  }

  std::string open(uv_loop_t* l, const std::string& url, WsClient::Callbacks c, size_t max);
  bool send(std::string text);
  void close(int code, std::string reason);
  void shutdown(std::function<void()> done);
  void context_gone();
  void maybe_done();
};

namespace {
const lws_protocols kClientProtocols[] = {
    {"chatwire-client", &ClientConn::callback, 0, kRxChunkBytes, 0, nullptr, 0},
    {nullptr, nullptr, 0, 0, 0, nullptr, 0},
};

// ws://host[:port][/path][?query]; host may be [v6].
std::string parse_url(const std::string& url, ClientConn* c) {
  size_t p;
  if (url.rfind("ws://", 0) == 0) {
    c->tls = false;
    p = 5;
  } else if (url.rfind("wss://", 0) == 0) {
    c->tls = true;
    p = 6;
  } else {
    return "url must start with ws:// or wss://";
  }
  size_t slash = url.find_first_of("/?#", p);
  std::string authority = url.substr(p, slash == std::string::npos ? std::string::npos : slash - p);
  std::string rest = slash == std::string::npos ? std::string("/") : url.substr(slash);
  size_t hash = rest.find('#');
  if (hash != std::string::npos) rest.erase(hash);
  if (rest.empty() || rest[0] != '/') rest.insert(0, "/");
  if (authority.find('@') != std::string::npos) return "url must not contain credentials";
  std::string host;
  std::string port_text;
  if (!authority.empty() && authority[0] == '[') {
    size_t close = authority.find(']');
    if (close == std::string::npos) return "bad IPv6 address in url";
    host = authority.substr(1, close - 1);
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':') return "bad url authority";
      port_text = authority.substr(close + 2);
    }
  } else {
    size_t colon = authority.rfind(':');
    host = authority.substr(0, colon);
    if (colon != std::string::npos) port_text = authority.substr(colon + 1);
  }
  if (host.empty()) return "url has no host";
  int port = c->tls ? 443 : 80;
  if (!port_text.empty()) {
    char* end = nullptr;
    long v = std::strtol(port_text.c_str(), &end, 10);
    if (*end || v <= 0 || v > 65535) return "bad port in url";
    port = static_cast<int>(v);
  }
  c->host = host;
  c->port = port;
  bool default_port = port == (c->tls ? 443 : 80);
  std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  c->host_header = default_port ? h : h + ":" + std::to_string(port);
  c->path = rest;
  return std::string();
}
}  // namespace

std::string ClientImpl::open(uv_loop_t* l, const std::string& url, WsClient::Callbacks c,
                             size_t max) {
  if (shut) return "client was shut down";
  if (conn) return "already open";
  if (!l) return "no event loop";
  init_lws_once();
  auto cn = std::make_shared<ClientConn>();
  std::string err = parse_url(url, cn.get());
  if (!err.empty()) return err;
  loop = l;
  cb = std::move(c);
  cn->loop = l;
  cn->max_frame_bytes = max ? max : (16u << 20);

  lws_context_creation_info info;
  std::memset(&info, 0, sizeof(info));
  void* loops[1] = {l};
  info.options = LWS_SERVER_OPTION_LIBUV;
  if (cn->tls) info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
  info.foreign_loops = loops;
  info.port = CONTEXT_PORT_NO_LISTEN;
  info.protocols = kClientProtocols;
  info.user = cn.get();
  info.fd_limit_per_thread = kClientFdLimit;
  info.pt_serv_buf_size = kServBufBytes;
  // lws 4.1 bug: when its own TCP connect timeout fires
  // (lws_client_conn_wait_timeout), lws closes the socket and frees the wsi
  // without closing the wsi's uv_poll handle, which then stays on Node's loop
  // forever (seen with a peer that drops SYNs). So lws's timeouts are set
  // longer than ours, and connect_timer kills a slow attempt the way close()
  // does (LWS_TO_KILL_ASYNC), which closes the handle properly.
  info.timeout_secs = kClientLwsTimeoutS;
  cn->lws_ctx = create_context(l, info);
  cn->ctx = cn->lws_ctx.ctx;
  if (!cn->ctx) return "lws_create_context failed";
  cn->self = cn;
  cn->owner = shared_from_this();
  contexts_alive++;

  lws_client_connect_info ci;
  std::memset(&ci, 0, sizeof(ci));
  ci.context = cn->ctx;
  ci.address = cn->host.c_str();
  ci.port = cn->port;
  ci.path = cn->path.c_str();
  ci.host = cn->host_header.c_str();
  ci.origin = nullptr;
  ci.protocol = nullptr;
  ci.ssl_connection = cn->tls ? LCCSCF_USE_SSL : 0;
  ci.ssl_connection |= LCCSCF_HTTP_NO_FOLLOW_REDIRECT;
  ci.local_protocol_name = kClientProtocols[0].name;
  ci.pwsi = &cn->wsi;
  conn = cn;
  cn->in_connect = true;
  lws* w = lws_client_connect_via_info(&ci);
  cn->in_connect = false;
  if (w && !cn->failed_in_connect) {
    ClientConn* c = cn.get();
    cn->connect_timer = Timer::create(l);
    cn->connect_timer->start(kClientConnectTimeoutMs, 0, [c] {
      c->stop_connect_timer();
      if (c->state == ClientConn::State::kConnecting && c->wsi) c->kill_attempt();
    });
  }
  if (!w || cn->failed_in_connect) {
    // Failed synchronously (bad address...): no callback, free the context.
    conn.reset();
    cn->report = false;
    cn->state = ClientConn::State::kEnded;
    std::string why = cn->ws.close_reason.empty() ? "connect failed" : cn->ws.close_reason;
    cn->destroy();
    return why;
  }
  return std::string();
}

bool ClientImpl::send(std::string text) {
  if (!conn || conn->state != ClientConn::State::kOpen || conn->ws.close_requested) return false;
  conn->ws.outq.push_back(make_frame(std::move(text)));
  lws_callback_on_writable(conn->wsi);
  return true;
}

void ClientImpl::close(int code, std::string reason) {
  if (!conn) return;
  ClientConn* c = conn.get();
  if (c->ws.close_requested) return;
  c->ws.close_requested = true;
  c->ws.close_code = sendable_close_code(code);
  c->ws.close_reason = std::move(reason);
  if (c->state == ClientConn::State::kOpen) {
    lws_callback_on_writable(c->wsi);
  } else if (c->wsi) {
    c->kill_attempt();
  }
}

void ClientImpl::shutdown(std::function<void()> done) {
  if (done) done_list.push_back(std::move(done));
  shut = true;
  if (conn && !conn->destroying && !conn->grace_timer) {
    std::shared_ptr<ClientConn> c = conn;
    if (c->state == ClientConn::State::kOpen) {
      close(1001, "going away");  // no-op if close() came first
      // Give the close handshake a moment, then drop whatever is left.
      c->grace_timer = Timer::create(c->loop);
      c->grace_timer->start(kClientShutdownGraceMs, 0, [c] { c->destroy(); });
    } else {
      c->destroy();  // connecting: abandon (on_close(1006, 0) follows)
    }
  }
  maybe_done();
}

void ClientImpl::context_gone() {
  contexts_alive--;
  maybe_done();
}

void ClientImpl::maybe_done() {
  if (!shut || contexts_alive > 0 || done_list.empty()) return;
  auto list = std::move(done_list);
  done_list.clear();
  if (loop) {
    for (auto& d : list) post(loop, std::move(d));
  } else {
    for (auto& d : list) d();  // never opened: no loop to run it on
  }
}

// The connection is over: report once, detach from the owner, free the context.
void ClientConn::ended(int code, int http_status) {
  if (state == State::kEnded) return;
  state = State::kEnded;
  std::shared_ptr<ClientImpl> o = owner;
  if (o && report && !in_connect) {
    if (o->conn.get() == this) o->conn.reset();  // lets on_close call open() again
    gate.run([o, code, http_status] {
      if (o->cb.on_close && !o->detached) o->guard([&] { o->cb.on_close(code, http_status); });
    });
  }
  destroy();
}

void ClientConn::destroy() {
  if (destroying) return;
  destroying = true;
  if (grace_timer) {
    grace_timer->close();
    grace_timer = nullptr;
  }
  stop_connect_timer();
  // Phase 1 may call back (CLIENT_CLOSED, WSI_DESTROY): keep `this` alive.
  std::shared_ptr<ClientConn> keep = self;
  self.reset();
  ClientConn* me = this;
  destroy_context_async(loop, lws_ctx, &gate, keep, [me] {
    // `me` is still held by the keepalive here; it is released after.
    std::shared_ptr<ClientImpl> o = std::move(me->owner);
    me->ctx = nullptr;
    if (o) {
      if (o->conn.get() == me) o->conn.reset();
      o->context_gone();
    }
  });
}

int ClientConn::callback(lws* wsi, lws_callback_reasons reason, void* user, void* in,
                         size_t len) {
  lws_context* cx = wsi ? lws_get_context(wsi) : nullptr;
  auto* c = cx ? static_cast<ClientConn*>(lws_context_user(cx)) : nullptr;
  if (!c) return 0;
  try {
    return c->on_callback(wsi, reason, in, len);
  } catch (...) {
    report_exception(c->owner ? c->owner->cb.on_exception : ExceptionHandler(),
                     std::current_exception());
    return -1;
  }
}

int ClientConn::on_callback(lws* w, lws_callback_reasons reason, void* in, size_t len) {
  switch (reason) {
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR: {
      int status = lws_http_client_http_response(w);
      if (in_connect) {
        failed_in_connect = true;
        ws.close_reason = in ? std::string(static_cast<const char*>(in), strnlen(static_cast<const char*>(in), len ? len : 256)) : "connect failed";
      }
      wsi = nullptr;
      ended(1006, status == 101 ? 0 : status);
      return 0;
    }

    case LWS_CALLBACK_CLIENT_ESTABLISHED: {
      if (ws.close_requested || !owner) {
        // close()/shutdown() came while connecting, and lws won the race.
        ws_start_close(w, &ws);
        return 0;
      }
      state = State::kOpen;
      stop_connect_timer();
      ClientImpl* o = owner.get();
      if (o->cb.on_open && !o->detached) o->guard([&] { o->cb.on_open(); });
      return 0;
    }

    case LWS_CALLBACK_CLIENT_RECEIVE: {
      switch (ws_receive(w, &ws, in, len, max_frame_bytes)) {
        case RxResult::kPartial:
          return 0;
        case RxResult::kClose:  // after what is already queued, like close()
          lws_callback_on_writable(w);
          return 0;
        case RxResult::kMessage: {
          std::string msg;
          msg.swap(ws.rx);
          ClientImpl* o = owner.get();
          if (o && o->cb.on_message && !o->detached)
            o->guard([&] { o->cb.on_message(std::string_view(msg)); });
          return 0;
        }
      }
      return 0;
    }

    case LWS_CALLBACK_CLIENT_WRITEABLE:
      return ws_writable(w, &ws);

    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
      if (!ws.close_code) ws.peer_code = peer_close_code(in, len);
      return 0;

    case LWS_CALLBACK_CLIENT_CLOSED:
      wsi = nullptr;
      ended(ws.final_code(), 0);
      return 0;

    case LWS_CALLBACK_WSI_DESTROY:
      // Also sent for lws's own event-pipe wsi: only ours matters.
      if (w == wsi) {
        wsi = nullptr;
        // Closed without CLIENT_CLOSED / CONNECTION_ERROR (should not happen).
        if (state != State::kEnded && !in_connect) ended(ws.final_code(), 0);
      }
      return 0;

    default:
      return 0;
  }
}

}  // namespace detail

WsClient::WsClient() : impl_(std::make_shared<detail::ClientImpl>()) {}

WsClient::~WsClient() {
  impl_->detached = true;
  impl_->shutdown(nullptr);
}

std::string WsClient::open(uv_loop_t* loop, const std::string& url, Callbacks callbacks,
                           size_t max_frame_bytes) {
  return impl_->open(loop, url, std::move(callbacks), max_frame_bytes);
}

bool WsClient::send(std::string text) { return impl_->send(std::move(text)); }

void WsClient::close(int code, std::string reason) { impl_->close(code, std::move(reason)); }

void WsClient::shutdown(std::function<void()> done) { impl_->shutdown(std::move(done)); }

bool WsClient::is_open() const {
  return impl_->conn && impl_->conn->state == detail::ClientConn::State::kOpen;
}

}  // namespace chatwire::node
