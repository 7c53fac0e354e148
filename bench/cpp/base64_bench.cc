// Base64 throughput, fast paths against the reference implementations, at
// the sizes that matter: a small image (64 KiB), a typical one (1 MiB) and a
// phone photo at the protocol's per-image limit (8 MiB). Bytes/s counts the
// binary side (input of encode, output of decode) so the two are comparable.
//
//   cmake --build out/bench --target chatwire_bench -j2 &&
//   out/bench/chatwire_bench --benchmark_filter=Base64
//
// This file holds the bench executable's main (BENCHMARK_MAIN at the end):
// other bench/cpp/*.cc files must not define another.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <random>
#include <string>

#include "core/media/base64.h"

namespace chatwire::media {
namespace {

std::string random_bytes(size_t n) {
  std::mt19937_64 rng(42);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

void BM_Base64Encode(benchmark::State& state) {
  const std::string bytes = random_bytes(static_cast<size_t>(state.range(0)));
  std::string out(base64_encoded_size(bytes.size()), '\0');
  for (auto _ : state) {
    base64_encode(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), out.data());
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * state.range(0));
}

void BM_Base64EncodeString(benchmark::State& state) {
  const std::string bytes = random_bytes(static_cast<size_t>(state.range(0)));
  for (auto _ : state) {
    std::string out = base64_encode(bytes);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * state.range(0));
}

void BM_Base64EncodeReference(benchmark::State& state) {
  const std::string bytes = random_bytes(static_cast<size_t>(state.range(0)));
  for (auto _ : state) {
    std::string out = base64_encode_reference(bytes);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * state.range(0));
}

void BM_Base64Decode(benchmark::State& state) {
  const std::string text = base64_encode(random_bytes(static_cast<size_t>(state.range(0))));
  for (auto _ : state) {
    Result<std::string> r = base64_decode(text);
    if (!r.ok()) state.SkipWithError("decode failed");
    benchmark::DoNotOptimize(r->data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * state.range(0));
}

void BM_Base64DecodeReference(benchmark::State& state) {
  const std::string text = base64_encode(random_bytes(static_cast<size_t>(state.range(0))));
  for (auto _ : state) {
    Result<std::string> r = base64_decode_reference(text);
    if (!r.ok()) state.SkipWithError("decode failed");
    benchmark::DoNotOptimize(r->data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * state.range(0));
}

#define CHATWIRE_BASE64_SIZES ->Arg(64 << 10)->Arg(1 << 20)->Arg(8 << 20)
BENCHMARK(BM_Base64Encode) CHATWIRE_BASE64_SIZES;
BENCHMARK(BM_Base64EncodeString) CHATWIRE_BASE64_SIZES;
BENCHMARK(BM_Base64EncodeReference) CHATWIRE_BASE64_SIZES;
BENCHMARK(BM_Base64Decode) CHATWIRE_BASE64_SIZES;
BENCHMARK(BM_Base64DecodeReference) CHATWIRE_BASE64_SIZES;

}  // namespace
}  // namespace chatwire::media

BENCHMARK_MAIN();
