// The HTTP side of the server transport: request heads (strict, see wire.h),
// bodies, responses and the WebSocket upgrade. See ws_server.cc.
#include <map>

#include "ws_server_impl.h"

namespace chatwire::node::detail {
namespace {

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
}  // namespace

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
  // The HTTP fallback transport (sse_server.cc, docs/protocol.md): its own
  // endpoints under ws_path, its own body limit (a frame's).
  const std::string fallback = opts.ws_path + "/sse";
  if (path == fallback || (path.size() > fallback.size() && path.compare(0, fallback.size() + 1, fallback + "/") == 0)) {
    c->cors = cors_for(field("origin"));
    c->req.headers = std::move(fields);
    fallback_request(c, h.method, std::string_view(path).substr(fallback.size()), query,
                     length > SIZE_MAX ? SIZE_MAX : static_cast<size_t>(length), rest);
    return;
  }
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
  if (c->sse_post) {
    sse_post(c);
    return;
  }
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

void ServerImpl::respond_to(Conn* c, HttpResponse r, const char* extra_headers) {
  if (c->closing) return;
  set_pending(c, false);
  if (r.status < 100 || r.status > 999) r.status = 500;
  c->phase = Phase::kHttpWrite;
  c->since_ms = uv_now(loop);
  c->deadline_ms = c->since_ms + kHttpWriteMs;
  std::string h = "HTTP/1.1 " + std::to_string(r.status) + " " + status_text(r.status) + "\r\n";
  h += "Server: chatwire\r\n";
  if (!r.content_type.empty()) h += "Content-Type: " + r.content_type + "\r\n";
  if (r.status != 204) h += "Content-Length: " + std::to_string(r.body.size()) + "\r\n";
  h += "Cache-Control: no-store\r\nConnection: close\r\n";
  h += c->cors;
  h += extra_headers;
  h += "\r\n";
  if (r.status == 204) r.body.clear();
  if (c->is_head) r.body.clear();
  push(c, Out{std::move(h), std::move(r.body)});
}

// Answers `status` with a short text body and closes; for errors found before
// a request is dispatched (and for refused upgrades).
void ServerImpl::refuse(Conn* c, int status, const char* extra_headers) {
  if (c->closing) return;
  set_pending(c, false);
  if (status < 400 || status > 599) status = 403;
  respond_to(c, HttpResponse{status, "text/plain", std::string(status_text(status)) + "\n"}, extra_headers);
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

// The application's accept/refuse decision for a WebSocket or an HTTP
// fallback stream: 0 or the HTTP status; a throw refuses with 500.
int ServerImpl::decide_handshake(const Handshake& hs, uint64_t* token) {
  if (!cb.on_handshake || detached) return 0;
  try {
    return cb.on_handshake(hs, token);
  } catch (...) {
    report_exception(cb.on_exception, std::current_exception());
    return 500;
  }
}

// An accepted WebSocket or fallback stream becomes one connection of the hub.
void ServerImpl::open_connection(Conn* c, uint64_t token) {
  c->token = token;
  c->conn_id = ++next_conn_id;
  c->opened = true;
  conns[c->conn_id] = c;
  if (cb.on_open && !detached) guard([&] { cb.on_open(c->conn_id, c->token, c->peer_ip); });
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
  const int status = decide_handshake(hs, &token);
  if (c->closing) return;
  if (status != 0) {
    refuse(c, status);
    return;
  }
  std::string resp =
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Accept: " +
      wire::ws_accept_key(*key) + "\r\n";
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
  open_connection(c, token);
  if (!rest.empty() && !c->closing) {
    std::string copy(rest);  // `rest` may live in a buffer the callback reuses
    ws_feed(c, copy.data(), copy.size());
  }
}

}  // namespace chatwire::node::detail
