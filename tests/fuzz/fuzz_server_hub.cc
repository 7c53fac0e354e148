// libFuzzer target for the server hub: several connections sending arbitrary
// client frames (raw bytes, and well-formed frames with fuzzed fields so the
// deep states are reachable), the application driving turns with every reply
// command, broadcasts, clock jumps, shutdowns and restarts on the same store.
//
// Invariants checked after every step:
//   - nothing crashes, leaks past a turn's end, or hits UB (ASan + UBSan);
//   - every frame the hub writes is UTF-8, decodes as a valid server frame, and goes to
//     a socket that is open (opened and not yet reported closed);
//   - every application event is a JSON object with a known `type`;
//   - exactly-once: a (conversation, messageId) is announced as a "message"
//     event again only after its turn failed or was abandoned, never while it
//     runs and never after it completed or was cancelled;
//   - replay is byte-identical: two frames of one conversation with the same
//     seq have the same text (retention is unlimited here, so nothing is
//     rebuilt);
//   - close codes are the documented ones; poll_timeout never asks to be
//     called again at a time that already passed (no busy loop).
//
// Run (scratch corpus first, seeds read only):
//   mkdir -p /tmp/corpus_hub && out/fuzz/fuzz_server_hub -max_total_time=60 \
//       /tmp/corpus_hub tests/fuzz/corpus/server_hub

#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "core/media/base64.h"
#include "core/protocol/codec.h"
#include "core/server/server_hub.h"
#include "core/store/server_store.h"
#include "fuzz_util.h"

using namespace chatwire;
using fuzz::require;

namespace {

constexpr int64_t kStart = 1795000000000;
const char* const kClients[] = {"11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222",
                                "not-a-uuid"};
const char* const kMessageIds[] = {"aaaaaaaa-0000-4000-8000-000000000001", "aaaaaaaa-0000-4000-8000-000000000002",
                                   "aaaaaaaa-0000-4000-8000-000000000003", "m-4"};
const char* const kUsers[] = {"", "u1", "u2"};
const char* const kImageIds[] = {"img-1", "img-2"};

enum class TurnFate { running, completed, cancelled, failed, abandoned };

struct TurnInfo {
  std::string key;  // conversation \x1f messageId
  bool cancelled = false;
  std::vector<std::string> images;
};

class HubFuzz {
 public:
  HubFuzz(FuzzedDataProvider& in) : in_(in) {
    const uint8_t mode = in_.ConsumeIntegral<uint8_t>();
    config_.heartbeat_ms = 1000;
    config_.heartbeat_timeout_ms = 3000;
    config_.retention_ms = 0;
    config_.retention_events = 0;
    config_.prune_interval_ms = 5000;
    config_.typing_around_handler = mode & 1;
    if (mode & 2) {
      config_.limits.max_frame_bytes = 4096;
      config_.limits.max_content_bytes = 64;
      config_.limits.max_images = 2;
      config_.limits.max_image_bytes = 512;
      config_.limits.max_image_dimension = 64;
      config_.limits.max_json_depth = 8;
      config_.limits.max_tools = 2;
      config_.limits.max_tools_bytes = 256;
    }
    if (mode & 4) {
      config_.limits.messages_per_second = 2;
      config_.limits.message_burst = 3;
    }
    auto s = store::ServerStore::open(":memory:");
    require(s.ok(), "store open");
    store_ = std::move(*s);
    start_hub();
  }

  void run() {
    for (int step = 0; step < 80 && in_.remaining_bytes() > 0; ++step) {
      switch (in_.ConsumeIntegralInRange<int>(0, 13)) {
        case 0: open_conn(); break;
        case 1: close_conn(); break;
        case 2: frame(in_.ConsumeRandomLengthString(512)); break;
        case 3:
        case 4:
        case 5: frame(templated()); break;
        case 6: advance(); break;
        case 7:
        case 8:
        case 9: command(); break;
        case 10: broadcast(); break;
        case 11: restart(in_.ConsumeBool()); break;
        case 12: close_requested(); break;
        case 13: timeout_now(); break;
      }
      drain();
    }
  }

