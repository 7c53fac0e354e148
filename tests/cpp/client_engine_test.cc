// ClientEngine driven through its inputs with a fake clock that jumps to
// poll_timeout(); server frames are built with the protocol codec. No sleeps.
#include "core/client/client_engine.h"

#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <rapidjson/pointer.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "core/media/base64.h"
#include "core/protocol/codec.h"
#include "core/protocol/time.h"
#include "minimal_images.h"

namespace chatwire::client {
namespace {

using Kind = ClientEngine::Action::Kind;
using Action = ClientEngine::Action;
using store::ClientStore;

constexpr int64_t kT0 = 1795000000000;  // 2026-11-18

// Deterministic, distinct bytes (an LCG stepped per byte).
class FakeEntropy : public Entropy {
 public:
  void fill(uint8_t* out, size_t n) override {
    for (size_t i = 0; i < n; ++i) {
      state_ = state_ * 6364136223846793005ull + 1442695040888963407ull;
      out[i] = static_cast<uint8_t>(state_ >> 56);
    }
  }

 private:
  uint64_t state_ = 42;
};

// Every byte the same: random_unit() is a fixed, known value.
class FixedEntropy : public Entropy {
 public:
  explicit FixedEntropy(uint8_t b) : b_(b) {}
  void fill(uint8_t* out, size_t n) override {
    for (size_t i = 0; i < n; ++i) out[i] = b_;
  }

 private:
  uint8_t b_;
};

// A parsed JSON text with JSON-pointer accessors.
class J {
 public:
  explicit J(std::string text) : text_(std::move(text)) { doc_.Parse(text_.c_str()); }
  J(const J& other) : J(other.text_) {}
  J& operator=(const J& other) {
    text_ = other.text_;
    doc_.Parse(text_.c_str());
    return *this;
  }
  bool ok() const { return !doc_.HasParseError(); }
  const rapidjson::Value* at(const char* p) const { return rapidjson::Pointer(p).Get(doc_); }
  bool has(const char* p) const { return at(p) != nullptr; }
  std::string s(const char* p) const {
    auto v = at(p);
    return v && v->IsString() ? std::string(v->GetString(), v->GetStringLength()) : "<missing " + std::string(p) + ">";
  }
  int64_t i(const char* p) const {
    auto v = at(p);
    return v && v->IsInt64() ? v->GetInt64() : INT64_MIN;
  }
  bool b(const char* p) const {
    auto v = at(p);
    return v && v->IsBool() && v->GetBool();
  }
  bool is_null(const char* p) const {
    auto v = at(p);
    return v && v->IsNull();
  }
  size_t size(const char* p = "") const {
    auto v = at(p);
    return v && v->IsArray() ? v->Size() : 0;
  }
  std::string raw(const char* p) const {
    auto v = at(p);
    return v ? protocol::to_json_text(*v) : "<missing>";
  }
  const std::string& text() const { return text_; }

 private:
  std::string text_;
  rapidjson::Document doc_;
};

// ------------------------------------------------------------------ server frames

const std::string kTs = "2026-11-23T13:47:50.123Z";

std::string enc(const protocol::ServerFrame& f) { return protocol::encode(f); }

std::string connect_confirm(const std::string& conv = "conv-1", bool resumed = false, bool recovered = true,
                            int64_t heartbeat_ms = 10000) {
  protocol::ConnectConfirm c;
  c.conversation_id = conv;
  c.connection_id = "conn-x";
  c.resumed = resumed;
  c.recovered = recovered;
  c.heartbeat_ms = heartbeat_ms;
  c.timestamp = kTs;
  return enc(c);
}
std::string confirm(const std::string& id, int64_t seq) {
  protocol::Confirm c;
  c.message_id = id;
  c.seq = seq;
  c.timestamp = kTs;
  return enc(c);
}
std::string image_confirm(const std::string& id, const std::string& image, const std::string& status, int64_t seq) {
  protocol::Confirm c;
  c.message_id = id;
  c.image_id = image;
  c.status = status;
  c.seq = seq;
  c.timestamp = kTs;
  return enc(c);
}
std::string thinking(const std::string& reply_to, const std::string& step, int64_t seq) {
  return enc(protocol::Thinking{reply_to, step, seq, kTs});
}
std::string delta(const std::string& id, const std::string& reply_to, int64_t index, const std::string& text) {
  return enc(protocol::Delta{id, reply_to, index, text, kTs});
}
std::string response(const std::string& id, const std::string& reply_to, const std::string& content, int64_t seq,
                     bool cancelled = false, std::optional<std::vector<protocol::ImageAnalysis>> analysis = {}) {
  protocol::Response r;
  r.message_id = id;
  r.reply_to = reply_to;
  r.content = content;
  r.seq = seq;
  r.timestamp = kTs;
  r.cancelled = cancelled;
  r.image_analysis = std::move(analysis);
  return enc(r);
}
std::string tool_call(const std::string& id, const std::string& reply_to, int64_t seq) {
  return enc(protocol::ToolCall{id, reply_to, "getLocation", protocol::RawJson{R"({"precise":true})"}, seq, kTs});
}
std::string component(const std::string& id, const std::string& reply_to, int64_t seq) {
  return enc(protocol::Component{id, reply_to, "form", protocol::RawJson{R"({"fields":[]})"}, seq, kTs});
}
std::string error_frame(ErrorCode code, const std::string& text, const std::string& message_id,
                        int64_t retry_after_ms = -1) {
  protocol::ErrorEvent e;
  e.error = Error(code, text);
  e.error.message_id = message_id;
  e.error.retry_after_ms = retry_after_ms;
  e.timestamp = kTs;
  return enc(e);
}
std::string pong() { return enc(protocol::Pong{kTs}); }

protocol::HistoryEntry user_entry(const std::string& id, int64_t seq, const std::string& content) {
  protocol::HistoryEntry e;
  e.seq = seq;
  e.role = "user";
  e.message_id = id;
  e.content = content;
  e.timestamp = kTs;
  return e;
}
protocol::HistoryEntry reply_entry(const std::string& id, const std::string& reply_to, int64_t seq,
                                   const std::string& content) {
  protocol::HistoryEntry e;
  e.seq = seq;
  e.role = "assistant";
  e.message_id = id;
  e.reply_to = reply_to;
  e.content = content;
  e.timestamp = kTs;
  return e;
}
std::string history(const std::string& conv, std::vector<protocol::HistoryEntry> entries, bool has_more) {
  protocol::History h;
  h.conversation_id = conv;
  h.messages = std::move(entries);
  h.has_more = has_more;
  return enc(h);
}

// Image files whose structure media::sniff_image walks (pixels are never decoded).
std::string png(uint32_t w, uint32_t h) { return test_images::minimal_png(w, h); }
std::string gif(uint16_t w, uint16_t h) { return test_images::minimal_gif(w, h); }

// ------------------------------------------------------------------ harness

// WebSocket only: the reconnect tests count refused WebSockets as failed
// attempts; the HTTP fallback has its own tests (ClientEngineTransports).
ClientConfig test_config() {
  ClientConfig c;
  c.url = "ws://127.0.0.1:8080/ws/chat";
  c.transports = {"websocket"};
  return c;
}

class TempDb {
 public:
  TempDb() {
    static int counter = 0;
    path_ = "/tmp/chatwire_client_engine_" + std::to_string(::getpid()) + "_" + std::to_string(++counter) + ".db";
    remove_files();
  }
  ~TempDb() { remove_files(); }
  const std::string& path() const { return path_; }

 private:
  void remove_files() {
    std::remove(path_.c_str());
    std::remove((path_ + "-journal").c_str());
  }
  std::string path_;
};

// One engine on its own store, with its outputs collected after every input.
class Client {
 public:
  explicit Client(ClientConfig config = test_config(), const std::string& path = ":memory:",
                  Entropy* entropy = nullptr)
      : entropy_(entropy ? entropy : &own_entropy_) {
    auto s = ClientStore::open(path);
    EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error().message);
    store = std::move(*s);
    auto e = ClientEngine::create(std::move(config), *store, *entropy_, now);
    EXPECT_TRUE(e.ok()) << (e.ok() ? "" : e.error().message);
    engine = std::move(*e);
  }

  void drain() {
    while (auto a = engine->poll_action()) actions.push_back(std::move(*a));
    while (auto e = engine->poll_event()) events.push_back(std::move(*e));
  }
  void clear() {
    drain();
    actions.clear();
    events.clear();
  }

  // ---- inputs (each drains)
  void connect() { engine->connect(now), drain(); }
  void open() { engine->handle_open(now), drain(); }
  void frame(const std::string& text) { engine->handle_frame(now, text), drain(); }
  void close(int code = 1006, int http = 0) { engine->handle_close(now, code, http), drain(); }
  // Jumps the clock to the next deadline and fires it.
  int64_t tick() {
    auto t = engine->poll_timeout();
    EXPECT_TRUE(t.has_value());
    if (!t) return now;
    EXPECT_GE(*t, now);
    now = *t;
    engine->handle_timeout(now);
    drain();
    return now;
  }
  void connect_and_confirm(const std::string& conv = "conv-1", bool resumed = false, bool recovered = true) {
    connect();
    open();
    frame(connect_confirm(conv, resumed, recovered));
  }
  // After a loss: waits for the retry, opens, and confirms the resumed conversation.
  void resume(const std::string& conv = "conv-1", bool recovered = true) {
    tick();
    open();
    frame(connect_confirm(conv, true, recovered));
  }
  std::string send(const std::string& content) {
    auto r = engine->send(now, R"({"content":")" + content + R"("})", {});
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
    drain();
    return r.ok() ? *r : "";
  }

