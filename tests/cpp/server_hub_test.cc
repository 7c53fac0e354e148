// ServerHub driven through its inputs and commands with a fake clock; every
// frame it writes is checked to decode as a valid server frame.
#include "core/server/server_hub.h"
#include "core/store/server_store.h"

#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <unistd.h>

#include <cstdio>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "core/media/base64.h"
#include "core/protocol/codec.h"
#include "core/protocol/time.h"
#include "minimal_images.h"

namespace chatwire::server {
namespace {

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

// A parsed frame or event; j["field"] reads it.
struct J {
  rapidjson::Document doc;
  std::string text;
  explicit J(std::string t) : text(std::move(t)) { doc.Parse(text.c_str()); }
  J(const J& o) : J(o.text) {}
  J(J&& o) : J(o.text) {}
  const rapidjson::Value& operator[](const char* k) const {
    static const rapidjson::Value null_value;
    auto it = doc.FindMember(k);
    return it == doc.MemberEnd() ? null_value : it->value;
  }
  bool has(const char* k) const { return doc.HasMember(k); }
  std::string s(const char* k) const {
    const auto& v = (*this)[k];
    return v.IsString() ? std::string(v.GetString(), v.GetStringLength()) : std::string();
  }
  int64_t i(const char* k) const {
    const auto& v = (*this)[k];
    return v.IsInt64() ? v.GetInt64() : -999;
  }
  std::string type() const { return s("type"); }
};

// The smallest PNG check_image accepts (its structure whole, no pixel data).
std::string png(uint32_t w, uint32_t h) { return test_images::minimal_png(w, h); }

const std::string kClient = "11111111-1111-4111-8111-111111111111";
const std::string kOther = "22222222-2222-4222-8222-222222222222";
const std::string kTs = "2026-11-23T13:47:50.123Z";

std::string connect_frame(const std::string& client, const std::string& conv = "", int64_t last_seq = -1) {
  std::string f = "{\"type\":\"connect\",\"clientId\":\"" + client + "\",\"timestamp\":\"" + kTs + "\"";
  if (!conv.empty()) f += ",\"conversationId\":\"" + conv + "\"";
  if (last_seq >= 0) f += ",\"lastSeq\":" + std::to_string(last_seq);
  return f + "}";
}

std::string message_frame(const std::string& id, const std::string& content,
                          const std::vector<std::pair<std::string, std::string>>& images = {},
                          const std::string& client = kClient) {
  std::string f = "{\"type\":\"message\",\"messageId\":\"" + id + "\",\"clientId\":\"" + client +
                  "\",\"timestamp\":\"" + kTs + "\"";
  if (!content.empty()) f += ",\"content\":\"" + content + "\"";
  if (!images.empty()) {
    f += ",\"images\":[";
    for (size_t i = 0; i < images.size(); ++i) {
      if (i) f += ",";
      f += "{\"id\":\"" + images[i].first + "\",\"mimeType\":\"image/png\",\"filename\":\"p" +
           std::to_string(i) + ".png\",\"data\":\"" + media::base64_encode(images[i].second) + "\"}";
    }
    f += "]";
  }
  return f + "}";
}

std::string ping_frame() { return "{\"type\":\"ping\",\"clientId\":\"" + kClient + "\",\"timestamp\":\"" + kTs + "\"}"; }

class ServerHubTest : public ::testing::Test {
 protected:
  void SetUp() override { make(HubConfig{}); }

  void make(HubConfig config, const std::string& path = ":memory:", store::ServerStoreOptions options = {}) {
    hub.reset();
    store.reset();
    auto opened = store::ServerStore::open(path, options);
    ASSERT_TRUE(opened.ok()) << opened.error().message;
    store = std::move(*opened);
    hub = std::make_unique<ServerHub>(config, *store, entropy);
  }

  // A hub on a fresh database file that fills up at `max_bytes` (a full disk,
  // as SQLite sees it), with the rate limit out of the way. Returns the path.
  std::string make_small_file_hub(const char* name, size_t max_bytes) {
    std::string tmpl = std::string("/tmp/chatwire_hub_") + name + "_XXXXXX";
    int fd = mkstemp(tmpl.data());
    close(fd);
    std::remove(tmpl.c_str());
    store::ServerStoreOptions options;
    options.max_bytes = max_bytes;
    HubConfig cfg;
    cfg.limits.messages_per_second = 1000;
    cfg.limits.message_burst = 1000;
    make(cfg, tmpl, options);
    return tmpl;
  }

  void remove_db(const std::string& path) {
    hub.reset();
    store.reset();
    for (const char* suffix : {"", "-wal", "-shm"}) std::remove((path + suffix).c_str());
  }

  // Moves every output into the per-connection inboxes / closes / events.
  void pump() {
    while (auto t = hub->poll_transmit()) {
      auto decoded = protocol::decode_server_frame(t->text, Limits{});
      EXPECT_TRUE(decoded.ok()) << "invalid server frame: " << t->text << " -> " << decoded.error().message;
      inbox[t->conn].push_back(t->text);
    }
    while (auto c = hub->poll_close()) closes.push_back(*c);
    while (auto e = hub->poll_event()) {
      rapidjson::Document d;
      d.Parse(e->c_str());
      EXPECT_FALSE(d.HasParseError()) << *e;
      events.push_back(*e);
    }
  }

  std::vector<J> take(ConnId conn) {
    pump();
    std::vector<J> out;
    for (auto& t : inbox[conn]) out.emplace_back(t);
    inbox[conn].clear();
    return out;
  }
  std::vector<std::string> take_text(ConnId conn) {
    pump();
    auto out = std::move(inbox[conn]);
    inbox[conn].clear();
    return out;
  }
  std::vector<J> take_events() {
    pump();
    std::vector<J> out;
    for (auto& e : events) out.emplace_back(e);
    events.clear();
    return out;
  }
  std::vector<ServerHub::Close> take_closes() {
    pump();
    auto out = std::move(closes);
    closes.clear();
    return out;
  }

  void open(ConnId conn, const std::string& user = "") { hub->handle_open(now, conn, user, "127.0.0.1"); }
  void send(ConnId conn, const std::string& text) { hub->handle_frame(now, conn, text); }

  // Opens and connects; returns the connect_confirm.
  J connect(ConnId conn, const std::string& conv = "", int64_t last_seq = -1, const std::string& client = kClient,
            const std::string& user = "") {
    open(conn, user);
    send(conn, connect_frame(client, conv, last_seq));
    auto frames = take(conn);
    if (frames.empty()) {
      ADD_FAILURE() << "no connect_confirm";
      return J("{}");
    }
    EXPECT_EQ(frames.front().type(), "connect_confirm");
    J cc(frames.front().text);
    replayed = {};
    for (size_t i = 1; i < frames.size(); ++i) replayed.push_back(frames[i].text);
    return cc;
  }

  // Sends a message and returns the turn id from the "message" event.
  std::string message(ConnId conn, const std::string& id, const std::string& content = "hi") {
    send(conn, message_frame(id, content));
    for (auto& e : take_events()) {
      if (e.type() == "message") return e.s("turnId");
    }
    ADD_FAILURE() << "no message event for " << id;
    return "";
  }

  std::optional<store::TurnStatus> turn_status(const std::string& conv, const std::string& message_id) {
    auto t = store->find_turn(conv, message_id);
    if (!t.ok() || !t->has_value()) return std::nullopt;
    return (*t)->status;
  }

  // Moves the fake clock to `t`, firing every deadline poll_timeout() names on the way.
  void advance_to(int64_t t) {
    for (auto at = hub->poll_timeout(); at && *at <= t; at = hub->poll_timeout()) {
      now = std::max(now, *at);
      hub->handle_timeout(now);
    }
    now = t;
  }

  FakeEntropy entropy;
  std::unique_ptr<store::ServerStore> store;
  std::unique_ptr<ServerHub> hub;
  int64_t now = 1'790'000'000'000;
  std::map<ConnId, std::vector<std::string>> inbox;
  std::vector<ServerHub::Close> closes;
  std::vector<std::string> events;
  std::vector<std::string> replayed;
};

// ------------------------------------------------------------------ connect

TEST_F(ServerHubTest, ConnectStartsANewConversation) {
  J cc = connect(1);
  EXPECT_TRUE(is_uuid(cc.s("conversationId")));
  EXPECT_TRUE(is_uuid(cc.s("connectionId")));
  EXPECT_FALSE(cc["resumed"].GetBool());
  EXPECT_TRUE(cc["recovered"].GetBool());
  EXPECT_EQ(cc.i("heartbeatMs"), 10000);
  EXPECT_EQ(cc.s("timestamp"), format_timestamp(now));
  auto ev = take_events();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].type(), "connection");
  EXPECT_EQ(ev[0].s("conversationId"), cc.s("conversationId"));
  EXPECT_EQ(ev[0].s("connectionId"), cc.s("connectionId"));
  EXPECT_EQ(ev[0].s("clientId"), kClient);
  EXPECT_TRUE(ev[0]["userId"].IsNull());
  EXPECT_FALSE(ev[0]["resumed"].GetBool());
  EXPECT_EQ(hub->connection_count(), 1u);
}

TEST_F(ServerHubTest, FramesBeforeConnectGetAnErrorAndTheSocketStays) {
  open(1);
  send(1, message_frame("m1", "too early"));
  send(1, ping_frame());
  auto frames = take(1);
  ASSERT_EQ(frames.size(), 2u);
  for (auto& f : frames) {
    EXPECT_EQ(f.type(), "error");
    EXPECT_EQ(f.s("code"), "invalid_field");
    EXPECT_EQ(f.s("error"), "send connect first");
    EXPECT_FALSE(f.has("messageId"));  // nothing failed: the client keeps the message queued
  }
  EXPECT_TRUE(take_closes().empty());
  EXPECT_TRUE(take_events().empty());
  send(1, connect_frame(kClient));
  EXPECT_EQ(take(1).front().type(), "connect_confirm");
}

