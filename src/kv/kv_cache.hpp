#pragma once
// Key/value storage in fixed-size blocks. A block holds `block_size` consecutive token positions
// of one sequence for every layer; a sequence reaches its blocks through a BlockTable, so the
// model never assumes its keys are contiguous. K and V are stored as F16, as llama.cpp does.
// Which block belongs to whom is the BlockPool's business (kv/block_pool.hpp); this class only
// holds the bytes.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

namespace flux {

struct KvLayout {
  int n_layers = 0;
  int kv_dim = 0;       // n_kv_heads * head_dim
  int block_size = 16;  // token positions per block
};

class KvCache {
 public:
  KvCache(const KvLayout& layout, int n_blocks);
  KvCache(KvCache&&) noexcept = default;
  KvCache& operator=(KvCache&&) noexcept = default;
  KvCache(const KvCache&) = delete;
  KvCache& operator=(const KvCache&) = delete;

  const KvLayout& layout() const { return layout_; }
  int n_blocks() const { return n_blocks_; }
  std::size_t bytes() const { return n_elements_ * sizeof(std::uint16_t); }
  static std::size_t bytes_per_block(const KvLayout& layout);

  // Copies every layer's keys and values of block `from` into block `to` (copy-on-write).
  void copy_block(int from, int to);

  // F16 rows of kv_dim elements for one token slot of one block in one layer.
  std::span<std::uint16_t> key(int layer, int block, int slot);
  std::span<std::uint16_t> value(int layer, int block, int slot);
  std::span<const std::uint16_t> key(int layer, int block, int slot) const;
  std::span<const std::uint16_t> value(int layer, int block, int slot) const;

 private:
  std::size_t offset(int layer, int block, int slot, int which) const;

  KvLayout layout_;
  int n_blocks_;
  // [layer][block][k|v][slot][kv_dim]. Left uninitialised: a slot is written before it is read,
  // and untouched pages of a large pool are never committed.
  std::unique_ptr<std::uint16_t[]> storage_;
  std::size_t n_elements_ = 0;
};

}  // namespace flux