  // ---- outputs
  std::vector<J> sent() const {  // transmitted frames
    std::vector<J> out;
    for (const auto& a : actions) {
      if (a.kind == Kind::transmit) out.emplace_back(a.text);
    }
    return out;
  }
  std::vector<std::string> sent_types() const {
    std::vector<std::string> out;
    for (const auto& f : sent()) out.push_back(f.s("/type"));
    return out;
  }
  std::vector<const Action*> of_kind(Kind k) const {
    std::vector<const Action*> out;
    for (const auto& a : actions) {
      if (a.kind == k) out.push_back(&a);
    }
    return out;
  }
  std::vector<J> events_of(const std::string& type) const {
    std::vector<J> out;
    for (const auto& e : events) {
      J j(e);
      if (j.s("/type") == type) out.emplace_back(e);
    }
    return out;
  }
  std::vector<std::string> system_kinds() const {
    std::vector<std::string> out;
    for (const auto& e : events_of("system")) out.push_back(e.s("/kind"));
    return out;
  }
  J connection() const { return J(engine->connection_json()); }
  J messages() const { return J(engine->messages_json()); }

  int64_t now = kT0;
  std::vector<Action> actions;
  std::vector<std::string> events;
  std::unique_ptr<ClientStore> store;
  std::unique_ptr<ClientEngine> engine;

 private:
  FakeEntropy own_entropy_;
  Entropy* entropy_;
};

using Strings = std::vector<std::string>;

// ================================================================== connection

TEST(ClientEngineConnection, FirstConnectOpensSendsConnectAndIsOpenAfterConfirm) {
  Client c;
  EXPECT_EQ(c.connection().s("/status"), "idle");
  EXPECT_FALSE(c.engine->poll_timeout().has_value());
  c.connect();
  ASSERT_EQ(c.actions.size(), 1u);
  EXPECT_EQ(c.actions[0].kind, Kind::open);
  EXPECT_EQ(c.actions[0].url, "ws://127.0.0.1:8080/ws/chat");
  auto conn = c.events_of("connection");
  ASSERT_EQ(conn.size(), 1u);
  EXPECT_EQ(conn[0].s("/status"), "connecting");
  EXPECT_EQ(conn[0].i("/attempt"), 0);
  EXPECT_TRUE(conn[0].is_null("/nextRetryAt"));
  EXPECT_TRUE(conn[0].is_null("/conversationId"));

  c.clear();
  c.open();
  ASSERT_EQ(c.sent().size(), 1u);
  J hello = c.sent()[0];
  EXPECT_EQ(hello.s("/type"), "connect");
  EXPECT_EQ(hello.s("/clientId"), c.engine->client_id());
  EXPECT_TRUE(is_uuid(c.engine->client_id()));
  EXPECT_FALSE(hello.has("/conversationId"));
  EXPECT_FALSE(hello.has("/lastSeq"));
  EXPECT_EQ(c.connection().s("/status"), "connecting");  // open only after connect_confirm

  c.clear();
  c.frame(connect_confirm("conv-1"));
  EXPECT_EQ(c.connection().s("/status"), "open");
  EXPECT_EQ(c.connection().s("/conversationId"), "conv-1");
  EXPECT_EQ(c.events_of("connection").at(0).s("/status"), "open");
  EXPECT_EQ(c.system_kinds(), Strings{"established"});

  // Lost, then resumed: connect names the conversation and lastSeq.
  c.clear();
  c.close(1006);
  EXPECT_EQ(c.system_kinds(), (Strings{"lost", "reconnecting"}));
  EXPECT_EQ(c.connection().s("/status"), "reconnecting");
  EXPECT_EQ(c.connection().i("/attempt"), 1);
  EXPECT_EQ(c.connection().i("/nextRetryAt"), kT0 + 5000);
  c.clear();
  c.tick();
  ASSERT_EQ(c.of_kind(Kind::open).size(), 1u);
  c.open();
  J again = c.sent().at(0);
  EXPECT_EQ(again.s("/conversationId"), "conv-1");
  EXPECT_EQ(again.i("/lastSeq"), 0);
  c.clear();
  c.frame(connect_confirm("conv-1", true));
  EXPECT_EQ(c.system_kinds(), Strings{"restored"});
  EXPECT_EQ(c.connection().i("/attempt"), 0);
}

TEST(ClientEngineConnection, ThreeRefusedAttemptsAreSpaced5_10_20SecondsThenFailed) {
  Client c;
  c.connect();
  std::vector<int64_t> opened{c.now};
  c.close(0, 401);  // the first connect is not an attempt
  EXPECT_EQ(c.connection().s("/status"), "reconnecting");
  EXPECT_EQ(c.connection().i("/attempt"), 1);
  EXPECT_EQ(c.connection().i("/nextRetryAt"), kT0 + 5000);
  for (int attempt = 1; attempt <= 3; ++attempt) {
    c.clear();
    c.tick();
    ASSERT_EQ(c.of_kind(Kind::open).size(), 1u) << "attempt " << attempt;
    opened.push_back(c.now);
    EXPECT_EQ(c.connection().s("/status"), "reconnecting");
    EXPECT_EQ(c.connection().i("/attempt"), attempt);
    c.close(0, 401);
  }
  EXPECT_EQ(opened, (std::vector<int64_t>{kT0, kT0 + 5000, kT0 + 15000, kT0 + 35000}));
  EXPECT_EQ(c.connection().s("/status"), "failed");
  EXPECT_EQ(c.connection().i("/attempt"), 3);
  EXPECT_TRUE(c.connection().is_null("/nextRetryAt"));
  EXPECT_EQ(c.system_kinds(), (Strings{"error", "failed"}));
  EXPECT_FALSE(c.engine->poll_timeout().has_value());  // nothing more happens by itself
}

TEST(ClientEngineConnection, VisibleOrOnlineWhileFailedStartsANewCycle) {
  Client c;
  c.connect();
  c.close(0, 401);
  for (int i = 0; i < 3; ++i) {
    c.tick();
    c.close(0, 401);
  }
  ASSERT_EQ(c.connection().s("/status"), "failed");

  c.clear();
  c.engine->visibility_changed(c.now, false);
  c.drain();
  EXPECT_TRUE(c.actions.empty());
  c.engine->online(c.now + 1);  // online is handled too, but check visible first
  c.drain();
  ASSERT_EQ(c.of_kind(Kind::open).size(), 1u);
  EXPECT_EQ(c.connection().s("/status"), "connecting");
  EXPECT_EQ(c.connection().i("/attempt"), 0);
  c.close(0, 503);
  EXPECT_EQ(c.connection().i("/attempt"), 1);  // counting restarted

  // online while waiting to retry: a new cycle now, not at nextRetryAt.
  c.clear();
  c.now += 1000;
  c.engine->online(c.now);
  c.drain();
  ASSERT_EQ(c.of_kind(Kind::open).size(), 1u);
  EXPECT_EQ(c.connection().s("/status"), "connecting");
  EXPECT_TRUE(c.connection().is_null("/nextRetryAt"));

  // Exhaust again, then the tab becomes visible.
  c.close(0, 503);
  for (int i = 0; i < 3; ++i) {
    c.tick();
    c.close(0, 503);
  }
  ASSERT_EQ(c.connection().s("/status"), "failed");
  c.clear();
  c.engine->visibility_changed(c.now, true);
  c.drain();
  ASSERT_EQ(c.of_kind(Kind::open).size(), 1u);
  c.open();
  c.frame(connect_confirm());
  EXPECT_EQ(c.connection().s("/status"), "open");
  // visible / online while open change nothing.
  c.clear();
  c.engine->visibility_changed(c.now, true);
  c.engine->online(c.now);
  c.drain();
  EXPECT_TRUE(c.actions.empty());
  EXPECT_TRUE(c.events.empty());
}

TEST(ClientEngineConnection, ExplicitReconnectFromFailedOrClosed) {
  Client c;
  c.connect_and_confirm();
  c.clear();
  c.engine->disconnect(c.now);
  c.drain();
  ASSERT_EQ(c.actions.size(), 2u);
  EXPECT_EQ(c.sent().at(0).s("/type"), "disconnect");
  EXPECT_EQ(c.actions[1].kind, Kind::close);
  EXPECT_EQ(c.actions[1].code, 1000);
  EXPECT_EQ(c.connection().s("/status"), "closed");
  EXPECT_EQ(c.system_kinds(), Strings{"completed"});
  EXPECT_FALSE(c.engine->poll_timeout().has_value());
  // The socket's close report changes nothing; neither do online / visible.
  c.clear();
  c.close(1000);
  c.engine->online(c.now);
  c.engine->visibility_changed(c.now, true);
  c.drain();
  EXPECT_TRUE(c.actions.empty());
  EXPECT_EQ(c.connection().s("/status"), "closed");
  EXPECT_FALSE(c.engine->poll_timeout().has_value());

  c.engine->reconnect(c.now);
  c.drain();
  ASSERT_EQ(c.of_kind(Kind::open).size(), 1u);
  EXPECT_EQ(c.connection().s("/status"), "connecting");
}

TEST(ClientEngineConnection, AttemptsRestartAtOneAfterReachingOpen) {
  Client c;
  c.connect();
  c.close(0, 500);
  c.tick();
  c.close(0, 500);
  EXPECT_EQ(c.connection().i("/attempt"), 2);
  c.tick();
  c.open();
  c.frame(connect_confirm());
  EXPECT_EQ(c.connection().s("/status"), "open");
  EXPECT_EQ(c.connection().i("/attempt"), 0);
  const int64_t lost_at = c.now;
  c.close(1006);
  EXPECT_EQ(c.connection().i("/attempt"), 1);
  EXPECT_EQ(c.connection().i("/nextRetryAt"), lost_at + 5000);
}

TEST(ClientEngineConnection, NoConfirmWithinThreeHeartbeatsIsAFailedAttempt) {
  Client c;
  c.connect();
  c.open();
  c.clear();
  EXPECT_EQ(c.tick(), kT0 + 30000);
  ASSERT_EQ(c.of_kind(Kind::close).size(), 1u);
  EXPECT_EQ(c.connection().s("/status"), "reconnecting");
  EXPECT_EQ(c.connection().i("/nextRetryAt"), kT0 + 35000);
  // A confirm on the abandoned socket is ignored.
  c.frame(connect_confirm());
  EXPECT_EQ(c.connection().s("/status"), "reconnecting");
}

// Issue 14.14: a connect_confirm the codec refuses fails the try at once
// (close 1002, the normal backoff), not at the 30 s try deadline.
TEST(ClientEngineConnection, InvalidConnectConfirmFailsTheAttemptAtOnce) {
  Client c;
  c.connect();
  c.open();
  c.clear();
  std::string bad = connect_confirm();
  const std::string field = "\"heartbeatMs\":10000";
  ASSERT_NE(bad.find(field), std::string::npos);
  bad.replace(bad.find(field), field.size(), "\"heartbeatMs\":0");
  c.frame(bad);
  auto closes = c.of_kind(Kind::close);
  ASSERT_EQ(closes.size(), 1u);
  EXPECT_EQ(closes[0]->code, 1002);
  EXPECT_EQ(c.connection().s("/status"), "reconnecting");
  EXPECT_EQ(c.connection().i("/attempt"), 1);
  EXPECT_EQ(c.connection().i("/nextRetryAt"), kT0 + 5000);
  auto errors = c.events_of("error");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].s("/error/code"), "invalid_field");
  EXPECT_EQ(errors[0].s("/error/message"),
            "the server's connect_confirm is invalid (field 'heartbeatMs' must be an integer >= 1); "
            "the connection attempt failed");
  EXPECT_EQ(c.system_kinds(), (Strings{"error", "reconnecting"}));
  // Nothing more from the abandoned socket counts; the retry is the next deadline.
  c.frame(connect_confirm());
  EXPECT_EQ(c.connection().s("/status"), "reconnecting");
  c.clear();
  EXPECT_EQ(c.tick(), kT0 + 5000);
  EXPECT_EQ(c.of_kind(Kind::open).size(), 1u);
  c.open();
  c.frame(connect_confirm());
  EXPECT_EQ(c.connection().s("/status"), "open");
}

