#include "kv/kv_cache.hpp"

#include <algorithm>

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
}

void KvCache::copy_block(int from, int to) {
  check(from >= 0 && from < n_blocks_ && to >= 0 && to < n_blocks_, "copied block id out of range");
  const std::size_t per_block = bytes_per_block(layout_) / sizeof(std::uint16_t) / static_cast<std::size_t>(layout_.n_layers);
  for (int layer = 0; layer < layout_.n_layers; ++layer) {
    const std::uint16_t* src = storage_.get() + offset(layer, from, 0, 0);
    std::copy(src, src + per_block, storage_.get() + offset(layer, to, 0, 0));
  }
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

}  // namespace flux
