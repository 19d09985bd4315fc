#include "kv/kv_cache.hpp"

#include "base/error.hpp"

namespace flux {

std::size_t KvCache::bytes_per_block(const KvLayout& layout) {
  return static_cast<std::size_t>(layout.n_layers) * 2 * static_cast<std::size_t>(layout.block_size) *
         static_cast<std::size_t>(layout.kv_dim) * sizeof(std::uint16_t);
}

KvCache::KvCache(const KvLayout& layout, int n_blocks) : layout_(layout), n_blocks_(n_blocks) {
  check(layout.n_layers > 0 && layout.kv_dim > 0 && layout.block_size > 0 && n_blocks > 0,
        "KV cache layout must be positive");
  n_elements_ = bytes_per_block(layout) / sizeof(std::uint16_t) * static_cast<std::size_t>(n_blocks);
  storage_.reset(new std::uint16_t[n_elements_]);
  free_.reserve(static_cast<std::size_t>(n_blocks));
  // Hand out low block ids first: keeps a short sequence's blocks close together.
  for (int b = n_blocks - 1; b >= 0; --b) free_.push_back(b);
}

std::optional<int> KvCache::allocate() {
  if (free_.empty()) return std::nullopt;
  const int block = free_.back();
  free_.pop_back();
  return block;
}

void KvCache::release(int block) {
  check(block >= 0 && block < n_blocks_, "released block id out of range");
  free_.push_back(block);
}

std::size_t KvCache::offset(int layer, int block, int slot, int which) const {
  const auto kv_dim = static_cast<std::size_t>(layout_.kv_dim);
  const auto bs = static_cast<std::size_t>(layout_.block_size);
  const std::size_t per_block = 2 * bs * kv_dim;
  return ((static_cast<std::size_t>(layer) * static_cast<std::size_t>(n_blocks_) +
           static_cast<std::size_t>(block)) * per_block) +
         static_cast<std::size_t>(which) * bs * kv_dim + static_cast<std::size_t>(slot) * kv_dim;
}

std::span<std::uint16_t> KvCache::key(int layer, int block, int slot) {
  return {storage_.get() + offset(layer, block, slot, 0), static_cast<std::size_t>(layout_.kv_dim)};
}
std::span<std::uint16_t> KvCache::value(int layer, int block, int slot) {
  return {storage_.get() + offset(layer, block, slot, 1), static_cast<std::size_t>(layout_.kv_dim)};
}
std::span<const std::uint16_t> KvCache::key(int layer, int block, int slot) const {
  return {storage_.get() + offset(layer, block, slot, 0), static_cast<std::size_t>(layout_.kv_dim)};
}
std::span<const std::uint16_t> KvCache::value(int layer, int block, int slot) const {
  return {storage_.get() + offset(layer, block, slot, 1), static_cast<std::size_t>(layout_.kv_dim)};
}

bool BlockTable::reserve(KvCache& cache, std::int64_t n_positions) {
  const std::int64_t bs = cache.layout().block_size;
  const std::int64_t needed = (n_positions + bs - 1) / bs;
  const std::size_t before = blocks_.size();
  while (static_cast<std::int64_t>(blocks_.size()) < needed) {
    const auto block = cache.allocate();
    if (!block) {
      for (std::size_t i = before; i < blocks_.size(); ++i) cache.release(blocks_[i]);
      blocks_.resize(before);
      return false;
    }
    blocks_.push_back(*block);
  }
  return true;
}

void BlockTable::release_all(KvCache& cache) {
  for (int b : blocks_) cache.release(b);
  blocks_.clear();
}

}  // namespace flux
