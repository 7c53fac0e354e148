// libwebsockets transport; see lws_transport.h for the theory of operation.
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
// - The server context uses lws's default fd map (indexed by fd, sized by
//   ulimit -n: 16 bytes per possible fd), so each socket event is O(1).
// - Upgrade refusal happens in LWS_CALLBACK_HTTP_CONFIRM_UPGRADE: headers are
//   parsed, nothing is upgraded yet, and returning 1 after writing a response
//   makes lws finish the HTTP transaction normally (lws itself answers an
//   unknown upgrade the same way). FILTER_PROTOCOL_CONNECTION would be too
//   late for a status: lws just drops the socket when it returns non-zero.
// - Per-wsi state lives in a Session attached with lws_set_opaque_user_data
//   (it survives the HTTP -> WebSocket role change; lws's per-session user
//   space is tied to protocol binding). It is freed in LWS_CALLBACK_WSI_DESTROY,
//   which lws sends for every wsi, also during context destruction.
// - Anything that outlives a callback (HTTP responders, connection ids) refers
//   to ids looked up in maps, never to a wsi pointer.
// - Contexts are destroyed from a uv timer of ours, never inside an lws
//   callback, in the two phases described in the header, with two lws 4.1
//   bugs worked around (see ws_start_close and park_if_closed).
// - UTF-8 is validated here, not by lws (see Utf8Check).
// - The server accepts connections itself (ServerImpl::on_listen_readable) and
//   hands them to lws (lws_adopt_socket_vhost), at most kMaxHandshaking
//   sockets between accept and upgrade at a time (one that sent nothing for
//   kHandshakeCountMs stops counting, so slow clients cannot keep others out). lws 4.1 keeps every pending
//   timeout in one sorted linked list that each adoption walks from the head,
//   and its own listener accepts the whole backlog in one go: a reconnect
//   storm of 10k sockets spent 94% of the CPU in lws_dll2_add_sorted and
//   took 35+ s to upgrade them (perf). Capped, each insert walks <= 256 nodes
//   and the rest wait in the kernel's accept queue.

#include "lws_transport.h"

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

constexpr size_t kRxChunkBytes = 16 * 1024;      // lws ws rx buffer per connection (client)
// lws allocates this rx buffer for every server WebSocket; a frame larger
// than it arrives in several RECEIVE callbacks (ws_receive assembles them).
// 1 KiB holds a chat message or a ping; at 16 KiB it was 40% of an idle
// connection's memory (massif, 2000 connections).
constexpr size_t kServerRxChunkBytes = 1024;
constexpr size_t kServBufBytes = 32 * 1024;      // lws per-thread read buffer
constexpr size_t kHttpWriteChunk = 64 * 1024;    // HTTP body bytes per writable
constexpr int kHttpResponseTimeoutS = 120;       // async responder must answer by then
constexpr int kClientFdLimit = 8;                // event pipe + one connection, spare
constexpr uint64_t kClientShutdownGraceMs = 500;
constexpr uint64_t kClientConnectTimeoutMs = 10000;  // TCP connect + upgrade
constexpr int kClientLwsTimeoutS = 30;  // lws's own timeouts: backstops only
constexpr uint64_t kDestroyPollMs = 1;
constexpr size_t kMaxHandshaking = 256;  // accepted sockets not yet upgraded (or HTTP)...
constexpr uint64_t kHandshakeCountMs = 1000;  // ...within this long (a slow one stops counting)
constexpr uint64_t kAcceptPauseMs = 50;       // the longest accepting pauses at the cap
constexpr int kAcceptBatch = 64;              // accepts per readable event of the listener
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

void report_exception(const ExceptionHandler& handler, std::exception_ptr ep) {
  if (handler) {
    try {
      handler(ep);
      return;
    } catch (...) {
      // fall through to stderr: nothing may escape into lws
    }
  }
  try {
    std::rethrow_exception(ep);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "chatwire transport: callback threw: %s\n", e.what());
  } catch (...) {
    std::fprintf(stderr, "chatwire transport: callback threw a non-std exception\n");
  }
}

// A heap uv_timer_t whose callback is a std::function. close() hands it to uv;
// the memory is freed in the close callback, so the owner may die right after.
class Timer {
 public:
  static Timer* create(uv_loop_t* loop) {
    auto* t = new Timer();
    uv_timer_init(loop, &t->handle_);
    t->handle_.data = t;
    return t;
  }
  void start(uint64_t timeout_ms, uint64_t repeat_ms, std::function<void()> fn) {
    fn_ = std::move(fn);
    uv_timer_start(&handle_, &Timer::on_timer, timeout_ms, repeat_ms);
  }
  void stop() { uv_timer_stop(&handle_); }
  void close(std::function<void()> after = nullptr) {
    after_ = std::move(after);
    uv_close(reinterpret_cast<uv_handle_t*>(&handle_), &Timer::on_close);
  }

