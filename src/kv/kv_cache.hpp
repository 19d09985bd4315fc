#pragma once
// Key/value storage in fixed-size blocks. A block holds `block_size` consecutive token positions
// of one sequence for every layer; a sequence reaches its blocks through a BlockTable, so the
// model never assumes its keys are contiguous. K and V are stored as F16, as llama.cpp does.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
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
  int free_blocks() const { return static_cast<int>(free_.size()); }
  std::size_t bytes() const { return n_elements_ * sizeof(std::uint16_t); }
  static std::size_t bytes_per_block(const KvLayout& layout);

  // Takes a free block; nullopt when none is left (the caller decides what to preempt).
  std::optional<int> allocate();
  void release(int block);

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
  std::vector<int> free_;
};

// The blocks of one sequence, in position order: position p lives in block blocks[p / block_size]
// at slot p % block_size.
class BlockTable {
 public:
  // Grows the table so that positions [0, n_positions) have blocks; false when the cache ran out
  // (the table keeps what it had).
  bool reserve(KvCache& cache, std::int64_t n_positions);
  // Gives every block back to the cache.
  void release_all(KvCache& cache);

  std::span<const int> blocks() const { return blocks_; }
  std::int64_t capacity(const KvCache& cache) const {
    return static_cast<std::int64_t>(blocks_.size()) * cache.layout().block_size;
  }

 private:
  std::vector<int> blocks_;
};

}  // namespace flux