TEST_F(ServerHubTest, SecondConnectOnASocketIsRefused) {
  J cc = connect(1);
  send(1, connect_frame(kClient));
  auto frames = take(1);
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0].s("code"), "invalid_field");
  EXPECT_EQ(take_closes().size(), 0u);
}

TEST_F(ServerHubTest, ForeignOrUnknownConversationGetsANewOne) {
  J mine = connect(1);
  const std::string conv = mine.s("conversationId");
  message(1, "m1");
  // Another client naming my conversation: new conversation, nothing replayed.
  J theirs = connect(2, conv, 0, kOther);
  EXPECT_FALSE(theirs["resumed"].GetBool());
  EXPECT_TRUE(theirs["recovered"].GetBool());
  EXPECT_NE(theirs.s("conversationId"), conv);
  EXPECT_TRUE(replayed.empty());
  // Unknown id: same answer shape.
  J unknown = connect(3, "33333333-3333-4333-8333-333333333333", 5, kOther);
  EXPECT_FALSE(unknown["resumed"].GetBool());
  EXPECT_TRUE(replayed.empty());
  // The owner resumes.
  J again = connect(4, conv, 0);
  EXPECT_TRUE(again["resumed"].GetBool());
  EXPECT_EQ(again.s("conversationId"), conv);
}

TEST_F(ServerHubTest, TicketUserMustMatchToResume) {
  J alice = connect(1, "", -1, kClient, "alice");
  const std::string conv = alice.s("conversationId");
  J bob = connect(2, conv, 0, kClient, "bob");  // same clientId, other user
  EXPECT_FALSE(bob["resumed"].GetBool());
  EXPECT_NE(bob.s("conversationId"), conv);
  J alice2 = connect(3, conv, 0, kClient, "alice");
  EXPECT_TRUE(alice2["resumed"].GetBool());
  bool saw_user = false;
  for (auto& e : take_events()) saw_user |= e.s("userId") == "alice";
  EXPECT_TRUE(saw_user);
}

// ------------------------------------------------------------------ messages

TEST_F(ServerHubTest, MessageIsConfirmedThenImagesInOrderThenAnnounced) {
  connect(1);
  take_events();
  const std::string a = png(640, 480), b = png(3, 2);
  send(1, message_frame("m1", "look", {{"img-a", a}, {"img-b", b}}));
  auto frames = take(1);
  ASSERT_EQ(frames.size(), 4u);
  EXPECT_EQ(frames[0].type(), "confirm");
  EXPECT_EQ(frames[0].s("messageId"), "m1");
  EXPECT_FALSE(frames[0].has("imageId"));
  EXPECT_EQ(frames[0].i("seq"), 1);
  EXPECT_EQ(frames[1].s("imageId"), "img-a");
  EXPECT_EQ(frames[1].s("status"), "received");
  EXPECT_EQ(frames[1].i("seq"), 2);
  EXPECT_EQ(frames[2].s("imageId"), "img-b");
  EXPECT_EQ(frames[2].i("seq"), 3);
  EXPECT_EQ(frames[3].type(), "typing");
  EXPECT_TRUE(frames[3]["isTyping"].GetBool());

  auto ev = take_events();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].type(), "message");
  const auto& msg = ev[0]["message"];
  EXPECT_EQ(std::string(msg["messageId"].GetString()), "m1");
  EXPECT_EQ(std::string(msg["content"].GetString()), "look");
  EXPECT_EQ(std::string(msg["timestamp"].GetString()), kTs);
  ASSERT_EQ(msg["images"].Size(), 2u);
  EXPECT_EQ(msg["images"][0]["width"].GetInt(), 640);
  EXPECT_EQ(msg["images"][0]["height"].GetInt(), 480);
  EXPECT_EQ(msg["images"][0]["size"].GetInt(), static_cast<int>(a.size()));
  EXPECT_EQ(std::string(msg["images"][0]["filename"].GetString()), "p0.png");
  EXPECT_FALSE(msg["images"][0].HasMember("data"));
  const std::string turn = ev[0].s("turnId");
  ASSERT_NE(hub->image_bytes(turn, "img-b"), nullptr);
  EXPECT_EQ(*hub->image_bytes(turn, "img-b"), b);
  EXPECT_EQ(hub->image_bytes(turn, "nope"), nullptr);
  EXPECT_EQ(turn_status(ev[0].s("conversationId"), "m1"), store::TurnStatus::received);
}

TEST_F(ServerHubTest, FullTurnStreamsStoresAndCompletes) {
  J cc = connect(1);
  const std::string conv = cc.s("conversationId");
  send(1, message_frame("m1", "", {{"img", png(8, 8)}}));
  std::string turn;
  for (auto& e : take_events()) if (e.type() == "message") turn = e.s("turnId");
  take(1);

  ASSERT_TRUE(hub->image_status(now, turn, "img", "processing").ok());
  ASSERT_TRUE(*hub->thinking(now, turn, "Analyzing your request..."));
  EXPECT_EQ(*hub->delta(now, turn, "Hel"), 0);
  EXPECT_EQ(*hub->delta(now, turn, "lo"), 1);
  auto comp = hub->component(now, turn, "form", "{\"fields\":[]}");
  ASSERT_TRUE(comp.ok());
  ASSERT_TRUE(hub->image_status(now, turn, "img", "analyzed").ok());
  ASSERT_TRUE(*hub->respond(now, turn,
                            "{\"content\":\"Hello\",\"imageAnalysis\":[{\"imageId\":\"img\",\"description\":\"d\"}],"
                            "\"citations\":[{\"documentId\":\"doc\",\"score\":0.5}]}"));
  auto f = take(1);
  std::vector<std::string> types;
  for (auto& x : f) types.push_back(x.type() + (x.has("status") ? ":" + x.s("status") : ""));
  EXPECT_EQ(types, (std::vector<std::string>{"confirm:processing", "thinking", "delta", "delta", "component",
                                             "confirm:analyzed", "response", "typing"}));
  EXPECT_EQ(f[1].i("seq"), 4);
  EXPECT_EQ(f[1].s("replyTo"), "m1");
  EXPECT_FALSE(f[2].has("seq"));
  EXPECT_EQ(f[3].i("index"), 1);
  EXPECT_EQ(f[2].s("messageId"), f[6].s("messageId"));  // deltas and response share the reply id
  EXPECT_EQ(f[4].s("componentId"), *comp);
  EXPECT_EQ(f[6].s("content"), "Hello");
  EXPECT_EQ(f[6].i("seq"), 7);
  EXPECT_EQ(f[6]["imageAnalysis"][0]["description"].GetString(), std::string("d"));
  EXPECT_FALSE(f[6].has("cancelled"));
  EXPECT_FALSE(f[7]["isTyping"].GetBool());
  EXPECT_EQ(turn_status(conv, "m1"), store::TurnStatus::completed);

  // The turn is over: further commands are not_found.
  auto late = hub->thinking(now, turn, "x");
  ASSERT_FALSE(late.ok());
  EXPECT_EQ(late.error().code, ErrorCode::not_found);
  EXPECT_EQ(hub->image_bytes(turn, "img"), nullptr);

  // History has both sides.
  send(1, "{\"type\":\"load_messages\",\"conversationId\":\"" + conv + "\"}");
  auto h = take(1);
  ASSERT_EQ(h.size(), 1u);
  EXPECT_EQ(h[0].type(), "history");
  ASSERT_EQ(h[0]["messages"].Size(), 2u);
  EXPECT_EQ(h[0]["messages"][0]["seq"].GetInt(), 1);
  EXPECT_EQ(std::string(h[0]["messages"][0]["images"][0]["id"].GetString()), "img");
  EXPECT_EQ(std::string(h[0]["messages"][1]["content"].GetString()), "Hello");
  EXPECT_EQ(std::string(h[0]["messages"][1]["citations"][0]["documentId"].GetString()), "doc");
  EXPECT_FALSE(h[0]["hasMore"].GetBool());
}

TEST_F(ServerHubTest, RespondWithoutContentUsesTheStreamedText) {
  connect(1);
  std::string turn = message(1, "m1");
  hub->delta(now, turn, "par");
  hub->delta(now, turn, "tial");
  ASSERT_TRUE(hub->respond(now, turn, "").ok());
  auto f = take(1);
  bool found = false;
  for (auto& x : f) {
    if (x.type() == "response") {
      EXPECT_EQ(x.s("content"), "partial");
      found = true;
    }
  }
  EXPECT_TRUE(found);
}

TEST_F(ServerHubTest, InvalidCommandsAreRefusedAndTheTurnStaysOpen) {
  connect(1);
  send(1, message_frame("m1", "", {{"img", png(1, 1)}}));
  std::string turn;
  for (auto& e : take_events()) if (e.type() == "message") turn = e.s("turnId");
  take(1);
  auto bad = hub->respond(now, turn, "{\"content\":5}");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, ErrorCode::invalid_field);
  EXPECT_NE(bad.error().message.find("content"), std::string::npos);
  EXPECT_EQ(hub->respond(now, turn, "not json").error().code, ErrorCode::bad_json);
  EXPECT_EQ(hub->image_status(now, turn, "img", "received").error().code, ErrorCode::invalid_field);
  EXPECT_EQ(hub->image_status(now, turn, "other", "processing").error().code, ErrorCode::not_found);
  ASSERT_TRUE(hub->image_status(now, turn, "img", "analyzed").ok());
  EXPECT_EQ(hub->image_status(now, turn, "img", "processing").error().code, ErrorCode::invalid_field);
  EXPECT_EQ(hub->component(now, turn, "", "{}").error().code, ErrorCode::invalid_field);
  EXPECT_EQ(hub->tool_call(now, turn, "t", "{oops").error().code, ErrorCode::bad_json);
  EXPECT_EQ(hub->delta(now, "no-such-turn", "x").error().code, ErrorCode::not_found);
  EXPECT_TRUE(hub->respond(now, turn, "{\"content\":\"ok\"}").ok());
}