 private:
  void start_hub() {
    hub_ = std::make_unique<server::ServerHub>(config_, *store_, entropy_);
    open_.clear();
    conv_of_.clear();
    hub_->handle_timeout(now_);  // starts it: leftover running turns become abandoned
    drain();
  }

  // A crash (no shutdown) or a clean shutdown, then a new hub on the same file.
  void restart(bool clean) {
    if (clean) {
      hub_->shutdown(now_);
      drain();
    }
    hub_.reset();
    for (auto& [id, t] : turns_) {
      if (fate_[t.key] == TurnFate::running) fate_[t.key] = TurnFate::abandoned;
    }
    turns_.clear();
    turn_ids_.clear();
    tools_.clear();
    now_ += 10;
    start_hub();
  }

  server::ConnId pick_conn() { return in_.ConsumeIntegralInRange<server::ConnId>(1, 4); }

  void open_conn() {
    const server::ConnId c = pick_conn();
    if (open_.count(c)) return;
    open_.insert(c);
    conv_of_.erase(c);
    hub_->handle_open(now_, c, kUsers[in_.ConsumeIntegralInRange<int>(0, 2)],
                      in_.ConsumeBool() ? "127.0.0.1" : "10.0.0.2");
  }

  void close_conn() {
    const server::ConnId c = pick_conn();
    if (!open_.count(c)) return;
    open_.erase(c);
    conv_of_.erase(c);
    hub_->handle_close(now_, c, in_.ConsumeBool() ? 1006 : 1000);
  }

  // The transport reports sockets the hub asked to close as gone.
  void close_requested() {
    for (server::ConnId c : requested_close_) {
      if (open_.erase(c)) {
        conv_of_.erase(c);
        hub_->handle_close(now_, c, 1000);
      }
    }
    requested_close_.clear();
  }

  void frame(const std::string& text) {
    const server::ConnId c = pick_conn();
    if (!open_.count(c)) return;
    hub_->handle_frame(now_, c, text);
  }

  std::string some_conversation() {
    if (!conversations_.empty() && in_.ConsumeBool()) {
      auto it = conversations_.begin();
      std::advance(it, in_.ConsumeIntegralInRange<size_t>(0, conversations_.size() - 1));
      return *it;
    }
    return in_.ConsumeRandomLengthString(12);
  }

  std::string some_tool_call() {
    if (!tools_.empty() && in_.ConsumeBool()) {
      auto it = tools_.begin();
      std::advance(it, in_.ConsumeIntegralInRange<size_t>(0, tools_.size() - 1));
      return *it;
    }
    return in_.ConsumeRandomLengthString(8);
  }

  std::string some_component() {
    if (!components_.empty() && in_.ConsumeBool()) {
      auto it = components_.begin();
      std::advance(it, in_.ConsumeIntegralInRange<size_t>(0, components_.size() - 1));
      return *it;
    }
    return in_.ConsumeRandomLengthString(8);
  }

  std::string num() {
    switch (in_.ConsumeIntegralInRange<int>(0, 3)) {
      case 0: return std::to_string(in_.ConsumeIntegralInRange<int64_t>(-2, 40));
      case 1: return std::to_string(in_.ConsumeIntegral<int64_t>());
      case 2: return "1e400";
      default: return "-0.5";
    }
  }

