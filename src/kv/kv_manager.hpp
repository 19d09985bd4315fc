#pragma once
// The paged KV cache as the scheduler sees it: storage, the block pool, and the operations on a
// sequence's block table — prefix lookup, slot allocation with copy-on-write, publishing full
// blocks, forking, truncation and release. Every operation either succeeds or leaves the table
// and the pool as they were, so the scheduler can answer "no space" by preempting and retrying.
//
// Not thread-safe: the engine's step loop is its only user.

#include <cstdint>
#include <span>

#include "base/token_id.hpp"
#include "kv/block_pool.hpp"
#include "kv/block_table.hpp"
#include "kv/kv_cache.hpp"

namespace flux {

struct KvStats {
  int total_blocks = 0;
  int used_blocks = 0;       // held by at least one sequence
  int free_blocks = 0;       // neither used nor cached
  int cached_blocks = 0;     // published for prefix reuse (used or not)
  std::uint64_t evictions = 0;
  std::uint64_t prefix_query_tokens = 0;  // prompt tokens looked up in the prefix cache
  std::uint64_t prefix_hit_tokens = 0;    // of those, tokens found cached
  double prefix_hit_rate() const {
    return prefix_query_tokens ? static_cast<double>(prefix_hit_tokens) / static_cast<double>(prefix_query_tokens) : 0.0;
  }
};

class KvManager {
 public:
  KvManager(const KvLayout& layout, int n_blocks, bool prefix_caching);

  KvCache& cache() { return cache_; }
  const KvCache& cache() const { return cache_; }
  const BlockPool& pool() const { return pool_; }
  int block_size() const { return cache_.layout().block_size; }
  int n_blocks() const { return pool_.n_blocks(); }
  bool prefix_caching() const { return prefix_caching_; }
  std::int64_t blocks_for(std::int64_t n_positions) const { return (n_positions + block_size() - 1) / block_size(); }

  // For a table that holds nothing yet: appends the cached blocks of the longest prefix of
  // `tokens` made of full cached blocks, and returns how many tokens they cover. Never covers all
  // of `tokens`: the last one must still be computed to produce logits. 0 without prefix caching.
  std::int64_t match_prefix(BlockTable& table, std::span<const TokenId> tokens);
  // Counts one admitted lookup in the hit-rate statistics (a lookup whose sequence then had to
  // wait for blocks is retried later and counted then).
  void record_prefix_lookup(std::int64_t queried_tokens, std::int64_t hit_tokens);

  // Makes positions [0, end) of the table backed by blocks, with every block that positions
  // [first_write, end) fall in exclusively owned and unpublished (copy-on-write). Returns false
  // when the pool cannot supply the blocks; then nothing changed.
  bool allocate_slots(BlockTable& table, std::int64_t first_write, std::int64_t end);
  // How many blocks allocate_slots(table, first_write, end) would take from the pool.
  int blocks_needed(const BlockTable& table, std::int64_t first_write, std::int64_t end) const;

  // Positions [0, n_computed) of `tokens` now hold their keys and values: newly full blocks are
  // hashed and, with prefix caching, published for reuse.
  void commit(BlockTable& table, std::span<const TokenId> tokens, std::int64_t n_computed);

  // A new table sharing every block of `table` (reference counted; written blocks are copied).
  BlockTable fork(const BlockTable& table);
  // Keeps positions [0, n_positions) and releases the blocks after them (rolling back
  // speculative tokens). A later write into the kept partial block copies it if it is shared.
  void truncate(BlockTable& table, std::int64_t n_positions);
  // Releases every block of the table: used ones become free, published ones stay cached.
  void free(BlockTable& table);

  KvStats stats() const;

 private:
  KvCache cache_;
  BlockPool pool_;
  bool prefix_caching_;
  std::uint64_t prefix_query_tokens_ = 0;
  std::uint64_t prefix_hit_tokens_ = 0;
};

}  // namespace flux