TEST_F(ServerHubTest, RepeatedMessageIdIsConfirmedAndReplayedNotReprocessed) {
  J cc = connect(1);
  std::string turn = message(1, "m1");
  hub->thinking(now, turn, "step");
  hub->delta(now, turn, "x");
  hub->respond(now, turn, "{\"content\":\"done\"}");
  auto original = take_text(1);
  // original: confirm, typing, thinking, delta, response, typing
  ASSERT_EQ(original.size(), 6u);

  now += 5000;
  send(1, message_frame("m1", "hi"));
  auto repeat = take_text(1);
  EXPECT_EQ(repeat, (std::vector<std::string>{original[0], original[2], original[4]}));  // same bytes, no delta/typing
  EXPECT_TRUE(take_events().empty());  // the application is not told again

  // Also from another socket of the same conversation after a reconnect.
  connect(2, cc.s("conversationId"), 99);
  take(2);
  send(2, message_frame("m1", "hi"));
  EXPECT_EQ(take_text(2).front(), original[0]);
}

TEST_F(ServerHubTest, RepeatWhileTheTurnRunsGetsTheConfirmOnly) {
  connect(1);
  std::string turn = message(1, "m1");
  auto first = take_text(1);
  send(1, message_frame("m1", "hi"));
  EXPECT_EQ(take_text(1), std::vector<std::string>{first[0]});
  EXPECT_TRUE(take_events().empty());
  ASSERT_TRUE(hub->respond(now, turn, "{\"content\":\"a\"}").ok());
}

TEST_F(ServerHubTest, FailedMessageIsProcessedAgainOnRetry) {
  J cc = connect(1);
  std::string turn = message(1, "m1");
  ASSERT_TRUE(hub->fail(now, turn, ErrorCode::internal, "model unavailable").ok());
  auto f = take(1);
  ASSERT_GE(f.size(), 3u);
  EXPECT_EQ(f[2].type(), "error");
  EXPECT_EQ(f[2].s("code"), "internal");
  EXPECT_EQ(f[2].s("messageId"), "m1");
  EXPECT_EQ(f[2].s("error"), "model unavailable");
  EXPECT_EQ(f[2].i("seq"), 2);
  EXPECT_EQ(turn_status(cc.s("conversationId"), "m1"), store::TurnStatus::failed);

  std::string retry = message(1, "m1");
  EXPECT_NE(retry, turn);
  auto g = take(1);
  EXPECT_EQ(g[0].type(), "confirm");
  EXPECT_EQ(g[0].i("seq"), 3);
  EXPECT_EQ(turn_status(cc.s("conversationId"), "m1"), store::TurnStatus::received);
}

TEST_F(ServerHubTest, MessageWithAnotherClientIdIsRefused) {
  connect(1);
  take_events();
  send(1, message_frame("m1", "hi", {}, kOther));
  auto f = take(1);
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].s("code"), "invalid_field");
  EXPECT_EQ(f[0].s("messageId"), "m1");
  EXPECT_TRUE(take_events().empty());
}

// ------------------------------------------------------------------ recovery

TEST_F(ServerHubTest, ReplayAfterLastSeqIsByteIdenticalWithoutDeltasOrTyping) {
  J cc = connect(1);
  const std::string conv = cc.s("conversationId");
  std::string t1 = message(1, "m1");
  hub->respond(now, t1, "{\"content\":\"one\"}");
  auto live1 = take_text(1);
  std::string t2 = message(1, "m2");
  hub->thinking(now, t2, "working");
  hub->delta(now, t2, "tw");
  hub->respond(now, t2, "{\"content\":\"two\"}");
  auto live2 = take_text(1);
  std::vector<std::string> seqd;
  for (auto& t : live2) {
    J j(t);
    if (j.has("seq")) seqd.push_back(t);
  }
  ASSERT_EQ(seqd.size(), 3u);  // confirm m2, thinking, response

  hub->handle_close(now, 1, 1006);
  now += 60'000;
  J again = connect(2, conv, 2);  // the client applied seq 1..2 (m1 confirm + response)
  EXPECT_TRUE(again["resumed"].GetBool());
  EXPECT_TRUE(again["recovered"].GetBool());
  EXPECT_EQ(replayed, seqd);
}

TEST_F(ServerHubTest, LastSeqBeforeTheRetentionWindowIsNotRecovered) {
  HubConfig cfg;
  cfg.retention_events = 3;
  make(cfg);
  J cc = connect(1);
  const std::string conv = cc.s("conversationId");
  for (int i = 0; i < 3; ++i) {
    std::string t = message(1, "m" + std::to_string(i));
    hub->respond(now, t, "{\"content\":\"x\"}");
  }  // seq 1..6
  take(1);
  J lost = connect(2, conv, 2);  // seq 3 was pruned
  EXPECT_TRUE(lost["resumed"].GetBool());
  EXPECT_FALSE(lost["recovered"].GetBool());
  ASSERT_EQ(replayed.size(), 3u);
  EXPECT_EQ(J(replayed[0]).i("seq"), 4);
  J fine = connect(3, conv, 3);
  EXPECT_TRUE(fine["recovered"].GetBool());
}

TEST_F(ServerHubTest, EventsOlderThanRetentionMsAreNotRecovered) {
  HubConfig cfg;
  cfg.retention_ms = 60'000;
  make(cfg);
  J cc = connect(1);
  const std::string conv = cc.s("conversationId");
  std::string t = message(1, "m1");
  hub->respond(now, t, "{\"content\":\"x\"}");
  hub->handle_close(now, 1, 1006);
  now += 60'001;
  J late = connect(2, conv, 0);
  EXPECT_TRUE(late["resumed"].GetBool());
  EXPECT_FALSE(late["recovered"].GetBool());
  EXPECT_TRUE(replayed.empty());
  // The history is still there for load_messages.
  send(2, "{\"type\":\"load_messages\",\"conversationId\":\"" + conv + "\"}");
  EXPECT_EQ(take(2)[0]["messages"].Size(), 2u);
}

TEST_F(ServerHubTest, DisconnectIsNotCancelTheReplyIsStoredAndReplayed) {
  J cc = connect(1);
  const std::string conv = cc.s("conversationId");
  std::string turn = message(1, "m1");
  take(1);
  hub->handle_close(now, 1, 1006);
  auto ev = take_events();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].type(), "disconnect");
  EXPECT_EQ(ev[0].s("conversationId"), conv);
  EXPECT_EQ(ev[0].i("code"), 1006);

  ASSERT_TRUE(hub->thinking(now, turn, "still going").ok());
  ASSERT_TRUE(hub->respond(now, turn, "{\"content\":\"finished\"}").ok());
  EXPECT_EQ(turn_status(conv, "m1"), store::TurnStatus::completed);
  connect(2, conv, 1);
  ASSERT_EQ(replayed.size(), 2u);
  EXPECT_EQ(J(replayed[0]).type(), "thinking");
  EXPECT_EQ(J(replayed[1]).s("content"), "finished");
}

TEST_F(ServerHubTest, LiveEventsReachTheConversationsNewConnection) {
  J cc = connect(1);
  const std::string conv = cc.s("conversationId");
  std::string turn = message(1, "m1");
  take(1);
  hub->handle_close(now, 1, 1006);
  connect(2, conv, 1);
  EXPECT_TRUE(replayed.size() == 1 && J(replayed[0]).type() == "typing");  // the turn is still running
  hub->delta(now, turn, "live");
  auto f = take(2);
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].type(), "delta");
  // Two tabs of one conversation both get it.
  connect(3, conv, 1);
  take(3);
  hub->thinking(now, turn, "both");
  EXPECT_EQ(take(2).size(), 1u);
  EXPECT_EQ(take(3).size(), 1u);
}

TEST_F(ServerHubTest, UnansweredToolCallIsReplayedOnResume) {
  J cc = connect(1);
  const std::string conv = cc.s("conversationId");
  send(1, "{\"type\":\"configure_tools\",\"tools\":[{\"name\":\"getLocation\"}]}");
  std::string turn;
  send(1, message_frame("m1", "where am I"));
  for (auto& e : take_events()) {
    if (e.type() == "tools") {
      ASSERT_EQ(e["tools"].Size(), 1u);
      EXPECT_EQ(std::string(e["tools"][0]["name"].GetString()), "getLocation");
    }
    if (e.type() == "message") turn = e.s("turnId");
  }
  take(1);
  hub->handle_close(now, 1, 1006);
  auto id = hub->tool_call(now, turn, "getLocation", "{\"precise\":true}");
  ASSERT_TRUE(id.ok());
  connect(2, conv, 1);
  ASSERT_EQ(replayed.size(), 2u);
  J call(replayed[0]);
  EXPECT_EQ(call.type(), "tool_call");
  EXPECT_EQ(call.s("toolCallId"), *id);
  EXPECT_EQ(call.s("name"), "getLocation");
  EXPECT_TRUE(call["arguments"]["precise"].GetBool());
  take_events();
  send(2, "{\"type\":\"tool_result\",\"toolCallId\":\"" + *id + "\",\"result\":{\"lat\":1}}");
  auto ev = take_events();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].type(), "tool_result");
  EXPECT_EQ(ev[0].s("turnId"), turn);
  EXPECT_EQ(ev[0]["result"]["lat"].GetInt(), 1);
}