// A frame of an unknown type before the confirm (a newer server) is not a
// refusal: the try goes on.
TEST(ClientEngineConnection, UnknownFrameBeforeConfirmDoesNotFailTheAttempt) {
  Client c;
  c.connect();
  c.open();
  c.clear();
  c.frame(R"({"type":"surprise","timestamp":"2026-11-23T13:47:50.123Z"})");
  EXPECT_TRUE(c.of_kind(Kind::close).empty());
  EXPECT_EQ(c.connection().s("/status"), "connecting");
  c.frame(connect_confirm());
  EXPECT_EQ(c.connection().s("/status"), "open");
}

TEST(ClientEngineConnection, HeartbeatPingsEveryIntervalAndThreeSilentIntervalsAreLost) {
  Client c;
  c.connect_and_confirm();
  c.clear();
  EXPECT_EQ(c.engine->poll_timeout(), kT0 + 10000);
  EXPECT_EQ(c.tick(), kT0 + 10000);
  EXPECT_EQ(c.sent_types(), Strings{"ping"});
  EXPECT_EQ(c.sent().at(0).s("/clientId"), c.engine->client_id());
  EXPECT_EQ(c.tick(), kT0 + 20000);
  EXPECT_EQ(c.sent_types(), (Strings{"ping", "ping"}));
  EXPECT_EQ(c.connection().s("/status"), "open");
  EXPECT_EQ(c.tick(), kT0 + 30000);
  EXPECT_EQ(c.sent_types(), (Strings{"ping", "ping"}));  // lost, not a third ping
  ASSERT_EQ(c.of_kind(Kind::close).size(), 1u);
  EXPECT_EQ(c.of_kind(Kind::close)[0]->code, 4008);
  EXPECT_EQ(c.system_kinds(), (Strings{"lost", "reconnecting"}));
  EXPECT_EQ(c.connection().s("/status"), "reconnecting");
  EXPECT_EQ(c.connection().i("/nextRetryAt"), kT0 + 35000);
}

TEST(ClientEngineConnection, ServerHeartbeatIsUsedAndAnyFrameKeepsTheSocketAlive) {
  Client c;
  c.connect();
  c.open();
  c.frame(connect_confirm("conv-1", false, true, 2000));
  c.clear();
  EXPECT_EQ(c.tick(), kT0 + 2000);
  EXPECT_EQ(c.tick(), kT0 + 4000);
  c.now = kT0 + 5000;
  c.frame(pong());  // received at +5 s: silence now counts from here
  for (int i = 0; i < 10 && c.connection().s("/status") == "open"; ++i) c.tick();
  EXPECT_EQ(c.now, kT0 + 11000);
  EXPECT_EQ(c.connection().s("/status"), "reconnecting");
  EXPECT_EQ(c.sent_types().size(), 5u);  // pings at 2, 4, 6, 8, 10 s
}

// Issue 15: the client's own heartbeatMs is a ceiling. A server advertising a
// longer one (10 s) does not slow the pings or the loss detection down.
TEST(ClientEngineConnection, PingsAtTheShorterOfClientAndServerHeartbeatAndLostAfterThreeOfThem) {
  ClientConfig cfg = test_config();
  cfg.heartbeat_ms = 150;
  Client c(cfg);
  c.connect();
  c.open();
  c.frame(connect_confirm("conv-1", false, true, 10000));
  c.clear();
  EXPECT_EQ(c.engine->poll_timeout(), kT0 + 150);
  EXPECT_EQ(c.tick(), kT0 + 150);
  EXPECT_EQ(c.tick(), kT0 + 300);
  EXPECT_EQ(c.sent_types(), (Strings{"ping", "ping"}));
  EXPECT_EQ(c.connection().s("/status"), "open");
  EXPECT_EQ(c.tick(), kT0 + 450);  // 3 x 150 ms of silence
  EXPECT_EQ(c.sent_types(), (Strings{"ping", "ping"}));
  ASSERT_EQ(c.of_kind(Kind::close).size(), 1u);
  EXPECT_EQ(c.of_kind(Kind::close)[0]->code, 4008);
  EXPECT_EQ(c.connection().s("/status"), "reconnecting");

  // A server asking for a shorter interval than the client's still wins.
  Client d;  // heartbeatMs 10000
  d.connect();
  d.open();
  d.frame(connect_confirm("conv-1", false, true, 2000));
  d.clear();
  EXPECT_EQ(d.engine->poll_timeout(), kT0 + 2000);
}

TEST(ClientEngineConnection, JitterSpreadsDelaysButNeverGoesUnderTheMinimum) {
  for (uint8_t b : {0x00, 0x40, 0x80, 0xC0, 0xFF}) {
    FixedEntropy entropy(b);
    FixedEntropy probe(b);
    const double u = random_unit(probe);
    ClientConfig cfg = test_config();
    cfg.reconnect.delays_ms = {1000, 6000};
    cfg.reconnect.min_delay_ms = 5000;
    cfg.reconnect.jitter = 0.5;
    Client c(cfg, ":memory:", &entropy);
    c.connect();
    const int64_t t1 = c.now;
    c.close(0, 500);
    // 1000 * (1 + 0.5u) is under the minimum: the minimum wins.
    EXPECT_EQ(c.connection().i("/nextRetryAt") - t1, 5000) << "byte " << int(b);
    c.tick();
    const int64_t t2 = c.now;
    c.close(0, 500);
    const int64_t d2 = c.connection().i("/nextRetryAt") - t2;
    EXPECT_EQ(d2, 6000 + std::min<int64_t>(static_cast<int64_t>(std::floor(3000 * u)), 2999)) << "byte " << int(b);
    EXPECT_GE(d2, 6000);
    EXPECT_LT(d2, 9000);
    c.tick();
    const int64_t t3 = c.now;
    c.close(0, 500);
    EXPECT_GE(c.connection().i("/nextRetryAt") - t3, 5000);  // last delay repeats, jittered
    if (b == 0xFF) {
      EXPECT_GT(d2, 8900);
    }
  }
}

TEST(ClientEngineConnection, TicketIsFetchedBeforeEveryAttemptAndUrlEncoded) {
  ClientConfig cfg = test_config();
  cfg.use_tickets = true;
  Client c(cfg);
  c.connect();
  ASSERT_EQ(c.actions.size(), 1u);
  EXPECT_EQ(c.actions[0].kind, Kind::fetch_ticket);
  c.clear();
  c.engine->handle_ticket(c.now, std::string("a b/+="));
  c.drain();
  ASSERT_EQ(c.of_kind(Kind::open).size(), 1u);
  EXPECT_EQ(c.of_kind(Kind::open)[0]->url, "ws://127.0.0.1:8080/ws/chat?ticket=a%20b%2F%2B%3D");
  c.close(0, 401);
  EXPECT_EQ(c.connection().i("/attempt"), 1);
  // A late answer for the abandoned try opens nothing.
  c.clear();
  c.engine->handle_ticket(c.now, std::string("late"));
  c.drain();
  EXPECT_TRUE(c.actions.empty());
  c.tick();
  EXPECT_EQ(c.actions.size(), 1u);
  EXPECT_EQ(c.actions[0].kind, Kind::fetch_ticket);
  // The provider failing is a failed attempt.
  c.clear();
  c.engine->handle_ticket(c.now, std::nullopt);
  c.drain();
  EXPECT_EQ(c.connection().s("/status"), "reconnecting");
  EXPECT_EQ(c.connection().i("/attempt"), 2);
  EXPECT_TRUE(c.of_kind(Kind::open).empty());
  c.tick();
  c.engine->handle_ticket(c.now, std::string("t3"));
  c.drain();
  c.open();
  c.frame(connect_confirm());
  EXPECT_EQ(c.connection().s("/status"), "open");

  ClientConfig q = test_config();
  q.url = "ws://h/ws/chat?v=1";
  q.use_tickets = true;
  Client d(q);
  d.connect();
  d.engine->handle_ticket(d.now, std::string("xyz"));
  d.drain();
  EXPECT_EQ(d.of_kind(Kind::open).at(0)->url, "ws://h/ws/chat?v=1&ticket=xyz");
}

