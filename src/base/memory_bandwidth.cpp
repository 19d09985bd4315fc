#include "base/memory_bandwidth.hpp"

#include <algorithm>
#include <chrono>
#include <memory>
#include <vector>

#include <fmt/format.h>

#include "base/error.hpp"

namespace flux {
namespace {

using Word = std::uint64_t;

// Eight independent accumulators keep the loop limited by loads rather than by the latency of
// one add chain; integer adds are associative, so the compiler vectorises this without
// -ffast-math.
Word sum_words(const Word* begin, const Word* end) {
  Word acc[8] = {};
  const Word* p = begin;
  for (; p + 8 <= end; p += 8)
    for (int lane = 0; lane < 8; ++lane) acc[lane] += p[lane];
  Word total = 0;
  for (; p < end; ++p) total += *p;
  for (Word a : acc) total += a;
  return total;
}

}  // namespace

BandwidthResult measure_read_bandwidth(ThreadPool& pool, const BandwidthOptions& options) {
  constexpr std::size_t kMinBytes = 4096;
  if (options.buffer_bytes < kMinBytes)
    throw InvalidArgument(fmt::format("the bandwidth buffer must hold at least {} bytes (got {})", kMinBytes,
                                      options.buffer_bytes));
  if (options.passes < 1 || options.trials < 1)
    throw InvalidArgument(fmt::format("bandwidth passes and trials must be at least 1 (got {} and {})",
                                      options.passes, options.trials));

  const std::size_t n_words = options.buffer_bytes / sizeof(Word);
  // Left uninitialised on purpose: a zero-filled allocation may be backed by the kernel's shared
  // zero page, whose reads never reach DRAM. Each thread writes the slice it will read, so the
  // pages are also placed near the thread that reads them.
  const std::unique_ptr<Word[]> buffer(new Word[n_words]);
  pool.parallel_for(n_words, [&](std::size_t begin, std::size_t end) {
    for (std::size_t i = begin; i < end; ++i) buffer[i] = i;
  });

  std::vector<Word> partial(static_cast<std::size_t>(pool.size()));
  BandwidthResult result;
  result.bytes_per_pass = n_words * sizeof(Word);
  double best_seconds = 0;
  for (int trial = 0; trial < options.trials; ++trial) {
    const auto start = std::chrono::steady_clock::now();
    for (int pass = 0; pass < options.passes; ++pass) {
      pool.run([&](int ith, int nth) {
        const std::size_t per = (n_words + static_cast<std::size_t>(nth) - 1) / static_cast<std::size_t>(nth);
        const std::size_t begin = std::min(n_words, per * static_cast<std::size_t>(ith));
        const std::size_t end = std::min(n_words, begin + per);
        partial[static_cast<std::size_t>(ith)] += sum_words(buffer.get() + begin, buffer.get() + end);
      });
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (trial == 0 || seconds < best_seconds) best_seconds = seconds;
  }
  for (Word p : partial) result.checksum += p;
  const double bytes = static_cast<double>(result.bytes_per_pass) * options.passes;
  result.gb_per_sec = best_seconds > 0 ? bytes / best_seconds / 1e9 : 0;
  return result;
}

}  // namespace flux
