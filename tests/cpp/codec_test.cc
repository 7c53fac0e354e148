// Protocol codec: the shared case file (also run by Jest over both builds),
// round trips of every frame type, limits at and just past each boundary,
// invalid UTF-8, deep nesting, and frames cut at every byte.
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <fstream>
#include <sstream>

#include "core/api/facade.h"
#include "core/media/base64.h"
#include "core/protocol/codec.h"
#include "core/protocol/ids.h"
#include "core/protocol/time.h"

namespace chatwire::protocol {
namespace {

const char* kTs = "2026-11-23T13:47:50.123Z";
// A 1x1 PNG.
const char* kPng =
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==";

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(CodecCases, SharedCaseFileVerdicts) {
  const std::string text = read_file(std::string(CHATWIRE_FIXTURES) + "/codec-cases.json");
  rapidjson::Document doc;
  doc.Parse(text.c_str());
  ASSERT_FALSE(doc.HasParseError());
  const auto& cases = doc["cases"];
  ASSERT_GT(cases.Size(), 50u);
  for (const auto& c : cases.GetArray()) {
    const std::string name = c["name"].GetString();
    const std::string frame(c["text"].GetString(), c["text"].GetStringLength());
    const std::string direction = c["direction"].GetString();
    std::string limits;
    if (c.HasMember("limits")) limits = to_json_text(c["limits"]);
    rapidjson::Document result;
    result.Parse(api::decode_frame(frame, direction, limits).c_str());
    const auto& expect = c["expect"];
    ASSERT_EQ(result["ok"].GetBool(), expect["ok"].GetBool()) << name << ": " << to_json_text(result);
    if (!expect["ok"].GetBool()) {
      const auto& err = result["error"];
      EXPECT_STREQ(err["code"].GetString(), expect["code"].GetString()) << name;
      if (expect.HasMember("messageId")) {
        ASSERT_TRUE(err.HasMember("messageId")) << name;
        EXPECT_STREQ(err["messageId"].GetString(), expect["messageId"].GetString()) << name;
      }
      if (expect.HasMember("imageId")) {
        ASSERT_TRUE(err.HasMember("imageId")) << name;
        EXPECT_STREQ(err["imageId"].GetString(), expect["imageId"].GetString()) << name;
      }
      if (expect.HasMember("contains")) {
        EXPECT_NE(std::string(err["error"].GetString()).find(expect["contains"].GetString()), std::string::npos)
            << name << ": " << err["error"].GetString();
      }
    }
  }
}

// Every frame type survives encode -> decode -> encode unchanged.
TEST(CodecRoundTrip, EveryClientFrameType) {
  Limits limits;
  Image img;
  img.id = "i1";
  img.mime_type = "image/png";
  img.filename = "a.png";
  img.bytes = *media::base64_decode(kPng);
  std::vector<ClientFrame> frames = {
      Connect{"c", kTs, std::string("conv"), 7},
      Ping{"c", kTs},
      Message{"m1", "c", kTs, std::string("hello \xF0\x9F\x98\x80 \"quoted\"\n"), {img}},
      Typing{"c", true, kTs},
      LoadMessages{"conv", 120, 50},
      ConfigureTools{{ToolSpec{"getLocation", "where am I", RawJson{"{\"type\":\"object\"}"}}}},
      ToolResult{"t1", RawJson{"{\"lat\":1.5}"}, std::nullopt},
      ToolResult{"t1", std::nullopt, std::string("nope")},
      ComponentAction{"k1", "submit", RawJson{"{\"time\":\"07:00\"}"}, kTs},
      Cancel{"m1", kTs},
      Disconnect{"c", kTs},
  };
  for (const auto& f : frames) {
    const std::string text = encode(f);
    auto back = decode_client_frame(text, limits);
    ASSERT_TRUE(back.ok()) << text << " -> " << back.error().message;
    EXPECT_EQ(back->index(), f.index());
    EXPECT_EQ(encode(*back), text);
    EXPECT_EQ(text.find("\"type\":\""), 1u) << "type comes first: " << text;
  }
  // the image comes back decoded with its sniffed size
  auto m = decode_client_frame(encode(frames[2]), limits);
  const auto& got = std::get<Message>(*m).images.at(0);
  EXPECT_EQ(got.bytes, img.bytes);
  EXPECT_EQ(got.width, 1u);
  EXPECT_EQ(got.height, 1u);
}

TEST(CodecRoundTrip, EveryServerFrameType) {
  Limits limits;
  Response r{"r1", "m1", "Hello", 21, kTs, std::vector<ImageAnalysis>{{"i1", "d", "c", "good", {"a"}, {"b"}}},
             std::vector<Citation>{{"d1", "k1", "f.pdf", 1, 2, 0.82}}, false};
  Response cancelled{"r1", "m1", "Hel", 22, kTs, std::nullopt, std::nullopt, true};
  ErrorEvent err;
  err.error = Error(ErrorCode::rate_limited, "slow down");
  err.error.message_id = "m1";
  err.error.retry_after_ms = 250;
  err.timestamp = kTs;
  History h{"conv", {HistoryEntry{5, "user", "m1", std::nullopt, "hi", kTs, {HistoryImage{"i1", "image/png", std::nullopt}}, std::nullopt, std::nullopt, false},
                     HistoryEntry{9, "assistant", "r1", std::string("m1"), "yo", kTs, {}, std::nullopt, std::nullopt, false}},
            true};
  std::vector<ServerFrame> frames = {
      ConnectConfirm{"conv", "k", true, false, 10000, kTs},
      Pong{kTs},
      Confirm{"m1", std::nullopt, std::nullopt, 18, kTs},
      Confirm{"m1", std::string("i1"), std::string("analyzed"), 19, kTs},
      Thinking{"m1", "Analyzing your request...", 20, kTs},
      Delta{"r1", "m1", 3, "lo", kTs},
      r,
      cancelled,
      ToolCall{"t1", "m1", "getLocation", RawJson{"{}"}, 22, kTs},
      Component{"k1", "m1", "form", RawJson{"{\"fields\":[]}"}, 23, kTs},
      TypingIndicator{true, kTs},
      h,
      err,
  };
  for (const auto& f : frames) {
    const std::string text = encode(f);
    auto back = decode_server_frame(text, limits);
    ASSERT_TRUE(back.ok()) << text << " -> " << back.error().message;
    EXPECT_EQ(back->index(), f.index());
    EXPECT_EQ(encode(*back), text);
    EXPECT_EQ(seq_of(*back), seq_of(f));
  }
  EXPECT_EQ(encode(cancelled).find("\"cancelled\":true") != std::string::npos, true);
  EXPECT_EQ(encode(r).find("cancelled"), std::string::npos) << "cancelled only when true";
}

TEST(CodecErrors, InvalidUtf8IsBadJson) {
  const std::string bad[] = {
      std::string("{\"type\":\"ping\",\"clientId\":\"\xC3\x28\",\"timestamp\":\"") + kTs + "\"}",
      std::string("{\"type\":\"ping\",\"clientId\":\"\xED\xA0\x80\",\"timestamp\":\"") + kTs + "\"}",  // surrogate
      std::string("{\"type\":\"ping\",\"clientId\":\"\xFF\",\"timestamp\":\"") + kTs + "\"}",
      std::string("{\"type\":\"ping\",\"clientId\":\"\xE2\x82\",\"timestamp\":\"") + kTs + "\"}",  // truncated
  };
  for (const auto& text : bad) {
    auto r = decode_client_frame(text, Limits{});
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, ErrorCode::bad_json);
  }
}

TEST(CodecErrors, NestingAtAndPastTheLimit) {
  Limits limits;
  auto nested = [](int depth) {
    // the frame object itself is depth 1
    return "{\"type\":\"tool_result\",\"toolCallId\":\"t\",\"result\":" + std::string(depth - 1, '[') +
           std::string(depth - 1, ']') + "}";
  };
  EXPECT_TRUE(decode_client_frame(nested(limits.max_json_depth), limits).ok());
  auto r = decode_client_frame(nested(limits.max_json_depth + 1), limits);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::bad_json);
  // brackets inside strings do not count
  std::string in_string = "{\"type\":\"tool_result\",\"toolCallId\":\"t\",\"error\":\"" + std::string(500, '[') + "\"}";
  EXPECT_TRUE(decode_client_frame(in_string, limits).ok());
  // a million levels neither crash nor allocate much
  std::string deep = "{\"a\":" + std::string(1000000, '[');
  EXPECT_EQ(decode_client_frame(deep, limits).error().code, ErrorCode::bad_json);
}

