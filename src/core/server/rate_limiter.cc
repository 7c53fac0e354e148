#include "core/server/rate_limiter.h"

#include <algorithm>
#include <cmath>

namespace chatwire::server {

RateLimiter::RateLimiter(double per_second, double burst)
    : rate_(per_second), burst_(std::max(1.0, burst)), tokens_(std::max(1.0, burst)) {}

RateLimiter::Verdict RateLimiter::take(int64_t now) {
  Verdict v;
  if (rate_ <= 0) return v;
  if (last_ != INT64_MIN && now > last_) {
    tokens_ = std::min(burst_, tokens_ + static_cast<double>(now - last_) * rate_ / 1000.0);
  }
  if (last_ == INT64_MIN || now > last_) last_ = now;
  if (tokens_ >= 1.0) {
    tokens_ -= 1.0;
    return v;
  }
  v.allowed = false;
  v.retry_after_ms = std::max<int64_t>(1, static_cast<int64_t>(std::ceil((1.0 - tokens_) * 1000.0 / rate_)));
  refused_.erase(refused_.begin(), std::find_if(refused_.begin(), refused_.end(),
                                               [now](int64_t t) { return t > now - 1000; }));
  refused_.push_back(now);
  const double threshold = std::ceil(3.0 * rate_);
  v.flood = static_cast<double>(refused_.size()) >= threshold;
  return v;
}

void RateLimiter::charge(double tokens) {
  if (rate_ <= 0 || tokens <= 0) return;
  tokens_ -= tokens;
}

}  // namespace chatwire::server
