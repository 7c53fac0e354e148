// libFuzzer target for the client engine: arbitrary server frames (raw bytes,
// and well-formed frames with fuzzed ids, seqs and fields so replays, gaps and
// lies are reachable), transport events in any order, every user command, a
// fake clock that jumps to poll_timeout(), and page reloads (a new engine on
// the same store).
//
// Invariants checked after every step:
//   - nothing crashes or hits UB (ASan + UBSan), whatever the server says;
//   - every transmit is UTF-8 and decodes as a valid client frame (the engine never puts a
//     frame on the wire that a server would refuse as malformed);
//   - every UI event is a JSON object with a known `type`; messages_json() is
//     a JSON array with unique ids;
//   - a user message's status never moves backwards (queued < sent < received
//     < processed; failed is left only by retry()), across reloads too, and
//     processed is final;
//   - poll_timeout never stays at or before `now` after handle_timeout(now)
//     (no busy loop for the host).
//
// Run (scratch corpus first, seeds read only):
//   mkdir -p /tmp/corpus_client && out/fuzz/fuzz_client_engine -max_total_time=60 \
//       /tmp/corpus_client tests/fuzz/corpus/client_engine

#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "core/client/client_engine.h"
#include "core/protocol/codec.h"
#include "fuzz_util.h"

using namespace chatwire;
using fuzz::require;

namespace {

constexpr int64_t kStart = 1795000000000;
const char* const kReplyIds[] = {"r-1", "r-2", "reply:x"};

int rank(const std::string& status) {
  if (status == "queued") return 0;
  if (status == "sent") return 1;
  if (status == "received") return 2;
  if (status == "processed") return 3;
  if (status == "failed") return -1;
  return -2;
}

class ClientFuzz {
 public:
  explicit ClientFuzz(FuzzedDataProvider& in) : in_(in) {
    const uint8_t mode = in_.ConsumeIntegral<uint8_t>();
    config_.url = "ws://127.0.0.1:1/ws/chat";
    config_.heartbeat_ms = 1000;
    config_.reconnect.max_attempts = mode & 1 ? 0 : 3;
    config_.reconnect.delays_ms = {50, 100};
    config_.reconnect.min_delay_ms = 50;
    config_.reconnect.jitter = mode & 2 ? 0.5 : 0;
    config_.use_tickets = mode & 4;
    config_.tool_timeout_ms = 500;
    config_.typing_idle_ms = 300;
    config_.history_page = mode & 8 ? 2 : 50;
    if (mode & 16) {
      config_.limits.max_content_bytes = 64;
      config_.limits.max_images = 1;
      config_.limits.max_image_bytes = 256;
      config_.limits.max_image_dimension = 64;
    }
    auto s = store::ClientStore::open(":memory:");
    require(s.ok(), "store open");
    store_ = std::move(*s);
    create();
  }

  void run() {
    if (!engine_) return;
    for (int step = 0; step < 80 && in_.remaining_bytes() > 0; ++step) {
      switch (in_.ConsumeIntegralInRange<int>(0, 19)) {
        case 0: engine_->connect(now_); break;
        case 1: engine_->reconnect(now_); break;
        case 2: engine_->disconnect(now_); break;
        case 3: engine_->visibility_changed(now_, in_.ConsumeBool()); break;
        case 4: engine_->online(now_); break;
        case 5: send(); break;
        case 6: engine_->retry(now_, some_message()); break;
        case 7: engine_->cancel(now_, some_message()); break;
        case 8: engine_->load_older(now_); break;
        case 9: engine_->set_typing(now_, in_.ConsumeBool()); break;
        case 10:
          engine_->configure_tools(now_, in_.ConsumeBool() ? "[{\"name\":\"getLocation\",\"description\":\"d\",\"parameters\":{}}]"
                                                           : in_.ConsumeRandomLengthString(40));
          break;
        case 11: tool_result(); break;
        case 12:
          if (in_.ConsumeBool()) engine_->handle_ticket(now_, in_.ConsumeRandomLengthString(20));
          else engine_->handle_ticket(now_, std::nullopt);
          break;
        case 13: engine_->handle_open(now_); break;
        case 14: engine_->handle_frame(now_, in_.ConsumeRandomLengthString(400)); break;
        case 15:
        case 16: engine_->handle_frame(now_, templated()); break;
        case 17: engine_->handle_close(now_, in_.ConsumeBool() ? 1006 : 4008, in_.ConsumeBool() ? 0 : 401); break;
        case 18: timeout(); break;
        case 19:
          if (in_.ConsumeBool()) {
            now_ += in_.ConsumeIntegralInRange<int64_t>(0, 5000);
            engine_->handle_timeout(now_);
          } else {
            reload();
          }
          break;
      }
      drain();
      if (!engine_) return;
    }
  }

