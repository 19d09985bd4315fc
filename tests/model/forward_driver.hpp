#pragma once
// Drives the engine's forward pass for tests: one KV cache whose free blocks are handed out in a
// shuffled order (so block tables are never contiguous), one thread pool, one scratch, and a
// block table and length per sequence.

#include <cstdint>
#include <span>
#include <vector>

#include "base/thread_pool.hpp"
#include "kv/kv_cache.hpp"
#include "kv/block_pool.hpp"
#include "kv/block_table.hpp"
#include "model/forward.hpp"
#include "model/model.hpp"

namespace flux::testing {

struct DriverOptions {
  int block_size = 16;
  int n_threads = 1;
  int n_blocks = 0;  // 0: enough for 4 sequences of 64 positions
  std::uint32_t shuffle_seed = 1;
};

// New tokens for one sequence within a batch.
struct SequenceFeed {
  int sequence = 0;
  std::vector<TokenId> tokens;
};

class ForwardDriver {
 public:
  ForwardDriver(const Model& model, DriverOptions options);

  int new_sequence();
  std::int64_t length(int sequence) const { return lengths_[static_cast<std::size_t>(sequence)]; }

  // One forward pass over every feed in one batch, in the order given; returns the logits of
  // every row of the batch (row after row), each [n_vocab].
  std::vector<std::vector<float>> run(const std::vector<SequenceFeed>& feeds);
  std::vector<std::vector<float>> run(int sequence, std::vector<TokenId> tokens) {
    return run({SequenceFeed{sequence, std::move(tokens)}});
  }
  // A raw batch, for the error tests.
  void forward_batch(const Batch& batch, std::span<float> logits);

  const KvCache& cache() const { return cache_; }

 private:
  const Model& model_;
  KvCache cache_;
  BlockPool blocks_;
  ThreadPool pool_;
  ForwardScratch scratch_;
  std::vector<BlockTable> tables_;
  std::vector<std::int64_t> lengths_;
};

}  // namespace flux::testing
