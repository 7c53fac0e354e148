// The core's list of error codes (api::error_codes_json, exported to JS as
// errorCodes) holds every ErrorCode, in order, each by its wire name.
#include <gtest/gtest.h>

#include <string>

#include "core/api/facade.h"
#include "core/protocol/errors.h"

namespace chatwire {
namespace {

TEST(ErrorCodes, TheExportedListHasEveryCode) {
  std::string want = "[";
  for (int i = 0; i < kErrorCodeCount; ++i) {
    const char* name = error_code_name(static_cast<ErrorCode>(i));
    ASSERT_EQ(error_code_from_name(name), static_cast<ErrorCode>(i)) << name;
    if (i) want += ',';
    want += std::string("\"") + name + "\"";
  }
  want += "]";
  EXPECT_EQ(api::error_codes_json(), want);
  EXPECT_NE(want.find("\"unavailable\""), std::string::npos);  // 1.1's code was missing before
  EXPECT_NE(want.find("\"conflict\""), std::string::npos);     // PROTOCOL.md 1.1 "New error codes"
}

}  // namespace
}  // namespace chatwire
