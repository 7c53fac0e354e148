// Image sniffing over the worst files of the per-image limit (8 MiB): the
// structure walk of src/core/media/image.h steps over every block, chunk or
// marker, so the files with the most of them are the slowest. Each must stay
// a few milliseconds (a message carries up to 5 images).
//
//   cmake --build out/cmake --target chatwire_bench -j2 &&
//   out/cmake/chatwire_bench --benchmark_filter=Sniff
#include <benchmark/benchmark.h>

#include <cstdint>
#include <string>
#include <vector>

#include "../../tests/cpp/minimal_images.h"
#include "core/media/image.h"

namespace chatwire::media {
namespace {

using Bytes = std::vector<uint8_t>;
constexpr size_t kLimit = 8 << 20;

Bytes of(const std::string& s) { return Bytes(s.begin(), s.end()); }

// GIF: a 1x1 screen, 3-byte comment extensions to the limit, one image.
Bytes gif_extensions() {
  Bytes b = {'G', 'I', 'F', '8', '9', 'a', 1, 0, 1, 0, 0, 0, 0};
  while (b.size() < kLimit - 20) b.insert(b.end(), {0x21, 0xFE, 0});
  b.insert(b.end(), {0x2C, 0, 0, 0, 0, 1, 0, 1, 0, 0, 2, 1, 0, 0, 0x3B});
  return b;
}

// GIF: one image whose data is 1-byte sub-blocks to the limit.
Bytes gif_sub_blocks() {
  Bytes b = {'G', 'I', 'F', '8', '9', 'a', 1, 0, 1, 0, 0, 0, 0, 0x2C, 0, 0, 0, 0, 1, 0, 1, 0, 0, 2};
  while (b.size() < kLimit - 3) b.insert(b.end(), {1, 0});
  b.insert(b.end(), {0, 0x3B});
  return b;
}

// JPEG: SOI, then empty APP1 segments to the limit, then a frame and a scan.
Bytes jpeg_segments() {
  Bytes b = {0xFF, 0xD8};
  while (b.size() < kLimit - 40) b.insert(b.end(), {0xFF, 0xE1, 0, 2});
  b.insert(b.end(), {0xFF, 0xC0, 0, 11, 8, 0, 1, 0, 1, 1, 1, 0x11, 0});
  b.insert(b.end(), {0xFF, 0xDA, 0, 8, 1, 1, 0, 0, 63, 0});
  return b;
}

// PNG: IHDR, then empty ancillary chunks (12 bytes each) to the limit; and
// IHDR then one ancillary chunk of the whole limit (its CRC is the work).
Bytes png_chunks(bool one_big) {
  std::string s("\x89PNG\r\n\x1a\n", 8);
  std::string ihdr;
  test_images::put_be32(ihdr, 1);
  test_images::put_be32(ihdr, 1);
  ihdr += std::string("\x08\x02\x00\x00\x00", 5);
  test_images::png_chunk(s, "IHDR", ihdr);
  if (one_big) {
    test_images::png_chunk(s, "zTXt", std::string(kLimit - 60, 'x'));
  } else {
    std::string one;
    test_images::png_chunk(one, "tEXt", "");
    while (s.size() < kLimit - 20) s += one;
  }
  test_images::png_chunk(s, "IDAT", "");
  return of(s);
}

void run(benchmark::State& state, const Bytes& b) {
  if (!sniff_image(b.data(), b.size()).ok()) state.SkipWithError("not accepted");
  for (auto _ : state) {
    auto r = sniff_image(b.data(), b.size());
    benchmark::DoNotOptimize(r);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(b.size()));
}

void BM_SniffGifExtensions(benchmark::State& state) { run(state, gif_extensions()); }
void BM_SniffGifSubBlocks(benchmark::State& state) { run(state, gif_sub_blocks()); }
void BM_SniffJpegSegments(benchmark::State& state) { run(state, jpeg_segments()); }
void BM_SniffPngChunks(benchmark::State& state) { run(state, png_chunks(false)); }
void BM_SniffPngOneChunk(benchmark::State& state) { run(state, png_chunks(true)); }

BENCHMARK(BM_SniffGifExtensions)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_SniffGifSubBlocks)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_SniffJpegSegments)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_SniffPngChunks)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_SniffPngOneChunk)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace chatwire::media
