// Regression tests for what the fuzzers (tests/fuzz), the sanitizer builds, the
// bad-input corpus and the chaos run (tests/chaos) found. One test per bug,
// named after it; each failed before its fix. Where a whole deployment is
// needed, a ClientEngine and a ServerHub are wired back to back in memory with
// a fake clock (a real deployment minus the sockets).
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/client/client_engine.h"
#include "core/protocol/codec.h"
#include "core/server/server_hub.h"
#include "core/store/server_store.h"

namespace chatwire::regressions {
namespace {

constexpr int64_t kT0 = 1795000000000;

class SeqEntropy : public Entropy {
 public:
  explicit SeqEntropy(uint64_t seed) : state_(seed) {}
  void fill(uint8_t* out, size_t n) override {
    for (size_t i = 0; i < n; ++i) {
      state_ = state_ * 6364136223846793005ull + 1442695040888963407ull;
      out[i] = static_cast<uint8_t>(state_ >> 56);
    }
  }

 private:
  uint64_t state_;
};

rapidjson::Document parse(const std::string& text) {
  rapidjson::Document d;
  d.Parse(text.c_str(), text.size());
  return d;
}

std::string str(const rapidjson::Value& v, const char* key) {
  auto it = v.FindMember(key);
  return it != v.MemberEnd() && it->value.IsString() ? it->value.GetString() : "";
}

// A client engine on its own (no server): the test plays the server's frames.
struct LoneEngine {
  explicit LoneEngine(uint64_t seed) : entropy(seed) {
    store = std::move(*store::ClientStore::open(":memory:"));
    client::ClientConfig config;
    config.url = "ws://test/ws/chat";
    engine = std::move(*client::ClientEngine::create(config, *store, entropy, kT0));
  }
  // Takes every pending action and event; returns the frames it transmitted.
  std::vector<std::string> drain() {
    std::vector<std::string> sent;
    while (auto a = engine->poll_action()) {
      if (a->kind == client::ClientEngine::Action::Kind::transmit) sent.push_back(a->text);
    }
    while (engine->poll_event()) {
    }
    return sent;
  }
  SeqEntropy entropy;
  std::unique_ptr<store::ClientStore> store;
  std::unique_ptr<client::ClientEngine> engine;
};

// One client engine and one server hub joined by an in-memory "socket".
class Wire {
 public:
  Wire() : client_entropy_(7), server_entropy_(9) {
    server_store_ = std::move(*store::ServerStore::open(":memory:"));
    hub_ = std::make_unique<server::ServerHub>(server::HubConfig{}, *server_store_, server_entropy_);
    client_store_ = std::move(*store::ClientStore::open(":memory:"));
    client::ClientConfig config;
    config.url = "ws://test/ws/chat";
    config.reconnect.delays_ms = {50};
    config.reconnect.min_delay_ms = 50;
    engine_ = std::move(*client::ClientEngine::create(config, *client_store_, client_entropy_, now));
  }

  // Moves everything both sides want to say until both are quiet.
  void pump() {
    for (bool busy = true; busy;) {
      busy = false;
      while (auto a = engine_->poll_action()) {
        busy = true;
        using Kind = client::ClientEngine::Action::Kind;
        if (a->kind == Kind::open) {
          conn_ = ++next_conn_;
          hub_->handle_open(now, conn_, "", "127.0.0.1");
          engine_->handle_open(now);
        } else if (a->kind == Kind::transmit && conn_) {
          hub_->handle_frame(now, conn_, a->text);
        } else if (a->kind == Kind::close && conn_) {
          hub_->handle_close(now, conn_, a->code);
          conn_ = 0;
        }
      }
      while (auto t = hub_->poll_transmit()) {
        busy = true;
        if (t->conn == conn_) engine_->handle_frame(now, t->text);
      }
      while (auto c = hub_->poll_close()) {
        busy = true;
        hub_->handle_close(now, c->conn, c->code);
        if (c->conn == conn_) {
          conn_ = 0;
          engine_->handle_close(now, c->code, 0);
        }
      }
      while (auto e = hub_->poll_event()) {
        busy = true;
        auto d = parse(*e);
        if (str(d, "type") == "message") turns.push_back(str(d, "turnId"));
      }
      while (engine_->poll_event()) {
      }
    }
  }