 private:
  static void on_timer(uv_timer_t* h) {
    auto* t = static_cast<Timer*>(h->data);
    auto fn = t->fn_;  // fn may restart or close this timer
    if (fn) fn();
  }
  static void on_close(uv_handle_t* h) {
    auto* t = static_cast<Timer*>(h->data);
    auto after = std::move(t->after_);
    delete t;
    if (after) after();
  }
  uv_timer_t handle_{};
  std::function<void()> fn_;
  std::function<void()> after_;
};

// Runs fn on the loop soon (next timers phase), outside any lws callback.
void post(uv_loop_t* loop, std::function<void()> fn) {
  Timer* t = Timer::create(loop);
  t->start(0, 0, [t, fn = std::move(fn)]() mutable {
    auto f = std::move(fn);
    t->close();
    try {
      if (f) f();
    } catch (...) {
      report_exception(nullptr, std::current_exception());
    }
  });
}

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

// Percent-encodes everything but RFC 3986 unreserved characters.
void append_query_encoded(std::string* out, const char* s, size_t n) {
  static const char kHex[] = "0123456789ABCDEF";
  for (size_t i = 0; i < n; i++) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
        c == '-' || c == '.' || c == '_' || c == '~') {
      out->push_back(static_cast<char>(c));
    } else {
      out->push_back('%');
      out->push_back(kHex[c >> 4]);
      out->push_back(kHex[c & 15]);
    }
  }
}

std::string header_string(lws* wsi, lws_token_indexes tok) {
  int len = lws_hdr_total_length(wsi, tok);
  if (len <= 0) return std::string();
  std::string s(static_cast<size_t>(len) + 1, '\0');
  int n = lws_hdr_copy(wsi, &s[0], len + 1, tok);
  if (n < 0) return std::string();
  s.resize(static_cast<size_t>(n));
  return s;
}

// lws splits the query at '&' and ';' into percent-decoded fragments; put
// them back together as a well-formed query string.
std::string query_string(lws* wsi) {
  std::string out;
  std::vector<char> buf;
  for (int i = 0;; i++) {
    int flen = lws_hdr_fragment_length(wsi, WSI_TOKEN_HTTP_URI_ARGS, i);
    if (flen <= 0) break;
    buf.resize(static_cast<size_t>(flen) + 1);
    int n = lws_hdr_copy_fragment(wsi, buf.data(), flen + 1, WSI_TOKEN_HTTP_URI_ARGS, i);
    if (n < 0) break;
    if (!out.empty()) out.push_back('&');
    const char* eq = static_cast<const char*>(std::memchr(buf.data(), '=', static_cast<size_t>(n)));
    if (eq) {
      append_query_encoded(&out, buf.data(), static_cast<size_t>(eq - buf.data()));
      out.push_back('=');
      append_query_encoded(&out, eq + 1, static_cast<size_t>(n) - static_cast<size_t>(eq - buf.data()) - 1);
    } else {
      append_query_encoded(&out, buf.data(), static_cast<size_t>(n));
    }
  }
  return out;
}

std::string peer_ip_of(lws* wsi) {
  char buf[128];
  const char* p = lws_get_peer_simple(wsi, buf, sizeof(buf));
  if (!p) return std::string();
  std::string s(p);
  if (s.rfind("::ffff:", 0) == 0 && s.find('.') != std::string::npos) s.erase(0, 7);
  return s;
}

const char* status_text(int status) {
  switch (status) {
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 411: return "Length Required";
    case 413: return "Payload Too Large";
    case 426: return "Upgrade Required";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "Error";
  }
}

