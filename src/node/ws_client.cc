// WsClient: chatwire's own WebSocket client (RFC 6455) on Node's libuv loop,
// ws:// over uv_tcp and wss:// through OpenSSL with memory BIOs. See
// transport.h for the interface; the bytes-on-the-wire rules (response head,
// Sec-WebSocket-Accept, frames) are wire.h's, shared with the server.
//
// Why not libwebsockets (it was, until 0.2): the addon must ship prebuilt
// with nothing from the system beyond glibc, libstdc++ and OpenSSL 3
// (docs/packaging.md), and lws 4.1.6 on Node's loop needed a workaround per
// use: its evlib_uv plugin dlopens Debian's libuv.so.1 (which had to be
// pinned so that unloading it never tore down Node's libuv), contexts had to
// be destroyed in two phases polled from a timer, its event-pipe eventfd was
// closed twice (an fd parked on /dev/null in between), its own connect
// timeout leaked a uv_poll handle on Node's loop, and closing with a code
// went through a debug-build path that dropped the close frame.
//
// Theory of operation
// - One ClientConn per open(): resolve (uv_getaddrinfo; a numeric address
//   skips it) -> TCP connect, each address in turn -> TLS handshake (wss) ->
//   upgrade request -> the 101 answer checked (check_upgrade_response) ->
//   open: frames (FrameReader in server-frame mode) until the close.
// - The whole attempt, up to the 101, is bounded by kConnectTimeoutMs.
// - Every frame we send is masked with 4 fresh bytes of getrandom(2); the
//   Sec-WebSocket-Key is 16 of them.
// - Close: close() sends our close frame, drops later data frames, and waits
//   up to kCloseTimeoutMs for the server's; a server's close is answered
//   with the same code at once. Then the socket is shut down (what is
//   queued is written first) and input dropped until the server's FIN (at
//   most kLingerMs), then closed. A protocol error in the server's frames
//   (FrameReader's kError) sends that code and ends the same way.
// - wss://: the server certificate is verified against the system CAs
//   (OpenSSL's default paths, SSL_CERT_FILE / SSL_CERT_DIR if set, and the
//   Debian / Fedora bundle files) and the URL's host (SNI set for names).
// - A refused TLS handshake or a malformed or wrong 101 answer is printed to
//   stderr in one line (the client then reports 1006, like a network error);
//   a non-101 status is reported as http_status, not printed.
// - A ClientConn is freed when its uv handles and requests are done (`self`
//   holds it until then), so on_close may open() a new one at once; the
//   owner counts them for shutdown()'s `done`.
#include "transport.h"
#include "transport_util.h"
#include "wire.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/random.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "core/media/base64.h"