TEST(ClientEngineConnection, MalformedOrUnknownFramesBecomeErrorEvents) {
  Client c;
  c.connect_and_confirm();
  c.clear();
  c.frame("not json at all");
  c.frame(R"({"type":"surprise","timestamp":"2026-11-23T13:47:50.123Z"})");
  c.frame(R"({"type":"confirm","messageId":"m","timestamp":"2026-11-23T13:47:50.123Z"})");
  c.frame("[1,2]");
  auto errors = c.events_of("error");
  ASSERT_EQ(errors.size(), 4u);
  EXPECT_EQ(errors[0].s("/error/code"), "bad_json");
  EXPECT_EQ(errors[1].s("/error/code"), "unknown_type");
  EXPECT_EQ(errors[2].s("/error/code"), "invalid_field");
  EXPECT_NE(errors[2].s("/error/message").find("seq"), std::string::npos);
  EXPECT_EQ(c.connection().s("/status"), "open");
}

// ================================================================== messages

TEST(ClientEngineMessages, SendValidatesBeforeStoringAndStoresNothingOnError) {
  Client c;
  auto expect_refused = [&](std::string_view draft, std::vector<std::string> images, ErrorCode code,
                            const std::string& words) {
    auto r = c.engine->send(c.now, draft, std::move(images));
    ASSERT_FALSE(r.ok()) << draft;
    EXPECT_EQ(r.error().code, code) << r.error().message;
    EXPECT_NE(r.error().message.find(words), std::string::npos) << r.error().message;
  };
  expect_refused(R"({"content":")" + std::string(32 * 1024 + 1, 'x') + R"("})", {}, ErrorCode::too_large,
                 "32768-byte limit");
  expect_refused(R"({"content":"six"})", std::vector<std::string>(6, png(1, 1)), ErrorCode::too_large,
                 "6 images");
  expect_refused(R"({})", {}, ErrorCode::invalid_field, "non-empty");
  expect_refused(R"({"content":""})", {}, ErrorCode::invalid_field, "non-empty");
  expect_refused("{nope", {}, ErrorCode::bad_json, "JSON");
  expect_refused(R"({"content":7})", {}, ErrorCode::invalid_field, "content");
  expect_refused(R"({"images":[{}]})", {"hello, not an image"}, ErrorCode::image_invalid, "image 1");
  expect_refused(R"({"images":[{"id":"i1","mimeType":"image/png"}]})", {gif(4, 4)}, ErrorCode::image_invalid,
                 "is image/gif but was declared image/png");
  expect_refused(R"({"images":[{"mimeType":"image/bmp"}]})", {png(1, 1)}, ErrorCode::image_invalid, "image/bmp");
  expect_refused(R"({"images":[{},{}]})", {png(1, 1)}, ErrorCode::invalid_field, "2 images");
  expect_refused(R"({"images":[{"id":"same"},{"id":"same"}]})", {png(1, 1), png(2, 2)}, ErrorCode::invalid_field,
                 "repeats");
  expect_refused(R"({"images":[{}]})", {png(9000, 10)}, ErrorCode::image_invalid, "9000");
  c.drain();
  EXPECT_TRUE(c.events.empty());
  EXPECT_EQ(c.engine->messages_json(), "[]");
  EXPECT_EQ(*c.store->message_count(), 0);
  EXPECT_TRUE(c.store->outbox()->empty());

  // Type sniffed when mimeType is absent; dimensions from the header.
  auto ok = c.engine->send(c.now, R"({"content":"look","images":[{"filename":"a.gif"}]})", {gif(10, 6)});
  ASSERT_TRUE(ok.ok()) << ok.error().message;
  EXPECT_TRUE(is_uuid(*ok));
  J m = c.messages();
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m.s("/0/id"), *ok);
  EXPECT_EQ(m.s("/0/status"), "queued");
  EXPECT_EQ(m.s("/0/images/0/mimeType"), "image/gif");
  EXPECT_EQ(m.i("/0/images/0/width"), 10);
  EXPECT_EQ(m.i("/0/images/0/height"), 6);
  EXPECT_EQ(m.s("/0/images/0/filename"), "a.gif");
  EXPECT_TRUE(is_uuid(m.s("/0/images/0/id")));
  // Images without a draft list: one per byte string.
  auto bare = c.engine->send(c.now, R"({"content":"two"})", {png(3, 2), gif(1, 1)});
  ASSERT_TRUE(bare.ok()) << bare.error().message;
  EXPECT_EQ(c.messages().size("/1/images"), 2u);
}

// A browser tab hands its draft to the leader tab and, when that tab dies
// before persisting it, sends it again to the next leader with the same id:
// a draft naming a stored messageId stores nothing and answers that id.
TEST(ClientEngineMessages, SendWithAGivenMessageIdIsIdempotent) {
  Client c;
  const std::string id = "6f1c1a52-3b9e-4c1d-9a47-2f7e4b1d0c11";
  auto first = c.engine->send(c.now, R"({"content":"once","messageId":")" + id + R"("})", {});
  ASSERT_TRUE(first.ok()) << first.error().message;
  EXPECT_EQ(*first, id);
  c.clear();
  auto again = c.engine->send(c.now, R"({"content":"once","messageId":")" + id + R"("})", {});
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_EQ(*again, id);
  c.drain();
  EXPECT_TRUE(c.events_of("message").empty());
  EXPECT_EQ(*c.store->message_count(), 1);
  EXPECT_EQ(c.store->outbox()->size(), 1u);
  c.connect_and_confirm();
  EXPECT_EQ(c.sent_types(), (Strings{"connect", "message"}));
  EXPECT_EQ(c.sent()[1].s("/messageId"), id);

  auto bad = c.engine->send(c.now, R"({"content":"x","messageId":"not-a-uuid"})", {});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, ErrorCode::invalid_field);
  EXPECT_NE(bad.error().message.find("messageId"), std::string::npos);
  EXPECT_EQ(*c.store->message_count(), 1);
}

TEST(ClientEngineMessages, OutboxIsStoredOfflineAndResentInOrderAfterEveryConfirmWithoutDuplicates) {
  Client c;
  const std::string a = c.send("A");
  const std::string b = c.send("B");
  auto queued = c.events_of("message");
  ASSERT_EQ(queued.size(), 2u);
  EXPECT_EQ(queued[0].s("/message/status"), "queued");
  ASSERT_EQ(c.store->outbox()->size(), 2u);
  EXPECT_TRUE(c.actions.empty());

  c.clear();
  c.connect_and_confirm();
  EXPECT_EQ(c.sent_types(), (Strings{"connect", "message", "message"}));
  EXPECT_EQ(c.sent()[1].s("/messageId"), a);
  EXPECT_EQ(c.sent()[1].s("/content"), "A");
  EXPECT_EQ(c.sent()[1].s("/clientId"), c.engine->client_id());
  EXPECT_EQ(c.sent()[2].s("/messageId"), b);
  EXPECT_EQ(c.messages().s("/0/status"), "sent");
  EXPECT_EQ(c.messages().s("/1/status"), "sent");

  // Dropped before any confirm: both again, same ids, same order.
  c.close(1006);
  c.clear();
  c.resume();
  EXPECT_EQ(c.sent_types(), (Strings{"connect", "message", "message"}));
  EXPECT_EQ(c.sent()[1].s("/messageId"), a);
  EXPECT_EQ(c.sent()[2].s("/messageId"), b);
  EXPECT_TRUE(c.events_of("message").empty());  // already sent: no state change

  c.clear();
  c.frame(confirm(a, 1));
  c.frame(confirm(b, 2));
  EXPECT_EQ(c.events_of("message").size(), 2u);
  c.clear();
  c.frame(confirm(a, 3));  // the server's fresh confirm for a repeat
  c.frame(confirm(b, 4));
  c.frame(confirm(a, 1));  // and a replay
  EXPECT_TRUE(c.events_of("message").empty());
  J m = c.messages();
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m.s("/0/id"), a);
  EXPECT_EQ(m.s("/0/status"), "received");
  EXPECT_EQ(m.s("/1/id"), b);
  EXPECT_EQ(m.s("/1/status"), "received");
  EXPECT_TRUE(c.store->outbox()->empty());

  // Confirmed messages are not resent on the next connection.
  c.close(1006);
  c.clear();
  c.resume();
  EXPECT_EQ(c.sent_types(), Strings{"connect"});
  EXPECT_EQ(c.sent()[0].i("/lastSeq"), 4);
}

