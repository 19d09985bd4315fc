#include "kv/block_hash.hpp"

// Exposes XXH3_state_t so the state can live on the stack instead of the heap.
#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

namespace flux {

BlockHash chain_block_hash(const BlockHash& parent, std::span<const TokenId> tokens) {
  XXH3_state_t state;
  XXH3_128bits_reset(&state);
  const std::uint64_t parent_words[2] = {parent.low, parent.high};
  XXH3_128bits_update(&state, parent_words, sizeof(parent_words));
  XXH3_128bits_update(&state, tokens.data(), tokens.size_bytes());
  const XXH128_hash_t h = XXH3_128bits_digest(&state);
  return BlockHash{h.low64, h.high64};
}

}  // namespace flux