  // A field of the engine's user message `id` (or of the reply to it).
  std::optional<std::string> field(const std::string& id, const char* key, bool reply = false) {
    auto d = parse(engine_->messages_json());
    for (const auto& m : d.GetArray()) {
      if ((reply ? str(m, "replyTo") : str(m, "id")) == id) return str(m, key);
    }
    return std::nullopt;
  }
  size_t count(const std::string& reply_to) {
    auto d = parse(engine_->messages_json());
    size_t n = 0;
    for (const auto& m : d.GetArray()) n += str(m, "replyTo") == reply_to;
    return n;
  }

  client::ClientEngine& engine() { return *engine_; }
  server::ServerHub& hub() { return *hub_; }

  int64_t now = kT0;
  std::vector<std::string> turns;

 private:
  SeqEntropy client_entropy_;
  SeqEntropy server_entropy_;
  std::unique_ptr<store::ServerStore> server_store_;
  std::unique_ptr<server::ServerHub> hub_;
  std::unique_ptr<store::ClientStore> client_store_;
  std::unique_ptr<client::ClientEngine> engine_;
  server::ConnId conn_ = 0;
  server::ConnId next_conn_ = 0;
};

// Chaos run: a message whose turn failed AFTER its reply had started (a
// thinking step was shown, then the handler failed) was retried by the user;
// the server processed the retry and sent a new thinking step and the
// response, but the client dropped both as events of a "finished" (failed)
// reply, so the message stayed `received` and its reply never appeared.
TEST(Regression, RetriedMessageWhoseReplyHadFailedShowsTheNewReply) {
  Wire w;
  w.engine().connect(w.now);
  w.pump();
  auto id = w.engine().send(w.now, R"({"content":"hello"})", {});
  ASSERT_TRUE(id.ok());
  w.pump();
  ASSERT_EQ(w.turns.size(), 1u);
  ASSERT_TRUE(w.hub().thinking(w.now, w.turns[0], "Analyzing your request...").ok());
  ASSERT_TRUE(w.hub().fail(w.now, w.turns[0], ErrorCode::internal, "the assistant failed").ok());
  w.pump();
  EXPECT_EQ(w.field(*id, "status"), "failed");
  EXPECT_EQ(w.field(*id, "status", true), "failed");

  ASSERT_TRUE(w.engine().retry(w.now, *id).ok());
  w.pump();
  ASSERT_EQ(w.turns.size(), 2u) << "the retry is processed again";
  ASSERT_TRUE(w.hub().thinking(w.now, w.turns[1], "Trying again...").ok());
  ASSERT_TRUE(w.hub().delta(w.now, w.turns[1], "hi ").ok());
  ASSERT_TRUE(w.hub().respond(w.now, w.turns[1], R"({"content":"hi there"})").ok());
  w.pump();

  EXPECT_EQ(w.field(*id, "status"), "processed");
  EXPECT_EQ(w.field(*id, "status", true), "complete");
  EXPECT_EQ(w.field(*id, "content", true), "hi there");
  EXPECT_EQ(w.count(*id), 1u) << "one reply, not the failed one plus a new one";
}

// Same, when the failed attempt had already streamed under its server reply
// id: the reopened reply takes the new run's id and text.
TEST(Regression, RetriedMessageWhoseStreamedReplyHadFailedShowsTheNewReply) {
  Wire w;
  w.engine().connect(w.now);
  w.pump();
  auto id = w.engine().send(w.now, R"({"content":"hello"})", {});
  ASSERT_TRUE(id.ok());
  w.pump();
  ASSERT_TRUE(w.hub().delta(w.now, w.turns[0], "partial").ok());
  ASSERT_TRUE(w.hub().fail(w.now, w.turns[0], ErrorCode::internal, "the assistant failed").ok());
  w.pump();
  ASSERT_EQ(w.field(*id, "status", true), "failed");
  const std::string old_reply_id = *w.field(*id, "id", true);

  ASSERT_TRUE(w.engine().retry(w.now, *id).ok());
  w.pump();
  ASSERT_EQ(w.turns.size(), 2u);
  ASSERT_TRUE(w.hub().delta(w.now, w.turns[1], "whole ").ok());
  ASSERT_TRUE(w.hub().delta(w.now, w.turns[1], "answer").ok());
  w.pump();
  EXPECT_EQ(w.field(*id, "content", true), "whole answer") << "deltas of the new run count from index 0";
  ASSERT_TRUE(w.hub().respond(w.now, w.turns[1], "{}").ok());
  w.pump();
  EXPECT_EQ(w.field(*id, "status"), "processed");
  EXPECT_EQ(w.field(*id, "content", true), "whole answer");
  EXPECT_NE(w.field(*id, "id", true), old_reply_id);
  EXPECT_EQ(w.count(*id), 1u);
}

// Bad-input corpus: RapidJSON 1.1.0 refuses a lone HIGH surrogate escape but
// decodes a lone LOW one (or a low one before a high one) into bytes that are
// not UTF-8. The server took such a message, stored it and echoed it back in
// text frames a browser must refuse (1007), on every replay.
TEST(Regression, LoneLowSurrogateEscapeIsBadJson) {
  const std::string head =
      R"({"type":"message","messageId":"m-1","clientId":"c-1","timestamp":"2026-11-23T13:47:50.123Z","content":")";
  for (const char* bad : {R"(\udc00)", R"(\uDFFF)", R"(x\udc00y)", R"(\udc00\ud800)", R"(\ud83d\ude00\udc00)"}) {
    auto r = protocol::decode_client_frame(head + bad + "\"}", Limits{});
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().code, ErrorCode::bad_json) << bad;
    auto s = protocol::decode_server_frame(std::string(R"({"type":"thinking","replyTo":"m","step":")") + bad +
                                               R"(","seq":1,"timestamp":"2026-11-23T13:47:50.123Z"})",
                                           Limits{});
    EXPECT_FALSE(s.ok()) << "the client refuses it too: " << bad;
  }
  // Not lone: a backslash-escaped backslash before "udc00", proper pairs, BMP escapes.
  for (const char* good : {R"(\\udc00)", R"(\ud83d\ude00)", R"(\u00e9\u20ac)", R"(\uD83D\uDE00)"}) {
    auto r = protocol::decode_client_frame(head + good + "\"}", Limits{});
    EXPECT_TRUE(r.ok()) << good << ": " << (r.ok() ? "" : r.error().message);
  }
}

