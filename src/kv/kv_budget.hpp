#pragma once
// How much memory each block pool gets. Pools are per kind — text KV now, image-encoder outputs
// later — and each kind is sized from its own budget into its own BlockPool, so filling one kind
// never evicts the other.

#include <cstddef>
#include <cstdint>

#include "kv/kv_cache.hpp"

namespace flux {

enum class PoolKind { TextKv, EncoderOutput };

// What the user asked for: an absolute size, a share of the memory available now, or neither.
struct MemoryBudgetRequest {
  std::uint64_t bytes = 0;  // --kv-mem; 0 = not given
  double fraction = 0;      // share of MemAvailable in (0, 1]; 0 = not given
};

struct PoolBudgets {
  std::uint64_t text_kv_bytes = 0;
  std::uint64_t encoder_output_bytes = 0;
  std::uint64_t bytes(PoolKind kind) const { return kind == PoolKind::TextKv ? text_kv_bytes : encoder_output_bytes; }
};

// The text-KV pool's size in blocks. With no request, enough blocks for `default_positions`
// token positions, capped at a quarter of MemAvailable. Throws InvalidArgument when both bytes
// and fraction are given, the fraction is outside (0, 1], or the budget holds no block at all.
int text_kv_blocks(const KvLayout& layout, const MemoryBudgetRequest& request, std::int64_t default_positions,
                   std::uint64_t available_memory);

}  // namespace flux