namespace chatwire::node {
namespace {

using util::post;
using util::sendable_close_code;
using util::Timer;

constexpr uint64_t kConnectTimeoutMs = 10000;  // resolve + TCP + TLS + upgrade
constexpr uint64_t kCloseTimeoutMs = 5000;     // close(): wait for the server's close frame
constexpr uint64_t kShutdownGraceMs = 500;     // shutdown(): the same, shorter
constexpr uint64_t kLingerMs = 1000;           // after our FIN, waiting for the server's
constexpr size_t kMaxResponseHeadBytes = 16 * 1024;
constexpr size_t kReadBufBytes = 16 * 1024;  // per connection, while connected

// getrandom(2), as SystemEntropy (entropy.h) does, without the core's interface.
void random_bytes(uint8_t* out, size_t n) {
  while (n > 0) {
    const ssize_t got = getrandom(out, n, 0);
    if (got < 0) {
      if (errno == EINTR) continue;
      std::abort();  // no randomness: masks and keys would be predictable
    }
    out += got;
    n -= static_cast<size_t>(got);
  }
}

// The process's client TLS context, made once: TLS 1.2 or newer, peer
// verification on, the system CAs. nullptr (and why) if OpenSSL fails.
SSL_CTX* tls_context(std::string* why) {
  static std::once_flag once;
  static SSL_CTX* ctx = nullptr;
  static std::string error;
  std::call_once(once, [] {
    SSL_CTX* c = SSL_CTX_new(TLS_client_method());
    if (!c) {
      error = "SSL_CTX_new failed";
      return;
    }
    SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION);
    SSL_CTX_set_verify(c, SSL_VERIFY_PEER, nullptr);
    SSL_CTX_set_default_verify_paths(c);
    // The OpenSSL this runs with may be Node's own, built with another
    // OPENSSLDIR than the system's: also load the distribution's bundle,
    // unless SSL_CERT_FILE names one.
    if (!std::getenv("SSL_CERT_FILE")) {
      for (const char* f : {"/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt"}) {
        if (access(f, R_OK) == 0 && SSL_CTX_load_verify_locations(c, f, nullptr) == 1) break;
      }
    }
    ERR_clear_error();
    ctx = c;
  });
  if (!ctx) *why = error;
  return ctx;
}

struct Url {
  bool tls = false;
  std::string host;         // without brackets
  int port = 0;
  std::string host_header;  // host[:port], brackets for IPv6
  std::string target;       // path?query, never empty
};

// ws://host[:port][/path][?query] or wss://...; host may be [v6].
std::string parse_url(const std::string& url, Url* u) {
  size_t p;
  if (url.rfind("ws://", 0) == 0) {
    u->tls = false;
    p = 5;
  } else if (url.rfind("wss://", 0) == 0) {
    u->tls = true;
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
  for (unsigned char c : rest)
    if (c <= 0x20 || c >= 0x7f) return "url has a space or a control character in its path";
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
  for (unsigned char c : host)
    if (c <= 0x20 || c >= 0x7f) return "bad host in url";
  int port = u->tls ? 443 : 80;
  if (!port_text.empty()) {
    char* end = nullptr;
    long v = std::strtol(port_text.c_str(), &end, 10);
    if (*end || v <= 0 || v > 65535) return "bad port in url";
    port = static_cast<int>(v);
  }
  u->host = host;
  u->port = port;
  bool default_port = port == (u->tls ? 443 : 80);
  std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  u->host_header = default_port ? h : h + ":" + std::to_string(port);
  u->target = rest;
  return std::string();
}

// A numeric IPv4/IPv6 address, without a lookup.
bool numeric_address(const std::string& host, int port, sockaddr_storage* out) {
  std::memset(out, 0, sizeof(*out));
  if (uv_ip4_addr(host.c_str(), port, reinterpret_cast<sockaddr_in*>(out)) == 0) return true;
  return uv_ip6_addr(host.c_str(), port, reinterpret_cast<sockaddr_in6*>(out)) == 0;
}

struct WriteReq {
  uv_write_t req;
  std::string data;
};

}  // namespace

namespace detail {

struct ClientConn;

struct ClientImpl : std::enable_shared_from_this<ClientImpl> {
  WsClient::Callbacks cb;
  bool detached = false;  // the WsClient is gone: no callback any more
  bool shut = false;
  uv_loop_t* loop = nullptr;
  std::shared_ptr<ClientConn> conn;  // the current connection, if any
  int conns_alive = 0;               // current + ones still closing their handles
  std::vector<std::function<void()>> done_list;

  std::string open(uv_loop_t* l, const std::string& url, WsClient::Callbacks c, size_t max);
  bool send(std::string text);
  void close(int code, std::string reason);
  void shutdown(std::function<void()> done);
  void conn_gone();
  void maybe_done();
};

struct ClientConn : std::enable_shared_from_this<ClientConn> {
  enum class State { kResolving, kConnecting, kTls, kUpgrade, kOpen, kEnded };

  ClientConn(std::shared_ptr<ClientImpl> o, uv_loop_t* l, Url u, std::string full_url, size_t max)
      : owner(std::move(o)),
        loop(l),
        url(std::move(u)),
        url_text(std::move(full_url)),
        reader(max, wire::FrameReader::From::kServer) {}
  ~ClientConn() {
    if (ssl) SSL_free(ssl);
  }

  std::shared_ptr<ClientImpl> owner;
  std::shared_ptr<ClientConn> self;  // until every handle and request is done
  uv_loop_t* loop;
  Url url;
  std::string url_text;
  State state = State::kResolving;
  bool torn_down = false;
  int pending = 0;  // uv handles and requests of ours not yet called back

