#include "kv/block_table.hpp"

namespace flux {

bool BlockTable::reserve(BlockPool& pool, int block_size, std::int64_t n_positions) {
  const std::int64_t needed = (n_positions + block_size - 1) / block_size;
  const std::size_t before = blocks_.size();
  while (static_cast<std::int64_t>(blocks_.size()) < needed) {
    const auto block = pool.allocate();
    if (!block) {
      for (std::size_t i = before; i < blocks_.size(); ++i) pool.release(blocks_[i]);
      blocks_.resize(before);
      return false;
    }
    blocks_.push_back(*block);
  }
  return true;
}

void BlockTable::release_all(BlockPool& pool) {
  // Last block first: with prefix caching, a sequence's tail is the least likely to be reused,
  // so it should be evicted before its head.
  for (auto it = blocks_.rbegin(); it != blocks_.rend(); ++it) pool.release(*it);
  blocks_.clear();
  hashes_.clear();
}

}  // namespace flux
