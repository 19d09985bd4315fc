#include "base/memory_bandwidth.hpp"

#include <gtest/gtest.h>

#include "base/error.hpp"

namespace flux {
namespace {

// The expected checksum: every pass of every trial sums 0 + 1 + ... + (n - 1).
std::uint64_t expected_checksum(std::size_t n_words, int reads) {
  return static_cast<std::uint64_t>(reads) * (n_words * (n_words - 1) / 2);
}

TEST(MemoryBandwidth, ReadsEveryWordAndReportsAPlausibleRate) {
  for (int threads : {1, 2, 3}) {
    ThreadPool pool(threads);
    const BandwidthOptions options{.buffer_bytes = (std::size_t{1} << 20) + 40, .passes = 2, .trials = 2};
    const BandwidthResult r = measure_read_bandwidth(pool, options);
    EXPECT_EQ(r.bytes_per_pass, options.buffer_bytes);  // 1 MiB + 40 is a whole number of words
    EXPECT_EQ(r.checksum, expected_checksum(r.bytes_per_pass / 8, options.passes * options.trials));
    // Not a timing assertion: only that the number is finite, positive and below anything a
    // machine of today could do (10 TB/s), which catches unit mistakes.
    EXPECT_GT(r.gb_per_sec, 0.0) << threads;
    EXPECT_LT(r.gb_per_sec, 10'000.0) << threads;
  }
}

TEST(MemoryBandwidth, RejectsOptionsThatCannotMeasure) {
  ThreadPool pool(1);
  EXPECT_THROW(measure_read_bandwidth(pool, {.buffer_bytes = 100}), InvalidArgument);
  EXPECT_THROW(measure_read_bandwidth(pool, {.buffer_bytes = 1 << 20, .passes = 0}), InvalidArgument);
  EXPECT_THROW(measure_read_bandwidth(pool, {.buffer_bytes = 1 << 20, .trials = 0}), InvalidArgument);
}

}  // namespace
}  // namespace flux