  uv_getaddrinfo_t gai{};
  bool gai_busy = false;
  std::vector<sockaddr_storage> addrs;
  size_t next_addr = 0;
  std::string connect_error;
  uv_tcp_t* tcp = nullptr;
  uv_connect_t creq{};
  std::unique_ptr<char[]> rbuf;
  Timer* deadline = nullptr;  // the attempt, then the close handshake
  Timer* linger = nullptr;

  SSL* ssl = nullptr;
  BIO* rbio = nullptr;  // network -> OpenSSL (owned by ssl)
  BIO* wbio = nullptr;  // OpenSSL -> network (owned by ssl)

  std::string key;   // Sec-WebSocket-Key
  std::string head;  // the answer's head, while it arrives
  wire::FrameReader reader;
  uint8_t pool[64];  // random bytes for masks
  size_t pool_left = 0;

  bool close_requested = false;  // close() before the connection opened
  bool close_sent = false;
  int close_code = 0;  // what we sent
  int peer_code = 0;   // the server's, when it closed first
  bool reported = false;
  bool defer_report = false;  // inside the owner's open() or close(): post on_close

  template <typename F>
  void guard(F&& f) {
    util::guarded(owner->cb.on_exception, std::forward<F>(f));
  }
  bool may_call() const { return owner && !owner->detached; }

