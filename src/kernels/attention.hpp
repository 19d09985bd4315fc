#pragma once
// Causal grouped-query attention over keys and values held in KV-cache blocks.

#include <cstdint>
#include <span>

#include "base/thread_pool.hpp"
#include "kv/kv_cache.hpp"

namespace flux {

// The rows of one sequence inside a batch: rows [first_row, first_row + n_rows) hold consecutive
// positions starting at first_pos; each attends to every position up to its own.
struct AttentionSequence {
  std::span<const int> blocks;  // the sequence's block table
  std::int64_t first_row = 0;
  std::int64_t n_rows = 0;
  std::int64_t first_pos = 0;
};

struct AttentionShape {
  int n_heads = 0;
  int n_kv_heads = 0;
  int head_dim = 0;
  float scale = 0.0f;  // usually 1 / sqrt(head_dim)
};

// q: [rows, n_heads * head_dim]; out: [rows, n_heads * head_dim]. Keys/values of the batch's own
// tokens must already be in the cache. Streams keys block by block with a running maximum and
// sum (flash-style): no score matrix is materialised.
void paged_attention(std::span<const float> q, std::span<float> out,
                     std::span<const AttentionSequence> sequences, const KvCache& cache, int layer,
                     const AttentionShape& shape, ThreadPool& pool);

}  // namespace flux
