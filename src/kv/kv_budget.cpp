#include "kv/kv_budget.hpp"

#include <algorithm>
#include <limits>

#include <fmt/format.h>

#include "base/error.hpp"

namespace flux {

int text_kv_blocks(const KvLayout& layout, const MemoryBudgetRequest& request, std::int64_t default_positions,
                   std::uint64_t available_memory) {
  if (request.bytes != 0 && request.fraction != 0)
    throw InvalidArgument("give the KV memory either in bytes or as a fraction, not both");
  // Written so that NaN (which fails every comparison) is rejected too.
  if (!(request.fraction >= 0 && request.fraction <= 1))
    throw InvalidArgument(fmt::format("KV memory fraction must be in (0, 1] (got {})", request.fraction));
  const std::uint64_t per_block = KvCache::bytes_per_block(layout);
  std::uint64_t bytes = request.bytes;
  if (request.fraction > 0) {
    if (available_memory == 0) throw InvalidArgument("a KV memory fraction needs /proc/meminfo, which is unreadable");
    bytes = static_cast<std::uint64_t>(request.fraction * static_cast<double>(available_memory));
  }
  if (bytes == 0) {
    const auto wanted = static_cast<std::uint64_t>((default_positions + layout.block_size - 1) / layout.block_size);
    std::uint64_t blocks = std::max<std::uint64_t>(wanted, 1);
    if (available_memory != 0) blocks = std::min(blocks, std::max<std::uint64_t>(available_memory / 4 / per_block, 1));
    bytes = blocks * per_block;
  }
  const std::uint64_t blocks = bytes / per_block;
  if (blocks == 0)
    throw InvalidArgument(fmt::format("a KV memory budget of {} bytes holds no block (one block takes {} bytes)",
                                      bytes, per_block));
  if (blocks > static_cast<std::uint64_t>(std::numeric_limits<int>::max()))
    throw InvalidArgument(fmt::format("a KV memory budget of {} bytes is too large", bytes));
  return static_cast<int>(blocks);
}

}  // namespace flux