  void start();
  void try_next_address();
  void connected();
  void start_tls();
  void tls_handshake();
  std::string tls_error();
  void send_upgrade();
  void on_bytes(const char* p, size_t n);
  void on_plain(const char* p, size_t n);
  void on_head();
  void on_frames(const char* p, size_t n);
  void on_eof();
  void write_out(std::string bytes);
  void write_raw(std::string bytes);
  void flush_tls();
  void send_frame(uint8_t opcode, std::string_view payload);
  void send_close(int code, std::string_view reason);
  void start_close(int code, std::string reason, uint64_t wait_ms);
  void fail(const std::string& why, bool print);
  void ended(int code, int http_status);
  void teardown(bool graceful);
  void close_tcp();
  void stop_timers();
  void done_one();
  void maybe_free();
  int final_code() const {
    if (close_code) return close_code;
    if (peer_code) return peer_code;
    return 1006;
  }
};

// ---------------------------------------------------------------------------
// Connecting

void ClientConn::start() {
  sockaddr_storage ss;
  deadline = Timer::create(loop);
  deadline->start(kConnectTimeoutMs, 0, [this] { fail("timed out", false); });
  if (numeric_address(url.host, url.port, &ss)) {
    addrs.push_back(ss);
    try_next_address();
    return;
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  gai.data = this;
  int r = uv_getaddrinfo(
      loop, &gai,
      [](uv_getaddrinfo_t* req, int status, addrinfo* res) {
        auto* c = static_cast<ClientConn*>(req->data);
        c->gai_busy = false;
        for (addrinfo* a = res; a; a = a->ai_next) {
          sockaddr_storage s{};
          std::memcpy(&s, a->ai_addr, std::min<size_t>(a->ai_addrlen, sizeof(s)));
          c->addrs.push_back(s);
        }
        if (res) uv_freeaddrinfo(res);
        if (c->state == State::kResolving) {
          if (status < 0) {
            c->fail(std::string("cannot resolve ") + c->url.host + ": " + uv_strerror(status), false);
          } else {
            c->state = State::kConnecting;
            c->try_next_address();
          }
        }
        c->done_one();
      },
      url.host.c_str(), std::to_string(url.port).c_str(), &hints);
  if (r < 0) {
    fail(std::string("cannot resolve ") + url.host + ": " + uv_strerror(r), false);
    return;
  }
  gai_busy = true;
  pending++;
}

void ClientConn::try_next_address() {
  state = State::kConnecting;
  while (next_addr < addrs.size()) {
    const sockaddr* sa = reinterpret_cast<const sockaddr*>(&addrs[next_addr++]);
    tcp = new uv_tcp_t;
    uv_tcp_init(loop, tcp);
    tcp->data = this;
    pending++;
    uv_tcp_nodelay(tcp, 1);
    creq.data = this;
    int r = uv_tcp_connect(&creq, tcp, sa, [](uv_connect_t* req, int status) {
      auto* c = static_cast<ClientConn*>(req->data);
      // Abandoned (the handle is closing): nothing to do, close_tcp's callback counts it.
      if (c->state != State::kConnecting || req->handle != reinterpret_cast<uv_stream_t*>(c->tcp)) return;
      if (status < 0) {
        c->connect_error = uv_strerror(status);
        c->close_tcp();
        c->try_next_address();
        return;
      }
      c->connected();
    });
    if (r == 0) return;
    connect_error = uv_strerror(r);
    close_tcp();
  }
  fail("cannot connect to " + url.host_header + ": " + (connect_error.empty() ? "no address" : connect_error),
       false);
}

void ClientConn::connected() {
  rbuf.reset(new char[kReadBufBytes]);
  uv_read_start(
      reinterpret_cast<uv_stream_t*>(tcp),
      [](uv_handle_t* h, size_t, uv_buf_t* buf) {
        auto* c = static_cast<ClientConn*>(h->data);
        *buf = uv_buf_init(c->rbuf.get(), kReadBufBytes);
      },
      [](uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
        auto* c = static_cast<ClientConn*>(s->data);
        std::shared_ptr<ClientConn> keep = c->self;  // callbacks may end it
        if (c->torn_down) {  // lingering (teardown): input is dropped until the server's FIN
          if (nread < 0) c->close_tcp();
          return;
        }
        if (nread < 0) {
          c->on_eof();
        } else if (nread > 0) {
          c->on_bytes(buf->base, static_cast<size_t>(nread));
        }
      });
  if (url.tls) {
    start_tls();
  } else {
    send_upgrade();
  }
}

void ClientConn::start_tls() {
  std::string why;
  SSL_CTX* ctx = tls_context(&why);
  if (!ctx) return fail("TLS: " + why, true);
  ssl = SSL_new(ctx);
  rbio = BIO_new(BIO_s_mem());
  wbio = BIO_new(BIO_s_mem());
  if (!ssl || !rbio || !wbio) {
    if (rbio) BIO_free(rbio);
    if (wbio) BIO_free(wbio);
    rbio = wbio = nullptr;
    return fail("TLS: out of memory", true);
  }
  SSL_set_bio(ssl, rbio, wbio);
  sockaddr_storage ss;
  if (numeric_address(url.host, 0, &ss)) {
    // An IP address: no SNI (RFC 6066 3), the certificate must name the address.
    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), url.host.c_str());
  } else {
    SSL_set_tlsext_host_name(ssl, url.host.c_str());
    SSL_set1_host(ssl, url.host.c_str());
  }
  SSL_set_connect_state(ssl);
  state = State::kTls;
  tls_handshake();
}

void ClientConn::tls_handshake() {
  int r = SSL_do_handshake(ssl);
  flush_tls();
  if (r == 1) return send_upgrade();
  int e = SSL_get_error(ssl, r);
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return;
  fail(tls_error(), true);
}

std::string ClientConn::tls_error() {
  long v = SSL_get_verify_result(ssl);
  std::string why;
  if (v != X509_V_OK) {
    why = std::string("certificate verify failed (") + X509_verify_cert_error_string(v) + ")";
  } else if (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof(buf));
    why = buf;
  } else {
    why = "the server closed the connection";
  }
  ERR_clear_error();
  return "TLS handshake with " + url.host_header + " failed: " + why;
}

void ClientConn::send_upgrade() {
  uint8_t k[16];
  random_bytes(k, sizeof(k));
  key = media::base64_encode(k, sizeof(k));
  state = State::kUpgrade;
  write_out("GET " + url.target + " HTTP/1.1\r\nHost: " + url.host_header +
            "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key +
            "\r\nSec-WebSocket-Version: 13\r\n\r\n");
}

// ---------------------------------------------------------------------------
// Input

