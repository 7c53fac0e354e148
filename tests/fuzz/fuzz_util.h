// Shared pieces of the stateful fuzz targets (fuzz_client_engine,
// fuzz_server_hub): a deterministic entropy source, a JSON reader, a small
// PNG, and the abort-with-a-reason check. Not a target itself (the CMake glob
// builds tests/fuzz/fuzz_*.cc only).
#ifndef CHATWIRE_TESTS_FUZZ_FUZZ_UTIL_H_
#define CHATWIRE_TESTS_FUZZ_FUZZ_UTIL_H_

#include <rapidjson/document.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "core/protocol/ids.h"
#include "../cpp/minimal_images.h"

namespace chatwire::fuzz {

// Prints the broken invariant (and a detail) and aborts, so libFuzzer keeps
// the input as a crash.
[[noreturn]] inline void fail(const char* what, std::string_view detail = {}) {
  std::fprintf(stderr, "fuzz invariant broken: %s\n  %.*s\n", what, static_cast<int>(detail.size()),
               detail.data());
  std::abort();
}

inline void require(bool condition, const char* what, std::string_view detail = {}) {
  if (!condition) fail(what, detail);
}

// Deterministic: the same input always takes the same path (reproducible crashes).
class FuzzEntropy : public Entropy {
 public:
  explicit FuzzEntropy(uint64_t seed = 42) : state_(seed) {}
  void fill(uint8_t* out, size_t n) override {
    for (size_t i = 0; i < n; ++i) {
      state_ = state_ * 6364136223846793005ull + 1442695040888963407ull;
      out[i] = static_cast<uint8_t>(state_ >> 56);
    }
  }

 private:
  uint64_t state_;
};

// A parsed JSON object (events, frames); fields read as "" / -1 when absent.
struct Json {
  rapidjson::Document doc;
  bool ok = false;
  explicit Json(const std::string& text) {
    doc.Parse(text.c_str(), text.size());
    ok = !doc.HasParseError();
  }
  const rapidjson::Value* get(const char* key) const {
    if (!ok || !doc.IsObject()) return nullptr;
    auto it = doc.FindMember(key);
    return it == doc.MemberEnd() ? nullptr : &it->value;
  }
  std::string s(const char* key) const {
    const auto* v = get(key);
    return v && v->IsString() ? std::string(v->GetString(), v->GetStringLength()) : std::string();
  }
  int64_t i(const char* key) const {
    const auto* v = get(key);
    return v && v->IsInt64() ? v->GetInt64() : -1;
  }
};

inline std::string str_of(const rapidjson::Value& v, const char* key) {
  if (!v.IsObject()) return {};
  auto it = v.FindMember(key);
  if (it == v.MemberEnd() || !it->value.IsString()) return {};
  return std::string(it->value.GetString(), it->value.GetStringLength());
}

// Strict UTF-8 (RFC 3629: no overlongs, no surrogates, at most U+10FFFF):
// what a browser requires of every text frame it receives.
inline bool valid_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    int need;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) need = 1;
    else if (c == 0xE0) need = 2, lo = 0xA0;
    else if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) need = 2;
    else if (c == 0xED) need = 2, hi = 0x9F;
    else if (c == 0xF0) need = 3, lo = 0x90;
    else if (c >= 0xF1 && c <= 0xF3) need = 3;
    else if (c == 0xF4) need = 3, hi = 0x8F;
    else return false;
    for (int k = 1; k <= need; ++k) {
      if (i + k >= s.size()) return false;
      const auto d = static_cast<unsigned char>(s[i + k]);
      if (d < lo || d > hi) return false;
      lo = 0x80;
      hi = 0xBF;
    }
    i += need + 1;
  }
  return true;
}

// The smallest PNG check_image accepts (its structure whole, no pixel data).
inline std::string tiny_png(uint32_t w, uint32_t h) { return test_images::minimal_png(w, h); }

// JSON string literal of arbitrary bytes (invalid UTF-8 kept raw on purpose:
// the decoders must refuse it, never crash on it).
inline std::string quote(std::string_view s) {
  std::string out = "\"";
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(ch);
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out.push_back(ch);
    }
  }
  return out + "\"";
}

}  // namespace chatwire::fuzz

#endif  // CHATWIRE_TESTS_FUZZ_FUZZ_UTIL_H_
