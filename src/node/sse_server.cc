// The HTTP fallback transport of the server (PROTOCOL.md "HTTP fallback
// transport"; endpoints and framing in docs/protocol.md), for networks that
// refuse the WebSocket upgrade:
//
//   GET  {ws_path}/sse?<the WebSocket's query>   -> 200 text/event-stream
//        event: open / data: {"stream":"<id>"}    the stream's id, first
//        data: <frame>                            one event per server frame
//        : keep-alive                             a comment every kSseCommentMs
//        event: close / data: {"code":N,"reason":"..."}   then the stream ends
//   POST {ws_path}/sse/<id>   body: client frames, one per line   -> 204
//   OPTIONS on both: the CORS preflight
//
// A stream is one connection to the hub, exactly like a WebSocket: the same
// handshake decision (on_handshake: Origin, per-IP, ticket), on_open,
// on_message for each POSTed frame, on_close with the close code; the hub
// cannot tell the two apart. The stream id (128 random bits) is what binds
// POSTs to their stream. The rules of a WebSocket frame hold for a POSTed
// one: at most max_frame_bytes (past it: 413 and the stream closes with 1009),
// UTF-8 (400, 1007). A POST for a stream that is unknown, closed or closing
// gets 404 {"error":"unknown_stream"}: the client reconnects.
#include <openssl/rand.h>

#include "../core/media/base64url.h"
#include "ws_server_impl.h"

namespace chatwire::node::detail {
namespace {

constexpr uint64_t kSseCommentMs = 10000;  // PROTOCOL.md: at least every 15 s

std::string new_stream_id() {
  unsigned char b[16];
  if (RAND_bytes(b, sizeof(b)) != 1) return std::string();
  return media::base64url_encode(std::string_view(reinterpret_cast<const char*>(b), sizeof(b)));
}

}  // namespace

std::string ServerImpl::cors_for(const std::string* origin) {
  if (!origin || origin->empty()) return std::string();
  if (cb.origin_allowed && !detached) {
    bool ok = false;
    guard([&] { ok = cb.origin_allowed(*origin); });
    if (!ok) return std::string();
  }
  return "Access-Control-Allow-Origin: " + *origin + "\r\nVary: Origin\r\n";
}

void ServerImpl::fallback_request(Conn* c, const std::string& method, std::string_view sub,
                                  const std::string& query, size_t length, std::string_view rest) {
  if (method == "OPTIONS") {
    if (c->cors.empty() && c->req.headers.count("origin")) {
      refuse(c, 403);
      return;
    }
    c->cors +=
        "Access-Control-Allow-Methods: GET, POST, OPTIONS\r\nAccess-Control-Allow-Headers: content-type\r\n"
        "Access-Control-Max-Age: 600\r\n";
    respond_to(c, HttpResponse{204, "", ""});
    return;
  }
  if (sub.empty() && method == "GET") {
    sse_open(c, query);
    return;
  }
  if (sub.size() > 1 && method == "POST" && sub.find('/', 1) == std::string_view::npos) {
    // A page of another origin gets 403 even with a valid stream id (the id
    // is the credential; the Origin check is a second lock, as for the GET).
    if (c->cors.empty() && c->req.headers.count("origin")) {
      refuse(c, 403);
      return;
    }
    if (length > opts.max_frame_bytes) {
      // As for a WebSocket frame over the limit: the stream closes with 1009.
      auto it = sse_streams.find(std::string(sub.substr(1)));
      if (it != sse_streams.end()) queue_close(it->second, 1009, "message too big");
      refuse(c, 413);
      return;
    }
    c->sse_post = true;
    c->stream_id.assign(sub.substr(1));
    c->body_need = length;
    c->phase = Phase::kBody;
    c->since_ms = uv_now(loop);
    c->deadline_ms = c->since_ms + kBodyMs;
    c->req.body.reserve(length);
    if (length == 0) {
      sse_post(c);
      return;
    }
    if (!rest.empty()) feed_body(c, rest.data(), rest.size());
    return;
  }
  refuse(c, sub.empty() || sub.size() == 1 ? 405 : 404,
         sub.empty() ? "Allow: GET, OPTIONS\r\n" : "Allow: POST, OPTIONS\r\n");
}

void ServerImpl::sse_open(Conn* c, const std::string& query) {
  Handshake hs;
  hs.path = opts.ws_path;
  hs.query = query;
  if (auto o = c->req.headers.find("origin"); o != c->req.headers.end()) hs.origin = o->second;
  hs.peer_ip = c->peer_ip;
  hs.transport = "http";
  uint64_t token = 0;
  int status = state != State::kListening ? 503 : decide_handshake(hs, &token);
  if (c->closing) return;
  std::string id = status ? std::string() : new_stream_id();
  if (!status && id.empty()) status = 500;
  if (status) {
    refuse(c, status);
    return;
  }
  c->req = HttpRequest();
  c->phase = Phase::kSse;
  c->since_ms = uv_now(loop);
  c->deadline_ms = 0;
  c->stream_id = id;
  sse_streams[id] = c;
  std::string head =
      "HTTP/1.1 200 OK\r\nServer: chatwire\r\nContent-Type: text/event-stream\r\n"
      "Cache-Control: no-cache, no-transform\r\nX-Accel-Buffering: no\r\nConnection: close\r\n";
  head += c->cors;
  head += "\r\n";
  push(c, Out{std::move(head), "event: open\ndata: {\"stream\":\"" + id + "\"}\n\n"});
  open_connection(c, token);
}

void ServerImpl::sse_post(Conn* c) {
  std::string body = std::move(c->req.body);
  c->req.body = std::string();
  auto it = sse_streams.find(c->stream_id);
  Conn* s = it == sse_streams.end() ? nullptr : it->second;
  if (!s || s->closing || s->close_queued || s->phase != Phase::kSse) {
    respond_to(c, HttpResponse{404, "application/json", "{\"error\":\"unknown_stream\"}"});
    return;
  }
  wire::Utf8Check u;
  if (!u.feed(reinterpret_cast<const unsigned char*>(body.data()), body.size()) || u.need) {
    queue_close(s, 1007, "invalid UTF-8");
    respond_to(c, HttpResponse{400, "application/json", "{\"error\":\"invalid_utf8\"}"});
    return;
  }
  // One frame per line; each goes to the hub as a WebSocket message would.
  const uint64_t conn_id = s->conn_id;
  size_t i = 0;
  while (i < body.size()) {
    size_t j = body.find('\n', i);
    if (j == std::string::npos) j = body.size();
    std::string_view line(body.data() + i, j - i);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    i = j + 1;
    if (line.empty()) continue;
    if (cb.on_message && !detached) guard([&] { cb.on_message(conn_id, line); });
    if (conns.find(conn_id) == conns.end()) break;  // the hub closed the stream
  }
  respond_to(c, HttpResponse{204, "", ""});
}

void ServerImpl::sse_keepalive(uint64_t now) {
  for (auto& kv : sse_streams) {
    Conn* s = kv.second;
    if (!s->closing && !s->close_queued && now - s->last_out_ms >= kSseCommentMs)
      push(s, Out{": keep-alive\n\n", {}});
  }
}

}  // namespace chatwire::node::detail