void ClientConn::on_bytes(const char* p, size_t n) {
  if (state == State::kEnded) return;
  if (!ssl) return on_plain(p, n);
  BIO_write(rbio, p, static_cast<int>(n));
  if (state == State::kTls) tls_handshake();
  char buf[16 * 1024];
  while (state == State::kUpgrade || state == State::kOpen) {
    int r = SSL_read(ssl, buf, sizeof(buf));
    if (r > 0) {
      on_plain(buf, static_cast<size_t>(r));
      continue;
    }
    int e = SSL_get_error(ssl, r);
    if (e == SSL_ERROR_WANT_READ) break;
    if (e == SSL_ERROR_ZERO_RETURN) {
      on_eof();  // close_notify
    } else {
      ERR_clear_error();
      fail("TLS error from " + url.host_header, state != State::kOpen);
    }
    break;
  }
  if (state != State::kEnded) flush_tls();
}

void ClientConn::on_plain(const char* p, size_t n) {
  if (state == State::kOpen) return on_frames(p, n);
  if (state != State::kUpgrade) return;
  size_t from = head.size() >= 3 ? head.size() - 3 : 0;
  head.append(p, n);
  bool bare_lf = false;
  size_t end = wire::find_head_end(head, from, &bare_lf);
  if (bare_lf) return fail("refused the answer to the upgrade: a bare LF in its head", true);
  if (end == std::string::npos) {
    if (head.size() > kMaxResponseHeadBytes) fail("refused the answer to the upgrade: its head is too large", true);
    return;
  }
  std::string rest = head.substr(end);
  head.resize(end - 4);
  on_head();
  head.clear();
  head.shrink_to_fit();
  if (state == State::kOpen && !rest.empty()) on_frames(rest.data(), rest.size());
}

void ClientConn::on_head() {
  wire::ResponseHead h;
  std::string err = wire::parse_response_head(head, &h);
  if (!err.empty()) return fail("refused the answer to the upgrade: " + err, true);
  if (h.status != 101) {
    stop_timers();
    ended(1006, h.status);
    teardown(false);
    return;
  }
  err = wire::check_upgrade_response(h, key);
  if (!err.empty()) return fail("refused the answer to the upgrade: " + err, true);
  state = State::kOpen;
  stop_timers();
  if (may_call() && owner->cb.on_open) guard([&] { owner->cb.on_open(); });
}

void ClientConn::on_frames(const char* p, size_t n) {
  using Event = wire::FrameReader::Event;
  while (n > 0 && state == State::kOpen) {
    switch (reader.next(&p, &n)) {
      case Event::kNeedMore:
        break;
      case Event::kMessage: {
        std::string msg = reader.take_message();
        if (!close_sent && may_call() && owner->cb.on_message)
          guard([&] { owner->cb.on_message(std::string_view(msg)); });
        break;
      }
      case Event::kPing:
        if (!close_sent) send_frame(0xA, reader.control());
        break;
      case Event::kPong:
        break;
      case Event::kClose:
        if (!close_sent) {
          peer_code = reader.close_code();
          // Echo the code (RFC 6455 5.5.1); nothing when it sent none.
          if (peer_code == 1005) {
            send_frame(0x8, "");
            close_sent = true;
          } else {
            send_close(peer_code, "");
          }
        }
        ended(final_code(), 0);
        teardown(true);
        return;
      case Event::kError: {
        const int code = reader.error_code();
        if (!close_sent) send_close(code, reader.error_reason());
        close_code = code;
        ended(code, 0);
        teardown(true);
        return;
      }
    }
  }
}

void ClientConn::on_eof() {
  if (state == State::kEnded) return;
  if (state != State::kOpen) return fail("the server closed the connection during the upgrade", false);
  ended(final_code(), 0);
  teardown(false);
}

// ---------------------------------------------------------------------------
// Output

void ClientConn::write_out(std::string bytes) {
  if (!ssl) return write_raw(std::move(bytes));
  if (!bytes.empty()) SSL_write(ssl, bytes.data(), static_cast<int>(bytes.size()));  // a memory BIO takes all
  flush_tls();
}

void ClientConn::flush_tls() {
  std::string out;
  char buf[16 * 1024];
  int n;
  while ((n = BIO_read(wbio, buf, sizeof(buf))) > 0) out.append(buf, static_cast<size_t>(n));
  if (!out.empty()) write_raw(std::move(out));
}