// fuzz_client_engine (UBSan: signed integer overflow): a server's
// connect_confirm with heartbeatMs 2^63-1, or a rate_limited error with
// retryAfterMs 2^63-1, was added to `now`. Wrapped around, the next deadline
// lay in the past: a host loop firing poll_timeout() would spin, and the held
// message would be resent at once.
// fuzz_frame_decoder: a number past int64 in a value kept as JSON text (a
// tool result, tool arguments, component props) changed each time it was
// decoded and encoded again (192233720036854800000.0, then ...820000.0):
// RapidJSON's default parse of long numbers is not always the nearest double.
// A tool result stored and relayed would not be the one the tool returned.
TEST(Regression, LongNumbersInRawValuesReencodeToTheSameText) {
  for (const char* number : {"192233720036854775808", "1.7976931348623157e308", "0.30000000000000004",
                             "123456789012345678901234567890", "-9.999999999999999e-300"}) {
    const std::string text =
        std::string(R"({"type":"tool_result","toolCallId":"t1","result":[)") + number + "]}";
    auto once = protocol::decode_client_frame(text, Limits{});
    ASSERT_TRUE(once.ok()) << number;
    const std::string canonical = protocol::encode(*once);
    auto twice = protocol::decode_client_frame(canonical, Limits{});
    ASSERT_TRUE(twice.ok()) << canonical;
    EXPECT_EQ(protocol::encode(*twice), canonical) << number;
  }
}