TEST(ClientEngineMessages, SocketDroppedAfterConfirmBeforeResponseEndsWithOneProcessedMessage) {
  Client c;
  c.connect_and_confirm();
  const std::string m = c.send("question");
  EXPECT_EQ(c.messages().s("/0/status"), "sent");
  c.frame(confirm(m, 1));
  c.frame(thinking(m, "Analyzing your request...", 2));
  c.frame(delta("r1", m, 0, "Par"));
  EXPECT_EQ(c.messages().s("/1/content"), "Par");
  c.close(1006);

  c.clear();
  c.tick();
  c.open();
  EXPECT_EQ(c.sent().at(0).i("/lastSeq"), 2);
  EXPECT_EQ(c.sent().at(0).s("/conversationId"), "conv-1");
  c.frame(connect_confirm("conv-1", true));
  EXPECT_EQ(c.sent_types(), Strings{"connect"});  // confirmed: not in the outbox any more
  // The server replays what came after lastSeq (and perhaps the thinking step).
  c.frame(thinking(m, "Analyzing your request...", 2));
  c.frame(response("r1", m, "The full answer.", 3));
  c.frame(response("r1", m, "The full answer.", 3));  // a second replay
  J msgs = c.messages();
  ASSERT_EQ(msgs.size(), 2u) << msgs.text();
  EXPECT_EQ(msgs.s("/0/id"), m);
  EXPECT_EQ(msgs.s("/0/status"), "processed");
  EXPECT_EQ(msgs.s("/1/role"), "assistant");
  EXPECT_EQ(msgs.s("/1/id"), "r1");
  EXPECT_EQ(msgs.s("/1/replyTo"), m);
  EXPECT_EQ(msgs.s("/1/status"), "complete");
  EXPECT_EQ(msgs.s("/1/content"), "The full answer.");
  EXPECT_EQ(msgs.size("/1/thinking"), 1u);
  // Exactly one change per message from the replay: assistant complete, user processed.
  EXPECT_EQ(c.events_of("message").size(), 2u);
}

TEST(ClientEngineMessages, StatesMoveForwardOnlyAndImageStatusAndAnalysisLandOnTheUserMessage) {
  Client c;
  c.connect_and_confirm();
  auto id = c.engine->send(c.now, R"({"content":"what is this?","images":[{"id":"img-1"}]})", {png(64, 48)});
  ASSERT_TRUE(id.ok());
  const std::string m = *id;
  c.drain();
  EXPECT_EQ(c.sent().back().s("/images/0/data"), media::base64_encode(png(64, 48)));
  EXPECT_EQ(c.sent().back().s("/images/0/mimeType"), "image/png");
  EXPECT_EQ(c.store->image_bytes(m)->size(), 1u);
  c.frame(confirm(m, 1));
  EXPECT_EQ(c.messages().s("/0/status"), "received");
  EXPECT_TRUE(c.store->image_bytes(m)->empty());  // dropped once confirmed
  c.frame(image_confirm(m, "img-1", "received", 2));
  c.frame(image_confirm(m, "img-1", "processing", 3));
  EXPECT_EQ(c.messages().s("/0/images/0/status"), "processing");
  c.frame(image_confirm(m, "img-1", "received", 4));  // late: never backwards
  EXPECT_EQ(c.messages().s("/0/images/0/status"), "processing");
  protocol::ImageAnalysis a;
  a.image_id = "img-1";
  a.description = "a cat";
  a.category = "pet";
  a.features = {"fur"};
  c.frame(response("r1", m, "A cat.", 5, false, std::vector<protocol::ImageAnalysis>{a}));
  J msgs = c.messages();
  EXPECT_EQ(msgs.s("/0/status"), "processed");
  EXPECT_EQ(msgs.s("/0/images/0/status"), "analyzed");
  EXPECT_EQ(msgs.s("/0/images/0/analysis/description"), "a cat");
  EXPECT_EQ(msgs.s("/1/imageAnalysis/0/imageId"), "img-1");
  EXPECT_EQ(msgs.s("/1/imageAnalysis/0/features/0"), "fur");
  // A confirm after the response does not move processed back to received.
  c.frame(confirm(m, 6));
  EXPECT_EQ(c.messages().s("/0/status"), "processed");
}

TEST(ClientEngineMessages, RateLimitedKeepsTheMessageAndResendsItAfterRetryAfter) {
  Client c;
  c.connect_and_confirm();
  c.clear();
  const std::string a = c.send("A");
  EXPECT_EQ(c.sent_types(), Strings{"message"});
  c.clear();
  c.frame(error_frame(ErrorCode::rate_limited, "slow down", a, 2000));
  const int64_t limited_at = c.now;
  auto err = c.events_of("error");
  ASSERT_EQ(err.size(), 1u);
  EXPECT_EQ(err[0].s("/error/code"), "rate_limited");
  EXPECT_EQ(err[0].s("/error/messageId"), a);
  EXPECT_EQ(c.messages().s("/0/status"), "sent");  // not failed
  ASSERT_EQ(c.store->outbox()->size(), 1u);
  // A message sent meanwhile waits behind it (order is kept).
  const std::string b = c.send("B");
  EXPECT_TRUE(c.sent().empty());
  EXPECT_EQ(c.messages().s("/1/status"), "queued");
  EXPECT_EQ(c.engine->poll_timeout(), limited_at + 2000);
  c.clear();
  c.tick();
  ASSERT_EQ(c.sent_types(), (Strings{"message", "message"}));
  EXPECT_EQ(c.sent()[0].s("/messageId"), a);
  EXPECT_EQ(c.sent()[1].s("/messageId"), b);
  EXPECT_EQ(c.messages().s("/1/status"), "sent");
  c.frame(confirm(a, 1));
  c.frame(confirm(b, 2));
  EXPECT_EQ(c.messages().s("/0/status"), "received");
  EXPECT_TRUE(c.store->outbox()->empty());
}

TEST(ClientEngineMessages, AnErrorNamingAMessageFailsItAndRetrySendsTheSameId) {
  Client c;
  c.connect_and_confirm();
  const std::string a = c.send("A");
  c.clear();
  c.frame(error_frame(ErrorCode::invalid_field, "field 'content' is odd", a));
  J msgs = c.messages();
  EXPECT_EQ(msgs.s("/0/status"), "failed");
  EXPECT_EQ(msgs.s("/0/error/code"), "invalid_field");
  EXPECT_EQ(msgs.s("/0/error/message"), "field 'content' is odd");
  EXPECT_TRUE(c.store->outbox()->empty());
  EXPECT_EQ(c.events_of("error").size(), 1u);
  // An error without a messageId fails nothing and keeps the connection.
  c.frame(error_frame(ErrorCode::internal, "hiccup", ""));
  EXPECT_EQ(c.connection().s("/status"), "open");

  c.clear();
  auto r = c.engine->retry(c.now, a);
  c.drain();
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(c.sent_types(), Strings{"message"});
  EXPECT_EQ(c.sent()[0].s("/messageId"), a);
  EXPECT_EQ(c.messages().s("/0/status"), "sent");
  EXPECT_FALSE(c.messages().has("/0/error"));
  EXPECT_EQ(c.engine->retry(c.now, a).error().code, ErrorCode::invalid_field);  // not failed now
  EXPECT_EQ(c.engine->retry(c.now, "nope").error().code, ErrorCode::not_found);
  c.frame(confirm(a, 1));
  EXPECT_EQ(c.messages().s("/0/status"), "received");
  // An error after processing never fails the message.
  c.frame(response("r", a, "ok", 2));
  c.frame(error_frame(ErrorCode::internal, "late", a));
  EXPECT_EQ(c.messages().s("/0/status"), "processed");
}

TEST(ClientEngineMessages, CancelAsksTheServerToStopTheReply) {
  Client c;
  c.connect_and_confirm();
  const std::string m = c.send("long question");
  c.frame(confirm(m, 1));
  c.frame(delta("r1", m, 0, "Once upon"));
  c.clear();
  auto r = c.engine->cancel(c.now, m);
  c.drain();
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(*r);
  ASSERT_EQ(c.sent_types(), Strings{"cancel"});
  EXPECT_EQ(c.sent()[0].s("/replyTo"), m);
  c.frame(response("r1", m, "Once upon", 2, true));
  EXPECT_EQ(c.messages().s("/1/status"), "cancelled");
  EXPECT_FALSE(*c.engine->cancel(c.now, m));  // nothing left to stop
  EXPECT_EQ(c.engine->cancel(c.now, "unknown").error().code, ErrorCode::not_found);
}

TEST(ClientEngineMessages, SubmitComponentSendsAComponentActionWhileOpen) {
  Client c;
  c.connect_and_confirm();
  const std::string m = c.send("book a table");
  c.frame(confirm(m, 1));
  c.frame(component("c1", m, 2));
  c.clear();
  auto r = c.engine->submit_component(c.now, "c1", "submit", R"({"time":"07:00"})");
  c.drain();
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_TRUE(*r);
  ASSERT_EQ(c.sent_types(), Strings{"component_action"});
  EXPECT_EQ(c.sent()[0].s("/componentId"), "c1");
  EXPECT_EQ(c.sent()[0].s("/action"), "submit");
  EXPECT_EQ(c.sent()[0].s("/values/time"), "07:00");
  // Refused before anything is written: unknown component, values not an object, bad JSON.
  c.clear();
  EXPECT_EQ(c.engine->submit_component(c.now, "nope", "submit", "{}").error().code, ErrorCode::not_found);
  EXPECT_EQ(c.engine->submit_component(c.now, "c1", "submit", "[1]").error().code, ErrorCode::invalid_field);
  EXPECT_EQ(c.engine->submit_component(c.now, "c1", "submit", "{").error().code, ErrorCode::bad_json);
  c.drain();
  EXPECT_TRUE(c.sent().empty());
  // Not connected: nothing is written or queued.
  c.close(1006);
  c.clear();
  auto offline = c.engine->submit_component(c.now, "c1", "submit", "");
  c.drain();
  ASSERT_TRUE(offline.ok());
  EXPECT_FALSE(*offline);
  EXPECT_TRUE(c.sent().empty());
}

// ================================================================== replies

