// parse_server_config: how heartbeatMs and heartbeatTimeoutMs relate (issue 15).
#include "core/server/server_config.h"

#include <gtest/gtest.h>

namespace chatwire::server {
namespace {

TEST(ServerConfigHeartbeat, DefaultsAreTenAndThirtySeconds) {
  auto c = parse_server_config("{}");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->hub.heartbeat_ms, 10000);
  EXPECT_EQ(c->hub.heartbeat_timeout_ms, 30000);
}

TEST(ServerConfigHeartbeat, HeartbeatAloneGivesThreeTimesAsTimeout) {
  auto c = parse_server_config(R"({"heartbeatMs":2000})");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->hub.heartbeat_ms, 2000);
  EXPECT_EQ(c->hub.heartbeat_timeout_ms, 6000);
}

TEST(ServerConfigHeartbeat, TimeoutAloneAdvertisesAThirdOfIt) {
  auto c = parse_server_config(R"({"heartbeatTimeoutMs":300})");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->hub.heartbeat_ms, 100);
  EXPECT_EQ(c->hub.heartbeat_timeout_ms, 300);
  auto d = parse_server_config(R"({"heartbeatTimeoutMs":1000})");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->hub.heartbeat_ms, 333);  // floor
}

TEST(ServerConfigHeartbeat, BothGivenTimeoutMayNotBeShorterThanHeartbeat) {
  auto bad = parse_server_config(R"({"heartbeatMs":1000,"heartbeatTimeoutMs":500})");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("heartbeatTimeoutMs"), std::string::npos);
  EXPECT_NE(bad.error().message.find("heartbeatMs ("), std::string::npos);
  auto ok = parse_server_config(R"({"heartbeatMs":1000,"heartbeatTimeoutMs":1000})");
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->hub.heartbeat_ms, 1000);
  EXPECT_EQ(ok->hub.heartbeat_timeout_ms, 1000);
}

}  // namespace
}  // namespace chatwire::server

// The one place ChatServer's ranges and defaults live (issue 16): the
// messages JS throws as RangeErrors, and what JS reads back.
namespace chatwire::server {
namespace {

TEST(ServerConfigOptions, RangeErrorsNameTheOptionTheRangeAndTheValue) {
  auto port = parse_server_config(R"({"port":70000})");
  ASSERT_FALSE(port.ok());
  EXPECT_EQ(port.error().message, "options.port must be an integer from 0 to 65535, got 70000");
  auto fraction = parse_server_config(R"({"retentionMs":1.5})");
  ASSERT_FALSE(fraction.ok());
  EXPECT_EQ(fraction.error().message, "options.retentionMs must be an integer from 0 to 9007199254740991, got 1.5");
  auto ttl = parse_server_config(R"({"auth":{"secret":"0123456789abcdef","ticketTtlMs":10}})");
  ASSERT_FALSE(ttl.ok());
  EXPECT_EQ(ttl.error().message, "options.auth.ticketTtlMs must be an integer from 1000 to 86400000, got 10");
  auto limits = parse_server_config(R"({"limits":{"maxImages":-1}})");
  ASSERT_FALSE(limits.ok());
  EXPECT_EQ(limits.error().message, "options.limits.maxImages must be a positive integer");
  auto path = parse_server_config(R"({"path":"ws"})");
  ASSERT_FALSE(path.ok());
  EXPECT_EQ(path.error().message, "options.path must be a path starting with '/'");
}

TEST(ServerConfigOptions, AShortSecretIsRefusedWithoutShowingIt) {
  auto c = parse_server_config(R"({"auth":{"secret":"hunter2"}})");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().message, "options.auth.secret must be a string of at least 16 characters");
  auto n = parse_server_config(R"({"auth":{"secret":12345}})");
  ASSERT_FALSE(n.ok());
  EXPECT_EQ(n.error().message.find("12345"), std::string::npos);
}

TEST(ServerConfigOptions, JsonHoldsEveryDefaultAndTheTurnPolicyButNoSecret) {
  auto c = parse_server_config(R"({"auth":{"secret":"0123456789abcdef"},"port":8080})");
  ASSERT_TRUE(c.ok()) << c.error().message;
  const std::string json = server_config_json(*c);
  for (const char* part : {R"("host":"127.0.0.1")", R"("port":8080)", R"("path":"/ws/chat")",
                           R"("heartbeatMs":10000)", R"("heartbeatTimeoutMs":30000)", R"("retentionEvents":10000)",
                           R"("retentionMs":86400000)", R"("auth":{"ticketTtlMs":60000})",
                           R"("toolTimeout":{"defaultMs":30000,"minMs":1,"maxMs":2147483647})",
                           R"("unanswered":{"code":"internal","error":"the assistant finished without a reply"})"}) {
    EXPECT_NE(json.find(part), std::string::npos) << part << " in " << json;
  }
  EXPECT_EQ(json.find("0123456789abcdef"), std::string::npos);
}

}  // namespace
}  // namespace chatwire::server