 private:
  void create() {
    auto e = client::ClientEngine::create(config_, *store_, entropy_, now_);
    require(e.ok(), "engine create on a store it wrote itself", e.ok() ? "" : e.error().message);
    engine_ = std::move(*e);
    drain();
    check_messages();
  }

  // A page reload: the engine goes away with whatever was in memory, a new one
  // restores from the same store.
  void reload() {
    engine_.reset();
    now_ += 5;
    create();
  }

  void send() {
    std::vector<std::string> images;
    std::string draft = "{\"content\":" + fuzz::quote(in_.ConsumeRandomLengthString(40));
    if (in_.ConsumeBool()) {
      draft += ",\"images\":[{\"mimeType\":\"image/png\",\"filename\":\"a.png\"}]";
      images.push_back(in_.ConsumeBool() ? fuzz::tiny_png(in_.ConsumeIntegralInRange<uint32_t>(0, 70), 2)
                                         : in_.ConsumeRandomLengthString(30));
    }
    draft += "}";
    if (in_.ConsumeBool() && in_.ConsumeBool()) draft = in_.ConsumeRandomLengthString(40);
    auto r = engine_->send(now_, draft, images);
    if (r.ok()) sent_.push_back(*r);
  }

  void tool_result() {
    std::string id = in_.ConsumeRandomLengthString(6);
    if (!tool_calls_.empty() && in_.ConsumeBool()) {
      id = tool_calls_[in_.ConsumeIntegralInRange<size_t>(0, tool_calls_.size() - 1)];
    }
    engine_->tool_result(now_, id, in_.ConsumeBool() ? "{\"lat\":1}" : in_.ConsumeRandomLengthString(20),
                         in_.ConsumeBool());
  }

  // Fires the timer as a host does: jump to poll_timeout() and call it.
  void timeout() {
    for (int i = 0; i < 4; ++i) {
      auto t = engine_->poll_timeout();
      if (!t) return;
      if (*t > now_) {
        if (i > 0) return;
        now_ = *t;
      } else if (i == 3) {
        fuzz::fail("poll_timeout stays at or before now after handle_timeout(now)",
                   std::to_string(*t) + " <= " + std::to_string(now_));
      }
      engine_->handle_timeout(now_);
      drain();
    }
  }

  std::string some_message() {
    if (!sent_.empty() && in_.ConsumeIntegralInRange<int>(0, 7) != 0) {
      return sent_[in_.ConsumeIntegralInRange<size_t>(0, sent_.size() - 1)];
    }
    return in_.ConsumeRandomLengthString(10);
  }

  std::string some_conversation() {
    switch (in_.ConsumeIntegralInRange<int>(0, 3)) {
      case 0: return "c-2";
      case 1: return in_.ConsumeRandomLengthString(8);
      default: return "c-1";
    }
  }

  std::string seq() {
    switch (in_.ConsumeIntegralInRange<int>(0, 5)) {
      case 0: return std::to_string(in_.ConsumeIntegral<int64_t>());
      case 1: return "0";
      case 2: return std::to_string(in_.ConsumeIntegralInRange<int64_t>(-3, 3));
      default: return std::to_string(++next_seq_ - in_.ConsumeIntegralInRange<int64_t>(0, 3));
    }
  }