TEST(ClientEngineReplies, DeltasAreAssembledByIndexOutOfOrderDuplicatesAndGaps) {
  Client c;
  c.connect_and_confirm();
  const std::string m = c.send("q");
  c.frame(confirm(m, 1));
  c.clear();
  c.frame(delta("r1", m, 0, "Hel"));
  auto created = c.events_of("message");
  ASSERT_EQ(created.size(), 1u);
  EXPECT_EQ(created[0].s("/message/id"), "r1");
  EXPECT_EQ(created[0].s("/message/status"), "streaming");
  auto d = c.events_of("delta");
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].s("/replyTo"), m);
  EXPECT_EQ(d[0].s("/messageId"), "r1");
  EXPECT_EQ(d[0].i("/index"), 0);
  EXPECT_EQ(d[0].s("/delta"), "Hel");
  EXPECT_FALSE(d[0].has("/content"));  // the piece only: the text so far made a reply O(n^2) (issue 14.13)

  c.clear();
  c.frame(delta("r1", m, 2, "wor"));  // early: held
  EXPECT_TRUE(c.events.empty());
  EXPECT_EQ(c.messages().s("/1/content"), "Hel");
  c.frame(delta("r1", m, 1, "lo "));  // fills the gap: 1 then 2
  d = c.events_of("delta");
  ASSERT_EQ(d.size(), 2u);
  EXPECT_EQ(d[0].i("/index"), 1);
  EXPECT_EQ(d[1].i("/index"), 2);
  EXPECT_EQ(c.messages().s("/1/content"), "Hello wor");
  c.clear();
  c.frame(delta("r1", m, 1, "lo "));  // duplicate
  c.frame(delta("r1", m, 0, "Hel"));  // duplicate
  c.frame(delta("r1", m, 4, "!"));    // gap at 3: waits
  EXPECT_TRUE(c.events.empty());
  EXPECT_EQ(c.messages().s("/1/content"), "Hello wor");
  c.frame(response("r1", m, "Hello world!", 2));
  EXPECT_EQ(c.messages().s("/1/content"), "Hello world!");
  EXPECT_EQ(c.messages().s("/1/status"), "complete");
  c.clear();
  c.frame(delta("r1", m, 3, "ld"));  // after the response: ignored
  EXPECT_TRUE(c.events.empty());
  EXPECT_EQ(c.messages().s("/1/content"), "Hello world!");
  EXPECT_EQ(c.messages().size(), 2u);
}

TEST(ClientEngineReplies, AssistantMessageAppearsWithTheFirstEventAndTakesTheServerIdLater) {
  Client c;
  c.connect_and_confirm();
  const std::string m = c.send("q");
  c.frame(confirm(m, 1));
  c.clear();
  c.frame(thinking(m, "Analyzing your request...", 2));
  auto msg = c.events_of("message");
  ASSERT_EQ(msg.size(), 1u);
  EXPECT_EQ(msg[0].s("/message/role"), "assistant");
  EXPECT_EQ(msg[0].s("/message/replyTo"), m);
  EXPECT_EQ(msg[0].s("/message/status"), "streaming");
  EXPECT_EQ(msg[0].s("/message/thinking/0"), "Analyzing your request...");
  const std::string provisional = msg[0].s("/message/id");
  auto th = c.events_of("thinking");
  ASSERT_EQ(th.size(), 1u);
  EXPECT_EQ(th[0].s("/replyTo"), m);
  EXPECT_EQ(th[0].s("/step"), "Analyzing your request...");

  c.clear();
  c.frame(component("c1", m, 3));
  c.frame(component("c1", m, 4));  // same componentId: once
  auto comp = c.events_of("component");
  ASSERT_EQ(comp.size(), 1u);
  EXPECT_EQ(comp[0].s("/componentId"), "c1");
  EXPECT_EQ(comp[0].s("/component"), "form");
  EXPECT_EQ(comp[0].raw("/props"), R"({"fields":[]})");
  EXPECT_EQ(c.messages().s("/1/components/0/component"), "form");

  c.clear();
  c.frame(delta("r1", m, 0, "Hi"));
  msg = c.events_of("message");
  ASSERT_EQ(msg.size(), 1u);
  EXPECT_EQ(msg[0].s("/message/id"), "r1");
  EXPECT_EQ(msg[0].s("/replacesId"), provisional);
  c.frame(response("r1", m, "Hi there", 5));
  J all = c.messages();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all.s("/1/id"), "r1");
  EXPECT_EQ(all.size("/1/thinking"), 1u);
  EXPECT_EQ(all.size("/1/components"), 1u);
  // The typing indicator from the server is an event.
  c.clear();
  c.frame(enc(protocol::TypingIndicator{true, kTs}));
  ASSERT_EQ(c.events_of("typing").size(), 1u);
  EXPECT_TRUE(c.events_of("typing")[0].b("/isTyping"));
}

// ================================================================== tools

TEST(ClientEngineTools, ToolRunsOnceAndAReplayedToolCallOrResponseChangesNothing) {
  Client c;
  c.engine->configure_tools(c.now, R"([{"name":"getLocation","description":"where","parameters":{"type":"object"}}])");
  c.connect_and_confirm();
  EXPECT_EQ(c.sent_types(), (Strings{"connect", "configure_tools"}));
  EXPECT_EQ(c.sent()[1].s("/tools/0/name"), "getLocation");
  const std::string m = c.send("where am I?");
  c.frame(confirm(m, 1));
  c.clear();
  c.frame(tool_call("t1", m, 2));
  auto runs = c.of_kind(Kind::run_tool);
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0]->tool_call_id, "t1");
  EXPECT_EQ(runs[0]->tool_name, "getLocation");
  EXPECT_EQ(runs[0]->arguments_json, R"({"precise":true})");
  EXPECT_EQ(c.messages().s("/1/toolCalls/0/status"), "running");
  c.frame(tool_call("t1", m, 3));  // the same call again while it runs
  EXPECT_EQ(c.of_kind(Kind::run_tool).size(), 1u);

  c.clear();
  c.engine->tool_result(c.now, "t1", R"({"lat":1,"lon":2})", false);
  c.drain();
  ASSERT_EQ(c.sent_types(), Strings{"tool_result"});
  EXPECT_EQ(c.sent()[0].s("/toolCallId"), "t1");
  EXPECT_EQ(c.sent()[0].raw("/result"), R"({"lat":1,"lon":2})");
  EXPECT_EQ(c.messages().s("/1/toolCalls/0/status"), "done");
  EXPECT_EQ(c.messages().raw("/1/toolCalls/0/result"), R"({"lat":1,"lon":2})");
  c.frame(response("r1", m, "You are at 1,2.", 4));
  const std::string before = c.engine->messages_json();

  // Reconnect; the server never got the result and replays the tool_call
  // and the response.
  c.close(1006);
  c.clear();
  c.resume();
  EXPECT_EQ(c.sent_types(), (Strings{"connect", "configure_tools"}));  // tools on every connection
  c.clear();
  c.frame(tool_call("t1", m, 2));
  c.frame(response("r1", m, "You are at 1,2.", 4));
  EXPECT_TRUE(c.of_kind(Kind::run_tool).empty());
  ASSERT_EQ(c.sent_types(), Strings{"tool_result"});  // the stored result, again
  EXPECT_EQ(c.sent()[0].raw("/result"), R"({"lat":1,"lon":2})");
  EXPECT_TRUE(c.events_of("message").empty());
  EXPECT_EQ(c.engine->messages_json(), before);
  // A second answer from the host is ignored.
  c.clear();
  c.engine->tool_result(c.now, "t1", "{}", false);
  c.drain();
  EXPECT_TRUE(c.actions.empty());
}

TEST(ClientEngineTools, AToolThatNeverSettlesTimesOutAndALateAnswerIsIgnored) {
  ClientConfig cfg = test_config();
  cfg.tool_timeout_ms = 5000;
  Client c(cfg);
  c.connect_and_confirm();
  const std::string m = c.send("q");
  c.frame(tool_call("t9", m, 1));
  const int64_t started = c.now;
  c.clear();
  EXPECT_EQ(c.tick(), started + 5000);
  ASSERT_EQ(c.sent_types(), Strings{"tool_result"});
  EXPECT_EQ(c.sent()[0].s("/toolCallId"), "t9");
  EXPECT_EQ(c.sent()[0].s("/error"), "tool timed out after 5000 ms");
  EXPECT_FALSE(c.sent()[0].has("/result"));
  EXPECT_EQ(c.messages().s("/1/toolCalls/0/status"), "error");
  EXPECT_EQ(c.messages().s("/1/toolCalls/0/error"), "tool timed out after 5000 ms");
  c.clear();
  c.engine->tool_result(c.now, "t9", R"({"late":true})", false);
  c.drain();
  EXPECT_TRUE(c.actions.empty());
  EXPECT_TRUE(c.events.empty());
  // Replayed later: the stored error is sent again, the tool is not run.
  c.frame(tool_call("t9", m, 1));
  EXPECT_TRUE(c.of_kind(Kind::run_tool).empty());
  EXPECT_EQ(c.sent().at(0).s("/error"), "tool timed out after 5000 ms");
}

TEST(ClientEngineTools, ErrorsFromTheHostAndInvalidToolDeclarations) {
  Client c;
  c.connect_and_confirm();
  c.clear();
  c.engine->configure_tools(c.now, R"([{"description":"no name"}])");
  c.engine->configure_tools(c.now, "[oops");
  c.drain();
  auto errors = c.events_of("error");
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_EQ(errors[0].s("/error/code"), "invalid_field");
  EXPECT_EQ(errors[1].s("/error/code"), "bad_json");
  EXPECT_TRUE(c.sent().empty());

  const std::string m = c.send("q");
  c.frame(tool_call("t1", m, 1));
  c.clear();
  c.engine->tool_result(c.now, "t1", R"("permission denied")", true);
  c.drain();
  ASSERT_EQ(c.sent_types(), Strings{"tool_result"});
  EXPECT_EQ(c.sent()[0].s("/error"), "permission denied");
  EXPECT_EQ(c.messages().s("/1/toolCalls/0/status"), "error");
}

