#pragma once
// The blocks of one sequence, in position order: position p lives in block blocks()[p / block_size]
// at slot p % block_size. Also remembers the chained hashes of its full blocks, so that
// publishing the next full block costs one hash.

#include <cstdint>
#include <span>
#include <vector>

#include "kv/block_hash.hpp"
#include "kv/block_pool.hpp"

namespace flux {

class BlockTable {
 public:
  BlockTable() = default;
  // Move-only: copying would double the references it holds. Share blocks through
  // KvManager::fork, which counts them.
  BlockTable(BlockTable&&) noexcept = default;
  BlockTable& operator=(BlockTable&&) noexcept = default;
  BlockTable(const BlockTable&) = delete;
  BlockTable& operator=(const BlockTable&) = delete;

  std::span<const int> blocks() const { return blocks_; }
  int size() const { return static_cast<int>(blocks_.size()); }
  bool empty() const { return blocks_.empty(); }
  std::int64_t capacity(int block_size) const { return static_cast<std::int64_t>(blocks_.size()) * block_size; }

  // Grows the table so that positions [0, n_positions) have blocks; false when the pool ran out
  // (the table keeps what it had). For callers without prefix caching or sharing.
  bool reserve(BlockPool& pool, int block_size, std::int64_t n_positions);
  // Gives every block back to the pool.
  void release_all(BlockPool& pool);

 private:
  friend class KvManager;

  std::vector<int> blocks_;
  std::vector<BlockHash> hashes_;  // hashes_[i]: chained hash of full block i, for i < hashes_.size()
};

}  // namespace flux