// The client received the tool_call (its lastSeq covers it) but the socket
// dropped before its tool_result arrived: the call is sent again on resume,
// before the replay of newer events; an answered call is not.
TEST_F(ServerHubTest, ToolCallTheClientHadButNeverAnsweredIsSentAgainOnResume) {
  J cc = connect(1);
  const std::string conv = cc.s("conversationId");
  std::string turn = message(1, "m1");
  auto answered = hub->tool_call(now, turn, "getTime", "{}");
  auto open_call = hub->tool_call(now, turn, "getLocation", "{}");
  ASSERT_TRUE(answered.ok());
  ASSERT_TRUE(open_call.ok());
  send(1, "{\"type\":\"tool_result\",\"toolCallId\":\"" + *answered + "\",\"result\":\"12:00\"}");
  int64_t last_seq = 0;
  for (auto& f : take(1)) {
    if (f.has("seq")) last_seq = std::max<int64_t>(last_seq, f.i("seq"));
  }
  take_events();
  hub->handle_close(now, 1, 1006);
  ASSERT_TRUE(hub->thinking(now, turn, "still working").ok());  // missed while offline
  connect(2, conv, last_seq);
  ASSERT_EQ(replayed.size(), 3u);  // the open call, the missed thinking, then typing (the turn runs)
  J call(replayed[0]);
  EXPECT_EQ(call.type(), "tool_call");
  EXPECT_EQ(call.s("toolCallId"), *open_call);
  EXPECT_LE(call.i("seq"), last_seq);
  EXPECT_EQ(J(replayed[1]).type(), "thinking");
  EXPECT_EQ(J(replayed[2]).type(), "typing");
  take_events();  // disconnect, connection
  send(2, "{\"type\":\"tool_result\",\"toolCallId\":\"" + *open_call + "\",\"result\":{\"lat\":1}}");
  auto ev = take_events();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].s("toolCallId"), *open_call);
  // Once answered, a later resume sends nothing again.
  hub->handle_close(now, 2, 1006);
  connect(3, conv, last_seq + 1);
  ASSERT_EQ(replayed.size(), 1u);
  EXPECT_EQ(J(replayed[0]).type(), "typing");
}

TEST_F(ServerHubTest, FirstToolResultWinsAndUnknownIdsAreIgnored) {
  connect(1);
  std::string turn = message(1, "m1");
  auto id = hub->tool_call(now, turn, "t", "");
  ASSERT_TRUE(id.ok());
  take(1);
  send(1, "{\"type\":\"tool_result\",\"toolCallId\":\"" + *id + "\",\"error\":\"denied\"}");
  send(1, "{\"type\":\"tool_result\",\"toolCallId\":\"" + *id + "\",\"result\":42}");
  send(1, "{\"type\":\"tool_result\",\"toolCallId\":\"unknown\",\"result\":1}");
  auto ev = take_events();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].s("error"), "denied");
  EXPECT_FALSE(ev[0].has("result"));
  EXPECT_TRUE(take(1).empty());  // ignored silently
}

TEST_F(ServerHubTest, ToolResultFromAnotherConversationIsIgnored) {
  connect(1);
  std::string turn = message(1, "m1");
  auto id = hub->tool_call(now, turn, "t", "{}");
  connect(2, "", -1, kOther);
  take_events();
  send(2, "{\"type\":\"tool_result\",\"toolCallId\":\"" + *id + "\",\"result\":1}");
  EXPECT_TRUE(take_events().empty());
}

// ------------------------------------------------------------------ cancel

TEST_F(ServerHubTest, CancelStopsStreamingAndTheResponseSaysCancelled) {
  J cc = connect(1);
  const std::string conv = cc.s("conversationId");
  std::string turn = message(1, "m1");
  auto pending = hub->tool_call(now, turn, "slowTool", "{}");
  hub->delta(now, turn, "Hello wor");
  take(1);
  send(1, "{\"type\":\"cancel\",\"replyTo\":\"m1\",\"timestamp\":\"" + kTs + "\"}");
  auto ev = take_events();
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[0].type(), "cancel");
  EXPECT_EQ(ev[0].s("turnId"), turn);
  EXPECT_EQ(ev[1].type(), "tool_result");  // the pending call settles
  EXPECT_EQ(ev[1].s("toolCallId"), *pending);
  EXPECT_EQ(ev[1].s("error"), "cancelled");

  EXPECT_EQ(*hub->delta(now, turn, "ld and more"), -1);
  EXPECT_FALSE(*hub->thinking(now, turn, "ignored"));
  EXPECT_EQ(*hub->component(now, turn, "form", "{}"), "");
  EXPECT_TRUE(take(1).empty());
  ASSERT_TRUE(*hub->respond(now, turn, "{\"content\":\"Hello world and more\"}"));
  auto f = take(1);
  ASSERT_EQ(f.size(), 2u);
  EXPECT_EQ(f[0].type(), "response");
  EXPECT_TRUE(f[0]["cancelled"].GetBool());
  EXPECT_EQ(f[0].s("content"), "Hello wor");
  EXPECT_EQ(f[1].type(), "typing");
  EXPECT_EQ(turn_status(conv, "m1"), store::TurnStatus::cancelled);
  // A late tool_result for the settled call is ignored.
  send(1, "{\"type\":\"tool_result\",\"toolCallId\":\"" + *pending + "\",\"result\":1}");
  EXPECT_TRUE(take_events().empty());
}

TEST_F(ServerHubTest, CancelBeforeAnyReplySendsNothing) {
  J cc = connect(1);
  std::string turn = message(1, "m1");
  take(1);
  send(1, "{\"type\":\"cancel\",\"replyTo\":\"m1\",\"timestamp\":\"" + kTs + "\"}");
  auto late_tool = hub->tool_call(now, turn, "t", "{}");
  ASSERT_TRUE(late_tool.ok());
  auto ev = take_events();
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[1].s("error"), "cancelled");
  auto r = hub->fail(now, turn, ErrorCode::internal, "aborted");
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(*r);
  auto f = take(1);
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].type(), "typing");  // no response, no error
  EXPECT_EQ(turn_status(cc.s("conversationId"), "m1"), store::TurnStatus::cancelled);
  // Cancelling an unknown or finished turn is a no-op.
  send(1, "{\"type\":\"cancel\",\"replyTo\":\"m1\",\"timestamp\":\"" + kTs + "\"}");
  EXPECT_TRUE(take(1).empty());
  EXPECT_TRUE(take_events().empty());
}

// ------------------------------------------------------------------ liveness and limits

