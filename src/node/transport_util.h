// Small pieces both transports use (the lws client in lws_transport.cc and
// the server in ws_server.cc): callback exception reporting, a uv timer with a
// std::function, posting to the loop, close-code and UTF-8 rules of RFC 6455.
// Header-only, internal to the addon.
#ifndef CHATWIRE_NODE_TRANSPORT_UTIL_H_
#define CHATWIRE_NODE_TRANSPORT_UTIL_H_

#include <uv.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <functional>

#include "lws_transport.h"

namespace chatwire::node::util {

inline void report_exception(const ExceptionHandler& handler, std::exception_ptr ep) {
  if (handler) {
    try {
      handler(ep);
      return;
    } catch (...) {
      // fall through to stderr: nothing may escape into lws
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

// Runs fn on the loop soon (next timers phase), outside any lws callback.
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

// A close code we may put on the wire (RFC 6455 7.4): 1005/1006/1015 and
// out-of-range values are reserved for reporting, not for sending.
inline int sendable_close_code(int code) {
  if (code < 1000 || code > 4999 || code == 1004 || code == 1005 || code == 1006 ||
      code == 1015)
    return 1000;
  return code;
}

// Incremental UTF-8 validation (RFC 3629: no overlongs, no surrogates, at
// most U+10FFFF) across the chunks of one message. lws can validate too
// (LWS_SERVER_OPTION_VALIDATE_UTF8), but it then closes through the path
// that drops the close frame in Debian's build (see ws_start_close), so the
// peer would see 1006 instead of 1007.
struct Utf8Check {
  unsigned need = 0;  // continuation bytes still expected
  unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the next one

  bool feed(const unsigned char* p, size_t n) {
    size_t i = 0;
    while (i < n) {
      if (need == 0) {
        // ASCII runs, 8 bytes at a time
        while (i + 8 <= n) {
          uint64_t w;
          std::memcpy(&w, p + i, 8);
          if (w & 0x8080808080808080ull) break;
          i += 8;
        }
        if (i >= n) break;
        unsigned char c = p[i++];
        if (c < 0x80) continue;
        lo = 0x80;
        hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF) {
          need = 1;
        } else if (c == 0xE0) {
          need = 2;
          lo = 0xA0;
        } else if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) {
          need = 2;
        } else if (c == 0xED) {
          need = 2;
          hi = 0x9F;
        } else if (c == 0xF0) {
          need = 3;
          lo = 0x90;
        } else if (c >= 0xF1 && c <= 0xF3) {
          need = 3;
        } else if (c == 0xF4) {
          need = 3;
          hi = 0x8F;
        } else {
          return false;
        }
      } else {
        unsigned char c = p[i++];
        if (c < lo || c > hi) return false;
        lo = 0x80;
        hi = 0xBF;
        need--;
      }
    }
    return true;
  }
};

}  // namespace chatwire::node::util

#endif  // CHATWIRE_NODE_TRANSPORT_UTIL_H_
