#pragma once
// The machine's memory read bandwidth, measured: the ceiling that batch-1 decoding approaches,
// since each generated token reads every weight once. `flux bench` reports tg throughput as a
// fraction of it.

#include <cstddef>
#include <cstdint>

#include "base/thread_pool.hpp"

namespace flux {

struct BandwidthOptions {
  std::size_t buffer_bytes = std::size_t{1} << 30;  // far larger than any cache, so reads hit DRAM
  int passes = 3;                                   // reads of the whole buffer per timed trial
  int trials = 3;                                   // timed trials; the best one is reported
};

struct BandwidthResult {
  double gb_per_sec = 0;          // 1e9 bytes per second, the best trial
  std::size_t bytes_per_pass = 0;  // the buffer size actually read (rounded down to whole words)
  std::uint64_t checksum = 0;      // the sum read, so the reads cannot be optimised away
};

// Reads a buffer of options.buffer_bytes with every thread of the pool, each summing its own
// contiguous slice (as a matrix-vector kernel streams its rows). Takes roughly
// (trials * passes + 1) * buffer_bytes / bandwidth seconds. Throws InvalidArgument when the buffer
// is smaller than 4 KiB or passes / trials are below 1.
BandwidthResult measure_read_bandwidth(ThreadPool& pool, const BandwidthOptions& options = {});

}  // namespace flux
