// libFuzzer target for the transports' wire rules (src/node/wire.h):
//   - parse_request_head, parse_response_head (+ check_upgrade_response),
//     find_head_end, normalise_path and canonical_query never crash on
//     arbitrary bytes; a parsed head has tchar names and no control
//     characters in values; canonical_query is idempotent;
//   - FrameReader, reading client frames (the server) and server frames
//     (the client), gives the same events whether the input arrives whole or
//     split at the points the input's first byte chooses (incremental
//     parsing is exact), and never reports a message over its limit or one
//     that is not UTF-8.
//
// Run: mkdir -p /tmp/corpus_wire && out/fuzz/fuzz_wire -max_total_time=60 \
//          /tmp/corpus_wire tests/fuzz/corpus/wire

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "node/wire.h"

namespace wire = chatwire::node::wire;
using Event = wire::FrameReader::Event;

namespace {

void require(bool c) {
  if (!c) std::abort();
}

std::vector<std::string> frames(std::string_view in, size_t step, size_t max, wire::FrameReader::From from) {
  wire::FrameReader r(max, from);
  std::vector<std::string> out;
  for (size_t at = 0; at < in.size();) {
    size_t len = std::min(step, in.size() - at);
    const char* p = in.data() + at;
    size_t n = len;
    while (n > 0) {
      Event ev = r.next(&p, &n);
      if (ev == Event::kNeedMore) break;
      if (ev == Event::kMessage) {
        std::string m = r.take_message();
        require(m.size() <= max);
        wire::Utf8Check u;
        require(u.feed(reinterpret_cast<const unsigned char*>(m.data()), m.size()) && u.need == 0);
        out.push_back("m" + m);
      } else if (ev == Event::kError) {
        out.push_back("e" + std::to_string(r.error_code()));
        return out;
      } else if (ev == Event::kClose) {
        out.push_back("c" + std::to_string(r.close_code()) + std::string(r.close_reason()));
      } else {
        require(r.control().size() <= 125);
        out.push_back((ev == Event::kPing ? "p" : "q") + r.control());
      }
    }
    at += len;
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t step = 1 + data[0] % 17;
  std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);

  // HTTP
  bool bare = false;
  size_t end = wire::find_head_end(in, 0, &bare);
  std::string_view head = end == std::string_view::npos ? in : in.substr(0, end >= 4 ? end - 4 : 0);
  wire::RequestHead h;
  if (wire::parse_request_head(head, &h) == 0) {
    for (auto& f : h.fields) {
      require(!f.first.empty());
      for (unsigned char c : f.second) require(c >= 0x20 || c == '\t');
    }
    std::string path, q, q2;
    wire::normalise_path(h.target, &path);
    size_t qm = h.target.find('?');
    if (qm != std::string::npos && wire::canonical_query(std::string_view(h.target).substr(qm + 1), &q)) {
      require(wire::canonical_query(q, &q2) && q2 == q);
    }
  }

  wire::ResponseHead rh;
  if (wire::parse_response_head(head, &rh).empty()) {
    require(rh.status >= 100 && rh.status <= 999);
    for (auto& f : rh.fields) {
      require(!f.first.empty());
      for (unsigned char c : f.second) require(c >= 0x20 || c == '\t');
    }
    wire::check_upgrade_response(rh, "dGhlIHNhbXBsZSBub25jZQ==");
  }

  // WebSocket, both ends: whole vs split
  const size_t max = 64 + data[0] * 16;
  for (auto from : {wire::FrameReader::From::kClient, wire::FrameReader::From::kServer})
    require(frames(in, in.size(), max, from) == frames(in, step, max, from));
  return 0;
}
