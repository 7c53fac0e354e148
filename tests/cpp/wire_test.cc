// The transports' wire rules (src/node/wire.h): strict HTTP/1.1 request and
// response heads, the upgrade's accept check, and the WebSocket frame reader
// for both ends, over every split of the input.
#include "node/wire.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace wire = chatwire::node::wire;
using Event = wire::FrameReader::Event;

namespace {

int parse(const std::string& head) {
  wire::RequestHead h;
  return wire::parse_request_head(head, &h);
}

TEST(WireHead, AcceptsAPlainRequest) {
  wire::RequestHead h;
  ASSERT_EQ(wire::parse_request_head("GET /a?b=c HTTP/1.1\r\nHost: x\r\nX-Y:  v v \t", &h), 0);
  EXPECT_EQ(h.method, "GET");
  EXPECT_EQ(h.target, "/a?b=c");
  ASSERT_EQ(h.fields.size(), 2u);
  EXPECT_EQ(h.fields[1].first, "x-y");
  EXPECT_EQ(h.fields[1].second, "v v");
}

TEST(WireHead, RefusesWhatRfc9112Refuses) {
  EXPECT_EQ(parse("GET /a HTTP/1.1\r\nX: 1\r\n  folded"), 400);      // obs-fold
  EXPECT_EQ(parse("GET /a HTTP/1.1\r\nX : 1"), 400);                 // space before colon
  EXPECT_EQ(parse("GET /a HTTP/1.1\r\n: 1"), 400);                   // empty name
  EXPECT_EQ(parse("GET /a HTTP/1.1\r\nX: a\x01" "b"), 400);          // control character
  EXPECT_EQ(parse("GET /a HTTP/1.1\r\nX: a\rb"), 400);               // lone CR
  EXPECT_EQ(parse("GET  /a HTTP/1.1"), 400);                         // two spaces
  EXPECT_EQ(parse("GET /a HTTP/2.0"), 505);
  EXPECT_EQ(parse("GET /a FOO/1.1"), 400);
  EXPECT_EQ(parse("G(T /a HTTP/1.1"), 400);
}

TEST(WireHead, FindsTheEndAndRefusesBareLf) {
  bool bare = false;
  std::string h = "GET / HTTP/1.1\r\nHost: a\r\n\r\nrest";
  EXPECT_EQ(wire::find_head_end(h, 0, &bare), h.size() - 4);
  EXPECT_FALSE(bare);
  EXPECT_EQ(wire::find_head_end("GET / HTTP/1.1\nHost: a\n\n", 0, &bare), std::string::npos);
  EXPECT_TRUE(bare);
  // Split anywhere, the answer is the same.
  for (size_t cut = 0; cut <= h.size(); cut++) {
    size_t end = wire::find_head_end(h.substr(0, cut), 0, &bare);
    if (end == std::string::npos) end = wire::find_head_end(h, cut > 3 ? cut - 3 : 0, &bare);
    EXPECT_EQ(end, h.size() - 4) << cut;
  }
}

TEST(WireTarget, PathsAndQueries) {
  std::string out;
  ASSERT_TRUE(wire::normalise_path("/a//b/./c/../d%20e", &out));
  EXPECT_EQ(out, "/a/b/d e");
  ASSERT_TRUE(wire::normalise_path("/../../x", &out));
  EXPECT_EQ(out, "/x");
  EXPECT_FALSE(wire::normalise_path("/a%00", &out));
  EXPECT_FALSE(wire::normalise_path("/a%2", &out));
  EXPECT_FALSE(wire::normalise_path("a", &out));
  ASSERT_TRUE(wire::canonical_query("a%26b=c%3Dd&&x+y=1", &out));
  EXPECT_EQ(out, "a%26b=c%3Dd&x%20y=1");
  EXPECT_FALSE(wire::canonical_query("a=%zz", &out));
}

// A masked client frame.
std::string frame(uint8_t b0, const std::string& payload, bool masked = true) {
  std::string f;
  f.push_back(static_cast<char>(b0));
  const size_t n = payload.size();
  const uint8_t m = masked ? 0x80 : 0;
  if (n < 126) {
    f.push_back(static_cast<char>(m | n));
  } else if (n < 65536) {
    f.push_back(static_cast<char>(m | 126));
    f.push_back(static_cast<char>(n >> 8));
    f.push_back(static_cast<char>(n & 255));
  } else {
    f.push_back(static_cast<char>(m | 127));
    for (int i = 7; i >= 0; i--) f.push_back(static_cast<char>((static_cast<uint64_t>(n) >> (8 * i)) & 255));
  }
  const char key[4] = {0x12, 0x34, 0x56, 0x78};
  if (masked) f.append(key, 4);
  for (size_t i = 0; i < n; i++) f.push_back(masked ? static_cast<char>(payload[i] ^ key[i & 3]) : payload[i]);
  return f;
}

struct Seen {
  std::vector<std::string> log;
};

// Feeds `bytes` in pieces of `step` bytes; returns the events as text.
std::vector<std::string> run(const std::string& bytes, size_t step, size_t max = 1 << 20,
                             wire::FrameReader::From from = wire::FrameReader::From::kClient) {
  wire::FrameReader r(max, from);
  std::vector<std::string> out;
  for (size_t at = 0; at < bytes.size();) {
    const size_t len = std::min(step, bytes.size() - at);
    const char* p = bytes.data() + at;
    size_t n = len;
    while (n > 0) {
      Event ev = r.next(&p, &n);
      if (ev == Event::kNeedMore) break;
      switch (ev) {
        case Event::kMessage: out.push_back("msg:" + r.take_message()); break;
        case Event::kPing: out.push_back("ping:" + r.control()); break;
        case Event::kPong: out.push_back("pong:" + r.control()); break;
        case Event::kClose: out.push_back("close:" + std::to_string(r.close_code())); break;
        case Event::kError: out.push_back("error:" + std::to_string(r.error_code())); return out;
        default: break;
      }
    }
    at += len;
  }
  return out;
}

TEST(WireFrames, MessagesPingsAndClosesOverAnySplit) {
  const std::string big(70000, 'z');
  const std::string bytes = frame(0x81, "hello") + frame(0x01, "hel") + frame(0x89, "p") + frame(0x80, "lo") +
                            frame(0x81, big) + frame(0x8A, "") + frame(0x88, std::string("\x03\xe8ok", 4));
  const std::vector<std::string> want = {"msg:hello", "ping:p", "msg:hello", "msg:" + big, "pong:",
                                         "close:1000"};
  for (size_t step : {size_t{1}, size_t{2}, size_t{3}, size_t{7}, size_t{100}, bytes.size()})
    EXPECT_EQ(run(bytes, step), want) << step;
}

TEST(WireFrames, ProtocolErrors) {
  EXPECT_EQ(run(frame(0x81, "hi", false), 1), std::vector<std::string>{"error:1002"});   // unmasked
  EXPECT_EQ(run(frame(0xC1, "hi"), 5), std::vector<std::string>{"error:1002"});          // RSV1
  EXPECT_EQ(run(frame(0x82, "hi"), 5), std::vector<std::string>{"error:1003"});          // binary
  EXPECT_EQ(run(frame(0x80, "hi"), 5), std::vector<std::string>{"error:1002"});          // lone continuation
  EXPECT_EQ(run(frame(0x01, "a") + frame(0x81, "b"), 5), std::vector<std::string>{"error:1002"});
  EXPECT_EQ(run(frame(0x09, "p"), 5), std::vector<std::string>{"error:1002"});           // fragmented ping
  EXPECT_EQ(run(frame(0x89, std::string(126, 'p')), 50), std::vector<std::string>{"error:1002"});
  EXPECT_EQ(run(frame(0x83, "x"), 5), std::vector<std::string>{"error:1002"});           // opcode 3
  EXPECT_EQ(run(frame(0x81, "\xc3\x28"), 1), std::vector<std::string>{"error:1007"});    // bad UTF-8
  EXPECT_EQ(run(frame(0x81, "\xe2\x82"), 5), std::vector<std::string>{"error:1007"});    // cut sequence
  EXPECT_EQ(run(frame(0x88, "x"), 5), std::vector<std::string>{"error:1002"});           // 1-byte close
  EXPECT_EQ(run(frame(0x88, std::string("\x03\xed", 2)), 5), std::vector<std::string>{"error:1002"});  // 1005
  EXPECT_EQ(run(frame(0x81, std::string(101, 'a')), 5, 100), std::vector<std::string>{"error:1009"});
  // over the limit across fragments, known at the second header
  EXPECT_EQ(run(frame(0x01, std::string(60, 'a')) + frame(0x80, std::string(60, 'a')), 500, 100),
            std::vector<std::string>{"error:1009"});
}

TEST(WireFrames, DiscardingDataStillReadsTheClose) {
  wire::FrameReader r(1 << 20);
  r.discard_data();
  std::string bytes = frame(0x81, "dropped") + frame(0x82, "bin") + frame(0x88, std::string("\x03\xe9", 2));
  const char* p = bytes.data();
  size_t n = bytes.size();
  EXPECT_EQ(r.next(&p, &n), Event::kClose);
  EXPECT_EQ(r.close_code(), 1001);
}

// The client's side: server frames are unmasked (RFC 6455 5.1).
TEST(WireFrames, ServerFramesOnTheClient) {
  const auto kServer = wire::FrameReader::From::kServer;
  const std::string big(70000, 'z');
  const std::string bytes = frame(0x81, "hello", false) + frame(0x01, "hel", false) + frame(0x89, "p", false) +
                            frame(0x80, "lo", false) + frame(0x81, big, false) +
                            frame(0x88, std::string("\x03\xe8", 2), false);
  const std::vector<std::string> want = {"msg:hello", "ping:p", "msg:hello", "msg:" + big, "close:1000"};
  for (size_t step : {size_t{1}, size_t{3}, size_t{100}, bytes.size()})
    EXPECT_EQ(run(bytes, step, 1 << 20, kServer), want) << step;
  EXPECT_EQ(run(frame(0x81, "hi", true), 1, 1 << 20, kServer), std::vector<std::string>{"error:1002"});  // masked
  EXPECT_EQ(run(frame(0x82, "hi", false), 5, 1 << 20, kServer), std::vector<std::string>{"error:1003"});
  EXPECT_EQ(run(frame(0x81, "\xc3\x28", false), 1, 1 << 20, kServer), std::vector<std::string>{"error:1007"});
  EXPECT_EQ(run(frame(0x81, std::string(101, 'a'), false), 5, 100, kServer), std::vector<std::string>{"error:1009"});
}

// What the client writes (ws_header with a mask, mask_payload) is what the
// server reads.
TEST(WireFrames, ClientFramesRoundTrip) {
  const uint8_t mask[4] = {0xde, 0xad, 0xbe, 0xef};
  for (size_t n : {size_t{0}, size_t{5}, size_t{125}, size_t{126}, size_t{70000}}) {
    std::string payload(n, 'x');
    for (size_t i = 0; i < n; i++) payload[i] = static_cast<char>('a' + i % 26);
    std::string f = wire::ws_header(0x1, n, mask);
    const size_t at = f.size();
    f += payload;
    wire::mask_payload(&f[at], n, mask);
    EXPECT_EQ(f, frame(0x81, payload).substr(0, at - 4) + std::string(reinterpret_cast<const char*>(mask), 4) +
                     f.substr(at));
    EXPECT_EQ(run(f, 7), std::vector<std::string>{"msg:" + payload}) << n;
  }
}

TEST(WireResponse, ParsesAStatusLineAndFields) {
  wire::ResponseHead h;
  ASSERT_EQ(wire::parse_response_head("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nX: a\r\nx: b", &h), "");
  EXPECT_EQ(h.status, 101);
  EXPECT_EQ(h.field("upgrade"), "websocket");
  EXPECT_EQ(h.field("x"), "a, b");
  EXPECT_FALSE(h.has_field("connection"));
  wire::ResponseHead h2;
  ASSERT_EQ(wire::parse_response_head("HTTP/1.0 401", &h2), "");  // empty reason, no SP
  EXPECT_EQ(h2.status, 401);
  for (const char* bad : {"HTTP/1.1 1011 x", "HTTP/2 101 x", "HTTP/1.1  101 x", "HTTP/1.1 10a x", "HTTP/1.1 099 x",
                          "ICY 200 OK", "HTTP/1.1 101 x\r\nA : b", "HTTP/1.1 101 x\r\n folded", "HTTP/1.1 101 x\x01"}) {
    wire::ResponseHead r;
    EXPECT_NE(wire::parse_response_head(bad, &r), "") << bad;
  }
}

TEST(WireResponse, TheClientChecksTheUpgrade) {
  // RFC 6455 4.2.2's example
  const std::string key = "dGhlIHNhbXBsZSBub25jZQ==";
  EXPECT_EQ(wire::ws_accept_key(key), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  auto check = [&](const std::string& head) {
    wire::ResponseHead h;
    EXPECT_EQ(wire::parse_response_head(head, &h), "") << head;
    return wire::check_upgrade_response(h, key);
  };
  const std::string ok = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: WebSocket\r\nConnection: keep-alive, Upgrade\r\n";
  EXPECT_EQ(check(ok + "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo="), "");
  EXPECT_EQ(check(ok + "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOp="), "wrong Sec-WebSocket-Accept");
  EXPECT_EQ(check(ok), "wrong Sec-WebSocket-Accept");
  EXPECT_EQ(check(ok + "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Extensions: permessage-deflate"),
            "an extension the client did not offer");
  EXPECT_EQ(check(ok + "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: chat"),
            "a subprotocol the client did not offer");
  EXPECT_EQ(check("HTTP/1.1 101 x\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
            "no 'Upgrade: websocket' header");
  EXPECT_EQ(check("HTTP/1.1 101 x\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
            "no 'Connection: Upgrade' header");
  EXPECT_EQ(check("HTTP/1.1 200 OK\r\nUpgrade: websocket"), "status is not 101");
}

}  // namespace