TEST(CodecErrors, EveryPrefixOfAFrameIsRejectedNeverAccepted) {
  Limits limits;
  const std::string frames[] = {
      encode(ClientFrame{Message{"m1", "c", kTs, std::string("h\xC3\xA9llo"), {}}}),
      encode(ClientFrame{Connect{"c", kTs, std::string("conv"), 17}}),
      encode(ClientFrame{ToolResult{"t", RawJson{"{\"a\":[1,2,{\"b\":null}]}"}, std::nullopt}}),
  };
  for (const auto& text : frames) {
    ASSERT_TRUE(decode_client_frame(text, limits).ok());
    for (size_t cut = 0; cut < text.size(); ++cut) {
      auto r = decode_client_frame(std::string_view(text).substr(0, cut), limits);
      ASSERT_FALSE(r.ok()) << "prefix of " << cut << " bytes accepted";
      EXPECT_EQ(r.error().code, ErrorCode::bad_json) << cut;
    }
  }
}

TEST(CodecLimits, EachLimitAtAndJustPastItsBoundary) {
  Limits limits;
  limits.max_content_bytes = 100;
  limits.max_images = 2;
  auto message = [&](size_t content, size_t images) {
    Message m{"m1", "c", kTs, std::string(content, 'x'), {}};
    for (size_t i = 0; i < images; ++i) {
      Image img;
      img.id = "i" + std::to_string(i);
      img.mime_type = "image/png";
      img.bytes = *media::base64_decode(kPng);
      m.images.push_back(img);
    }
    return encode(ClientFrame{m});
  };
  EXPECT_TRUE(decode_client_frame(message(100, 0), limits).ok());
  EXPECT_EQ(decode_client_frame(message(101, 0), limits).error().code, ErrorCode::too_large);
  EXPECT_EQ(decode_client_frame(message(101, 0), limits).error().message_id, "m1");
  EXPECT_TRUE(decode_client_frame(message(1, 2), limits).ok());
  EXPECT_EQ(decode_client_frame(message(1, 3), limits).error().code, ErrorCode::too_large);

  // frame bytes: exactly at the limit passes the size check
  const std::string ping = encode(ClientFrame{Ping{"c", kTs}});
  limits.max_frame_bytes = ping.size();
  EXPECT_TRUE(decode_client_frame(ping, limits).ok());
  limits.max_frame_bytes = ping.size() - 1;
  EXPECT_EQ(decode_client_frame(ping, limits).error().code, ErrorCode::too_large);

  // one image's decoded bytes (the 1x1 PNG is 70 bytes)
  Limits img_limits;
  const size_t png_size = media::base64_decode(kPng)->size();
  img_limits.max_image_bytes = png_size;
  EXPECT_TRUE(decode_client_frame(message(0, 1), img_limits).ok());
  img_limits.max_image_bytes = png_size - 1;
  auto r = decode_client_frame(message(0, 1), img_limits);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::too_large);
  EXPECT_EQ(r.error().image_id, "i0");

  // load_messages.limit: 1..200
  for (auto [limit, ok] : {std::pair{0, false}, {1, true}, {200, true}, {201, false}}) {
    std::string t = "{\"type\":\"load_messages\",\"conversationId\":\"c\",\"limit\":" + std::to_string(limit) + "}";
    EXPECT_EQ(decode_client_frame(t, Limits{}).ok(), ok) << limit;
  }
}

