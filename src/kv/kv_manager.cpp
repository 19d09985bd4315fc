#include "kv/kv_manager.hpp"

#include <algorithm>

#include "base/error.hpp"

namespace flux {

KvManager::KvManager(const KvLayout& layout, int n_blocks, bool prefix_caching)
    : cache_(layout, n_blocks), pool_(n_blocks), prefix_caching_(prefix_caching) {}

std::int64_t KvManager::match_prefix(BlockTable& table, std::span<const TokenId> tokens) {
  check(table.empty(), "prefix matching needs an empty block table");
  if (!prefix_caching_ || tokens.empty()) return 0;
  const auto n = static_cast<std::int64_t>(tokens.size());
  const int bs = block_size();
  BlockHash parent;
  for (std::int64_t first = 0; first + bs <= n; first += bs) {
    const auto block_tokens = tokens.subspan(static_cast<std::size_t>(first), static_cast<std::size_t>(bs));
    const BlockHash hash = chain_block_hash(parent, block_tokens);
    const auto block = pool_.find(hash, block_tokens);
    if (!block) break;
    pool_.retain(*block);
    table.blocks_.push_back(*block);
    table.hashes_.push_back(hash);
    parent = hash;
  }
  // A fully cached prompt still recomputes its last token (into a copy of its block) for logits.
  return std::min<std::int64_t>(table.capacity(bs), n - 1);
}

void KvManager::record_prefix_lookup(std::int64_t queried_tokens, std::int64_t hit_tokens) {
  if (!prefix_caching_) return;
  prefix_query_tokens_ += static_cast<std::uint64_t>(queried_tokens);
  prefix_hit_tokens_ += static_cast<std::uint64_t>(hit_tokens);
}

int KvManager::blocks_needed(const BlockTable& table, std::int64_t first_write, std::int64_t end) const {
  const std::int64_t have = table.size();
  const std::int64_t want = blocks_for(end);
  int needed = static_cast<int>(std::max<std::int64_t>(want - have, 0));
  for (std::int64_t i = first_write / block_size(); i < std::min(have, want); ++i)
    if (pool_.copy_before_write(table.blocks_[static_cast<std::size_t>(i)])) ++needed;
  return needed;
}

bool KvManager::allocate_slots(BlockTable& table, std::int64_t first_write, std::int64_t end) {
  check(first_write >= 0 && first_write <= end, "slot range is inverted");
  check(first_write <= table.capacity(block_size()), "a sequence's writes must be contiguous");
  if (blocks_needed(table, first_write, end) > pool_.available_blocks()) return false;

  const std::int64_t have = table.size();
  for (std::int64_t i = first_write / block_size(); i < std::min(have, blocks_for(end)); ++i) {
    int& block = table.blocks_[static_cast<std::size_t>(i)];
    if (!pool_.copy_before_write(block)) continue;
    const int copy = *pool_.allocate();  // counted above: cannot fail
    cache_.copy_block(block, copy);
    pool_.release(block);
    block = copy;
    // The copy will be written, so it is no longer the block its hash describes.
    table.hashes_.resize(std::min<std::size_t>(table.hashes_.size(), static_cast<std::size_t>(i)));
  }
  while (table.size() < blocks_for(end)) table.blocks_.push_back(*pool_.allocate());
  return true;
}

void KvManager::commit(BlockTable& table, std::span<const TokenId> tokens, std::int64_t n_computed) {
  check(n_computed <= static_cast<std::int64_t>(tokens.size()) && n_computed <= table.capacity(block_size()),
        "committed positions beyond the sequence");
  const int bs = block_size();
  const std::size_t full = static_cast<std::size_t>(n_computed / bs);
  while (table.hashes_.size() < full) {
    const std::size_t i = table.hashes_.size();
    const BlockHash parent = i == 0 ? BlockHash{} : table.hashes_[i - 1];
    const auto block_tokens = tokens.subspan(i * static_cast<std::size_t>(bs), static_cast<std::size_t>(bs));
    const BlockHash hash = chain_block_hash(parent, block_tokens);
    table.hashes_.push_back(hash);
    if (prefix_caching_) pool_.publish(table.blocks_[i], hash, block_tokens);
  }
}

BlockTable KvManager::fork(const BlockTable& table) {
  BlockTable copy;
  copy.blocks_ = table.blocks_;
  copy.hashes_ = table.hashes_;
  for (int b : copy.blocks_) pool_.retain(b);
  return copy;
}

void KvManager::truncate(BlockTable& table, std::int64_t n_positions) {
  check(n_positions >= 0, "truncation to a negative length");
  const auto keep_blocks = static_cast<std::size_t>(blocks_for(n_positions));
  while (table.blocks_.size() > keep_blocks) {
    pool_.release(table.blocks_.back());
    table.blocks_.pop_back();
  }
  table.hashes_.resize(std::min(table.hashes_.size(), static_cast<std::size_t>(n_positions / block_size())));
}

void KvManager::free(BlockTable& table) { table.release_all(pool_); }

KvStats KvManager::stats() const {
  KvStats s;
  s.total_blocks = pool_.n_blocks();
  s.used_blocks = pool_.used_blocks();
  s.cached_blocks = pool_.cached_blocks();
  s.free_blocks = pool_.available_blocks() - pool_.cached_unused_blocks();
  s.evictions = pool_.evictions();
  s.prefix_query_tokens = prefix_query_tokens_;
  s.prefix_hit_tokens = prefix_hit_tokens_;
  return s;
}

}  // namespace flux