// ================================================================== typing

TEST(ClientEngineTyping, OneTypingTrueThenFalseAfterTheIdleTime) {
  Client c;
  c.engine->set_typing(c.now, true);  // not open: nothing to send
  c.drain();
  EXPECT_TRUE(c.actions.empty());
  c.connect_and_confirm();
  c.clear();
  const int64_t t = c.now;
  c.engine->set_typing(t, true);
  c.engine->set_typing(t + 300, true);
  c.engine->set_typing(t + 900, true);
  c.drain();
  ASSERT_EQ(c.sent_types(), Strings{"typing"});
  EXPECT_TRUE(c.sent()[0].b("/isTyping"));
  EXPECT_EQ(c.engine->poll_timeout(), t + 1900);
  c.clear();
  EXPECT_EQ(c.tick(), t + 1900);
  ASSERT_EQ(c.sent_types(), Strings{"typing"});
  EXPECT_FALSE(c.sent()[0].b("/isTyping"));
  // A new burst, stopped explicitly: false at once, no idle timer left.
  c.clear();
  c.engine->set_typing(c.now, true);
  c.engine->set_typing(c.now + 10, false);
  c.engine->set_typing(c.now + 20, false);
  c.drain();
  ASSERT_EQ(c.sent_types(), (Strings{"typing", "typing"}));
  EXPECT_TRUE(c.sent()[0].b("/isTyping"));
  EXPECT_FALSE(c.sent()[1].b("/isTyping"));
  EXPECT_EQ(c.engine->poll_timeout(), t + 10000);  // just the heartbeat
}

// ================================================================== recovery and history

TEST(ClientEngineRecovery, RecoveredFalseReloadsHistoryAndMergesWithoutDuplicates) {
  Client c;
  c.connect_and_confirm();
  const std::string a = c.send("A");
  c.frame(confirm(a, 1));
  c.frame(response("r1", a, "answer A", 2));
  const std::string q = c.send("queued while away");
  c.close(1006);
  c.clear();
  c.resume("conv-1", false);
  EXPECT_EQ(c.sent_types(), (Strings{"connect", "message", "load_messages"}));
  J load = c.sent()[2];
  EXPECT_EQ(load.s("/conversationId"), "conv-1");
  EXPECT_EQ(load.i("/limit"), 50);
  EXPECT_FALSE(load.has("/beforeSeq"));

  c.clear();
  const std::string h = history("conv-1",
                                {user_entry(a, 1, "A"), reply_entry("r1", a, 2, "answer A"),
                                 user_entry("x", 7, "from another tab"), reply_entry("r2", "x", 8, "answer X")},
                                false);
  c.frame(h);
  auto hist = c.events_of("history");
  ASSERT_EQ(hist.size(), 1u);
  EXPECT_FALSE(hist[0].b("/hasMore"));
  J m = c.messages();
  ASSERT_EQ(m.size(), 5u) << m.text();
  EXPECT_EQ(m.s("/0/id"), a);
  EXPECT_EQ(m.s("/1/id"), "r1");
  EXPECT_EQ(m.s("/2/id"), "x");
  EXPECT_EQ(m.s("/2/status"), "processed");
  EXPECT_EQ(m.s("/3/id"), "r2");
  EXPECT_EQ(m.s("/3/status"), "complete");
  EXPECT_EQ(m.s("/4/id"), q);  // the unconfirmed message stays last
  c.frame(h);                  // the same history again: no duplicates
  EXPECT_EQ(c.messages().text(), m.text());
}

TEST(ClientEngineRecovery, ResumedFalseWithANewConversationKeepsOldMessagesAndCountsSeqFresh) {
  Client c;
  c.connect_and_confirm("conv-1");
  const std::string a = c.send("A");
  c.frame(confirm(a, 30));
  c.close(1006);
  c.clear();
  c.tick();
  c.open();
  EXPECT_EQ(c.sent()[0].i("/lastSeq"), 30);
  c.frame(connect_confirm("conv-2", false));
  EXPECT_EQ(c.connection().s("/conversationId"), "conv-2");
  const std::string b = c.send("B");
  c.frame(confirm(b, 1));  // seq 1 of the new conversation is not a replay
  J m = c.messages();
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m.s("/0/id"), a);
  EXPECT_EQ(m.s("/1/status"), "received");
  c.close(1006);
  c.clear();
  c.tick();
  c.open();
  EXPECT_EQ(c.sent()[0].s("/conversationId"), "conv-2");
  EXPECT_EQ(c.sent()[0].i("/lastSeq"), 1);
}

TEST(ClientEngineRecovery, LoadOlderAsksForMessagesBeforeTheOldestKnownSeq) {
  Client c;
  c.connect_and_confirm();
  const std::string a = c.send("A");
  const std::string b = c.send("B");
  c.frame(confirm(a, 10));
  c.frame(confirm(b, 11));
  c.clear();
  auto r = c.engine->load_older(c.now);
  c.drain();
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(*r);
  ASSERT_EQ(c.sent_types(), Strings{"load_messages"});
  EXPECT_EQ(c.sent()[0].i("/beforeSeq"), 10);
  c.clear();
  c.frame(history("conv-1", {user_entry("o1", 3, "old"), reply_entry("ro1", "o1", 4, "old answer")}, true));
  EXPECT_TRUE(c.events_of("history").at(0).b("/hasMore"));
  J m = c.messages();
  ASSERT_EQ(m.size(), 4u);
  EXPECT_EQ(m.s("/0/id"), "o1");
  EXPECT_EQ(m.s("/1/id"), "ro1");
  EXPECT_EQ(m.s("/2/id"), a);
  EXPECT_EQ(m.s("/3/id"), b);
  c.clear();
  c.engine->load_older(c.now);
  c.drain();
  EXPECT_EQ(c.sent().at(0).i("/beforeSeq"), 3);
}

TEST(ClientEngineRecovery, ASecondEngineOnTheSameFileRestoresMessagesOutboxClientIdAndLastSeq) {
  TempDb db;
  std::string client_id, messages, queued;
  {
    Client c(test_config(), db.path());
    c.connect_and_confirm("conv-7");
    const std::string a = c.send("A");
    c.frame(confirm(a, 5));
    c.frame(response("r1", a, "answer", 6));
    c.engine->disconnect(c.now);
    auto q = c.engine->send(c.now, R"({"content":"offline","images":[{"id":"i1"}]})", {png(8, 8)});
    ASSERT_TRUE(q.ok());
    queued = *q;
    client_id = c.engine->client_id();
    messages = c.engine->messages_json();
  }
  Client c(test_config(), db.path());
  EXPECT_EQ(c.engine->client_id(), client_id);
  EXPECT_EQ(c.engine->messages_json(), messages);
  J m = c.messages();
  ASSERT_EQ(m.size(), 3u);
  EXPECT_EQ(m.s("/1/status"), "complete");
  EXPECT_EQ(m.s("/2/status"), "queued");
  c.connect();
  c.open();
  J hello = c.sent().at(0);
  EXPECT_EQ(hello.s("/clientId"), client_id);
  EXPECT_EQ(hello.s("/conversationId"), "conv-7");
  EXPECT_EQ(hello.i("/lastSeq"), 6);
  c.clear();
  c.frame(connect_confirm("conv-7", true));
  ASSERT_EQ(c.sent_types(), Strings{"message"});
  EXPECT_EQ(c.sent()[0].s("/messageId"), queued);
  EXPECT_EQ(c.sent()[0].s("/images/0/data"), media::base64_encode(png(8, 8)));
}

TEST(ClientEngineRecovery, LocalPagesLoadBeforeAskingTheServer) {
  TempDb db;
  ClientConfig cfg = test_config();
  cfg.history_page = 2;
  std::vector<std::string> ids;
  {
    Client c(cfg, db.path());
    for (int i = 0; i < 5; ++i) ids.push_back(c.send("m" + std::to_string(i)));
  }
  {
    Client c(cfg, db.path());
    J m = c.messages();
    ASSERT_EQ(m.size(), 5u);  // all still in the outbox, so all loaded
    c.connect_and_confirm();
    for (int i = 0; i < 5; ++i) c.frame(confirm(ids[i], i + 1));
  }
  Client d(cfg, db.path());  // a third run: nothing queued, one page
  ASSERT_EQ(d.messages().size(), 2u);
  EXPECT_EQ(d.messages().s("/0/id"), ids[3]);
  auto r = d.engine->load_older(d.now);
  d.drain();
  ASSERT_TRUE(r.ok() && *r);
  EXPECT_EQ(d.messages().size(), 4u);
  EXPECT_EQ(d.events_of("message").size(), 2u);
  ASSERT_EQ(d.events_of("history").size(), 1u);
  EXPECT_TRUE(d.events_of("history")[0].b("/hasMore"));
  d.clear();
  d.engine->load_older(d.now);
  d.drain();
  EXPECT_EQ(d.messages().s("/0/id"), ids[0]);
  EXPECT_TRUE(d.sent().empty());
  d.clear();
  auto none = d.engine->load_older(d.now);  // local exhausted, offline: nothing to do
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(*none);
}