// A close code we may put on the wire (RFC 6455 7.4): 1005/1006/1015 and
// out-of-range values are reserved for reporting, not for sending.
int sendable_close_code(int code) {
  if (code < 1000 || code > 4999 || code == 1004 || code == 1005 || code == 1006 ||
      code == 1015)
    return 1000;
  return code;
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

// Incremental UTF-8 validation (RFC 3629: no overlongs, no surrogates, at
// most U+10FFFF) across the chunks of one message. lws can validate too
// (LWS_SERVER_OPTION_VALIDATE_UTF8), but it then closes through the path
// that drops the close frame in Debian's build (see ws_start_close), so the
// peer would see 1006 instead of 1007.
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
// Server

namespace detail {

struct ServerImpl : std::enable_shared_from_this<ServerImpl> {
  enum class State { kIdle, kListening, kShuttingDown, kDestroying, kDead };

  struct Session {
    lws* wsi = nullptr;
    bool is_ws = false;
    // WebSocket
    uint64_t conn_id = 0;  // 0 until ESTABLISHED
    uint64_t token = 0;
    std::string peer_ip;
    WsState ws;
    // HTTP (one request at a time per socket)
    uint64_t req_id = 0;
    HttpRequest req;
    bool is_head = false;
    bool awaiting_body = false;
    bool dispatched = false;
    bool have_response = false;
    bool headers_sent = false;
    bool close_after = false;
    HttpResponse resp;
    std::string out;  // LWS_PRE + body
    size_t out_off = 0;
  };

  State state = State::kIdle;
  uv_loop_t* loop = nullptr;
  lws_context* ctx = nullptr;
  LwsCtx lws_ctx;  // for destroy_context_async
  CallbackGate gate;
  lws_vhost* vhost = nullptr;
  int bound_port = 0;
  WsServer::Options opts;
  WsServer::Callbacks cb;
  bool detached = false;  // owner gone: never call cb again
  std::unordered_map<uint64_t, Session*> conns;
  std::unordered_map<uint64_t, Session*> http;
  uint64_t next_conn_id = 0;
  uint64_t next_req_id = 0;
  std::vector<std::function<void()>> done_list;
  Timer* grace_timer = nullptr;
  std::shared_ptr<ServerImpl> self;  // alive while lws may call us
  // Our own listener (see the top of this file).
  int listen_fd = -1;
  uv_poll_t* listen_poll = nullptr;
  Timer* accept_timer = nullptr;
  bool accepting = false;
  // Adopted sockets neither upgraded nor serving HTTP yet -> when adopted (uv_now).
  std::unordered_map<lws*, uint64_t> handshaking;
  std::string open_listener();
  void on_listen_readable();
  void pause_accepting();
  void resume_accepting();
  void handshake_done(lws* wsi);
  void close_listener();

  static int callback(lws* wsi, lws_callback_reasons reason, void* user, void* in, size_t len);
  int on_callback(lws* wsi, lws_callback_reasons reason, void* in, size_t len);

  template <typename F>
  void guard(F&& f) {
    try {
      f();
    } catch (...) {
      report_exception(cb.on_exception, std::current_exception());
    }
  }

  Session* session_of(lws* wsi) { return static_cast<Session*>(lws_get_opaque_user_data(wsi)); }
  Session* ensure_session(lws* wsi) {
    Session* s = session_of(wsi);
    if (!s) {
      s = new Session();
      s->wsi = wsi;
      lws_set_opaque_user_data(wsi, s);
    }
    return s;
  }

  std::string listen(uv_loop_t* l, WsServer::Options o, WsServer::Callbacks c);
  bool send(uint64_t id, std::string text);
  void close(uint64_t id, int code, std::string reason);
  void shutdown(std::function<void()> done);
  void begin_destroy();
  void finish();

  int refuse_upgrade(lws* wsi, int status);
  int handle_confirm_upgrade(lws* wsi, const char* upgrade);
  void report_close(Session* s);
  int handle_http(lws* wsi, const char* uri);
  void dispatch_http(Session* s);
  void set_response(Session* s, HttpResponse r, bool close_after);
  void respond(uint64_t req_id, HttpResponse r);
  int http_writable(lws* wsi, Session* s);
  // Shutdown waits (up to the grace period) for open connections and for
  // HTTP responses already being written.
  bool shutdown_can_proceed() const {
    if (!conns.empty()) return false;
    for (const auto& kv : http)
      if (kv.second->have_response) return false;
    return true;
  }
  void maybe_proceed_shutdown() {
    if (state == State::kShuttingDown && grace_timer && shutdown_can_proceed())
      grace_timer->start(0, 0, [this] { begin_destroy(); });
  }
  void end_request(Session* s) {
    bool had = s->req_id != 0;
    if (s->req_id) http.erase(s->req_id);
    s->req_id = 0;
    s->req = HttpRequest();
    s->is_head = s->awaiting_body = s->dispatched = s->have_response = s->headers_sent = false;
    s->resp = HttpResponse();
    s->out.clear();
    s->out.shrink_to_fit();
    s->out_off = 0;
    if (had) maybe_proceed_shutdown();
  }
};

namespace {
const lws_protocols kServerProtocols[] = {
    {"chatwire", &ServerImpl::callback, 0, kServerRxChunkBytes, 0, nullptr, 0},
    {nullptr, nullptr, 0, 0, 0, nullptr, 0},
};

// After lws failed to bind, find out why for the error text.
std::string bind_error(const std::string& host, int port) {
  std::string where = (host.empty() ? std::string("*") : host) + ":" + std::to_string(port);
  bool v6 = host.find(':') != std::string::npos;
  int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return "cannot listen on " + where;
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  int rc;
  if (v6) {
    sockaddr_in6 a{};
    a.sin6_family = AF_INET6;
    a.sin6_port = htons(static_cast<uint16_t>(port));
    if (inet_pton(AF_INET6, host.c_str(), &a.sin6_addr) != 1) {
      ::close(fd);
      return "cannot listen on " + where + ": not a numeric address";
    }
    rc = bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  } else {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    if (host.empty()) {
      a.sin_addr.s_addr = htonl(INADDR_ANY);
    } else if (inet_pton(AF_INET, host.c_str(), &a.sin_addr) != 1) {
      ::close(fd);
      return "cannot listen on " + where + ": not a numeric address";
    }
    rc = bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  }
  int err = rc ? errno : 0;
  ::close(fd);
  if (err == EADDRINUSE) return "port " + std::to_string(port) + " in use";
  if (err) return "cannot listen on " + where + ": " + std::strerror(err);
  return "cannot listen on " + where;
}
}  // namespace

std::string ServerImpl::listen(uv_loop_t* l, WsServer::Options o, WsServer::Callbacks c) {
  if (state != State::kIdle) return "listen() called twice";
  if (!l) return "no event loop";
  if (o.port < 0 || o.port > 65535) return "port out of range";
  init_lws_once();
  loop = l;
  opts = std::move(o);
  cb = std::move(c);
  if (opts.host == "localhost") opts.host = "127.0.0.1";

  lws_context_creation_info info;
  std::memset(&info, 0, sizeof(info));
  void* loops[1] = {loop};
  info.options = LWS_SERVER_OPTION_LIBUV | LWS_SERVER_OPTION_EXPLICIT_VHOSTS;
  info.foreign_loops = loops;
  info.port = CONTEXT_PORT_NO_LISTEN;
  info.user = this;
  info.pt_serv_buf_size = kServBufBytes;
  info.max_http_header_data = 8192;
  info.server_string = "chatwire";
  lws_ctx = create_context(loop, info);
  ctx = lws_ctx.ctx;
  if (!ctx) return "lws_create_context failed";
  // From here on lws may call us through lws_context_user(): stay alive
  // until the context is destroyed.
  self = shared_from_this();

  lws_context_creation_info vinfo;
  std::memset(&vinfo, 0, sizeof(vinfo));
  vinfo.options = LWS_SERVER_OPTION_FAIL_UPON_UNABLE_TO_BIND;
  // An IPv4 host binds an AF_INET socket, so peers read "1.2.3.4", not "::ffff:1.2.3.4".
  if (!opts.host.empty() && opts.host.find(':') == std::string::npos)
    vinfo.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
  vinfo.port = CONTEXT_PORT_NO_LISTEN_SERVER;  // we listen and adopt (on_listen_readable)
  vinfo.protocols = kServerProtocols;
  vinfo.vhost_name = "chatwire";
  vinfo.server_string = "chatwire";
  vinfo.keepalive_timeout = 5;
  // No lws "validity" timer per connection: the hub already closes silent
  // sockets (4008), and lws keeps these timers in one sorted linked list that
  // every accept and every received frame re-inserts into by walking it from
  // the head, O(connections) each (perf, 10k connections: 73-94% of the
  // server's CPU in lws_dll2_add_sorted). secs_since_valid_hangup = 0 turns
  // the timer off (lws 4.1 _lws_validity_confirmed_role returns early).
  static const lws_retry_bo_t kNoValidityTimer = {nullptr, 0, 0, 0, 0, 0};
  vinfo.retry_and_idle_policy = &kNoValidityTimer;
  vhost = lws_create_vhost(ctx, &vinfo);
  if (!vhost) {
    std::string err = bind_error(opts.host, opts.port);
    state = State::kDestroying;
    detached = true;
    destroy_context_async(loop, lws_ctx, &gate, self, [this] { finish(); });
    return err;
  }
  if (std::string err = open_listener(); !err.empty()) {
    state = State::kDestroying;
    detached = true;
    destroy_context_async(loop, lws_ctx, &gate, self, [this] { finish(); });
    return err;
  }
  state = State::kListening;
  return std::string();
}

std::string ServerImpl::open_listener() {
  const std::string& host = opts.host;
  const bool v6 = host.empty() || host.find(':') != std::string::npos;  // "" = every interface, dual stack
  int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return bind_error(host, opts.port);
  int one = 1, zero = 0;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  int rc;
  if (v6) {
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
    sockaddr_in6 a{};
    a.sin6_family = AF_INET6;
    a.sin6_port = htons(static_cast<uint16_t>(opts.port));
    a.sin6_addr = in6addr_any;
    rc = host.empty() || inet_pton(AF_INET6, host.c_str(), &a.sin6_addr) == 1
             ? bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a))
             : -1;
  } else {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(opts.port));
    rc = inet_pton(AF_INET, host.c_str(), &a.sin_addr) == 1 ? bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a))
                                                             : -1;
  }
  if (rc != 0 || ::listen(fd, SOMAXCONN) != 0) {
    ::close(fd);
    return bind_error(host, opts.port);
  }
  sockaddr_storage bound{};
  socklen_t bl = sizeof(bound);
  getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &bl);
  bound_port = ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                                 : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  listen_fd = fd;
  listen_poll = new uv_poll_t;
  uv_poll_init(loop, listen_poll, fd);
  listen_poll->data = this;
  uv_poll_start(listen_poll, UV_READABLE, [](uv_poll_t* h, int, int) {
    if (h->data) static_cast<ServerImpl*>(h->data)->on_listen_readable();
  });
  accepting = true;
  return std::string();
}