TEST_F(ServerHubTest, SilenceClosesWith4008AndAnyFrameResetsTheClock) {
  connect(1);
  take_events();
  advance_to(now + 20'000);
  send(1, ping_frame());
  EXPECT_EQ(take(1)[0].type(), "pong");
  advance_to(now + 20'000);
  send(1, "{not json");  // invalid frames are still life
  take(1);
  const int64_t last_heard = now;
  advance_to(last_heard + 29'999);
  EXPECT_TRUE(take_closes().empty());
  advance_to(last_heard + 30'000);
  auto closes = take_closes();
  ASSERT_EQ(closes.size(), 1u);
  EXPECT_EQ(closes[0].conn, 1u);
  EXPECT_EQ(closes[0].code, 4008);
  send(1, ping_frame());  // frames after the close request are ignored
  EXPECT_TRUE(take(1).empty());
  hub->handle_close(now, 1, 4008);
  EXPECT_EQ(hub->connection_count(), 0u);
  EXPECT_EQ(take_events()[0].type(), "disconnect");
}

TEST_F(ServerHubTest, SocketWithoutConnectIsClosedAfterTheTimeout) {
  const int64_t opened = now;
  open(1);
  advance_to(now + 10'000);
  send(1, ping_frame());  // pings do not stand in for connect
  take(1);
  advance_to(opened + 29'999);
  EXPECT_TRUE(take_closes().empty());
  advance_to(opened + 30'000);
  auto closes = take_closes();
  ASSERT_EQ(closes.size(), 1u);
  EXPECT_EQ(closes[0].code, 4008);
  hub->handle_close(now, 1, 4008);
  EXPECT_TRUE(take_events().empty());  // it never was a connection of a conversation
}

TEST_F(ServerHubTest, RateLimitRefusesWithRetryAfterThenRecovers) {
  connect(1);
  take_events();
  for (int i = 0; i < 39; ++i) send(1, ping_frame());  // connect + 39 pings = the burst of 40
  EXPECT_EQ(take(1).size(), 39u);
  send(1, message_frame("m-over", "hi"));
  auto f = take(1);
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].s("code"), "rate_limited");
  EXPECT_EQ(f[0].s("messageId"), "m-over");
  EXPECT_EQ(f[0].i("retryAfterMs"), 50);  // 20 per second
  EXPECT_TRUE(take_events().empty());
  now += 50;
  send(1, message_frame("m-over", "hi"));
  EXPECT_EQ(take(1)[0].type(), "confirm");
  EXPECT_TRUE(take_closes().empty());
}

TEST_F(ServerHubTest, FloodingAtFourTimesTheRateCloses4029) {
  connect(1);
  // 40 accepted (burst, connect included), then refused frames; the 60th
  // refused frame within one second is the 4x rule: connect + 39 + 59 pings
  // do not close, the next one does.
  for (int i = 0; i < 39 + 59; ++i) send(1, ping_frame());
  EXPECT_TRUE(take_closes().empty());
  send(1, ping_frame());
  auto closes = take_closes();
  ASSERT_EQ(closes.size(), 1u);
  EXPECT_EQ(closes[0].code, 4029);
}

TEST_F(ServerHubTest, ABacklogBelowTheFloodRuleIsOnlyRateLimited) {
  connect(1);
  for (int i = 0; i < 80; ++i) send(1, message_frame("m" + std::to_string(i), "x"));
  int confirms = 0, limited = 0;
  for (auto& f : take(1)) {
    if (f.type() == "confirm") ++confirms;
    if (f.s("code") == "rate_limited") ++limited;
  }
  EXPECT_EQ(confirms, 39);
  EXPECT_EQ(limited, 41);
  EXPECT_TRUE(take_closes().empty());
}

TEST_F(ServerHubTest, FrameOverTheHardLimitCloses1009) {
  HubConfig cfg;
  cfg.limits.max_frame_bytes = 1000;
  make(cfg);
  connect(1);
  send(1, message_frame("m1", std::string(2000, 'a')));
  auto closes = take_closes();
  ASSERT_EQ(closes.size(), 1u);
  EXPECT_EQ(closes[0].code, 1009);
}

TEST_F(ServerHubTest, EveryFrameErrorCodeKeepsTheSocketOpen) {
  HubConfig cfg;
  cfg.limits.max_content_bytes = 10;
  make(cfg);
  connect(1);
  take_events();
  auto code_of = [&](const std::string& frame) {
    send(1, frame);
    auto f = take(1);
    return f.size() == 1 && f[0].type() == "error" ? f[0] : J("{}");
  };
  EXPECT_EQ(code_of("{\"type\":").s("code"), "bad_json");
  EXPECT_EQ(code_of("{\"type\":\"teleport\"}").s("code"), "unknown_type");
  EXPECT_EQ(code_of("{\"type\":\"ping\"}").s("code"), "invalid_field");
  J big = code_of(message_frame("m-big", "this is more than ten bytes"));
  EXPECT_EQ(big.s("code"), "too_large");
  EXPECT_EQ(big.s("messageId"), "m-big");
  std::string gif = "GIF89a" + std::string("\x01\0\x01\0\0\0\0", 7);
  J img = code_of(message_frame("m-img", "", {{"img-1", gif}}));  // declared png
  EXPECT_EQ(img.s("code"), "image_invalid");
  EXPECT_EQ(img.s("messageId"), "m-img");
  EXPECT_EQ(img.s("imageId"), "img-1");
  EXPECT_EQ(code_of("{\"type\":\"load_messages\",\"conversationId\":\"someone-elses\"}").s("code"), "not_found");
  EXPECT_EQ(code_of("{\"type\":\"component_action\",\"componentId\":\"c\",\"action\":\"submit\",\"timestamp\":\"" +
                    kTs + "\"}").s("code"),
            "not_found");
  EXPECT_TRUE(take_closes().empty());
  EXPECT_TRUE(take_events().empty());  // none of them reached the application
  // Still usable.
  send(1, message_frame("ok", "fine"));
  EXPECT_EQ(take(1)[0].type(), "confirm");
}

TEST_F(ServerHubTest, LoadMessagesPagesOnlyOwnConversations) {
  J cc = connect(1);
  const std::string conv = cc.s("conversationId");
  for (int i = 0; i < 3; ++i) {
    std::string t = message(1, "m" + std::to_string(i), "q" + std::to_string(i));
    hub->respond(now, t, "{\"content\":\"a" + std::to_string(i) + "\"}");
  }
  take(1);
  send(1, "{\"type\":\"load_messages\",\"conversationId\":\"" + conv + "\",\"limit\":2}");
  J page = take(1)[0];
  ASSERT_EQ(page["messages"].Size(), 2u);
  EXPECT_TRUE(page["hasMore"].GetBool());
  EXPECT_EQ(std::string(page["messages"][0]["content"].GetString()), "q2");
  EXPECT_EQ(std::string(page["messages"][1]["content"].GetString()), "a2");
  const int before = page["messages"][0]["seq"].GetInt();
  send(1, "{\"type\":\"load_messages\",\"conversationId\":\"" + conv + "\",\"beforeSeq\":" +
              std::to_string(before) + ",\"limit\":50}");
  J older = take(1)[0];
  EXPECT_EQ(older["messages"].Size(), 4u);
  EXPECT_FALSE(older["hasMore"].GetBool());
  // Another client asking for it: not_found, revealing nothing.
  connect(2, "", -1, kOther);
  send(2, "{\"type\":\"load_messages\",\"conversationId\":\"" + conv + "\"}");
  J refused = take(2)[0];
  EXPECT_EQ(refused.s("code"), "not_found");
}

TEST_F(ServerHubTest, ComponentActionReachesTheApplication) {
  J cc = connect(1);
  std::string turn = message(1, "m1");
  auto id = hub->component(now, turn, "form", "{\"fields\":[{\"name\":\"time\"}]}");
  ASSERT_TRUE(id.ok());
  hub->respond(now, turn, "{\"content\":\"pick a time\"}");
  take(1);
  send(1, "{\"type\":\"component_action\",\"componentId\":\"" + *id +
              "\",\"action\":\"submit\",\"values\":{\"time\":\"07:00\"},\"timestamp\":\"" + kTs + "\"}");
  auto ev = take_events();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].type(), "component_action");
  EXPECT_EQ(ev[0].s("componentId"), *id);
  EXPECT_EQ(ev[0].s("action"), "submit");
  EXPECT_EQ(ev[0].s("conversationId"), cc.s("conversationId"));
  EXPECT_EQ(ev[0].s("connectionId"), cc.s("connectionId"));
  EXPECT_EQ(std::string(ev[0]["values"]["time"].GetString()), "07:00");
  // The same componentId from another conversation is unknown there.
  connect(2, "", -1, kOther);
  take_events();
  send(2, "{\"type\":\"component_action\",\"componentId\":\"" + *id + "\",\"action\":\"submit\",\"timestamp\":\"" +
              kTs + "\"}");
  EXPECT_EQ(take(2)[0].s("code"), "not_found");
  EXPECT_TRUE(take_events().empty());
}

TEST_F(ServerHubTest, DisconnectFrameClosesWith1000) {
  connect(1);
  take_events();
  send(1, "{\"type\":\"disconnect\",\"clientId\":\"" + kClient + "\",\"timestamp\":\"" + kTs + "\"}");
  auto closes = take_closes();
  ASSERT_EQ(closes.size(), 1u);
  EXPECT_EQ(closes[0].code, 1000);
  hub->handle_close(now, 1, 1000);
  auto ev = take_events();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].i("code"), 1000);
  EXPECT_EQ(hub->connection_count(), 0u);
}

// ------------------------------------------------------------------ broadcast

TEST_F(ServerHubTest, BroadcastToAConversationIsSeqdStoredAndReplayed) {
  J a = connect(1);
  const std::string conv = a.s("conversationId");
  connect(2, conv, 0);
  take(1);
  auto n = hub->broadcast(now, "{\"conversationId\":\"" + conv + "\"}",
                          "{\"type\":\"thinking\",\"replyTo\":\"m0\",\"step\":\"Server maintenance soon\"}");
  ASSERT_TRUE(n.ok()) << n.error().message;
  EXPECT_EQ(*n, 2u);
  auto f1 = take_text(1), f2 = take_text(2);
  ASSERT_EQ(f1.size(), 1u);
  EXPECT_EQ(f1, f2);
  EXPECT_EQ(J(f1[0]).i("seq"), 1);
  connect(3, conv, 0);
  EXPECT_EQ(replayed, f1);
  // Live-only types are not seq'd.
  ASSERT_TRUE(hub->broadcast(now, "{\"conversationId\":\"" + conv + "\"}", "{\"type\":\"typing\",\"isTyping\":true}").ok());
  EXPECT_FALSE(J(take_text(1)[0]).has("seq"));
}

TEST_F(ServerHubTest, BroadcastToAUserReachesEachOfTheirConversations) {
  connect(1, "", -1, kClient, "alice");
  connect(2, "", -1, kOther, "alice");
  connect(3, "", -1, kClient, "bob");
  auto n = hub->broadcast(now, "{\"userId\":\"alice\"}",
                          "{\"type\":\"error\",\"code\":\"internal\",\"error\":\"maintenance\"}");
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 2u);
  EXPECT_EQ(J(take_text(1)[0]).i("seq"), 1);
  EXPECT_EQ(J(take_text(2)[0]).i("seq"), 1);  // each conversation numbers its own
  EXPECT_TRUE(take_text(3).empty());
}

TEST_F(ServerHubTest, BroadcastRefusesBadTargetsAndFrames) {
  connect(1);
  EXPECT_EQ(hub->broadcast(now, "{}", "{\"type\":\"typing\",\"isTyping\":true}").error().code,
            ErrorCode::invalid_field);
  EXPECT_EQ(hub->broadcast(now, "{\"conversationId\":\"nope\"}", "{\"type\":\"typing\",\"isTyping\":true}")
                .error()
                .code,
            ErrorCode::not_found);
  EXPECT_EQ(hub->broadcast(now, "{\"userId\":\"u\"}", "{\"type\":\"connect_confirm\"}").error().code,
            ErrorCode::invalid_field);
  EXPECT_EQ(hub->broadcast(now, "{\"userId\":\"u\"}", "{\"type\":\"thinking\"}").error().code,
            ErrorCode::invalid_field);
}

// ------------------------------------------------------------------ restart

class TempDb {
 public:
  TempDb() {
    char tmpl[] = "/tmp/chatwire_hub_XXXXXX";
    close(mkstemp(tmpl));
    path = tmpl;
    std::remove(path.c_str());
  }
  ~TempDb() {
    for (const char* s : {"", "-wal", "-shm"}) std::remove((path + s).c_str());
  }
  std::string path;
};

TEST_F(ServerHubTest, RestartWithTheSameFileKeepsSeqAndReplay) {
  TempDb db;
  make(HubConfig{}, db.path);
  J cc = connect(1);
  const std::string conv = cc.s("conversationId");
  std::string t = message(1, "m1");
  hub->respond(now, t, "{\"content\":\"before restart\"}");
  auto before = take_text(1);
  make(HubConfig{}, db.path);  // new process, same file
  now += 1000;
  J again = connect(1, conv, 0);
  EXPECT_TRUE(again["resumed"].GetBool());
  EXPECT_TRUE(again["recovered"].GetBool());
  ASSERT_EQ(replayed.size(), 2u);
  EXPECT_EQ(replayed[0], before[0]);
  EXPECT_EQ(replayed[1], before[2]);
  send(1, message_frame("m1", "hi"));  // still deduplicated after the restart
  EXPECT_EQ(take_text(1)[0], before[0]);
  EXPECT_TRUE(take_events().size() == 1);  // only the connection event
  send(1, message_frame("m2", "next"));
  EXPECT_EQ(take(1)[0].i("seq"), 3);
}

