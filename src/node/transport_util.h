// Small pieces both transports use (the client in ws_client.cc and
// the server in ws_server.cc): callback exception reporting, a uv timer with a
// std::function, posting to the loop; and (from wire.h) the close-code and
// UTF-8 rules of RFC 6455.
// Header-only, internal to the addon.
#ifndef CHATWIRE_NODE_TRANSPORT_UTIL_H_
#define CHATWIRE_NODE_TRANSPORT_UTIL_H_

#include <uv.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <functional>

#include "transport.h"
#include "wire.h"

namespace chatwire::node::util {

using wire::sendable_close_code;
using wire::Utf8Check;

inline void report_exception(const ExceptionHandler& handler, std::exception_ptr ep) {
  if (handler) {
    try {
      handler(ep);
      return;
    } catch (...) {
      // fall through to stderr: nothing may escape into the transport
    }
  }
  try {
    std::rethrow_exception(ep);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "chatwire transport: callback threw: %s\n", e.what());
  } catch (...) {
    std::fprintf(stderr, "chatwire transport: callback threw a non-std exception\n");
  }
}

// Runs f; an exception it throws goes to `handler` (report_exception).
template <typename F>
void guarded(const ExceptionHandler& handler, F&& f) {
  try {
    f();
  } catch (...) {
    report_exception(handler, std::current_exception());
  }
}

// A heap uv_timer_t whose callback is a std::function. close() hands it to uv;
// the memory is freed in the close callback, so the owner may die right after.
class Timer {
 public:
  static Timer* create(uv_loop_t* loop) {
    auto* t = new Timer();
    uv_timer_init(loop, &t->handle_);
    t->handle_.data = t;
    return t;
  }
  void start(uint64_t timeout_ms, uint64_t repeat_ms, std::function<void()> fn) {
    fn_ = std::move(fn);
    uv_timer_start(&handle_, &Timer::on_timer, timeout_ms, repeat_ms);
  }
  void stop() { uv_timer_stop(&handle_); }
  void unref() { uv_unref(reinterpret_cast<uv_handle_t*>(&handle_)); }
  void close(std::function<void()> after = nullptr) {
    after_ = std::move(after);
    uv_close(reinterpret_cast<uv_handle_t*>(&handle_), &Timer::on_close);
  }

 private:
  static void on_timer(uv_timer_t* h) {
    auto* t = static_cast<Timer*>(h->data);
    auto fn = t->fn_;  // fn may restart or close this timer
    if (fn) fn();
  }
  static void on_close(uv_handle_t* h) {
    auto* t = static_cast<Timer*>(h->data);
    auto after = std::move(t->after_);
    delete t;
    if (after) after();
  }
  uv_timer_t handle_{};
  std::function<void()> fn_;
  std::function<void()> after_;
};

// Runs fn on the loop soon (next timers phase), outside any transport callback.
inline void post(uv_loop_t* loop, std::function<void()> fn) {
  Timer* t = Timer::create(loop);
  t->start(0, 0, [t, fn = std::move(fn)]() mutable {
    auto f = std::move(fn);
    t->close();
    try {
      if (f) f();
    } catch (...) {
      report_exception(nullptr, std::current_exception());
    }
  });
}

}  // namespace chatwire::node::util

#endif  // CHATWIRE_NODE_TRANSPORT_UTIL_H_