void ServerImpl::on_listen_readable() {
  for (int i = 0; i < kAcceptBatch && listen_fd >= 0; ++i) {
    if (handshaking.size() >= kMaxHandshaking) {
      // Sockets that have not sent their request for a while (slow, or
      // slowloris) stop counting: they must not keep everyone else out.
      const uint64_t now = uv_now(loop);
      for (auto it = handshaking.begin(); it != handshaking.end();) {
        it = now - it->second >= kHandshakeCountMs ? handshaking.erase(it) : std::next(it);
      }
    }
    if (handshaking.size() >= kMaxHandshaking) {
      pause_accepting();  // the rest waits in the kernel's accept queue
      return;
    }
    int fd = accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      // Out of descriptors: try again when a socket goes away, or shortly.
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) pause_accepting();
      return;  // EAGAIN: drained
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    lws* wsi = lws_adopt_socket_vhost(vhost, fd);  // closes fd when it fails
    if (wsi) handshaking[wsi] = uv_now(loop);
  }
}

void ServerImpl::pause_accepting() {
  if (!accepting || !listen_poll) return;
  uv_poll_stop(listen_poll);
  accepting = false;
  if (!accept_timer) accept_timer = Timer::create(loop);
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

// Every upgrade, HTTP request and destroyed wsi: one fewer socket in its
// handshake, or one descriptor more.
void ServerImpl::handshake_done(lws* wsi) {
  handshaking.erase(wsi);
  if (!accepting && handshaking.size() <= kMaxHandshaking / 2) resume_accepting();
}

void ServerImpl::close_listener() {
  if (accept_timer) {
    accept_timer->stop();
    accept_timer->close();
    accept_timer = nullptr;
  }
  if (!listen_poll) return;
  uv_poll_stop(listen_poll);
  auto* fd = new int(listen_fd);
  uv_handle_set_data(reinterpret_cast<uv_handle_t*>(listen_poll), fd);
  uv_close(reinterpret_cast<uv_handle_t*>(listen_poll), [](uv_handle_t* h) {
    auto* f = static_cast<int*>(uv_handle_get_data(h));
    ::close(*f);
    delete f;
    delete reinterpret_cast<uv_poll_t*>(h);
  });
  listen_poll = nullptr;
  listen_fd = -1;
  accepting = false;
  handshaking.clear();
}

bool ServerImpl::send(uint64_t id, std::string text) {
  auto it = conns.find(id);
  if (it == conns.end()) return false;
  Session* s = it->second;
  if (s->ws.close_requested) return false;
  if (s->ws.queued_bytes + text.size() > opts.max_queued_bytes) {
    // A peer that does not read: stop producing for it, free what it would
    // have been sent and drop the socket (a close frame could not reach it).
    s->ws.outq.clear();
    s->ws.queued_bytes = 0;
    s->ws.close_requested = true;
    s->ws.close_started = true;
    s->ws.close_code = kCloseSlowReader;
    s->ws.close_reason = "outgoing queue over the limit";
    lws_set_timeout(s->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
    return false;
  }
  s->ws.queued_bytes += text.size();
  s->ws.outq.push_back(make_frame(std::move(text)));
  lws_callback_on_writable(s->wsi);
  return true;
}

void ServerImpl::close(uint64_t id, int code, std::string reason) {
  auto it = conns.find(id);
  if (it == conns.end()) return;
  Session* s = it->second;
  if (s->ws.close_requested) return;
  s->ws.close_requested = true;
  s->ws.close_code = sendable_close_code(code);
  s->ws.close_reason = std::move(reason);
  lws_callback_on_writable(s->wsi);
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
        for (auto& d : list) post(loop, std::move(d));
      } else {
        for (auto& d : list) d();  // never listened: there is no loop to run it on
      }
      return;
    }
    case State::kShuttingDown:
    case State::kDestroying:
      return;  // done runs when the destruction in progress ends
    case State::kListening:
      break;
  }
  state = State::kShuttingDown;
  std::vector<uint64_t> ids;
  ids.reserve(conns.size());
  for (auto& kv : conns) ids.push_back(kv.first);
  for (uint64_t id : ids) close(id, 1001, "server shutdown");
  grace_timer = Timer::create(loop);
  uint64_t grace =
      shutdown_can_proceed() ? 0 : static_cast<uint64_t>(std::max(0, opts.shutdown_grace_ms));
  grace_timer->start(grace, 0, [this] { begin_destroy(); });
}