  std::string templated() {
    const std::string ts = "\"2026-11-23T13:47:50.123Z\"";
    const std::string client = fuzz::quote(kClients[in_.ConsumeIntegralInRange<int>(0, 2)]);
    switch (in_.ConsumeIntegralInRange<int>(0, 10)) {
      case 0:
      case 1: {
        std::string f = "{\"type\":\"connect\",\"clientId\":" + client + ",\"timestamp\":" + ts;
        if (in_.ConsumeBool()) f += ",\"conversationId\":" + fuzz::quote(some_conversation());
        if (in_.ConsumeBool()) f += ",\"lastSeq\":" + num();
        return f + "}";
      }
      case 2: return "{\"type\":\"ping\",\"clientId\":" + client + ",\"timestamp\":" + ts + "}";
      case 3:
      case 4: {
        std::string f = "{\"type\":\"message\",\"messageId\":" +
                        fuzz::quote(kMessageIds[in_.ConsumeIntegralInRange<int>(0, 3)]) +
                        ",\"clientId\":" + client + ",\"timestamp\":" + ts;
        if (in_.ConsumeBool()) f += ",\"content\":" + fuzz::quote(in_.ConsumeRandomLengthString(80));
        const int images = in_.ConsumeIntegralInRange<int>(0, 3);
        if (images) {
          f += ",\"images\":[";
          for (int i = 0; i < images; ++i) {
            if (i) f += ",";
            std::string bytes = in_.ConsumeBool() ? fuzz::tiny_png(in_.ConsumeIntegralInRange<uint32_t>(0, 70), 3)
                                                  : in_.ConsumeRandomLengthString(40);
            f += "{\"id\":" + fuzz::quote(kImageIds[i % 2]) + ",\"mimeType\":\"image/png\",\"data\":\"" +
                 media::base64_encode(bytes) + "\"}";
          }
          f += "]";
        }
        return f + "}";
      }
      case 5:
        return "{\"type\":\"typing\",\"clientId\":" + client + ",\"isTyping\":" +
               (in_.ConsumeBool() ? "true" : "false") + ",\"timestamp\":" + ts + "}";
      case 6: {
        std::string f = "{\"type\":\"load_messages\",\"conversationId\":" + fuzz::quote(some_conversation());
        if (in_.ConsumeBool()) f += ",\"beforeSeq\":" + num();
        if (in_.ConsumeBool()) f += ",\"limit\":" + num();
        return f + "}";
      }
      case 7: {
        // 0..4 tools (over limits.max_tools = 2 in the small-limits mode), with
        // descriptions up to 200 bytes (over max_tools_bytes = 256 there).
        std::string f = "{\"type\":\"configure_tools\",\"tools\":[";
        const int n = in_.ConsumeIntegralInRange<int>(0, 4);
        for (int i = 0; i < n; ++i) {
          if (i) f += ",";
          f += "{\"name\":" + fuzz::quote(in_.ConsumeRandomLengthString(6) + std::to_string(i)) +
               ",\"description\":" + fuzz::quote(std::string(in_.ConsumeIntegralInRange<size_t>(0, 200), 'd')) +
               ",\"parameters\":{\"type\":\"object\"}}";
        }
        return f + "]}";
      }
      case 8:
        return "{\"type\":\"tool_result\",\"toolCallId\":" + fuzz::quote(some_tool_call()) +
               (in_.ConsumeBool() ? ",\"result\":{\"v\":" + num() + "}" : ",\"error\":\"no\"") + "}";
      case 9:
        return "{\"type\":\"component_action\",\"componentId\":" + fuzz::quote(some_component()) +
               ",\"action\":\"submit\",\"values\":{\"a\":1},\"timestamp\":" + ts + "}";
      default:
        if (in_.ConsumeBool()) return "{\"type\":\"disconnect\",\"clientId\":" + client + ",\"timestamp\":" + ts + "}";
        return "{\"type\":\"cancel\",\"replyTo\":" + fuzz::quote(kMessageIds[in_.ConsumeIntegralInRange<int>(0, 3)]) +
               ",\"timestamp\":" + ts + "}";
    }
  }

  void advance() {
    now_ += in_.ConsumeIntegralInRange<int64_t>(0, 8000);
    hub_->handle_timeout(now_);
  }

  // Fires the timer as a host does: jump to poll_timeout() and call it.
  void timeout_now() {
    for (int i = 0; i < 4; ++i) {
      auto t = hub_->poll_timeout();
      if (!t) return;
      if (*t > now_) {
        if (i > 0) return;
        now_ = *t;
      } else if (i == 3) {
        fuzz::fail("poll_timeout stays at or before now after handle_timeout(now)",
                   std::to_string(*t) + " <= " + std::to_string(now_));
      }
      hub_->handle_timeout(now_);
      drain();
    }
  }

  std::string some_turn() {
    if (turn_ids_.empty() || !in_.ConsumeBool()) return in_.ConsumeBool() ? "no-such-turn" : std::string();
    return turn_ids_[in_.ConsumeIntegralInRange<size_t>(0, turn_ids_.size() - 1)];
  }