  std::string templated() {
    const std::string ts = ",\"timestamp\":\"2026-11-23T13:47:50.123Z\"";
    const std::string msg = fuzz::quote(some_message());
    const std::string reply = fuzz::quote(kReplyIds[in_.ConsumeIntegralInRange<int>(0, 2)]);
    switch (in_.ConsumeIntegralInRange<int>(0, 12)) {
      case 0:
      case 1:
        return "{\"type\":\"connect_confirm\",\"conversationId\":" + fuzz::quote(some_conversation()) +
               ",\"connectionId\":\"k\",\"resumed\":" + (in_.ConsumeBool() ? "true" : "false") +
               ",\"recovered\":" + (in_.ConsumeBool() ? "true" : "false") + ",\"heartbeatMs\":" +
               (in_.ConsumeBool() ? "1000" : std::to_string(in_.ConsumeIntegral<int64_t>())) + ts + "}";
      case 2: return "{\"type\":\"pong\"" + ts + "}";
      case 3: {
        std::string f = "{\"type\":\"confirm\",\"messageId\":" + msg;
        if (in_.ConsumeBool()) {
          f += ",\"imageId\":\"i\",\"status\":\"" +
               std::string(in_.ConsumeBool() ? "processing" : in_.ConsumeBool() ? "analyzed" : "received") + "\"";
        }
        return f + ",\"seq\":" + seq() + ts + "}";
      }
      case 4:
        return "{\"type\":\"thinking\",\"replyTo\":" + msg + ",\"step\":\"s\",\"seq\":" + seq() + ts + "}";
      case 5:
        return "{\"type\":\"delta\",\"messageId\":" + reply + ",\"replyTo\":" + msg + ",\"index\":" +
               std::to_string(in_.ConsumeIntegralInRange<int64_t>(-1, 4)) + ",\"delta\":" +
               fuzz::quote(in_.ConsumeRandomLengthString(10)) + ts + "}";
      case 6: {
        std::string f = "{\"type\":\"response\",\"messageId\":" + reply + ",\"replyTo\":" + msg +
                        ",\"content\":" + fuzz::quote(in_.ConsumeRandomLengthString(20)) + ",\"seq\":" + seq() + ts;
        if (in_.ConsumeBool()) f += ",\"cancelled\":true";
        if (in_.ConsumeBool()) {
          f += ",\"imageAnalysis\":[{\"imageId\":\"i\",\"description\":\"d\",\"category\":\"c\",\"condition\":\"k\","
               "\"features\":[],\"recommendations\":[]}]";
        }
        return f + "}";
      }
      case 7: {
        std::string id = in_.ConsumeBool() ? "t-1" : in_.ConsumeRandomLengthString(6);
        tool_calls_.push_back(id);
        return "{\"type\":\"tool_call\",\"toolCallId\":" + fuzz::quote(id) + ",\"replyTo\":" + msg +
               ",\"name\":\"getLocation\",\"arguments\":{},\"seq\":" + seq() + ts + "}";
      }
      case 8:
        return "{\"type\":\"component\",\"componentId\":\"k-1\",\"replyTo\":" + msg +
               ",\"component\":\"form\",\"props\":{\"fields\":[]},\"seq\":" + seq() + ts + "}";
      case 9: return std::string("{\"type\":\"typing\",\"isTyping\":") + (in_.ConsumeBool() ? "true" : "false") + ts + "}";
      case 10: {
        std::string f = "{\"type\":\"history\",\"conversationId\":" + fuzz::quote(some_conversation()) + ",\"messages\":[";
        const int n = in_.ConsumeIntegralInRange<int>(0, 3);
        for (int i = 0; i < n; ++i) {
          if (i) f += ",";
          if (in_.ConsumeBool()) {
            f += "{\"seq\":" + seq() + ",\"role\":\"user\",\"messageId\":" + fuzz::quote(some_message()) +
                 ",\"content\":\"u\"" + ts + "}";
          } else {
            f += "{\"seq\":" + seq() + ",\"role\":\"assistant\",\"messageId\":" + reply + ",\"replyTo\":" +
                 fuzz::quote(some_message()) + ",\"content\":\"a\"" + ts + "}";
          }
        }
        return f + "],\"hasMore\":" + (in_.ConsumeBool() ? "true" : "false") + "}";
      }
      default: {
        const char* codes[] = {"rate_limited", "internal", "invalid_field", "unauthorized", "not_found"};
        std::string f = "{\"type\":\"error\",\"code\":\"" + std::string(codes[in_.ConsumeIntegralInRange<int>(0, 4)]) +
                        "\",\"error\":\"e\"";
        if (in_.ConsumeBool()) f += ",\"messageId\":" + msg;
        if (in_.ConsumeBool()) f += ",\"retryAfterMs\":" + std::to_string(in_.ConsumeIntegralInRange<int64_t>(-5, 3000));
        if (in_.ConsumeBool()) f += ",\"seq\":" + seq();
        return f + ts + "}";
      }
    }
  }