void ServerImpl::begin_destroy() {
  if (state != State::kShuttingDown) return;
  state = State::kDestroying;
  close_listener();
  if (grace_timer) {
    grace_timer->close();
    grace_timer = nullptr;
  }
  std::shared_ptr<ServerImpl> keep = self;
  destroy_context_async(loop, lws_ctx, &gate, keep, [this] { finish(); });
}

void ServerImpl::finish() {
  // Runs inside the destroy timer's close callback, with `self` still set.
  state = State::kDead;
  ctx = nullptr;
  vhost = nullptr;
  auto list = std::move(done_list);
  done_list.clear();
  auto keep = std::move(self);  // freed when this returns, unless the owner holds it
  for (auto& d : list) guard(d);
}

int ServerImpl::refuse_upgrade(lws* wsi, int status) {
  if (status < 400 || status > 599) status = 403;
  std::string body = std::string(status_text(status)) + "\n";
  unsigned char buf[LWS_PRE + 1024];
  unsigned char* start = buf + LWS_PRE;
  unsigned char* p = start;
  unsigned char* end = buf + sizeof(buf) - 1;
  if (lws_add_http_common_headers(wsi, static_cast<unsigned>(status), "text/plain",
                                  body.size(), &p, end) ||
      lws_finalize_http_header(wsi, &p, end))
    return -1;
  if (static_cast<size_t>(end - p) < body.size()) return -1;
  std::memcpy(p, body.data(), body.size());
  p += body.size();
  // A short response on a fresh socket: lws_write sends it now or keeps the
  // rest in its own buffer; lws_return_http_status does the same here.
  int n = static_cast<int>(p - start);
  if (lws_write(wsi, start, static_cast<size_t>(n), LWS_WRITE_HTTP) != n) return -1;
  return 1;  // "headers sent": lws completes the HTTP transaction, no upgrade
}