  void ended(const std::string& turn, TurnFate fate) {
    auto it = turns_.find(turn);
    if (it == turns_.end()) return;
    fate_[it->second.key] = it->second.cancelled ? TurnFate::cancelled : fate;
    turns_.erase(it);
  }

  std::string json_arg() {
    switch (in_.ConsumeIntegralInRange<int>(0, 3)) {
      case 0: return "{}";
      case 1: return "{\"a\":[1,2,{\"b\":null}]}";
      case 2: return "";
      default: return in_.ConsumeRandomLengthString(40);
    }
  }

  void command() {
    const std::string turn = some_turn();
    auto it = turns_.find(turn);
    const std::string image = it != turns_.end() && !it->second.images.empty() && in_.ConsumeBool()
                                  ? it->second.images[0]
                                  : std::string("img-x");
    switch (in_.ConsumeIntegralInRange<int>(0, 8)) {
      case 0: hub_->image_status(now_, turn, image, in_.ConsumeBool() ? "processing" : "analyzed"); break;
      case 1: hub_->thinking(now_, turn, in_.ConsumeRandomLengthString(20)); break;
      case 2: hub_->delta(now_, turn, in_.ConsumeRandomLengthString(20)); break;
      case 3: hub_->typing(now_, turn, in_.ConsumeBool()); break;
      case 4: {
        auto r = hub_->component(now_, turn, "form", json_arg());
        if (r.ok() && !r->empty()) components_.insert(*r);
        break;
      }
      case 5: {
        auto r = hub_->tool_call(now_, turn, "getLocation", json_arg());
        if (r.ok()) tools_.insert(*r);
        break;
      }
      case 6: {
        std::string body;
        switch (in_.ConsumeIntegralInRange<int>(0, 3)) {
          case 0: body = "{}"; break;
          case 1: body = "{\"content\":" + fuzz::quote(in_.ConsumeRandomLengthString(30)) + "}"; break;
          case 2:
            body = "{\"content\":\"x\",\"citations\":[{\"documentId\":\"d\",\"chunkId\":\"c\",\"filename\":\"f\","
                   "\"pageStart\":1,\"score\":0.5}],\"imageAnalysis\":[{\"imageId\":\"" +
                   image + "\",\"description\":\"d\",\"category\":\"c\",\"condition\":\"k\",\"features\":[],"
                           "\"recommendations\":[\"r\"]}]}";
            break;
          default: body = in_.ConsumeRandomLengthString(60);
        }
        if (hub_->respond(now_, turn, body).ok()) ended(turn, TurnFate::completed);
        break;
      }
      case 7:
        if (hub_->fail(now_, turn, in_.ConsumeBool() ? ErrorCode::internal : ErrorCode::invalid_field, "nope").ok()) {
          ended(turn, TurnFate::failed);
        }
        break;
      default: {
        const std::string* bytes = hub_->image_bytes(turn, image);
        if (bytes) require(bytes->size() < (16u << 20), "image bytes of a running turn are sane");
        break;
      }
    }
  }

  void broadcast() {
    std::string target;
    if (in_.ConsumeBool()) target = "{\"conversationId\":" + fuzz::quote(some_conversation()) + "}";
    else target = "{\"userId\":" + fuzz::quote(kUsers[in_.ConsumeIntegralInRange<int>(0, 2)]) + "}";
    if (in_.ConsumeBool()) target = in_.ConsumeRandomLengthString(30);
    std::string event;
    switch (in_.ConsumeIntegralInRange<int>(0, 4)) {
      case 0: event = "{\"type\":\"thinking\",\"replyTo\":\"b\",\"step\":\"s\"}"; break;
      case 1: event = "{\"type\":\"response\",\"messageId\":\"r\",\"replyTo\":\"b\",\"content\":\"c\"}"; break;
      case 2: event = "{\"type\":\"typing\",\"isTyping\":true}"; break;
      case 3: event = "{\"type\":\"pong\"}"; break;
      default: event = in_.ConsumeRandomLengthString(60);
    }
    hub_->broadcast(now_, target, event);
  }