TEST_F(ServerHubTest, TurnsLeftRunningByAStoppedServerAreAbandoned) {
  TempDb db;
  make(HubConfig{}, db.path);
  J cc = connect(1);
  const std::string conv = cc.s("conversationId");
  message(1, "m1");
  take(1);
  make(HubConfig{}, db.path);  // crashed: no shutdown()
  J again = connect(1, conv, 1);
  EXPECT_EQ(turn_status(conv, "m1"), store::TurnStatus::abandoned);
  ASSERT_EQ(replayed.size(), 1u);
  J err(replayed[0]);
  EXPECT_EQ(err.s("code"), "internal");
  EXPECT_EQ(err.s("messageId"), "m1");
  take_events();
  // The client retries: processed again.
  send(1, message_frame("m1", "hi"));
  bool announced = false;
  for (auto& e : take_events()) announced |= e.type() == "message";
  EXPECT_TRUE(announced);
}

TEST_F(ServerHubTest, ShutdownAbandonsTurnsAndClosesWith1001) {
  J cc = connect(1);
  std::string turn = message(1, "m1");
  take(1);
  hub->shutdown(now);
  auto f = take(1);
  ASSERT_GE(f.size(), 1u);
  EXPECT_EQ(f[0].type(), "error");
  EXPECT_EQ(f[0].s("messageId"), "m1");
  auto closes = take_closes();
  ASSERT_EQ(closes.size(), 1u);
  EXPECT_EQ(closes[0].code, 1001);
  EXPECT_EQ(turn_status(cc.s("conversationId"), "m1"), store::TurnStatus::abandoned);
  EXPECT_EQ(hub->respond(now, turn, "{}").error().code, ErrorCode::not_found);
  open(2);
  EXPECT_EQ(take_closes().size(), 1u);
}

// Issue 14.4: the tool list is bounded (too_large, the previous list stays)
// and reaches the application once per configure_tools, not per message.
TEST_F(ServerHubTest, ConfigureToolsIsBoundedAndAnnouncedOnce) {
  HubConfig cfg;
  cfg.limits.max_tools = 3;
  cfg.limits.max_tools_bytes = 400;
  make(cfg);
  connect(1);
  take_events();
  send(1, "{\"type\":\"configure_tools\",\"tools\":[{\"name\":\"a\"},{\"name\":\"b\"}]}");
  auto ev = take_events();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].type(), "tools");
  EXPECT_EQ(ev[0]["tools"].Size(), 2u);
  EXPECT_TRUE(take(1).empty());
  // Too many tools, then too many bytes: too_large, nothing announced.
  send(1, "{\"type\":\"configure_tools\",\"tools\":[{\"name\":\"a\"},{\"name\":\"b\"},{\"name\":\"c\"},{\"name\":\"d\"}]}");
  auto f = take(1);
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].s("code"), "too_large");
  send(1, "{\"type\":\"configure_tools\",\"tools\":[{\"name\":\"a\",\"description\":\"" + std::string(500, 'd') + "\"}]}");
  f = take(1);
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].s("code"), "too_large");
  EXPECT_TRUE(take_events().empty());
  // Messages carry no tools; the list stays the first one.
  for (const char* id : {"m1", "m2"}) {
    send(1, message_frame(id, "hi"));
    for (auto& e : take_events()) {
      EXPECT_NE(e.type(), "tools");
      if (e.type() == "message") EXPECT_FALSE(e.has("tools"));
    }
  }
}

// Issue 14.3: a load_messages answered with a large page costs tokens in
// proportion: the next frames are refused until they are paid for.
TEST_F(ServerHubTest, LoadMessagesIsPaidByTheBytesItReturns) {
  HubConfig cfg;
  cfg.limits.max_frame_bytes = 1 << 20;
  make(cfg);
  J cc = connect(1);
  const std::string conv = cc.s("conversationId");
  take_events();
  const std::string escaped(20000, 'x');
  for (int i = 0; i < 30; ++i) {
    std::string t = message(1, "m" + std::to_string(i), escaped);
    hub->respond(now, t, "{\"content\":\"ok\"}");
    now += 1000;  // stays under the rate limit
  }
  take(1);
  now += 10000;  // a full bucket
  send(1, "{\"type\":\"load_messages\",\"conversationId\":\"" + conv + "\",\"limit\":200}");
  auto page = take(1);
  ASSERT_EQ(page.size(), 1u);
  ASSERT_EQ(page[0].type(), "history");
  EXPECT_LE(page[0].text.size(), cfg.limits.max_frame_bytes);
  EXPECT_GT(page[0].text.size(), 600000u);  // 30 x 20 KB: one page
  // ~600 KB / 64 KiB = 9 tokens on top of the frame's own: 30 left of 40.
  int answered = 0;
  for (int i = 0; i < 40; ++i) send(1, ping_frame());
  for (auto& f : take(1)) answered += f.type() == "pong";
  EXPECT_GE(answered, 29);
  EXPECT_LE(answered, 31);
}

TEST_F(ServerHubTest, HistoryFramesNeverExceedTheFrameLimit) {
  HubConfig cfg;
  cfg.limits.max_frame_bytes = 64 * 1024;
  cfg.limits.messages_per_second = 1000;
  cfg.limits.message_burst = 1000;
  make(cfg);
  J cc = connect(1);
  const std::string conv = cc.s("conversationId");
  take_events();
  const std::string escaped = std::string(4000, 'a');
  for (int i = 0; i < 60; ++i) {
    std::string t = message(1, "m" + std::to_string(i), "\\u0001\\u0001" + escaped);
    hub->respond(now, t, "{\"content\":\"ok\"}");
  }
  take(1);
  std::string before;
  int got = 0, pages = 0;
  for (; pages < 100; ++pages) {
    now += 1000;
    send(1, "{\"type\":\"load_messages\",\"conversationId\":\"" + conv + "\",\"limit\":200" + before + "}");
    auto f = take(1);
    ASSERT_EQ(f.size(), 1u);
    ASSERT_EQ(f[0].type(), "history") << f[0].text;
    EXPECT_LE(f[0].text.size(), cfg.limits.max_frame_bytes);
    got += static_cast<int>(f[0]["messages"].Size());
    if (!f[0]["hasMore"].GetBool()) break;
    before = ",\"beforeSeq\":" + std::to_string(f[0]["messages"][0]["seq"].GetInt64());
  }
  EXPECT_EQ(got, 120);
  EXPECT_GT(pages, 2);
}

// Issue 14.8: a write the store refuses gets a generic `unavailable` (no
// SQLite text) with retryAfterMs; the details go to a store_error event and
// store_health() reports the failure until a write succeeds again.
TEST_F(ServerHubTest, AFailedWriteAnswersUnavailableWithoutSqliteText) {
  const std::string path = make_small_file_hub("full", 256 * 1024);
  connect(1);
  take_events();
  EXPECT_TRUE(hub->store_health().ok);
  std::string failed_id;
  for (int i = 0; i < 200 && failed_id.empty(); ++i) {
    const std::string id = "m" + std::to_string(i);
    send(1, message_frame(id, std::string(8000, 'z')));
    for (auto& f : take(1)) {
      if (f.type() == "error") {
        EXPECT_EQ(f.s("code"), "unavailable") << f.text;
        EXPECT_FALSE(f.s("messageId").empty());  // this message, or the one whose reply failed
        EXPECT_GT(f.i("retryAfterMs"), 0);
        EXPECT_EQ(f.s("error").find("SQLITE"), std::string::npos);
        EXPECT_EQ(f.s("error").find("full"), std::string::npos) << f.s("error");
        EXPECT_FALSE(f.has("seq"));
        failed_id = id;
      }
    }
    for (auto& e : take_events()) {
      if (e.type() == "message") hub->respond(now, e.s("turnId"), "{\"content\":\"ok\"}");
      if (e.type() == "store_error") EXPECT_NE(e.s("error").find("full"), std::string::npos) << e.text;
    }
    take(1);
  }
  ASSERT_FALSE(failed_id.empty()) << "the database never filled up";
  EXPECT_FALSE(hub->store_health().ok);
  EXPECT_FALSE(hub->store_health().reason.empty());
  remove_db(path);
}

// Issue 14.8 with group commit, as the Node binding runs it: SQLITE_FULL
// rolls the whole group back (SQLite does so by itself); commit_group then
// fails and every message of the group gets `unavailable`, although the owner
// dropped everything the group had produced.
TEST_F(ServerHubTest, AFailedGroupTellsEveryMessageItHeld) {
  const std::string path = make_small_file_hub("group", 256 * 1024);
  connect(1);
  take_events();
  bool failed = false;
  for (int g = 0; g < 100 && !failed; ++g) {
    ASSERT_TRUE(hub->begin_group().ok());
    std::vector<std::string> ids;
    for (int i = 0; i < 3; ++i) {
      ids.push_back("g" + std::to_string(g) + "m" + std::to_string(i));
      send(1, message_frame(ids.back(), std::string(8000, 'q')));
    }
    take(1);  // held by the owner; dropped if the group fails
    take_events();
    auto r = hub->commit_group(now);
    if (r.ok()) continue;
    failed = true;
    std::set<std::string> told;
    for (auto& f : take(1)) {
      if (f.type() == "error" && f.s("code") == "unavailable") told.insert(f.s("messageId"));
    }
    for (const auto& id : ids) EXPECT_TRUE(told.count(id)) << id << " was not told";
    EXPECT_FALSE(hub->store_health().ok);
    bool logged = false;
    for (auto& e : take_events()) logged |= e.type() == "store_error";
    EXPECT_TRUE(logged);
    // Nothing of the group is running: a resend is processed (and refused again).
    send(1, message_frame(ids[0], "small"));
    auto again = take(1);
    ASSERT_FALSE(again.empty());
  }
  EXPECT_TRUE(failed) << "the database never filled up";
  remove_db(path);
}

// ------------------------------------------------------------------ conversations (version 1.1)

namespace conversations {

const std::string kUnknown = "44444444-4444-4444-8444-444444444444";

std::string list_frame(const std::string& extra = "") { return "{\"type\":\"list_conversations\"" + extra + "}"; }
std::string update_frame(const std::string& conv, const std::string& fields) {
  return "{\"type\":\"update_conversation\",\"conversationId\":\"" + conv + "\"" + fields + "}";
}
std::string delete_frame(const std::string& conv) {
  return "{\"type\":\"delete_conversation\",\"conversationId\":\"" + conv + "\"}";
}

}  // namespace conversations