int ServerImpl::handle_confirm_upgrade(lws* wsi, const char* upgrade) {
  if (state != State::kListening) return refuse_upgrade(wsi, 503);
  if (!upgrade || strcasecmp(upgrade, "websocket") != 0) return refuse_upgrade(wsi, 400);
  Handshake hs;
  hs.path = header_string(wsi, WSI_TOKEN_GET_URI);
  if (hs.path != opts.ws_path) return refuse_upgrade(wsi, 404);
  hs.query = query_string(wsi);
  hs.origin = header_string(wsi, WSI_TOKEN_ORIGIN);
  hs.peer_ip = peer_ip_of(wsi);
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
  if (status != 0) return refuse_upgrade(wsi, status);
  Session* s = ensure_session(wsi);
  if (s->req_id) end_request(s);
  s->is_ws = true;
  s->token = token;
  s->peer_ip = std::move(hs.peer_ip);
  return 0;
}

void ServerImpl::report_close(Session* s) {
  if (!s->conn_id || s->ws.reported) return;
  s->ws.reported = true;
  conns.erase(s->conn_id);
  uint64_t id = s->conn_id;
  int code = s->ws.final_code();
  gate.run([this, id, code] {
    if (cb.on_close && !detached) guard([&] { cb.on_close(id, code); });
  });
  maybe_proceed_shutdown();
}

int ServerImpl::handle_http(lws* wsi, const char* uri) {
  Session* s = ensure_session(wsi);
  end_request(s);
  s->is_ws = false;
  s->req_id = ++next_req_id;
  http[s->req_id] = s;
  HttpRequest& r = s->req;
  static const struct {
    lws_token_indexes tok;
    const char* name;
  } kMethods[] = {
      {WSI_TOKEN_GET_URI, "GET"},         {WSI_TOKEN_POST_URI, "POST"},
      {WSI_TOKEN_PUT_URI, "PUT"},         {WSI_TOKEN_PATCH_URI, "PATCH"},
      {WSI_TOKEN_DELETE_URI, "DELETE"},   {WSI_TOKEN_OPTIONS_URI, "OPTIONS"},
      {WSI_TOKEN_HEAD_URI, "HEAD"},
  };
  for (const auto& m : kMethods) {
    if (lws_hdr_total_length(wsi, m.tok) > 0) {
      r.method = m.name;
      r.path = header_string(wsi, m.tok);
      break;
    }
  }
  if (r.path.empty() && uri) r.path = uri;
  s->is_head = r.method == "HEAD";
  r.query = query_string(wsi);
  r.peer_ip = peer_ip_of(wsi);
  for (int t = 0; t < static_cast<int>(WSI_TOKEN_COUNT); t++) {
    auto tok = static_cast<lws_token_indexes>(t);
    const unsigned char* name = lws_token_to_string(tok);
    if (!name) continue;
    size_t nl = std::strlen(reinterpret_cast<const char*>(name));
    // Header tokens are spelled "name:"; methods ("get ") and pseudo
    // headers (":path") are not headers.
    if (nl < 2 || name[0] == ':' || name[nl - 1] != ':') continue;
    if (lws_hdr_total_length(wsi, tok) <= 0) continue;
    r.headers[std::string(reinterpret_cast<const char*>(name), nl - 1)] = header_string(wsi, tok);
  }

  if (state != State::kListening) {
    set_response(s, HttpResponse{503, "text/plain", "Service Unavailable\n"}, true);
    return 0;
  }
  // RFC 9112 6.3: a Content-Length that is not one plain decimal number
  // ("5x", or "5,6" when lws joined two headers), or one sent together with
  // Transfer-Encoding, is a framing error: 400 and close (request smuggling
  // behind a proxy otherwise).
  std::string cl = header_string(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH);
  const bool has_cl = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0;
  const bool has_te = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0;
  if ((has_cl && (cl.empty() || cl.size() > 18 ||
                  cl.find_first_not_of("0123456789") != std::string::npos)) ||
      (has_cl && has_te) || lws_hdr_fragment_length(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH, 1) > 0) {
    set_response(s, HttpResponse{400, "text/plain", "Bad Request\n"}, true);
    return 0;
  }
  unsigned long long content_length = cl.empty() ? 0 : std::strtoull(cl.c_str(), nullptr, 10);
  if (content_length > opts.max_http_body_bytes) {
    set_response(s, HttpResponse{413, "text/plain", "Payload Too Large\n"}, true);
    return 0;
  }
  if (content_length == 0 && lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0) {
    set_response(s, HttpResponse{411, "text/plain", "Length Required\n"}, true);
    return 0;
  }
  if (content_length > 0) {
    s->awaiting_body = true;
    r.body.reserve(static_cast<size_t>(content_length));
    return 0;
  }
  dispatch_http(s);
  return 0;
}

