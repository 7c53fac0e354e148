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