TEST(CodecErrors, NumbersWhereStringsBelongAndTheReverse) {
  const std::pair<const char*, const char*> cases[] = {
      {"{\"type\":\"ping\",\"clientId\":1,\"timestamp\":\"2026-11-23T13:47:50.123Z\"}", "'clientId'"},
      {"{\"type\":\"ping\",\"clientId\":\"c\",\"timestamp\":1700000000}", "'timestamp'"},
      {"{\"type\":\"connect\",\"clientId\":\"c\",\"timestamp\":\"2026-11-23T13:47:50.123Z\",\"lastSeq\":\"1\"}", "'lastSeq'"},
      {"{\"type\":\"connect\",\"clientId\":\"c\",\"timestamp\":\"2026-11-23T13:47:50.123Z\",\"lastSeq\":1.5}", "'lastSeq'"},
      {"{\"type\":\"typing\",\"clientId\":\"c\",\"isTyping\":1,\"timestamp\":\"2026-11-23T13:47:50.123Z\"}", "'isTyping'"},
      {"{\"type\":\"cancel\",\"replyTo\":[\"m\"],\"timestamp\":\"2026-11-23T13:47:50.123Z\"}", "'replyTo'"},
  };
  for (auto [text, field] : cases) {
    auto r = decode_client_frame(text, Limits{});
    ASSERT_FALSE(r.ok()) << text;
    EXPECT_EQ(r.error().code, ErrorCode::invalid_field);
    EXPECT_NE(r.error().message.find(field), std::string::npos) << r.error().message;
  }
}