void ServerImpl::dispatch_http(Session* s) {
  if (s->dispatched) return;
  s->dispatched = true;
  s->awaiting_body = false;
  // One request per connection: every response says Connection: close and
  // the socket closes once it is written (set_response), so lws never goes
  // back to keep-alive. lws 4.1.6 parses a pipelined request from its buffer
  // list in lws_http_transaction_completed(), and for one with a body
  // lws_http_action() then loops forever over that list (server.c,
  // "while (1) ... lws_buflist_next_segment_len"): the loop thread spun there.
  // An async handler may take a while; lws's own HTTP timeouts are short.
  lws_set_timeout(s->wsi, PENDING_TIMEOUT_USER_OK, kHttpResponseTimeoutS);
  if (!cb.on_http || detached) {
    set_response(s, HttpResponse{404, "text/plain", "Not Found\n"}, false);
    return;
  }
  std::weak_ptr<ServerImpl> weak = shared_from_this();
  uint64_t id = s->req_id;
  HttpResponder responder = [weak, id](HttpResponse resp) {
    if (auto impl = weak.lock()) impl->respond(id, std::move(resp));
  };
  HttpRequest req = std::move(s->req);
  s->req = HttpRequest();
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
  Session* s = it->second;
  if (s->have_response) return;
  set_response(s, std::move(r), false);
}

void ServerImpl::set_response(Session* s, HttpResponse r, bool /*close_after*/) {
  s->have_response = true;
  s->close_after = true;  // always: see dispatch_http
  s->resp = std::move(r);
  if (s->resp.status < 100 || s->resp.status > 999) s->resp.status = 500;
  s->out.clear();
  s->out.reserve(LWS_PRE + s->resp.body.size());
  s->out.append(LWS_PRE, '\0');
  s->out.append(s->resp.body);
  s->resp.body.clear();
  s->out_off = LWS_PRE;
  lws_callback_on_writable(s->wsi);
}

int ServerImpl::http_writable(lws* wsi, Session* s) {
  if (!s->have_response) return 0;
  bool head = s->is_head;
  size_t body_len = s->out.size() - LWS_PRE;
  if (!s->headers_sent) {
    unsigned char buf[LWS_PRE + 2048];
    unsigned char* start = buf + LWS_PRE;
    unsigned char* p = start;
    unsigned char* end = buf + sizeof(buf) - 1;
    const char* ctype = s->resp.content_type.empty() ? nullptr : s->resp.content_type.c_str();
    if (lws_add_http_common_headers(wsi, static_cast<unsigned>(s->resp.status), ctype,
                                    body_len, &p, end))
      return -1;
    if (lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CACHE_CONTROL,
                                     reinterpret_cast<const unsigned char*>("no-store"), 8, &p,
                                     end))
      return -1;
    if (s->close_after &&
        lws_add_http_header_by_token(wsi, WSI_TOKEN_CONNECTION,
                                     reinterpret_cast<const unsigned char*>("close"), 5, &p, end))
      return -1;
    if (lws_finalize_write_http_header(wsi, start, &p, end)) return -1;
    s->headers_sent = true;
    if (body_len && !head) {
      lws_callback_on_writable(wsi);
      return 0;
    }
  } else {
    size_t left = s->out.size() - s->out_off;
    size_t n = std::min(left, kHttpWriteChunk);
    bool last = n == left;
    // h1 writes need no headroom; the bytes before out_off were already sent.
    int m = lws_write(wsi, reinterpret_cast<unsigned char*>(&s->out[s->out_off]), n,
                      last ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP);
    if (m < static_cast<int>(n)) return -1;
    s->out_off += n;
    if (!last) {
      lws_callback_on_writable(wsi);
      return 0;
    }
  }
  bool close_after = s->close_after;
  end_request(s);
  if (close_after) return -1;
  return lws_http_transaction_completed(wsi) ? -1 : 0;
}