  void drain() {
    if (!engine_) return;
    while (auto a = engine_->poll_action()) {
      using Kind = client::ClientEngine::Action::Kind;
      if (a->kind == Kind::transmit) {
        require(fuzz::valid_utf8(a->text), "engine transmitted a text frame that is not UTF-8", a->text);
        auto decoded = protocol::decode_client_frame(a->text, Limits{});
        require(decoded.ok(), "engine transmitted an invalid client frame",
                a->text + " -> " + (decoded.ok() ? "" : decoded.error().message));
      } else if (a->kind == Kind::run_tool) {
        tool_calls_.push_back(a->tool_call_id);
      }
    }
    while (auto e = engine_->poll_event()) {
      require(fuzz::valid_utf8(*e), "UI event is not UTF-8", *e);
      fuzz::Json j(*e);
      require(j.ok && j.doc.IsObject(), "event is not a JSON object", *e);
      static const std::set<std::string> kTypes = {"connection", "message", "thinking", "delta", "typing",
                                                   "component",  "error",   "system",   "history"};
      require(kTypes.count(j.s("type")) == 1, "unknown event type", *e);
      if (j.s("type") == "message") {
        const auto* m = j.get("message");
        require(m && m->IsObject(), "message event without a message", *e);
        observe(*m, *e);
      }
    }
    check_messages();
  }

  void observe(const rapidjson::Value& m, const std::string& context) {
    if (fuzz::str_of(m, "role") != "user") return;
    const std::string id = fuzz::str_of(m, "id");
    const std::string status = fuzz::str_of(m, "status");
    require(rank(status) != -2, "unknown user message status", context);
    auto it = status_.find(id);
    if (it != status_.end() && it->second != status) {
      const std::string& old = it->second;
      require(old != "processed", "a processed message changed status", old + " -> " + status + ": " + context);
      if (old != "failed") {
        require(status == "failed" || rank(status) > rank(old), "a user message status moved backwards",
                old + " -> " + status + ": " + context);
      }
    }
    status_[id] = status;
  }

  void check_messages() {
    const std::string text = engine_->messages_json();
    rapidjson::Document doc;
    doc.Parse(text.c_str(), text.size());
    require(!doc.HasParseError() && doc.IsArray(), "messages_json is not a JSON array", text);
    std::set<std::string> ids;
    for (const auto& m : doc.GetArray()) {
      const std::string id = fuzz::str_of(m, "id");
      require(ids.insert(id).second, "messages_json has a duplicate id", id);
      observe(m, text);
    }
  }

  FuzzedDataProvider& in_;
  client::ClientConfig config_;
  fuzz::FuzzEntropy entropy_;
  std::unique_ptr<store::ClientStore> store_;
  std::unique_ptr<client::ClientEngine> engine_;
  int64_t now_ = kStart;
  int64_t next_seq_ = 0;
  std::vector<std::string> sent_;
  std::vector<std::string> tool_calls_;
  std::map<std::string, std::string> status_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  ClientFuzz f(in);
  f.run();
  return 0;
}
