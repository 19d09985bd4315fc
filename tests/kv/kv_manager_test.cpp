#include "kv/kv_manager.hpp"

#include <cstdint>
#include <numeric>
#include <set>
#include <vector>

#include <gtest/gtest.h>

#include "kv/block_hash.hpp"

namespace flux {
namespace {

constexpr KvLayout kLayout{.n_layers = 2, .kv_dim = 4, .block_size = 4};

std::vector<TokenId> iota_tokens(int n, TokenId first = 100) {
  std::vector<TokenId> t(static_cast<std::size_t>(n));
  std::iota(t.begin(), t.end(), first);
  return t;
}

std::vector<int> blocks_of(const BlockTable& table) { return {table.blocks().begin(), table.blocks().end()}; }

// A value for every element of position `pos`'s key and value rows: distinct per tag, layer,
// K/V and element, so any misplaced copy shows up.
std::uint16_t kv_value(int tag, int layer, int which, int d) {
  return static_cast<std::uint16_t>(tag * 64 + layer * 16 + which * 8 + d);
}

void write_position(KvCache& cache, const BlockTable& table, std::int64_t pos, int tag) {
  const int bs = cache.layout().block_size;
  const int block = table.blocks()[static_cast<std::size_t>(pos / bs)];
  const int slot = static_cast<int>(pos % bs);
  for (int layer = 0; layer < cache.layout().n_layers; ++layer) {
    auto k = cache.key(layer, block, slot);
    auto v = cache.value(layer, block, slot);
    for (int d = 0; d < cache.layout().kv_dim; ++d) {
      k[static_cast<std::size_t>(d)] = kv_value(tag, layer, 0, d);
      v[static_cast<std::size_t>(d)] = kv_value(tag, layer, 1, d);
    }
  }
}

// Position `pos` of `table` holds what write_position(..., tag) wrote.
void expect_position(const KvCache& cache, const BlockTable& table, std::int64_t pos, int tag) {
  const int bs = cache.layout().block_size;
  const int block = table.blocks()[static_cast<std::size_t>(pos / bs)];
  const int slot = static_cast<int>(pos % bs);
  for (int layer = 0; layer < cache.layout().n_layers; ++layer) {
    const auto k = cache.key(layer, block, slot);
    const auto v = cache.value(layer, block, slot);
    for (int d = 0; d < cache.layout().kv_dim; ++d) {
      EXPECT_EQ(k[static_cast<std::size_t>(d)], kv_value(tag, layer, 0, d)) << "pos " << pos << " layer " << layer;
      EXPECT_EQ(v[static_cast<std::size_t>(d)], kv_value(tag, layer, 1, d)) << "pos " << pos << " layer " << layer;
    }
  }
}

void expect_stats_add_up(const KvManager& kv) {
  const KvStats s = kv.stats();
  EXPECT_EQ(s.total_blocks, kv.n_blocks());
  EXPECT_EQ(s.used_blocks + s.free_blocks + kv.pool().cached_unused_blocks(), s.total_blocks);
  EXPECT_EQ(s.cached_blocks, kv.pool().cached_blocks());
  EXPECT_GE(s.free_blocks, 0);
  EXPECT_GE(s.used_blocks, 0);
}

// Backs and "computes" positions [0, n) of a fresh table: allocation, K/V writes tagged by
// position, commit.
BlockTable computed_table(KvManager& kv, const std::vector<TokenId>& tokens, std::int64_t n, int tag_base = 0) {
  BlockTable table;
  EXPECT_TRUE(kv.allocate_slots(table, 0, n));
  for (std::int64_t p = 0; p < n; ++p) write_position(kv.cache(), table, p, tag_base + static_cast<int>(p));
  kv.commit(table, tokens, n);
  return table;
}

TEST(BlockHash, ChainsOverParentAndTokens) {
  const std::vector<TokenId> a = {1, 2, 3, 4};
  const std::vector<TokenId> b = {1, 2, 3, 5};
  const std::vector<TokenId> swapped = {2, 1, 3, 4};
  const BlockHash root{};
  const BlockHash ha = chain_block_hash(root, a);
  EXPECT_EQ(ha, chain_block_hash(root, a));  // deterministic
  EXPECT_NE(ha, chain_block_hash(root, b));
  EXPECT_NE(ha, chain_block_hash(root, swapped));
  EXPECT_NE(ha, root);
  // Same tokens under another parent: another block.
  const BlockHash under_a = chain_block_hash(ha, a);
  EXPECT_NE(under_a, ha);
  EXPECT_NE(under_a, chain_block_hash(chain_block_hash(root, b), a));
  EXPECT_NE(chain_block_hash(BlockHash{1, 0}, a), chain_block_hash(BlockHash{0, 1}, a));
  // Both halves of the 128-bit hash are used.
  EXPECT_NE(ha.low, 0u);
  EXPECT_NE(ha.high, 0u);
  EXPECT_NE(BlockHashHasher{}(ha), BlockHashHasher{}(chain_block_hash(root, b)));
}

TEST(KvManager, AllocateSlotsGrowsTheTable) {
  KvManager kv(kLayout, 8, false);
  EXPECT_EQ(kv.block_size(), 4);
  EXPECT_EQ(kv.blocks_for(0), 0);
  EXPECT_EQ(kv.blocks_for(4), 1);
  EXPECT_EQ(kv.blocks_for(5), 2);
  BlockTable t;
  EXPECT_EQ(kv.blocks_needed(t, 0, 5), 2);
  ASSERT_TRUE(kv.allocate_slots(t, 0, 5));
  EXPECT_EQ(t.size(), 2);
  EXPECT_EQ(t.capacity(4), 8);
  EXPECT_EQ(kv.blocks_needed(t, 5, 8), 0);
  ASSERT_TRUE(kv.allocate_slots(t, 5, 8));
  EXPECT_EQ(t.size(), 2);
  EXPECT_EQ(kv.blocks_needed(t, 8, 9), 1);
  ASSERT_TRUE(kv.allocate_slots(t, 8, 9));
  EXPECT_EQ(t.size(), 3);
  const std::set<int> distinct(t.blocks().begin(), t.blocks().end());
  EXPECT_EQ(distinct.size(), 3u);
  EXPECT_EQ(kv.stats().used_blocks, 3);
  EXPECT_EQ(kv.pool().available_blocks(), 5);
  expect_stats_add_up(kv);
  kv.free(t);
  EXPECT_TRUE(t.empty());
  EXPECT_EQ(kv.stats().used_blocks, 0);
}

TEST(KvManager, AllocateSlotsIsAllOrNothing) {
  KvManager kv(kLayout, 4, false);
  BlockTable a;
  ASSERT_TRUE(kv.allocate_slots(a, 0, 12));  // 3 of 4 blocks
  BlockTable b;
  EXPECT_EQ(kv.blocks_needed(b, 0, 8), 2);
  EXPECT_FALSE(kv.allocate_slots(b, 0, 8));
  EXPECT_TRUE(b.empty());
  EXPECT_EQ(kv.pool().available_blocks(), 1);

  // Growing a table by more blocks than are left leaves it as it was.
  const auto before = blocks_of(a);
  EXPECT_FALSE(kv.allocate_slots(a, 12, 20));
  EXPECT_EQ(blocks_of(a), before);
  EXPECT_EQ(kv.pool().available_blocks(), 1);

  // A copy-on-write plus a new block, with one block left: neither happens.
  BlockTable child = kv.fork(a);  // every block of a shared
  EXPECT_EQ(kv.blocks_needed(child, 10, 13), 2);
  EXPECT_FALSE(kv.allocate_slots(child, 10, 13));
  EXPECT_EQ(blocks_of(child), before);
  for (int blk : before) EXPECT_EQ(kv.pool().refcount(blk), 2);
  EXPECT_EQ(kv.pool().available_blocks(), 1);
  // One block is enough for the copy alone.
  EXPECT_TRUE(kv.allocate_slots(child, 10, 12));
  EXPECT_EQ(kv.pool().available_blocks(), 0);
  expect_stats_add_up(kv);
  kv.free(child);
  kv.free(a);
  EXPECT_EQ(kv.pool().available_blocks(), 4);
}

TEST(KvManager, ForkedTablesCopyTheSharedPartialBlockOnWrite) {
  for (const bool prefix_caching : {false, true}) {
    SCOPED_TRACE(prefix_caching ? "prefix caching" : "no prefix caching");
    KvManager kv(kLayout, 8, prefix_caching);
    const auto tokens = iota_tokens(7);
    BlockTable parent = computed_table(kv, tokens, 6);
    ASSERT_EQ(parent.size(), 2);
    const auto parent_blocks = blocks_of(parent);

    BlockTable child = kv.fork(parent);
    EXPECT_EQ(blocks_of(child), parent_blocks);
    for (int blk : parent_blocks) EXPECT_EQ(kv.pool().refcount(blk), 2);
    EXPECT_EQ(kv.stats().used_blocks, 2);

    // The child writes position 6, inside the shared partial block 1.
    EXPECT_EQ(kv.blocks_needed(child, 6, 7), 1);
    ASSERT_TRUE(kv.allocate_slots(child, 6, 7));
    EXPECT_EQ(child.blocks()[0], parent_blocks[0]);  // full block before the write: still shared
    EXPECT_NE(child.blocks()[1], parent_blocks[1]);
    EXPECT_EQ(blocks_of(parent), parent_blocks);
    EXPECT_EQ(kv.pool().refcount(parent_blocks[0]), 2);
    EXPECT_EQ(kv.pool().refcount(parent_blocks[1]), 1);
    EXPECT_EQ(kv.pool().refcount(child.blocks()[1]), 1);
    for (std::int64_t p = 0; p < 6; ++p) expect_position(kv.cache(), child, p, static_cast<int>(p));

    // Diverging writes stay apart.
    write_position(kv.cache(), child, 6, 1000);
    ASSERT_TRUE(kv.allocate_slots(parent, 6, 7));
    EXPECT_EQ(parent.blocks()[1], parent_blocks[1]);  // sole owner now: written in place
    write_position(kv.cache(), parent, 6, 2000);
    expect_position(kv.cache(), child, 6, 1000);
    expect_position(kv.cache(), parent, 6, 2000);
    expect_stats_add_up(kv);
    kv.free(child);
    kv.free(parent);
    EXPECT_EQ(kv.stats().used_blocks, 0);
  }
}

TEST(KvManager, MatchPrefixFindsTheLongestCachedFullBlockPrefix) {
  KvManager kv(kLayout, 16, true);
  const auto tokens = iota_tokens(10);
  BlockTable a = computed_table(kv, tokens, 10);
  EXPECT_EQ(kv.stats().cached_blocks, 2);  // blocks [0,4) and [4,8); [8,10) is partial

  {  // Same first 8 tokens, then others.
    auto other = iota_tokens(12);
    other[9] = 1;
    BlockTable b;
    EXPECT_EQ(kv.match_prefix(b, other), 8);
    ASSERT_EQ(b.size(), 2);
    EXPECT_EQ(b.blocks()[0], a.blocks()[0]);
    EXPECT_EQ(b.blocks()[1], a.blocks()[1]);
    EXPECT_EQ(kv.pool().refcount(a.blocks()[0]), 2);
    kv.free(b);
  }
  {  // Differs inside the second block: one block.
    auto other = iota_tokens(12);
    other[6] = 1;
    BlockTable b;
    EXPECT_EQ(kv.match_prefix(b, other), 4);
    EXPECT_EQ(b.size(), 1);
    kv.free(b);
  }
  {  // Same second block, different first: nothing (hashes are chained).
    auto other = iota_tokens(12);
    other[0] = 1;
    BlockTable b;
    EXPECT_EQ(kv.match_prefix(b, other), 0);
    EXPECT_TRUE(b.empty());
  }
  {  // Shorter than a block: nothing to match.
    BlockTable b;
    EXPECT_EQ(kv.match_prefix(b, std::vector<TokenId>(tokens.begin(), tokens.begin() + 3)), 0);
    EXPECT_EQ(kv.match_prefix(b, std::vector<TokenId>{}), 0);
    EXPECT_TRUE(b.empty());
  }
  {  // Fully cached and block-aligned: the last token is still computed.
    BlockTable b;
    EXPECT_EQ(kv.match_prefix(b, std::vector<TokenId>(tokens.begin(), tokens.begin() + 8)), 7);
    EXPECT_EQ(b.size(), 2);
    kv.free(b);
  }
  {  // Fully cached, longer than the cache knows: stops at the cached blocks.
    BlockTable b;
    EXPECT_EQ(kv.match_prefix(b, std::vector<TokenId>(tokens.begin(), tokens.begin() + 9)), 8);
    kv.free(b);
  }
  EXPECT_EQ(kv.pool().refcount(a.blocks()[0]), 1);
  expect_stats_add_up(kv);
  kv.free(a);

  // After the owner is gone the blocks are still found, and taken back from the free list.
  EXPECT_EQ(kv.stats().used_blocks, 0);
  BlockTable c;
  EXPECT_EQ(kv.match_prefix(c, tokens), 8);
  EXPECT_EQ(kv.stats().used_blocks, 2);
  EXPECT_EQ(kv.pool().cached_unused_blocks(), 0);
  kv.free(c);
}

TEST(KvManager, MatchPrefixIsOffWithoutPrefixCaching) {
  KvManager kv(kLayout, 16, false);
  const auto tokens = iota_tokens(10);
  BlockTable a = computed_table(kv, tokens, 10);
  EXPECT_EQ(kv.stats().cached_blocks, 0);
  BlockTable b;
  EXPECT_EQ(kv.match_prefix(b, tokens), 0);
  EXPECT_TRUE(b.empty());
  kv.record_prefix_lookup(10, 5);
  EXPECT_EQ(kv.stats().prefix_query_tokens, 0u);
  EXPECT_EQ(kv.stats().prefix_hit_rate(), 0.0);
  kv.free(a);
  EXPECT_EQ(kv.stats().free_blocks, 16);
}

TEST(KvManagerDeathTest, MatchPrefixNeedsAnEmptyTable) {
  EXPECT_DEATH(
      {
        KvManager kv(kLayout, 4, true);
        BlockTable t;
        kv.allocate_slots(t, 0, 1);
        kv.match_prefix(t, iota_tokens(8));
      },
      "empty block table");
  EXPECT_DEATH(
      {
        KvManager kv(kLayout, 4, true);
        BlockTable t;
        kv.allocate_slots(t, 5, 8);  // position 4 would never be backed
      },
      "contiguous");
}

TEST(KvManager, WritingIntoAPublishedBlockCopiesIt) {
  KvManager kv(kLayout, 8, true);
  const auto tokens = iota_tokens(8);
  BlockTable a = computed_table(kv, tokens, 8);
  const auto a_blocks = blocks_of(a);
  kv.free(a);
  EXPECT_EQ(kv.pool().cached_unused_blocks(), 2);

  BlockTable b;
  ASSERT_EQ(kv.match_prefix(b, tokens), 7);
  ASSERT_EQ(blocks_of(b), a_blocks);
  EXPECT_EQ(kv.blocks_needed(b, 7, 8), 1);  // held once, but published
  ASSERT_TRUE(kv.allocate_slots(b, 7, 8));
  EXPECT_EQ(b.blocks()[0], a_blocks[0]);
  EXPECT_NE(b.blocks()[1], a_blocks[1]);
  for (std::int64_t p = 0; p < 7; ++p) expect_position(kv.cache(), b, p, static_cast<int>(p));
  write_position(kv.cache(), b, 7, 7);
  kv.commit(b, tokens, 8);
  // The published original still answers; the copy duplicates its hash and is not published.
  EXPECT_EQ(kv.stats().cached_blocks, 2);
  EXPECT_FALSE(kv.pool().copy_before_write(b.blocks()[1]));
  EXPECT_EQ(kv.pool().refcount(a_blocks[1]), 0);
  BlockTable c;
  EXPECT_EQ(kv.match_prefix(c, iota_tokens(9)), 8);
  EXPECT_EQ(c.blocks()[1], a_blocks[1]);
  expect_stats_add_up(kv);
  kv.free(c);
  kv.free(b);
}

TEST(KvManager, CommitPublishesOnlyFullBlocks) {
  KvManager kv(kLayout, 16, true);
  const auto tokens = iota_tokens(11);
  BlockTable a;
  ASSERT_TRUE(kv.allocate_slots(a, 0, 6));
  kv.commit(a, tokens, 3);
  EXPECT_EQ(kv.stats().cached_blocks, 0);
  kv.commit(a, tokens, 6);
  EXPECT_EQ(kv.stats().cached_blocks, 1);
  EXPECT_TRUE(kv.pool().copy_before_write(a.blocks()[0]));
  EXPECT_FALSE(kv.pool().copy_before_write(a.blocks()[1]));
  ASSERT_TRUE(kv.allocate_slots(a, 6, 11));
  kv.commit(a, tokens, 11);
  EXPECT_EQ(kv.stats().cached_blocks, 2);
  kv.commit(a, tokens, 11);  // idempotent
  EXPECT_EQ(kv.stats().cached_blocks, 2);

  // A second sequence with the same prefix reuses both blocks while the first still holds them.
  auto other = tokens;
  other[10] = 5;
  BlockTable b;
  EXPECT_EQ(kv.match_prefix(b, other), 8);
  EXPECT_EQ(kv.pool().refcount(a.blocks()[0]), 2);
  EXPECT_EQ(kv.pool().refcount(a.blocks()[1]), 2);
  EXPECT_EQ(kv.blocks_needed(b, 8, 11), 1);
  ASSERT_TRUE(kv.allocate_slots(b, 8, 11));
  EXPECT_NE(b.blocks()[2], a.blocks()[2]);
  kv.commit(b, other, 11);
  EXPECT_EQ(kv.stats().used_blocks, 4);
  expect_stats_add_up(kv);
  kv.free(a);
  kv.free(b);
  EXPECT_EQ(kv.stats().cached_blocks, 2);
  EXPECT_EQ(kv.stats().used_blocks, 0);
}

TEST(KvManager, TruncateReleasesTrailingBlocksAndKeptPublishedBlocksAreCopied) {
  KvManager kv(kLayout, 8, true);
  const auto tokens = iota_tokens(12);
  BlockTable t = computed_table(kv, tokens, 12);
  ASSERT_EQ(t.size(), 3);
  EXPECT_EQ(kv.stats().cached_blocks, 3);
  const auto before = blocks_of(t);

  kv.truncate(t, 6);
  EXPECT_EQ(t.size(), 2);
  EXPECT_EQ(kv.pool().refcount(before[2]), 0);
  EXPECT_EQ(kv.stats().used_blocks, 2);
  EXPECT_EQ(kv.pool().cached_unused_blocks(), 1);  // published: cached, not freed

  // Rewriting position 6 (speculation rolled back) must not touch the published block.
  EXPECT_EQ(kv.blocks_needed(t, 6, 8), 1);
  ASSERT_TRUE(kv.allocate_slots(t, 6, 8));
  EXPECT_EQ(t.blocks()[0], before[0]);
  EXPECT_NE(t.blocks()[1], before[1]);
  expect_position(kv.cache(), t, 4, 4);
  expect_position(kv.cache(), t, 5, 5);
  write_position(kv.cache(), t, 6, 900);
  write_position(kv.cache(), t, 7, 901);
  auto other = tokens;
  other[6] = 1;
  other[7] = 2;
  kv.commit(t, other, 8);
  // The original block is intact and still found for the original tokens.
  BlockTable u;
  EXPECT_EQ(kv.match_prefix(u, tokens), 11);
  EXPECT_EQ(blocks_of(u), before);
  for (std::int64_t p = 0; p < 11; ++p) expect_position(kv.cache(), u, p, static_cast<int>(p));
  // And the rewritten one is published under its new tokens.
  BlockTable w;
  EXPECT_EQ(kv.match_prefix(w, std::vector<TokenId>(other.begin(), other.begin() + 9)), 8);
  EXPECT_EQ(w.blocks()[1], t.blocks()[1]);
  kv.free(w);
  kv.free(u);

  // Block-aligned truncation keeps whole blocks; the next write starts a new one.
  kv.truncate(t, 4);
  EXPECT_EQ(t.size(), 1);
  EXPECT_EQ(kv.blocks_needed(t, 4, 5), 1);
  ASSERT_TRUE(kv.allocate_slots(t, 4, 5));
  EXPECT_EQ(t.blocks()[0], before[0]);
  kv.truncate(t, 0);
  EXPECT_TRUE(t.empty());
  EXPECT_EQ(kv.stats().used_blocks, 0);
  expect_stats_add_up(kv);
}

TEST(KvManager, TruncateWithoutPrefixCachingFreesBlocks) {
  KvManager kv(kLayout, 8, false);
  const auto tokens = iota_tokens(12);
  BlockTable t = computed_table(kv, tokens, 12);
  BlockTable child = kv.fork(t);
  kv.truncate(child, 5);
  EXPECT_EQ(child.size(), 2);
  EXPECT_EQ(kv.pool().refcount(t.blocks()[2]), 1);
  // The kept partial block is shared with t: writing into it copies.
  EXPECT_EQ(kv.blocks_needed(child, 5, 6), 1);
  ASSERT_TRUE(kv.allocate_slots(child, 5, 6));
  EXPECT_NE(child.blocks()[1], t.blocks()[1]);
  expect_position(kv.cache(), child, 4, 4);
  kv.free(t);
  kv.free(child);
  EXPECT_EQ(kv.stats().free_blocks, 8);
}

TEST(KvManager, FreeLeavesPublishedBlocksCached) {
  KvManager kv(kLayout, 8, true);
  const auto tokens = iota_tokens(10);
  BlockTable t = computed_table(kv, tokens, 10);
  EXPECT_EQ(kv.stats().used_blocks, 3);
  expect_stats_add_up(kv);
  kv.free(t);
  EXPECT_TRUE(t.empty());
  const KvStats s = kv.stats();
  EXPECT_EQ(s.used_blocks, 0);
  EXPECT_EQ(s.cached_blocks, 2);
  EXPECT_EQ(s.free_blocks, 6);
  EXPECT_EQ(kv.pool().cached_unused_blocks(), 2);
  expect_stats_add_up(kv);
}

TEST(KvManager, StatsAddUpAndCountPrefixHits) {
  KvManager kv(kLayout, 6, true);
  const auto tokens = iota_tokens(16);
  BlockTable a = computed_table(kv, tokens, 16);  // 4 blocks, all published
  kv.record_prefix_lookup(16, 0);
  kv.free(a);
  BlockTable b;
  const auto hit = kv.match_prefix(b, std::vector<TokenId>(tokens.begin(), tokens.begin() + 10));
  EXPECT_EQ(hit, 8);
  kv.record_prefix_lookup(10, hit);
  KvStats s = kv.stats();
  EXPECT_EQ(s.prefix_query_tokens, 26u);
  EXPECT_EQ(s.prefix_hit_tokens, 8u);
  EXPECT_DOUBLE_EQ(s.prefix_hit_rate(), 8.0 / 26.0);
  EXPECT_EQ(s.used_blocks, 2);
  EXPECT_EQ(s.cached_blocks, 4);
  EXPECT_EQ(kv.pool().cached_unused_blocks(), 2);
  EXPECT_EQ(s.free_blocks, 2);
  expect_stats_add_up(kv);

  // Allocation past the free blocks evicts cached ones, oldest first.
  ASSERT_TRUE(kv.allocate_slots(b, 8, 20));  // 3 more blocks: 2 free + 1 evicted
  s = kv.stats();
  EXPECT_EQ(s.evictions, 1u);
  EXPECT_EQ(s.used_blocks, 5);
  EXPECT_EQ(s.free_blocks, 0);
  EXPECT_EQ(s.cached_blocks, 3);
  expect_stats_add_up(kv);
  kv.free(b);
  EXPECT_EQ(kv.stats().used_blocks, 0);
  expect_stats_add_up(kv);
}

}  // namespace
}  // namespace flux