class HubConversationsTest : public ServerHubTest {
 protected:
  // A conversation of `client` (connection `conn`) holding one answered message.
  std::string chat(ConnId conn, const std::string& message_id, const std::string& client = kClient,
                   const std::string& user = "") {
    J cc = connect(conn, "", -1, client, user);
    send(conn, message_frame(message_id, "hello " + message_id, {}, client));
    std::string turn;
    for (auto& e : take_events()) if (e.type() == "message") turn = e.s("turnId");
    EXPECT_TRUE(hub->respond(now, turn, "{\"content\":\"answer\"}").ok());
    pump();
    inbox.clear();  // every connection of the owner heard it
    now += 1000;
    return cc.s("conversationId");
  }

  J only(ConnId conn, const std::string& type) {
    auto frames = take(conn);
    EXPECT_EQ(frames.size(), 1u) << (frames.empty() ? "nothing" : frames.front().text);
    if (frames.empty()) return J("{}");
    EXPECT_EQ(frames.front().type(), type) << frames.front().text;
    return J(frames.front().text);
  }

  std::vector<std::string> listed(ConnId conn, const std::string& extra = "") {
    send(conn, conversations::list_frame(extra));
    J page = only(conn, "conversations");
    std::vector<std::string> out;
    for (const auto& item : page["items"].GetArray()) out.push_back(item["conversationId"].GetString());
    return out;
  }

  void expect_usable(ConnId conn) {
    send(conn, ping_frame());
    EXPECT_EQ(only(conn, "pong").type(), "pong");
  }
};

TEST_F(HubConversationsTest, ListShowsTheOwnersConversationsNewestFirst) {
  const std::string a = chat(1, "m1");
  const std::string b = chat(2, "m2");
  chat(3, "m3", kOther);
  send(2, conversations::list_frame());
  J page = only(2, "conversations");
  ASSERT_EQ(page["items"].Size(), 2u);
  const auto& top = page["items"][0];
  EXPECT_EQ(std::string(top["conversationId"].GetString()), b);
  EXPECT_FALSE(top["archived"].GetBool());
  EXPECT_TRUE(top["metadata"].IsObject());
  EXPECT_EQ(std::string(top["lastMessage"]["role"].GetString()), "assistant");
  EXPECT_EQ(std::string(top["lastMessage"]["content"].GetString()), "answer");
  EXPECT_TRUE(top.HasMember("createdAt") && top.HasMember("updatedAt"));
  EXPECT_EQ(std::string(page["items"][1]["conversationId"].GetString()), a);
  EXPECT_FALSE(page["hasMore"].GetBool());
  EXPECT_EQ(listed(3).size(), 1u);  // the other client sees only its own
}

TEST_F(HubConversationsTest, ListPagesWithTheCursor) {
  std::vector<std::string> made;
  for (int i = 0; i < 3; ++i) made.push_back(chat(10 + i, "m" + std::to_string(i)));
  send(12, conversations::list_frame(",\"limit\":2"));
  J first = only(12, "conversations");
  ASSERT_EQ(first["items"].Size(), 2u);
  EXPECT_TRUE(first["hasMore"].GetBool());
  const std::string cursor = first["cursor"].GetString();
  EXPECT_EQ(listed(12, ",\"limit\":2,\"before\":\"" + cursor + "\""), (std::vector<std::string>{made[0]}));
}

TEST_F(HubConversationsTest, ABadLimitOrCursorIsInvalidFieldAndTheSocketStays) {
  chat(1, "m1");
  for (const char* extra : {",\"limit\":0", ",\"limit\":101", ",\"limit\":\"5\"", ",\"before\":\"nonsense\""}) {
    send(1, conversations::list_frame(extra));
    J e = only(1, "error");
    EXPECT_EQ(e.s("code"), "invalid_field") << extra;
  }
  expect_usable(1);
}

TEST_F(HubConversationsTest, AnUpdateReachesEveryConnectionOfTheOwnerAndIsReplayed) {
  const std::string conv = chat(1, "m1");
  connect(2, "", -1);     // the same client, another tab
  connect(3, "", -1, kOther);
  send(1, conversations::update_frame(conv, ",\"title\":\"Trip to Rome\",\"archived\":true,"
                                            "\"metadata\":{\"app\":\"UD21\"}"));
  J mine = only(1, "conversation");
  EXPECT_EQ(mine.s("conversationId"), conv);
  EXPECT_EQ(mine.s("title"), "Trip to Rome");
  EXPECT_TRUE(mine["archived"].GetBool());
  EXPECT_EQ(std::string(mine["metadata"]["app"].GetString()), "UD21");
  EXPECT_EQ(mine.s("updatedAt"), format_timestamp(now));
  const int64_t seq = mine.i("seq");
  EXPECT_GT(seq, 0);
  EXPECT_EQ(only(2, "conversation").text, mine.text);
  EXPECT_TRUE(take(3).empty());  // another owner hears nothing
  // Stored: a resume after the seq before it replays it byte for byte.
  connect(4, conv, seq - 1);
  ASSERT_EQ(replayed.size(), 1u);
  EXPECT_EQ(replayed[0], mine.text);
  // And the list shows it.
  send(1, conversations::list_frame());
  J page = only(1, "conversations");
  EXPECT_EQ(std::string(page["items"][0]["title"].GetString()), "Trip to Rome");
  EXPECT_TRUE(page["items"][0]["archived"].GetBool());
}

TEST_F(HubConversationsTest, AnUpdateChangesOnlyTheFieldsItNames) {
  const std::string conv = chat(1, "m1");
  send(1, conversations::update_frame(conv, ",\"title\":\"First\",\"metadata\":{\"k\":1}"));
  take(1);
  send(1, conversations::update_frame(conv, ",\"archived\":true"));
  J second = only(1, "conversation");
  EXPECT_EQ(second.s("title"), "First");
  EXPECT_EQ(second["metadata"]["k"].GetInt(), 1);
  EXPECT_TRUE(second["archived"].GetBool());
}

TEST_F(HubConversationsTest, TitleAndMetadataLimits) {
  const std::string conv = chat(1, "m1");
  std::string title200;
  for (int i = 0; i < 200; ++i) title200 += "\xC3\xA9";  // 200 characters, 400 bytes: allowed
  send(1, conversations::update_frame(conv, ",\"title\":\"" + title200 + "\""));
  EXPECT_EQ(only(1, "conversation").s("title"), title200);
  send(1, conversations::update_frame(conv, ",\"title\":\"" + title200 + "x\""));
  J long_title = only(1, "error");
  EXPECT_EQ(long_title.s("code"), "too_large");
  EXPECT_NE(long_title.s("error").find("title"), std::string::npos);
  const std::string big(4100, 'x');
  send(1, conversations::update_frame(conv, ",\"metadata\":{\"v\":\"" + big + "\"}"));
  J big_meta = only(1, "error");
  EXPECT_EQ(big_meta.s("code"), "too_large");
  EXPECT_NE(big_meta.s("error").find("metadata"), std::string::npos);
  send(1, conversations::update_frame(conv, ",\"metadata\":[1]"));
  EXPECT_EQ(only(1, "error").s("code"), "invalid_field");
  send(1, conversations::update_frame(conv, ",\"archived\":\"yes\""));
  EXPECT_EQ(only(1, "error").s("code"), "invalid_field");
  expect_usable(1);
}

TEST_F(HubConversationsTest, AForeignOrUnknownConversationIsNotFoundAndLooksTheSame) {
  const std::string theirs = chat(1, "m1", kOther);
  connect(2);
  send(2, conversations::update_frame(theirs, ",\"title\":\"mine now\""));
  J foreign = only(2, "error");
  send(2, conversations::update_frame(conversations::kUnknown, ",\"title\":\"mine now\""));
  J unknown = only(2, "error");
  EXPECT_EQ(foreign.s("code"), "not_found");
  EXPECT_EQ(unknown.s("code"), "not_found");
  // The text names only the id that was sent.
  EXPECT_EQ(foreign.s("error"), "unknown conversationId '" + theirs + "'");
  EXPECT_EQ(unknown.s("error"), "unknown conversationId '" + conversations::kUnknown + "'");
  send(2, conversations::delete_frame(theirs));
  EXPECT_EQ(only(2, "error").s("code"), "not_found");
  EXPECT_TRUE(take(1).empty());
  EXPECT_EQ((*store->find_conversation(theirs))->title, std::nullopt);
  expect_usable(2);
}

TEST_F(HubConversationsTest, AConversationOfATicketUserIsTheirsOnEveryClient) {
  const std::string conv = chat(1, "m1", kClient, "alice");
  connect(2, "", -1, kOther, "alice");  // alice's other device
  connect(3, "", -1, kClient, "bob");   // the same clientId, another user
  send(2, conversations::update_frame(conv, ",\"title\":\"from the phone\""));
  J update = only(2, "conversation");
  EXPECT_EQ(only(1, "conversation").text, update.text);
  EXPECT_TRUE(take(3).empty());
  EXPECT_TRUE(listed(3).empty());
  EXPECT_EQ(listed(2), (std::vector<std::string>{conv}));
}

TEST_F(HubConversationsTest, DeleteTellsEveryConnectionAndTheConversationIsThenUnknown) {
  const std::string conv = chat(1, "m1");
  const std::string other = chat(2, "m2");
  send(2, conversations::delete_frame(conv));
  J deleted = only(2, "conversation_deleted");
  EXPECT_EQ(deleted.s("conversationId"), conv);
  EXPECT_EQ(deleted.s("timestamp"), format_timestamp(now));
  EXPECT_EQ(only(1, "conversation_deleted").text, deleted.text);
  EXPECT_EQ(listed(2), (std::vector<std::string>{other}));
  send(2, "{\"type\":\"load_messages\",\"conversationId\":\"" + conv + "\"}");
  EXPECT_EQ(only(2, "error").s("code"), "not_found");
  J again = connect(3, conv, 0);
  EXPECT_FALSE(again["resumed"].GetBool());
  EXPECT_NE(again.s("conversationId"), conv);
  EXPECT_TRUE(replayed.empty());
  send(2, conversations::delete_frame(conv));
  EXPECT_EQ(only(2, "error").s("code"), "not_found");
}