int ServerImpl::callback(lws* wsi, lws_callback_reasons reason, void* user, void* in,
                         size_t len) {
  lws_context* cx = wsi ? lws_get_context(wsi) : nullptr;
  auto* impl = cx ? static_cast<ServerImpl*>(lws_context_user(cx)) : nullptr;
  if (!impl) return 0;
  try {
    return impl->on_callback(wsi, reason, in, len);
  } catch (...) {
    report_exception(impl->cb.on_exception, std::current_exception());
    return -1;  // our own failure (e.g. bad_alloc): drop this connection
  }
}

int ServerImpl::on_callback(lws* wsi, lws_callback_reasons reason, void* in, size_t len) {
  switch (reason) {
    case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
      return handle_confirm_upgrade(wsi, static_cast<const char*>(in));

    case LWS_CALLBACK_ESTABLISHED: {
      handshake_done(wsi);
      Session* s = ensure_session(wsi);
      s->is_ws = true;
      if (state != State::kListening) {  // upgraded just as shutdown began
        s->ws.close_requested = true;
        s->ws.close_code = 1001;
        s->ws.close_reason = "server shutdown";
        ws_start_close(wsi, &s->ws);
        return 0;
      }
      s->conn_id = ++next_conn_id;
      if (s->peer_ip.empty()) s->peer_ip = peer_ip_of(wsi);
      conns[s->conn_id] = s;
      if (cb.on_open && !detached)
        guard([&] { cb.on_open(s->conn_id, s->token, s->peer_ip); });
      return 0;
    }

    case LWS_CALLBACK_RECEIVE: {
      Session* s = session_of(wsi);
      if (!s || !s->conn_id) return -1;
      switch (ws_receive(wsi, &s->ws, in, len, opts.max_frame_bytes)) {
        case RxResult::kPartial:
          return 0;
        case RxResult::kClose:  // after what is already queued, like close()
          lws_callback_on_writable(wsi);
          return 0;
        case RxResult::kMessage: {
          std::string msg;
          msg.swap(s->ws.rx);
          if (cb.on_message && !detached)
            guard([&] { cb.on_message(s->conn_id, std::string_view(msg)); });
          return 0;
        }
      }
      return 0;
    }

    case LWS_CALLBACK_SERVER_WRITEABLE: {
      Session* s = session_of(wsi);
      if (!s || !s->conn_id) return 0;
      return ws_writable(wsi, &s->ws);
    }

    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE: {
      Session* s = session_of(wsi);
      if (s && !s->ws.close_code) s->ws.peer_code = peer_close_code(in, len);
      return 0;  // lws echoes the close frame
    }

    case LWS_CALLBACK_CLOSED: {
      Session* s = session_of(wsi);
      if (s) report_close(s);
      return 0;
    }

    case LWS_CALLBACK_HTTP:
      handshake_done(wsi);
      return handle_http(wsi, static_cast<const char*>(in));

    case LWS_CALLBACK_HTTP_BODY: {
      Session* s = session_of(wsi);
      if (!s || !s->awaiting_body) return 0;
      if (s->req.body.size() + len > opts.max_http_body_bytes) {
        s->awaiting_body = false;
        set_response(s, HttpResponse{413, "text/plain", "Payload Too Large\n"}, true);
        return 0;
      }
      s->req.body.append(static_cast<const char*>(in), len);
      return 0;
    }

    case LWS_CALLBACK_HTTP_BODY_COMPLETION: {
      Session* s = session_of(wsi);
      if (s && s->awaiting_body) dispatch_http(s);
      return 0;
    }

    case LWS_CALLBACK_HTTP_WRITEABLE: {
      Session* s = session_of(wsi);
      if (!s) return 0;
      return http_writable(wsi, s);
    }

    case LWS_CALLBACK_CLOSED_HTTP: {
      Session* s = session_of(wsi);
      if (s && s->req_id) end_request(s);
      return 0;
    }

    case LWS_CALLBACK_WSI_DESTROY: {
      handshake_done(wsi);
      Session* s = session_of(wsi);
      if (!s) return 0;
      lws_set_opaque_user_data(wsi, nullptr);
      report_close(s);  // normally done in CLOSED already
      if (s->req_id) http.erase(s->req_id);
      delete s;
      return 0;
    }

    default:
      return 0;
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

bool WsServer::send(uint64_t conn_id, std::string text) {
  return impl_->send(conn_id, std::move(text));
}

void WsServer::close(uint64_t conn_id, int code, std::string reason) {
  impl_->close(conn_id, code, std::move(reason));
}

void WsServer::shutdown(std::function<void()> done) { impl_->shutdown(std::move(done)); }

size_t WsServer::connection_count() const { return impl_->conns.size(); }

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
    try {
      f();
    } catch (...) {
      report_exception(cb.on_exception, std::current_exception());
    }
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