void ClientConn::write_raw(std::string bytes) {
  if (!tcp || uv_is_closing(reinterpret_cast<uv_handle_t*>(tcp))) return;
  auto* w = new WriteReq{uv_write_t{}, std::move(bytes)};
  uv_buf_t buf = uv_buf_init(&w->data[0], static_cast<unsigned>(w->data.size()));
  // Completion (or cancellation, when the handle closes) frees it; a failed
  // write shows up as a read error.
  int r = uv_write(&w->req, reinterpret_cast<uv_stream_t*>(tcp), &buf, 1,
                   [](uv_write_t* req, int) { delete reinterpret_cast<WriteReq*>(req); });
  if (r < 0) delete w;
}

void ClientConn::send_frame(uint8_t opcode, std::string_view payload) {
  if (pool_left < 4) {
    random_bytes(pool, sizeof(pool));
    pool_left = sizeof(pool);
  }
  const uint8_t* mask = pool + sizeof(pool) - pool_left;
  pool_left -= 4;
  std::string f = wire::ws_header(opcode, payload.size(), mask);
  size_t at = f.size();
  f.append(payload);
  wire::mask_payload(&f[at], payload.size(), mask);
  write_out(std::move(f));
}

void ClientConn::send_close(int code, std::string_view reason) {
  const int c = sendable_close_code(code);
  size_t n = std::min<size_t>(reason.size(), 123);
  while (n > 0 && n < reason.size() && (static_cast<unsigned char>(reason[n]) & 0xC0) == 0x80) n--;  // whole characters
  std::string payload;
  payload.push_back(static_cast<char>(c >> 8));
  payload.push_back(static_cast<char>(c & 0xff));
  payload.append(reason.substr(0, n));
  send_frame(0x8, payload);
  close_sent = true;
}

// Our close: the frame, then up to wait_ms for the server's.
void ClientConn::start_close(int code, std::string reason, uint64_t wait_ms) {
  close_code = sendable_close_code(code);
  send_close(close_code, reason);
  reader.discard_data();
  if (!deadline) deadline = Timer::create(loop);
  deadline->start(wait_ms, 0, [this] {
    std::shared_ptr<ClientConn> keep = self;
    ended(final_code(), 0);
    teardown(false);
  });
}

// ---------------------------------------------------------------------------
// The end

void ClientConn::fail(const std::string& why, bool print) {
  if (state == State::kEnded) return;
  if (print) std::fprintf(stderr, "chatwire: WebSocket %s: %s\n", url_text.c_str(), why.c_str());
  std::shared_ptr<ClientConn> keep = self;
  stop_timers();
  ended(1006, 0);
  teardown(false);
}

// Reports once, and lets the owner open a new connection. Inside open() or
// close() (the caller's own call) the report is posted to the loop.
void ClientConn::ended(int code, int http_status) {
  if (reported) return;
  reported = true;
  state = State::kEnded;
  auto report = [this, code, http_status] {
    std::shared_ptr<ClientImpl> o = owner;
    if (o->conn.get() == this) o->conn.reset();
    if (may_call() && o->cb.on_close) guard([&] { o->cb.on_close(code, http_status); });
  };
  if (!defer_report) return report();
  pending++;
  post(loop, [keep = self, report] {
    report();
    keep->done_one();
  });
}

void ClientConn::stop_timers() {
  if (deadline) {
    deadline->close();
    deadline = nullptr;
  }
}

// Releases the socket: `graceful` shuts it down after what is queued and
// waits for the server's FIN (bounded by kLingerMs), else closes it now. The ClientConn is freed when
// its last handle or request is done.
void ClientConn::teardown(bool graceful) {
  if (torn_down) return;
  torn_down = true;
  state = State::kEnded;
  stop_timers();
  if (gai_busy) uv_cancel(reinterpret_cast<uv_req_t*>(&gai));
  if (tcp && graceful) {
    // Our FIN goes after what is queued (the close frame). Reading goes on,
    // dropping what comes, until the server's FIN: closing with unread input
    // would send a RST, and the server could lose our close frame with it.
    auto* sreq = new uv_shutdown_t;
    sreq->data = this;
    // Its callback runs when what is queued is written, or (cancelled) when
    // the handle closed first.
    int r = uv_shutdown(sreq, reinterpret_cast<uv_stream_t*>(tcp), [](uv_shutdown_t* req, int) {
      auto* c = static_cast<ClientConn*>(req->data);
      delete req;
      c->done_one();
    });
    if (r == 0) {
      pending++;
      linger = Timer::create(loop);
      linger->start(kLingerMs, 0, [this] { close_tcp(); });
      return;
    }
    delete sreq;
  }
  close_tcp();
  maybe_free();
}