TEST_F(HubConversationsTest, ConversationFramesNeedConnectFirst) {
  open(1);
  send(1, conversations::list_frame());
  J e = only(1, "error");
  EXPECT_EQ(e.s("error"), "send connect first");
}


std::string in_conversation(const std::string& frame, const std::string& fields) {
  return frame.substr(0, frame.size() - 1) + fields + "}";
}

TEST_F(HubConversationsTest, LiveEventsOfEveryConversationReachEveryConnectionOfTheOwner) {
  J a = connect(1);
  J b = connect(2);  // the same client, another conversation
  connect(3, "", -1, kOther);
  send(2, message_frame("m1", "hi"));
  std::string turn;
  for (auto& e : take_events()) if (e.type() == "message") turn = e.s("turnId");
  ASSERT_TRUE(hub->respond(now, turn, "{\"content\":\"answer\"}").ok());
  auto on_1 = take(1);
  auto on_2 = take(2);
  ASSERT_FALSE(on_1.empty());
  ASSERT_EQ(on_1.size(), on_2.size());
  for (size_t i = 0; i < on_1.size(); ++i) {
    EXPECT_EQ(on_1[i].text, on_2[i].text);
    EXPECT_EQ(on_1[i].s("conversationId"), b.s("conversationId")) << on_1[i].text;
  }
  EXPECT_NE(a.s("conversationId"), b.s("conversationId"));
  EXPECT_TRUE(take(3).empty());
}

TEST_F(HubConversationsTest, AMessageNamingANewConversationCreatesItForTheSender) {
  J cc = connect(1);
  const std::string fresh = "55555555-5555-4555-8555-555555555555";
  send(1, in_conversation(message_frame("m1", "hello"), ",\"conversationId\":\"" + fresh + "\""));
  auto frames = take(1);
  ASSERT_FALSE(frames.empty());
  EXPECT_EQ(frames[0].type(), "confirm");
  EXPECT_EQ(frames[0].s("conversationId"), fresh);
  EXPECT_EQ(frames[0].i("seq"), 1);  // the new conversation's own seq
  std::string turn;
  for (auto& e : take_events()) {
    if (e.type() == "message") {
      turn = e.s("turnId");
      EXPECT_EQ(e.s("conversationId"), fresh);
    }
  }
  ASSERT_TRUE(hub->respond(now, turn, "{\"content\":\"answer\"}").ok());
  auto reply = take(1);
  ASSERT_FALSE(reply.empty());
  EXPECT_EQ(reply[0].type(), "response");
  EXPECT_EQ(reply[0].s("conversationId"), fresh);
  auto conv = store->find_conversation(fresh);
  ASSERT_TRUE(conv.ok() && conv->has_value());
  EXPECT_EQ((*conv)->owner, store::conversation_owner(kClient, ""));
  EXPECT_EQ(listed(1), (std::vector<std::string>{fresh}));  // the connect's own conversation holds nothing
  // A repeat of the message in that conversation is not processed again.
  send(1, in_conversation(message_frame("m1", "hello"), ",\"conversationId\":\"" + fresh + "\""));
  for (auto& e : take_events()) EXPECT_NE(e.type(), "message");
  EXPECT_NE(cc.s("conversationId"), fresh);
}

TEST_F(HubConversationsTest, AMessageNamingAnotherOwnersConversationFailsWithNotFound) {
  const std::string theirs = chat(1, "m1", kOther);
  connect(2);
  send(2, in_conversation(message_frame("m2", "let me in"), ",\"conversationId\":\"" + theirs + "\""));
  J e = only(2, "error");
  EXPECT_EQ(e.s("code"), "not_found");
  EXPECT_EQ(e.s("messageId"), "m2");
  EXPECT_EQ(e.s("error"), "unknown conversationId '" + theirs + "'");
  EXPECT_TRUE(take(1).empty());
  for (auto& ev : take_events()) EXPECT_NE(ev.type(), "message");
  EXPECT_FALSE(store->find_turn(theirs, "m2")->has_value());
  expect_usable(2);
}

TEST_F(HubConversationsTest, MetadataAndParentsAreStoredAndComeBackInHistory) {
  J cc = connect(1);
  const std::string conv = cc.s("conversationId");
  auto answer = [&](const std::string& frame) {
    send(1, frame);
    std::string turn;
    for (auto& e : take_events()) if (e.type() == "message") turn = e.s("turnId");
    EXPECT_TRUE(hub->respond(now, turn, "{\"content\":\"answer\"}").ok());
    take(1);
  };
  answer(in_conversation(message_frame("m1", "first"), ",\"metadata\":{\"app\":\"UD21\"}"));
  answer(message_frame("m2", "second"));                                      // follows the reply to m1
  answer(in_conversation(message_frame("m2b", "second, edited"), ",\"parentId\":\"m1\""));  // a sibling branch
  answer(in_conversation(message_frame("m0", "a new root"), ",\"parentId\":null"));
  send(1, "{\"type\":\"load_messages\",\"conversationId\":\"" + conv + "\"}");
  J h = only(1, "history");
  const auto& msgs = h["messages"];
  ASSERT_EQ(msgs.Size(), 8u);
  std::map<std::string, std::string> parent;
  for (const auto& m : msgs.GetArray()) {
    parent[m["messageId"].GetString()] = m["parentId"].IsNull() ? "null" : m["parentId"].GetString();
    if (std::string(m["role"].GetString()) == "assistant") EXPECT_EQ(m["version"].GetInt(), 1);
  }
  EXPECT_EQ(parent["m1"], "null");
  EXPECT_EQ(parent["m2"], std::string(msgs[1]["messageId"].GetString()));  // the reply to m1
  EXPECT_EQ(parent["m2b"], "m1");
  EXPECT_EQ(parent["m0"], "null");
  EXPECT_EQ(std::string(msgs[0]["metadata"]["app"].GetString()), "UD21");
}

TEST_F(HubConversationsTest, AParentThatIsNotInTheConversationIsInvalidField) {
  const std::string other = chat(1, "m1");
  connect(2);
  send(2, in_conversation(message_frame("m2", "hi"), ",\"parentId\":\"m1\""));  // m1 is in another conversation
  J e = only(2, "error");
  EXPECT_EQ(e.s("code"), "invalid_field");
  EXPECT_EQ(e.s("messageId"), "m2");
  EXPECT_NE(e.s("error").find("parentId"), std::string::npos);
  for (auto& ev : take_events()) EXPECT_NE(ev.type(), "message");
  expect_usable(2);
  EXPECT_FALSE(other.empty());
}

TEST_F(HubConversationsTest, MessageMetadataOver4KiBIsTooLargeNamingTheMessage) {
  connect(1);
  send(1, in_conversation(message_frame("m1", "hi"), ",\"metadata\":{\"v\":\"" + std::string(4100, 'x') + "\"}"));
  J e = only(1, "error");
  EXPECT_EQ(e.s("code"), "too_large");
  EXPECT_EQ(e.s("messageId"), "m1");
  expect_usable(1);
}


TEST_F(HubConversationsTest, ConnectResumesSeveralConversationsInItsOrderAndReplaysEach) {
  const std::string a = chat(1, "m1");
  const std::string b = chat(2, "m2");
  const std::string theirs = chat(3, "m3", kOther);
  open(4);
  send(4, in_conversation(connect_frame(kClient, a, 0),
                          ",\"conversations\":[{\"conversationId\":\"" + b + "\",\"lastSeq\":1},"
                          "{\"conversationId\":\"" + theirs + "\",\"lastSeq\":0},"
                          "{\"conversationId\":\"" + conversations::kUnknown + "\"},"
                          "{\"conversationId\":\"" + a + "\",\"lastSeq\":0}]"));
  auto frames = take(4);
  ASSERT_FALSE(frames.empty());
  J cc(frames[0].text);
  ASSERT_EQ(cc.type(), "connect_confirm");
  EXPECT_EQ(cc.s("conversationId"), a);
  EXPECT_TRUE(cc["resumed"].GetBool());
  const auto& list = cc["conversations"];
  ASSERT_EQ(list.Size(), 4u);
  std::vector<std::pair<std::string, bool>> got;
  for (const auto& r : list.GetArray()) got.emplace_back(r["conversationId"].GetString(), r["resumed"].GetBool());
  EXPECT_EQ(got, (std::vector<std::pair<std::string, bool>>{{b, true}, {theirs, false}, {conversations::kUnknown, false}, {a, true}}));
  // Replays: the current one from seq 1, then b after its lastSeq 1, conversation by conversation.
  std::vector<std::pair<std::string, int64_t>> replay;
  for (size_t i = 1; i < frames.size(); ++i) replay.emplace_back(frames[i].s("conversationId"), frames[i].i("seq"));
  std::vector<std::pair<std::string, int64_t>> want;
  for (int64_t seq : {1, 2}) want.emplace_back(a, seq);  // confirm, response
  want.emplace_back(b, 2);
  EXPECT_EQ(replay, want);
}

TEST_F(HubConversationsTest, ConnectWithMoreThan100ConversationsIsTooLarge) {
  std::string list;
  for (int i = 0; i < 101; ++i) list += std::string(i ? "," : "") + "{\"conversationId\":\"c" + std::to_string(i) + "\"}";
  open(1);
  send(1, in_conversation(connect_frame(kClient), ",\"conversations\":[" + list + "]"));
  J e = only(1, "error");
  EXPECT_EQ(e.s("code"), "too_large");
  send(1, connect_frame(kClient));
  EXPECT_EQ(take(1).front().type(), "connect_confirm");
}

}  // namespace
}  // namespace chatwire::server