// A problem inside a sub-object names the field by its whole path, however
// deep it sits (a history entry's imageAnalysis used to lose the
// "messages[i]." part).
TEST(CodecErrors, NestedFieldsAreNamedByTheirPath) {
  const std::string entry =
      R"({"seq":1,"role":"assistant","messageId":"r1","content":"c","timestamp":"2026-11-23T13:47:50.123Z",)";
  const std::pair<std::string, const char*> cases[] = {
      {R"({"type":"history","conversationId":"c","messages":[)" + entry + R"("imageAnalysis":[{}]}]})",
       "missing field 'messages[0].imageAnalysis[0].imageId'"},
      {R"({"type":"history","conversationId":"c","messages":[)" + entry + R"("citations":[1]}]})",
       "field 'messages[0].citations[0]' must be an object"},
      {R"({"type":"history","conversationId":"c","messages":[)" + entry + R"("images":[{"id":"i"}]}]})",
       "missing field 'messages[0].images[0].mimeType'"},
      {R"({"type":"history","conversationId":"c","messages":[{"seq":1,"role":"bot"}]})",
       "field 'messages[0].role' must be user or assistant"},
      {R"({"type":"response","messageId":"r","replyTo":"m","content":"","seq":1,)"
       R"("timestamp":"2026-11-23T13:47:50.123Z","imageAnalysis":[{"imageId":"i","features":[1]}]})",
       "field 'imageAnalysis[0].features' must hold strings"},
  };
  for (const auto& [text, message] : cases) {
    auto r = decode_server_frame(text, Limits{});
    ASSERT_FALSE(r.ok()) << text;
    EXPECT_EQ(r.error().code, ErrorCode::invalid_field) << text;
    EXPECT_EQ(r.error().message, message) << text;
  }
}

TEST(CodecErrors, EveryErrorCodeHasItsWireName) {
  const char* names[] = {"bad_json",     "unknown_type", "invalid_field", "too_large", "image_invalid",
                         "unauthorized", "rate_limited", "not_found",     "internal",  "unavailable"};
  for (int i = 0; i < 10; ++i) {
    EXPECT_STREQ(error_code_name(static_cast<ErrorCode>(i)), names[i]);
    EXPECT_EQ(error_code_from_name(names[i]), static_cast<ErrorCode>(i));
  }
  EXPECT_FALSE(error_code_from_name("nope").has_value());
}

TEST(Timestamps, FormatAndParse) {
  EXPECT_EQ(format_timestamp(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(format_timestamp(1795441670123), "2026-11-23T13:47:50.123Z");
  EXPECT_EQ(parse_timestamp("2026-11-23T13:47:50.123Z"), 1795441670123);
  EXPECT_EQ(parse_timestamp("2026-11-23T14:47:50.123+01:00"), 1795441670123);
  EXPECT_EQ(parse_timestamp("2026-11-23T13:47:50Z"), 1795441670000);
  EXPECT_EQ(parse_timestamp("2024-02-29T00:00:00.5Z"), parse_timestamp("2024-02-29T00:00:00.500Z"));
  for (const char* bad : {"", "2026-11-23", "2026-11-23T13:47:50.123", "2026-13-01T00:00:00Z",
                          "2025-02-29T00:00:00Z", "2026-11-23T24:00:00Z", "2026-11-23T13:47:50.Z",
                          "2026-11-23T13:47:50.123Zjunk"}) {
    EXPECT_FALSE(parse_timestamp(bad).has_value()) << bad;
  }
  for (int64_t ms : {int64_t{0}, int64_t{951782400000}, int64_t{1795441670123}, int64_t{253402300799999}}) {
    EXPECT_EQ(parse_timestamp(format_timestamp(ms)), ms);
  }
}

class CountingEntropy : public Entropy {
 public:
  void fill(uint8_t* out, size_t n) override {
    for (size_t i = 0; i < n; ++i) out[i] = static_cast<uint8_t>(counter_++ * 37);
  }
  int counter_ = 0;
};

TEST(Ids, UuidV4FromInjectedEntropy) {
  CountingEntropy e;
  const std::string a = uuid_v4(e), b = uuid_v4(e);
  EXPECT_TRUE(is_uuid(a));
  EXPECT_NE(a, b);
  EXPECT_EQ(a[14], '4');                                // version
  EXPECT_NE(std::string("89ab").find(a[19]), std::string::npos);  // variant
  EXPECT_FALSE(is_uuid("not-a-uuid"));
  const double u = random_unit(e);
  EXPECT_GE(u, 0.0);
  EXPECT_LT(u, 1.0);
  EXPECT_EQ(random_hex(e, 8).size(), 16u);
}

}  // namespace
}  // namespace chatwire::protocol
