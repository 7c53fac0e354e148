// TicketAuthority: issue/redeem, and every refusal reason a handshake can hit.
#include "core/server/tickets.h"

#include <gtest/gtest.h>

#include <string>

namespace chatwire::server {
namespace {

class CountingEntropy : public Entropy {
 public:
  void fill(uint8_t* out, size_t n) override {
    for (size_t i = 0; i < n; ++i) out[i] = static_cast<uint8_t>(next_++ * 131 + 7);
  }

 private:
  uint64_t next_ = 1;
};

constexpr int64_t kNow = 1'790'000'000'000;

bool starts_with(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

class TicketsTest : public ::testing::Test {
 protected:
  CountingEntropy entropy;
  TicketAuthority auth{"s3cret-key-0123456789", 60000};
};

TEST_F(TicketsTest, IssuedTicketRedeemsToItsUserOnce) {
  Ticket t = auth.issue("user-42", kNow, entropy);
  EXPECT_EQ(t.expires_at_ms, kNow + 60000);
  auto user = auth.redeem(t.text, kNow + 1000);
  ASSERT_TRUE(user.ok()) << user.error().message;
  EXPECT_EQ(*user, "user-42");

  auto again = auth.redeem(t.text, kNow + 2000);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, ErrorCode::unauthorized);
  EXPECT_TRUE(starts_with(again.error().message, "ticket reused")) << again.error().message;
}

TEST_F(TicketsTest, TicketTextIsUrlSafeAndDistinctPerIssue) {
  Ticket a = auth.issue("u", kNow, entropy);
  Ticket b = auth.issue("u", kNow, entropy);
  EXPECT_NE(a.text, b.text);
  for (char c : a.text) {
    EXPECT_TRUE(isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.') << c;
  }
  // Both redeem independently (different nonces).
  EXPECT_TRUE(auth.redeem(a.text, kNow).ok());
  EXPECT_TRUE(auth.redeem(b.text, kNow).ok());
}

TEST_F(TicketsTest, UserIdsWithSeparatorsAndUnicodeRoundTrip) {
  const std::string user = "tenant:7:alice@example.com \xC3\xA9";
  auto r = auth.redeem(auth.issue(user, kNow, entropy).text, kNow);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(*r, user);
}

TEST_F(TicketsTest, ExpiredAtTheExpiryInstant) {
  Ticket t = auth.issue("u", kNow, entropy);
  Ticket t2 = auth.issue("u", kNow, entropy);
  EXPECT_TRUE(auth.redeem(t2.text, t.expires_at_ms - 1).ok());
  auto r = auth.redeem(t.text, t.expires_at_ms);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::unauthorized);
  EXPECT_TRUE(starts_with(r.error().message, "ticket expired")) << r.error().message;
}

TEST_F(TicketsTest, CustomTtlIsHonoured) {
  TicketAuthority short_lived("k", 500);
  Ticket t = short_lived.issue("u", kNow, entropy);
  EXPECT_EQ(t.expires_at_ms, kNow + 500);
  EXPECT_FALSE(short_lived.redeem(t.text, kNow + 500).ok());
}

TEST_F(TicketsTest, TamperedPayloadOrSignatureIsForged) {
  Ticket t = auth.issue("alice", kNow, entropy);
  const size_t dot = t.text.find('.');
  // Swap the payload for one naming another user, keeping alice's signature.
  Ticket mallory = auth.issue("mallory", kNow, entropy);
  std::string spliced = mallory.text.substr(0, mallory.text.find('.')) + t.text.substr(dot);
  auto r = auth.redeem(spliced, kNow);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(starts_with(r.error().message, "ticket forged")) << r.error().message;

  std::string bad_sig = t.text;
  bad_sig[dot + 1] = bad_sig[dot + 1] == 'A' ? 'B' : 'A';
  r = auth.redeem(bad_sig, kNow);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(starts_with(r.error().message, "ticket forged")) << r.error().message;
  // The genuine ticket still works: a forgery does not consume it.
  EXPECT_TRUE(auth.redeem(t.text, kNow).ok());
}

TEST_F(TicketsTest, TicketFromAnotherSecretIsForged) {
  TicketAuthority other("another-secret", 60000);
  auto r = auth.redeem(other.issue("u", kNow, entropy).text, kNow);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::unauthorized);
  EXPECT_TRUE(starts_with(r.error().message, "ticket forged")) << r.error().message;
}

TEST_F(TicketsTest, MalformedTicketsAreRefused) {
  for (const std::string bad : {"nodot", "a.b.c", "!!!.???", "abc.", ".abc", "YWJj.YWJj", "A.AAAA"}) {
    auto r = auth.redeem(bad, kNow);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().code, ErrorCode::unauthorized);
    EXPECT_TRUE(starts_with(r.error().message, "ticket malformed")) << bad << ": " << r.error().message;
  }
  auto empty = auth.redeem("", kNow);
  ASSERT_FALSE(empty.ok());
  EXPECT_TRUE(starts_with(empty.error().message, "ticket missing"));
  auto huge = auth.redeem(std::string(10000, 'A') + ".AAAA", kNow);
  ASSERT_FALSE(huge.ok());
  EXPECT_TRUE(starts_with(huge.error().message, "ticket malformed"));
}

TEST_F(TicketsTest, AuthorizeQueryFindsAndDecodesTheTicket) {
  Ticket t = auth.issue("bob", kNow, entropy);
  auto r = auth.authorize_query("?lang=en&ticket=" + t.text + "&x=1", kNow);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(*r, "bob");

  // Percent-encoded (a client that escaped every character) works too.
  Ticket t2 = auth.issue("carol", kNow, entropy);
  std::string encoded;
  for (char c : t2.text) {
    char buf[4];
    snprintf(buf, sizeof buf, "%%%02X", static_cast<unsigned char>(c));
    encoded += buf;
  }
  r = auth.authorize_query("ticket=" + encoded, kNow);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(*r, "carol");

  // Used once already through the query.
  r = auth.authorize_query("ticket=" + t.text, kNow);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(starts_with(r.error().message, "ticket reused"));
}

TEST_F(TicketsTest, AuthorizeQueryWithoutTicketIsMissing) {
  for (const std::string q : {"", "?", "a=1&b=2", "ticket=", "tickets=abc", "?ticket"}) {
    auto r = auth.authorize_query(q, kNow);
    ASSERT_FALSE(r.ok()) << q;
    EXPECT_EQ(r.error().code, ErrorCode::unauthorized);
    EXPECT_TRUE(starts_with(r.error().message, "ticket missing")) << q << ": " << r.error().message;
  }
}

TEST_F(TicketsTest, RedeemedNoncesAreForgottenAfterExpiry) {
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(auth.redeem(auth.issue("u", kNow, entropy).text, kNow).ok());
  EXPECT_EQ(auth.remembered_nonces(), 5u);
  Ticket late = auth.issue("u", kNow + 60000, entropy);
  ASSERT_TRUE(auth.redeem(late.text, kNow + 60000).ok());
  EXPECT_EQ(auth.remembered_nonces(), 1u);  // the first five expired at kNow + 60000
}

}  // namespace
}  // namespace chatwire::server
