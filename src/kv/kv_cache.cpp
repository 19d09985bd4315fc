#include "kv/kv_cache.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "base/error.hpp"

namespace flux {
namespace {

std::size_t slot_bytes(const KvLayout& layout) {
  if (layout.type != TensorType::F16 && layout.type != TensorType::Q8_0)
    throw InvalidArgument(fmt::format("the KV cache stores f16 or q8_0, not {}", type_name(layout.type)));
  const auto block = static_cast<int>(traits(layout.type).block_size);
  if (layout.kv_dim % block != 0)
    throw InvalidArgument(fmt::format("a {} KV cache needs key widths that are multiples of {} (this model's is {})",
                                      type_name(layout.type), block, layout.kv_dim));
  return row_bytes(layout.type, layout.kv_dim);
}

}  // namespace

std::size_t KvCache::bytes_per_block(const KvLayout& layout) {
  return static_cast<std::size_t>(layout.n_layers) * 2 * static_cast<std::size_t>(layout.block_size) *
         slot_bytes(layout);
}

KvCache::KvCache(const KvLayout& layout, int n_blocks) : layout_(layout), n_blocks_(n_blocks) {
  check(layout.n_layers > 0 && layout.kv_dim > 0 && layout.block_size > 0 && n_blocks > 0,
        "KV cache layout must be positive");
  row_bytes_ = slot_bytes(layout);
  bytes_ = bytes_per_block(layout) * static_cast<std::size_t>(n_blocks);
  storage_.reset(new std::byte[bytes_]);
}

void KvCache::copy_block(int from, int to) {
  check(from >= 0 && from < n_blocks_ && to >= 0 && to < n_blocks_, "copied block id out of range");
  const std::size_t per_layer = 2 * static_cast<std::size_t>(layout_.block_size) * row_bytes_;
  for (int layer = 0; layer < layout_.n_layers; ++layer) {
    const std::byte* src = storage_.get() + offset(layer, from, 0, 0);
    std::copy(src, src + per_layer, storage_.get() + offset(layer, to, 0, 0));
  }
}

std::size_t KvCache::offset(int layer, int block, int slot, int which) const {
  const auto bs = static_cast<std::size_t>(layout_.block_size);
  const std::size_t per_block = 2 * bs * row_bytes_;
  return (static_cast<std::size_t>(layer) * static_cast<std::size_t>(n_blocks_) + static_cast<std::size_t>(block)) *
             per_block +
         (static_cast<std::size_t>(which) * bs + static_cast<std::size_t>(slot)) * row_bytes_;
}

std::span<std::byte> KvCache::key_bytes(int layer, int block, int slot) {
  return {storage_.get() + offset(layer, block, slot, 0), row_bytes_};
}
std::span<std::byte> KvCache::value_bytes(int layer, int block, int slot) {
  return {storage_.get() + offset(layer, block, slot, 1), row_bytes_};
}
std::span<const std::byte> KvCache::key_bytes(int layer, int block, int slot) const {
  return {storage_.get() + offset(layer, block, slot, 0), row_bytes_};
}
std::span<const std::byte> KvCache::value_bytes(int layer, int block, int slot) const {
  return {storage_.get() + offset(layer, block, slot, 1), row_bytes_};
}

namespace {
template <typename Byte, typename Half>
std::span<Half> as_f16(std::span<Byte> bytes, TensorType type) {
  check(type == TensorType::F16, "F16 access to a non-F16 KV cache");
  return {reinterpret_cast<Half*>(bytes.data()), bytes.size() / sizeof(std::uint16_t)};
}
}  // namespace

std::span<std::uint16_t> KvCache::key(int layer, int block, int slot) {
  return as_f16<std::byte, std::uint16_t>(key_bytes(layer, block, slot), layout_.type);
}
std::span<std::uint16_t> KvCache::value(int layer, int block, int slot) {
  return as_f16<std::byte, std::uint16_t>(value_bytes(layer, block, slot), layout_.type);
}
std::span<const std::uint16_t> KvCache::key(int layer, int block, int slot) const {
  return as_f16<const std::byte, const std::uint16_t>(key_bytes(layer, block, slot), layout_.type);
}
std::span<const std::uint16_t> KvCache::value(int layer, int block, int slot) const {
  return as_f16<const std::byte, const std::uint16_t>(value_bytes(layer, block, slot), layout_.type);
}

}  // namespace flux
