// check_client_config: ChatClient's option ranges, the one table both the
// engine and the bindings' clientOptions() ask (issue 16).
#include "core/client/client_config.h"

#include <gtest/gtest.h>

#include "core/api/facade.h"

namespace chatwire::client {
namespace {

ClientConfig valid() {
  ClientConfig c;
  c.url = "ws://h/ws/chat";
  return c;
}

TEST(ClientConfigRanges, TheDefaultsAreInRange) { EXPECT_FALSE(check_client_config(valid()).has_value()); }

TEST(ClientConfigRanges, ErrorsNameTheOptionTheRangeAndTheValue) {
  ClientConfig hb = valid();
  hb.heartbeat_ms = 50;
  auto e = check_client_config(hb);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->code, ErrorCode::invalid_field);
  EXPECT_EQ(e->message, "options.heartbeatMs must be an integer from 100 to 9007199254740991, got 50");
  ClientConfig jitter = valid();
  jitter.reconnect.jitter = 1.5;
  EXPECT_EQ(check_client_config(jitter)->message, "options.reconnect.jitter must be a number from 0 to 1, got 1.5");
  ClientConfig page = valid();
  page.history_page = 201;
  EXPECT_EQ(check_client_config(page)->message, "options.historyPage must be an integer from 1 to 200, got 201");
}

// An empty list left the engine no delay to pick for a retry.
TEST(ClientConfigRanges, DelaysMustBeANonEmptyListOfDelaysNotBelowZero) {
  ClientConfig empty = valid();
  empty.reconnect.delays_ms.clear();
  EXPECT_EQ(check_client_config(empty)->message, "options.reconnect.delaysMs must be a non-empty array of integers >= 0");
  ClientConfig negative = valid();
  negative.reconnect.delays_ms = {100, -1};
  EXPECT_TRUE(check_client_config(negative).has_value());
}

TEST(ClientConfigRanges, TheBindingsAskTheSameQuestion) {
  EXPECT_EQ(api::client_options_json(R"({"url":"ws://h/ws/chat"})"), R"({"ok":true})");
  const std::string bad = api::client_options_json(R"({"url":"ws://h/ws/chat","reconnect":{"delaysMs":[]}})");
  EXPECT_NE(bad.find(R"("ok":false)"), std::string::npos);
  EXPECT_NE(bad.find("options.reconnect.delaysMs must be a non-empty array"), std::string::npos);
}

}  // namespace
}  // namespace chatwire::client
