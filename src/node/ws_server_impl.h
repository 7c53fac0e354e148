// Internal to the server transport: ServerImpl, shared by ws_server.cc
// (lifecycle, sockets, WebSocket, output) and http_server.cc (request heads,
// HTTP responses, the upgrade). See ws_server.cc for the theory of operation.
#ifndef CHATWIRE_NODE_WS_SERVER_IMPL_H_
#define CHATWIRE_NODE_WS_SERVER_IMPL_H_


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

#include "transport.h"
#include "transport_util.h"
#include "wire.h"

namespace chatwire::node::detail {

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

struct ServerImpl : std::enable_shared_from_this<ServerImpl> {
  enum class State { kIdle, kListening, kShuttingDown, kDestroying, kDead };

  struct Out {  // one frame or response: two buffers, written as they are
    std::string a, b;
  };

  struct Conn {
    enum class Phase { kHead, kBody, kHttpWait, kHttpWrite, kLinger, kWs, kSse };
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
    std::string cors;  // Access-Control-* header lines for the response, or ""
    // HTTP fallback (sse_server.cc)
    bool sse_post = false;     // a POST of frames for stream `stream_id`
    std::string stream_id;     // kSse: this stream's id; sse_post: the target
    uint64_t last_out_ms = 0;  // kSse: last write, for keep-alive comments
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
  std::unordered_map<std::string, Conn*> sse_streams;  // the HTTP fallback's open streams by id
  std::vector<Conn*> dirty;
  uint64_t next_conn_id = 0, next_req_id = 0;

  template <typename F>
  void guard(F&& f) {
    util::guarded(cb.on_exception, std::forward<F>(f));
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
  int decide_handshake(const Handshake& hs, uint64_t* token);
  void open_connection(Conn* c, uint64_t token);
  void respond_to(Conn* c, HttpResponse r, const char* extra_headers = "");
  void respond(uint64_t req_id, HttpResponse r);
  void refuse(Conn* c, int status, const char* extra_headers = "");
  void begin_linger(Conn* c);

  // --- HTTP fallback transport (sse_server.cc)
  void fallback_request(Conn* c, const std::string& method, std::string_view sub, const std::string& query,
                        size_t length, std::string_view rest);
  void sse_open(Conn* c, const std::string& query);
  void sse_post(Conn* c);
  void sse_keepalive(uint64_t now);
  std::string cors_for(const std::string* origin);

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

}  // namespace chatwire::node::detail

#endif  // CHATWIRE_NODE_WS_SERVER_IMPL_H_