void ClientConn::close_tcp() {
  if (!tcp) return;
  uv_tcp_t* t = tcp;
  tcp = nullptr;
  uv_close(reinterpret_cast<uv_handle_t*>(t), [](uv_handle_t* h) {
    auto* c = static_cast<ClientConn*>(h->data);
    delete reinterpret_cast<uv_tcp_t*>(h);
    c->done_one();
  });
}

void ClientConn::done_one() {
  pending--;
  maybe_free();
}

void ClientConn::maybe_free() {
  if (!torn_down || pending > 0 || !self) return;
  if (linger) {
    linger->close();
    linger = nullptr;
  }
  std::shared_ptr<ClientConn> me = std::move(self);  // may be the last reference
  std::shared_ptr<ClientImpl> o = std::move(owner);
  if (o->conn.get() == this) o->conn.reset();
  o->conn_gone();
}

// ---------------------------------------------------------------------------
// ClientImpl

std::string ClientImpl::open(uv_loop_t* l, const std::string& url, WsClient::Callbacks c, size_t max) {
  if (shut) return "client was shut down";
  if (conn) return "already open";
  if (!l) return "no event loop";
  Url u;
  std::string err = parse_url(url, &u);
  if (!err.empty()) return err;
  if (u.tls) {
    std::string why;
    if (!tls_context(&why)) return "TLS: " + why;
  }
  loop = l;
  cb = std::move(c);
  auto cn = std::make_shared<ClientConn>(shared_from_this(), l, std::move(u), url, max ? max : (16u << 20));
  cn->self = cn;
  conn = cn;
  conns_alive++;
  cn->defer_report = true;  // no callback inside open()
  cn->start();
  cn->defer_report = false;
  return std::string();
}

bool ClientImpl::send(std::string text) {
  if (!conn || conn->state != ClientConn::State::kOpen || conn->close_sent) return false;
  conn->send_frame(0x1, text);
  return true;
}

void ClientImpl::close(int code, std::string reason) {
  if (!conn) return;
  std::shared_ptr<ClientConn> c = conn;
  if (c->close_sent || c->close_requested || c->state == ClientConn::State::kEnded) return;
  if (c->state == ClientConn::State::kOpen) {
    c->start_close(code, std::move(reason), kCloseTimeoutMs);
    return;
  }
  // Not open yet: abandon the attempt.
  c->close_requested = true;
  c->defer_report = true;
  c->stop_timers();
  c->ended(1006, 0);
  c->teardown(false);
}

void ClientImpl::shutdown(std::function<void()> done) {
  if (done) done_list.push_back(std::move(done));
  shut = true;
  if (conn && conn->state == ClientConn::State::kOpen) {
    std::shared_ptr<ClientConn> c = conn;
    if (!c->close_sent) {
      c->start_close(1001, "going away", kShutdownGraceMs);
    } else if (c->deadline) {
      // close() came first: wait no longer than the shutdown grace
      c->deadline->start(kShutdownGraceMs, 0, [raw = c.get()] {
        std::shared_ptr<ClientConn> keep = raw->self;
        raw->ended(raw->final_code(), 0);
        raw->teardown(false);
      });
    }
  } else if (conn) {
    close(1001, "");  // connecting: abandon (on_close(1006, 0) follows)
  }
  maybe_done();
}

void ClientImpl::conn_gone() {
  conns_alive--;
  maybe_done();
}

void ClientImpl::maybe_done() {
  if (!shut || conns_alive > 0 || done_list.empty()) return;
  auto list = std::move(done_list);
  done_list.clear();
  if (loop) {
    for (auto& d : list) post(loop, std::move(d));
  } else {
    for (auto& d : list) d();  // never opened: no loop to run it on
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
