// Per-connection rate limit (PROTOCOL.md "Limits"): a token bucket of
// `burst` tokens refilled at `per_second`, one token per frame received. A
// frame that finds no token is refused with `rate_limited` and a
// retryAfterMs (the time until one token is back).
//
// Flood rule ("a client that keeps flooding at 4x is closed with 4029"): when
// a frame is refused and the frames refused within the last 1000 ms (this one
// included) number at least 3 x per_second, the verdict is `flood` and the
// hub closes the connection with 4029. Since at most per_second frames per
// second are accepted once the burst is spent, that is exactly a sustained
// rate of 4 x per_second or more. A client that sends a large backlog once
// (e.g. an outbox of 80 messages after a reconnect: 40 accepted, 40 refused)
// is not a flood; it gets rate_limited errors and resends later.
#ifndef CHATWIRE_CORE_SERVER_RATE_LIMITER_H_
#define CHATWIRE_CORE_SERVER_RATE_LIMITER_H_

#include <cstdint>
#include <vector>

namespace chatwire::server {

class RateLimiter {
 public:
  struct Verdict {
    bool allowed = true;
    int64_t retry_after_ms = 0;  // when refused: ms until a token is available (>= 1)
    bool flood = false;          // when refused: the 4x flood rule tripped
  };

  // per_second <= 0 disables the limit (every frame allowed).
  RateLimiter(double per_second, double burst);

  // Takes one token for a frame received at `now` and says whether it may be
  // processed.
  Verdict take(int64_t now);

  // Takes `tokens` more for the frame just allowed, when its answer cost more
  // than a frame (a load_messages that returned a large history page). The
  // balance may go below zero: later frames are refused until it refilled
  // above one token, so the cost is paid in time, never skipped.
  void charge(double tokens);

 private:
  double rate_;
  double burst_;
  double tokens_;
  int64_t last_ = INT64_MIN;
  // Times of refused frames in the last second. A vector: empty (the usual
  // case) it allocates nothing, where a deque takes 512 B per connection.
  std::vector<int64_t> refused_;
};

}  // namespace chatwire::server

#endif  // CHATWIRE_CORE_SERVER_RATE_LIMITER_H_