TEST(Regression, HugeHeartbeatAndRetryAfterFromAServerDoNotOverflowTimers) {
  LoneEngine lone(3);
  auto& engine = lone.engine;
  auto drain = [&] { return lone.drain(); };
  int64_t now = kT0;
  engine->connect(now);
  drain();
  engine->handle_open(now);
  drain();
  engine->handle_frame(now, R"({"type":"connect_confirm","conversationId":"c","connectionId":"k","resumed":false,)"
                            R"("recovered":true,"heartbeatMs":9223372036854775807,"timestamp":"2026-11-23T13:47:50.123Z"})");
  drain();
  ASSERT_EQ(engine->status(), client::ClientEngine::Status::open);
  ASSERT_TRUE(engine->poll_timeout().has_value());
  EXPECT_GT(*engine->poll_timeout(), now) << "the next ping is in the future, not wrapped into the past";

  auto id = engine->send(now, R"({"content":"hi"})", {});
  ASSERT_TRUE(id.ok());
  drain();
  engine->handle_frame(now, R"({"type":"error","code":"rate_limited","error":"slow down","messageId":")" + *id +
                                R"(","retryAfterMs":9223372036854775807,"timestamp":"2026-11-23T13:47:50.123Z"})");
  drain();
  now += 1000;
  engine->handle_timeout(now);
  for (const auto& frame : drain()) EXPECT_EQ(frame.find(*id), std::string::npos) << "held, not resent: " << frame;
  EXPECT_GT(*engine->poll_timeout(), now);
}

// fuzz_client_engine: a server that reuses one reply id for the replies to two
// messages (or names a reply after a user message) made two messages with the
// same id; the UI keys messages by id, so one replaced the other on screen.
// Ids stay unique: a taken server id is not adopted, the reply keeps its
// provisional id, and each reply still gets its own text.
TEST(Regression, ServerReplyIdReusedForAnotherMessageKeepsIdsUnique) {
  LoneEngine lone(5);
  auto& engine = lone.engine;
  auto drain = [&] { lone.drain(); };
  const std::string ts = R"(,"timestamp":"2026-11-23T13:47:50.123Z")";
  engine->connect(kT0);
  drain();
  engine->handle_open(kT0);
  drain();
  engine->handle_frame(kT0, R"({"type":"connect_confirm","conversationId":"c","connectionId":"k","resumed":false,)"
                            R"("recovered":true,"heartbeatMs":10000)" + ts + "}");
  auto a = engine->send(kT0, R"({"content":"first"})", {});
  auto b = engine->send(kT0, R"({"content":"second"})", {});
  ASSERT_TRUE(a.ok() && b.ok());
  drain();
  auto frame = [&](const std::string& text) {
    engine->handle_frame(kT0, text);
    drain();
  };
  frame(R"({"type":"delta","messageId":"r-2","replyTo":")" + *a + R"(","index":0,"delta":"for A")" + ts + "}");
  frame(R"({"type":"thinking","replyTo":")" + *b + R"(","step":"s","seq":1)" + ts + "}");
  frame(R"({"type":"delta","messageId":"r-2","replyTo":")" + *b + R"(","index":0,"delta":"for B")" + ts + "}");
  frame(R"({"type":"response","messageId":"r-2","replyTo":")" + *b + R"(","content":"B done","seq":2)" + ts + "}");
  frame(R"({"type":"response","messageId":")" + *a + R"(","replyTo":")" + *a + R"(","content":"A done","seq":3)" + ts + "}");

  auto doc = parse(engine->messages_json());
  std::set<std::string> ids;
  std::map<std::string, std::string> reply_text;
  for (const auto& m : doc.GetArray()) {
    EXPECT_TRUE(ids.insert(str(m, "id")).second) << "duplicate id " << str(m, "id");
    if (str(m, "role") == "assistant") {
      EXPECT_EQ(reply_text.count(str(m, "replyTo")), 0u) << "two replies to one message";
      reply_text[str(m, "replyTo")] = str(m, "content");
    }
  }
  EXPECT_EQ(ids.size(), 4u);
  EXPECT_EQ(reply_text[*a], "A done");
  EXPECT_EQ(reply_text[*b], "B done");
}

}  // namespace
}  // namespace chatwire::regressions