TEST(ClientEngineRecovery, EachInputIsOneStoreBatch) {
  Client c;
  c.connect_and_confirm();
  c.store->mark_flushed();
  const std::string m = c.send("A");
  EXPECT_EQ(c.store->changes_since_last_flush(), 1u);  // message + bytes + outbox + sent: one batch
  c.frame(pong());
  c.frame(delta("r1", m, 0, "x"));
  EXPECT_EQ(c.store->changes_since_last_flush(), 2u);  // the delta created the reply
  c.frame(delta("r1", m, 1, "y"));
  c.frame(pong());
  EXPECT_EQ(c.store->changes_since_last_flush(), 2u);  // deltas alone are not persisted
  c.frame(confirm(m, 1));
  EXPECT_EQ(c.store->changes_since_last_flush(), 3u);
  EXPECT_FALSE(c.store->in_transaction());
}

}  // namespace
}  // namespace chatwire::client

namespace chatwire::client {
namespace {

TEST(ClientEngineTools, AToolInterruptedByARestartIsNeverRunAgain) {
  TempDb db;
  std::string m;
  {
    Client c(test_config(), db.path());
    c.connect_and_confirm();
    m = c.send("q");
    c.frame(confirm(m, 1));
    c.frame(tool_call("t1", m, 2));
    ASSERT_EQ(c.of_kind(Kind::run_tool).size(), 1u);
    // The page reloads before the host answers.
  }
  Client c(test_config(), db.path());
  EXPECT_EQ(c.messages().s("/1/toolCalls/0/status"), "running");
  c.connect();
  c.open();
  EXPECT_EQ(c.sent().at(0).i("/lastSeq"), 2);
  c.frame(connect_confirm("conv-1", true));
  c.clear();
  c.frame(tool_call("t1", m, 2));  // replayed: still unanswered on the server
  EXPECT_TRUE(c.of_kind(Kind::run_tool).empty());
  ASSERT_EQ(c.sent_types(), Strings{"tool_result"});
  EXPECT_EQ(c.sent()[0].s("/error"), "the tool call was interrupted before it finished");
  EXPECT_EQ(c.messages().s("/1/toolCalls/0/status"), "error");
}

TEST(ClientEngineReplies, AnErrorNamingTheMessageFailsAStreamingReplyToo) {
  Client c;
  c.connect_and_confirm();
  const std::string m = c.send("q");
  c.frame(confirm(m, 1));
  c.frame(delta("r1", m, 0, "Par"));
  c.frame(error_frame(ErrorCode::internal, "the model crashed", m));
  J all = c.messages();
  EXPECT_EQ(all.s("/0/status"), "failed");
  EXPECT_EQ(all.s("/0/error/message"), "the model crashed");
  EXPECT_EQ(all.s("/1/status"), "failed");
  c.clear();
  c.frame(delta("r1", m, 1, "tial"));  // nothing more lands on a failed reply
  EXPECT_TRUE(c.events.empty());
}

// The client's `limits` follow the server's rules (parse_limits, one parser):
// a limit the server would refuse is refused here too, naming it, instead of a
// client that refuses every message (maxContentBytes 0) or reads a limit the
// server cannot have.
TEST(ClientEngineConfig, LimitsAreReadByTheServersRules) {
  for (const char* bad : {R"({"url":"ws://h","limits":{"maxContentBytes":0}})",
                          R"({"url":"ws://h","limits":{"maxFrameBytes":0}})",
                          R"({"url":"ws://h","limits":{"maxImageDimension":1.5}})"}) {
    auto r = client_config_from_json(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().code, ErrorCode::invalid_field);
    EXPECT_NE(r.error().message.find("must be a positive integer"), std::string::npos) << r.error().message;
  }
  auto r = client_config_from_json(R"({"url":"ws://h","limits":{"maxContentBytes":0}})");
  EXPECT_EQ(r.error().message, "options.limits.maxContentBytes must be a positive integer");
  auto not_object = client_config_from_json(R"({"url":"ws://h","limits":[1]})");
  ASSERT_FALSE(not_object.ok());
  EXPECT_EQ(not_object.error().message, "options.limits must be an object");
  // maxImages 0 (text only) is a limit a server may have, so a client may too.
  auto text_only = client_config_from_json(R"({"url":"ws://h","limits":{"maxImages":0}})");
  ASSERT_TRUE(text_only.ok()) << text_only.error().message;
  EXPECT_EQ(text_only->limits.max_images, 0u);
}

TEST(ClientEngineConfig, OptionsAreReadFromJsonAndCheckedAtCreate) {
  auto cfg = client_config_from_json(
      R"({"url":"ws://h/ws/chat","heartbeatMs":2000,"useTickets":true,"historyPage":20,)"
      R"("reconnect":{"maxAttempts":5,"delaysMs":[1000,2000],"minDelayMs":500,"jitter":0.25},)"
      R"("limits":{"maxImages":2,"maxContentBytes":100}})");
  ASSERT_TRUE(cfg.ok()) << cfg.error().message;
  EXPECT_EQ(cfg->url, "ws://h/ws/chat");
  EXPECT_EQ(cfg->heartbeat_ms, 2000);
  EXPECT_TRUE(cfg->use_tickets);
  EXPECT_EQ(cfg->history_page, 20);
  EXPECT_EQ(cfg->reconnect.max_attempts, 5);
  EXPECT_EQ(cfg->reconnect.delays_ms, (std::vector<int64_t>{1000, 2000}));
  EXPECT_EQ(cfg->reconnect.min_delay_ms, 500);
  EXPECT_DOUBLE_EQ(cfg->reconnect.jitter, 0.25);
  EXPECT_EQ(cfg->limits.max_images, 2u);
  EXPECT_EQ(cfg->limits.max_content_bytes, 100u);
  EXPECT_EQ(cfg->tool_timeout_ms, 30000);  // default kept

  auto bad = client_config_from_json(R"({"url":"ws://h","reconnect":{"delaysMs":[1,"x"]}})");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, ErrorCode::invalid_field);
  EXPECT_NE(bad.error().message.find("reconnect.delaysMs"), std::string::npos);

  FakeEntropy entropy;
  auto store = ClientStore::open(":memory:");
  ClientConfig no_url;
  auto e = ClientEngine::create(no_url, **store, entropy, kT0);
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.error().message.find("url"), std::string::npos);
  ClientConfig jitter = test_config();
  jitter.reconnect.jitter = 1.5;
  EXPECT_FALSE(ClientEngine::create(jitter, **store, entropy, kT0).ok());
}

// ------------------------------------------------------------------ transports

// PROTOCOL.md "HTTP fallback transport": a WebSocket that cannot be opened
// switches to HTTP at once, within the same attempt; the next attempt tries
// the WebSocket first again.
TEST(ClientEngineTransports, ARefusedWebSocketFallsBackToHttpInTheSameAttempt) {
  ClientConfig cfg = test_config();
  cfg.transports = {"websocket", "http"};
  Client c(cfg);
  c.connect();
  ASSERT_EQ(c.of_kind(Kind::open).size(), 1u);
  EXPECT_EQ(c.of_kind(Kind::open)[0]->transport, "websocket");
  EXPECT_EQ(c.connection().s("/transport"), "websocket");
  c.clear();
  c.close(1006, 403);  // the proxy refused the upgrade
  ASSERT_EQ(c.of_kind(Kind::open).size(), 1u);
  EXPECT_EQ(c.of_kind(Kind::open)[0]->transport, "http");
  EXPECT_EQ(c.of_kind(Kind::open)[0]->url, "ws://127.0.0.1:8080/ws/chat");
  EXPECT_EQ(c.connection().i("/attempt"), 0);  // not a reconnect attempt
  EXPECT_EQ(c.connection().s("/status"), "connecting");
  c.open();
  c.frame(connect_confirm("conv-1", false, true, 10000));
  EXPECT_EQ(c.connection().s("/status"), "open");
  EXPECT_EQ(c.connection().s("/transport"), "http");
  // Lost: the next attempt starts with the WebSocket again.
  c.clear();
  c.close(1006, 0);
  while (c.of_kind(Kind::open).empty()) c.tick();
  EXPECT_EQ(c.of_kind(Kind::open)[0]->transport, "websocket");
}

TEST(ClientEngineTransports, HttpFailingToo_IsOneFailedAttempt_AndTicketsAreFetchedAfresh) {
  ClientConfig cfg = test_config();
  cfg.transports = {"websocket", "http"};
  cfg.use_tickets = true;
  Client c(cfg);
  c.connect();
  c.engine->handle_ticket(c.now, std::string("t1"));
  c.drain();
  c.clear();
  c.close(1006, 403);
  // a ticket is single-use: a fresh one for the HTTP try
  ASSERT_EQ(c.actions.size(), 1u);
  EXPECT_EQ(c.actions[0].kind, Kind::fetch_ticket);
  c.clear();
  c.engine->handle_ticket(c.now, std::string("t2"));
  c.drain();
  ASSERT_EQ(c.of_kind(Kind::open).size(), 1u);
  EXPECT_EQ(c.of_kind(Kind::open)[0]->transport, "http");
  EXPECT_EQ(c.of_kind(Kind::open)[0]->url, "ws://127.0.0.1:8080/ws/chat?ticket=t2");
  c.close(1006, 401);
  EXPECT_EQ(c.connection().i("/attempt"), 1);
  EXPECT_EQ(c.connection().s("/status"), "reconnecting");
}

TEST(ClientEngineTransports, TheOptionIsChecked) {
  for (const char* bad : {R"({"url":"ws://h/ws/chat","transports":[]})", R"({"url":"ws://h/ws/chat","transports":["smtp"]})",
                          R"({"url":"ws://h/ws/chat","transports":["http","http"]})", R"({"url":"ws://h/ws/chat","transports":"http"})"}) {
    auto r = chatwire::client::client_config_from_json(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_NE(r.error().message.find("transports"), std::string::npos) << r.error().message;
  }
  auto ok = chatwire::client::client_config_from_json(R"({"url":"ws://h/ws/chat","transports":["http"]})");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->transports, (std::vector<std::string>{"http"}));
}

}  // namespace
}  // namespace chatwire::client

