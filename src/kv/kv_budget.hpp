#pragma once
// How much memory the text-KV block pool gets. Image-encoder outputs, when they come, get a pool
// of their own sized from their own budget (a second KvManager), so one kind never evicts the
// other; only the text pool exists today.

#include <cstddef>
#include <cstdint>

#include "kv/kv_cache.hpp"

namespace flux {

// What the user asked for: an absolute size, a share of the memory available now, or neither.
struct MemoryBudgetRequest {
  std::uint64_t bytes = 0;  // --kv-mem; 0 = not given
  double fraction = 0;      // share of MemAvailable in (0, 1]; 0 = not given
};

// The text-KV pool's size in blocks. With no request, enough blocks for `default_positions`
// token positions, capped at a quarter of MemAvailable. Throws InvalidArgument when both bytes
// and fraction are given, the fraction is outside (0, 1], or the budget holds no block at all.
int text_kv_blocks(const KvLayout& layout, const MemoryBudgetRequest& request, std::int64_t default_positions,
                   std::uint64_t available_memory);

}  // namespace flux
