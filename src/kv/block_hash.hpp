#pragma once
// Identity of a full KV block for prefix caching: a hash chained over every token before the
// block and the block's own tokens, so two blocks share a hash only when their whole prefixes are
// equal. 128-bit XXH3 makes an accidental collision negligible; the pool still compares the
// block's own tokens before reusing it.

#include <cstdint>
#include <functional>
#include <span>

#include "base/token_id.hpp"

namespace flux {

struct BlockHash {
  std::uint64_t low = 0;
  std::uint64_t high = 0;
  friend bool operator==(const BlockHash&, const BlockHash&) = default;
};

// The hash of the block holding `tokens`, whose preceding blocks hash to `parent` (the first
// block of a sequence uses the default BlockHash{} as parent).
BlockHash chain_block_hash(const BlockHash& parent, std::span<const TokenId> tokens);

struct BlockHashHasher {
  std::size_t operator()(const BlockHash& h) const noexcept { return static_cast<std::size_t>(h.low ^ (h.high * 0x9E3779B97F4A7C15ull)); }
};

}  // namespace flux