  void drain() {
    while (auto t = hub_->poll_transmit()) {
      require(open_.count(t->conn) == 1, "transmit to a socket that is not open", t->text);
      require(fuzz::valid_utf8(t->text), "hub wrote a text frame that is not UTF-8", t->text);
      auto decoded = protocol::decode_server_frame(t->text, Limits{});
      require(decoded.ok(), "hub wrote an invalid server frame", t->text);
      if (auto* cc = std::get_if<protocol::ConnectConfirm>(&*decoded)) {
        conv_of_[t->conn] = cc->conversation_id;
        conversations_.insert(cc->conversation_id);
      }
      if (auto seq = protocol::seq_of(*decoded)) {
        auto conv = conv_of_.find(t->conn);
        require(conv != conv_of_.end(), "seq'd frame before connect_confirm", t->text);
        auto [slot, fresh] = seen_.emplace(conv->second + "\x1f" + std::to_string(*seq), t->text);
        require(fresh || slot->second == t->text, "two different frames with one seq in a conversation",
                slot->second + "\n  " + t->text);
      }
    }
    while (auto c = hub_->poll_close()) {
      require(c->code == 1000 || c->code == 1001 || c->code == 1009 || c->code == 4008 || c->code == 4029,
              "undocumented close code", std::to_string(c->code));
      requested_close_.insert(c->conn);
    }
    while (auto e = hub_->poll_event()) on_event(*e);
  }

  void on_event(const std::string& text) {
    fuzz::Json e(text);
    require(fuzz::valid_utf8(text), "event is not UTF-8", text);
    require(e.ok && e.doc.IsObject(), "event is not a JSON object", text);
    const std::string type = e.s("type");
    if (type == "message") {
      const std::string turn = e.s("turnId");
      require(!turn.empty(), "message event without turnId", text);
      const auto* m = e.get("message");
      require(m && m->IsObject(), "message event without message", text);
      const std::string key = e.s("conversationId") + "\x1f" + fuzz::str_of(*m, "messageId");
      auto fate = fate_.find(key);
      if (fate != fate_.end()) {
        require(fate->second == TurnFate::failed || fate->second == TurnFate::abandoned,
                "a messageId was announced again although its turn is running/completed/cancelled", text);
      }
      fate_[key] = TurnFate::running;
      TurnInfo info;
      info.key = key;
      auto images = m->FindMember("images");
      if (images != m->MemberEnd() && images->value.IsArray()) {
        for (const auto& img : images->value.GetArray()) info.images.push_back(fuzz::str_of(img, "id"));
      }
      turns_[turn] = info;
      turn_ids_.push_back(turn);
    } else if (type == "cancel") {
      auto it = turns_.find(e.s("turnId"));
      if (it != turns_.end()) it->second.cancelled = true;
    } else {
      require(type == "connection" || type == "disconnect" || type == "tool_result" || type == "component_action" ||
                  type == "tools" || type == "store_error",
              "unknown event type", text);
      if (type == "tools") {
        const auto& tools = e.doc["tools"];
        require(tools.IsArray() && tools.Size() <= config_.limits.max_tools, "tools event over limits.max_tools", text);
      }
    }
  }

  FuzzedDataProvider& in_;
  server::HubConfig config_;
  fuzz::FuzzEntropy entropy_;
  std::unique_ptr<store::ServerStore> store_;
  std::unique_ptr<server::ServerHub> hub_;
  int64_t now_ = kStart;

  std::set<server::ConnId> open_;
  std::set<server::ConnId> requested_close_;
  std::map<server::ConnId, std::string> conv_of_;
  std::set<std::string> conversations_;
  std::map<std::string, std::string> seen_;  // conversation \x1f seq -> frame text
  std::map<std::string, TurnInfo> turns_;    // running, by turn id
  std::vector<std::string> turn_ids_;        // every turn id seen (ended ones too)
  std::map<std::string, TurnFate> fate_;     // by conversation \x1f messageId
  std::set<std::string> tools_;
  std::set<std::string> components_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  HubFuzz f(in);
  f.run();
  return 0;
}
