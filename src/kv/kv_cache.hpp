#pragma once
// Key/value storage in fixed-size blocks. A block holds `block_size` consecutive token positions
// of one sequence for every layer; a sequence reaches its blocks through a BlockTable, so the
// model never assumes its keys are contiguous. K and V are stored as F16 by default, as llama.cpp
// does (the golden outputs depend on it), or as Q8_0 (blocks of 32 int8 with an F16 scale: 53%
// of F16's bytes) to fit about twice the tokens in the same memory.
// Which block belongs to whom is the BlockPool's business (kv/block_pool.hpp); this class only
// holds the bytes.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include "tensor/dtype.hpp"

namespace flux {

struct KvLayout {
  int n_layers = 0;
  int kv_dim = 0;                       // n_kv_heads * head_dim
  int block_size = 16;                  // token positions per block
  TensorType type = TensorType::F16;    // F16 or Q8_0 (then every head must span whole Q8_0 blocks)
};

class KvCache {
 public:
  // Throws InvalidArgument for a type other than F16 / Q8_0, or a kv_dim Q8_0 cannot split.
  KvCache(const KvLayout& layout, int n_blocks);
  KvCache(KvCache&&) noexcept = default;
  KvCache& operator=(KvCache&&) noexcept = default;
  KvCache(const KvCache&) = delete;
  KvCache& operator=(const KvCache&) = delete;

  const KvLayout& layout() const { return layout_; }
  int n_blocks() const { return n_blocks_; }
  std::size_t bytes() const { return bytes_; }
  static std::size_t bytes_per_block(const KvLayout& layout);
  // Bytes of one token's keys (or values) in one layer.
  std::size_t row_bytes() const { return row_bytes_; }

  // Copies every layer's keys and values of block `from` into block `to` (copy-on-write).
  void copy_block(int from, int to);

  // One token slot's keys or values in one layer, encoded in layout().type; the slots of a block
  // follow each other row_bytes() apart.
  std::span<std::byte> key_bytes(int layer, int block, int slot);
  std::span<std::byte> value_bytes(int layer, int block, int slot);
  std::span<const std::byte> key_bytes(int layer, int block, int slot) const;
  std::span<const std::byte> value_bytes(int layer, int block, int slot) const;

  // The same as F16 elements, for F16 caches only.
  std::span<std::uint16_t> key(int layer, int block, int slot);
  std::span<std::uint16_t> value(int layer, int block, int slot);
  std::span<const std::uint16_t> key(int layer, int block, int slot) const;
  std::span<const std::uint16_t> value(int layer, int block, int slot) const;

 private:
  std::size_t offset(int layer, int block, int slot, int which) const;

  KvLayout layout_;
  int n_blocks_;
  std::size_t row_bytes_ = 0;
  std::size_t bytes_ = 0;
  // [layer][block][k|v][slot][row]. Left uninitialised: a slot is written before it is read, and
  // untouched pages of a large pool are never committed.
  std::unique_ptr<std::byte[]> storage_;
};

}  // namespace flux
