#include "kv/block_pool.hpp"

#include <algorithm>
#include <cstdint>
#include <deque>
#include <list>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "kv/block_hash.hpp"

namespace flux {
namespace {

BlockHash hash_of(std::uint64_t k) { return BlockHash{k, ~k}; }

// Tokens that go with hash_of(k) unless a test wants a mismatch.
std::vector<TokenId> tokens_of(std::uint64_t k) {
  const auto t = static_cast<TokenId>(k);
  return {t, t + 1, t + 2, t + 3};
}

void expect_counts_consistent(const BlockPool& pool) {
  EXPECT_EQ(pool.used_blocks() + pool.available_blocks(), pool.n_blocks());
  EXPECT_LE(pool.cached_unused_blocks(), pool.available_blocks());
  EXPECT_LE(pool.cached_unused_blocks(), pool.cached_blocks());
  EXPECT_GE(pool.cached_unused_blocks(), 0);
}

TEST(BlockPool, AllocatesLowIdsFirstUntilExhausted) {
  BlockPool pool(4);
  EXPECT_EQ(pool.n_blocks(), 4);
  EXPECT_EQ(pool.available_blocks(), 4);
  EXPECT_EQ(pool.used_blocks(), 0);
  for (int expected = 0; expected < 4; ++expected) {
    const auto block = pool.allocate();
    ASSERT_TRUE(block.has_value());
    EXPECT_EQ(*block, expected);
    EXPECT_EQ(pool.refcount(*block), 1);
    EXPECT_EQ(pool.used_blocks(), expected + 1);
  }
  EXPECT_EQ(pool.available_blocks(), 0);
  EXPECT_FALSE(pool.allocate().has_value());
  EXPECT_FALSE(pool.allocate().has_value());
  EXPECT_EQ(pool.used_blocks(), 4);
  EXPECT_EQ(pool.evictions(), 0u);
}

TEST(BlockPool, RetainAndReleaseCountReferences) {
  BlockPool pool(2);
  const int b = *pool.allocate();
  pool.retain(b);
  pool.retain(b);
  EXPECT_EQ(pool.refcount(b), 3);
  EXPECT_EQ(pool.used_blocks(), 1);
  pool.release(b);
  pool.release(b);
  EXPECT_EQ(pool.refcount(b), 1);
  EXPECT_EQ(pool.available_blocks(), 1);
  pool.release(b);
  EXPECT_EQ(pool.refcount(b), 0);
  EXPECT_EQ(pool.available_blocks(), 2);
  EXPECT_EQ(pool.used_blocks(), 0);
  EXPECT_EQ(pool.cached_unused_blocks(), 0);
}

TEST(BlockPoolDeathTest, BrokenInvariantsAbort) {
  // check() reports a broken invariant and aborts (base/error.hpp): these are engine bugs, not
  // input errors, so they are death tests rather than EXPECT_THROW.
  EXPECT_DEATH(
      {
        BlockPool pool(2);
        pool.release(0);
      },
      "released a block that is not in use");
  EXPECT_DEATH(
      {
        BlockPool pool(2);
        const int b = *pool.allocate();
        pool.release(b);
        pool.release(b);
      },
      "released a block that is not in use");
  EXPECT_DEATH(
      {
        BlockPool pool(2);
        pool.retain(1);  // plain free block: nothing to take back
      },
      "only a cached block");
  EXPECT_DEATH(
      {
        BlockPool pool(2);
        pool.refcount(2);
      },
      "block id out of range");
  EXPECT_DEATH(
      {
        BlockPool pool(2);
        pool.release(-1);
      },
      "block id out of range");
  EXPECT_DEATH(
      {
        BlockPool pool(2);
        const auto t = tokens_of(1);
        pool.publish(0, hash_of(1), t);
      },
      "published a block that is not in use");
  EXPECT_DEATH({ BlockPool pool(0); }, "at least one block");
}

TEST(BlockPool, PlainFreedBlocksAreReusedBeforeCachedOnes) {
  BlockPool pool(4);
  std::vector<int> b;
  for (int i = 0; i < 4; ++i) b.push_back(*pool.allocate());
  const auto t = tokens_of(7);
  pool.publish(b[1], hash_of(7), t);
  pool.release(b[1]);  // cached
  pool.release(b[2]);  // plain
  pool.release(b[3]);  // plain, released last: reused first
  EXPECT_EQ(pool.available_blocks(), 3);
  EXPECT_EQ(pool.cached_unused_blocks(), 1);

  EXPECT_EQ(pool.allocate(), b[3]);
  EXPECT_EQ(pool.allocate(), b[2]);
  EXPECT_EQ(pool.evictions(), 0u);
  EXPECT_EQ(pool.find(hash_of(7), t), b[1]);  // still cached
  EXPECT_EQ(pool.allocate(), b[1]);           // only now evicted
  EXPECT_EQ(pool.evictions(), 1u);
  EXPECT_FALSE(pool.find(hash_of(7), t).has_value());
  EXPECT_EQ(pool.cached_blocks(), 0);
  EXPECT_EQ(pool.cached_unused_blocks(), 0);
  EXPECT_FALSE(pool.copy_before_write(b[1]));  // evicted: a plain block again
}

TEST(BlockPool, CachedBlocksAreEvictedLeastRecentlyReleasedFirst) {
  BlockPool pool(3);
  std::vector<int> b;
  for (std::uint64_t k = 0; k < 3; ++k) {
    b.push_back(*pool.allocate());
    const auto t = tokens_of(k);
    pool.publish(b.back(), hash_of(k), t);
  }
  EXPECT_EQ(pool.cached_blocks(), 3);
  EXPECT_EQ(pool.cached_unused_blocks(), 0);
  // Release order 1, 0, 2: eviction order must be the same.
  pool.release(b[1]);
  pool.release(b[0]);
  pool.release(b[2]);
  EXPECT_EQ(pool.cached_unused_blocks(), 3);
  EXPECT_EQ(pool.available_blocks(), 3);
  EXPECT_EQ(pool.used_blocks(), 0);

  const std::vector<std::uint64_t> order = {1, 0, 2};
  for (std::size_t i = 0; i < order.size(); ++i) {
    const std::uint64_t k = order[i];
    EXPECT_EQ(pool.allocate(), b[k]);
    EXPECT_EQ(pool.evictions(), i + 1);
    EXPECT_FALSE(pool.find(hash_of(k), tokens_of(k)).has_value()) << "hash " << k << " not forgotten";
    for (std::size_t j = i + 1; j < order.size(); ++j)
      EXPECT_EQ(pool.find(hash_of(order[j]), tokens_of(order[j])), b[order[j]]);
    EXPECT_EQ(pool.cached_blocks(), static_cast<int>(order.size() - i - 1));
    EXPECT_EQ(pool.cached_unused_blocks(), static_cast<int>(order.size() - i - 1));
  }
  EXPECT_FALSE(pool.allocate().has_value());
}

TEST(BlockPool, RetainTakesACachedBlockBackIntoUse) {
  BlockPool pool(3);
  const int a = *pool.allocate();
  const int b = *pool.allocate();
  const auto ta = tokens_of(1);
  const auto tb = tokens_of(2);
  pool.publish(a, hash_of(1), ta);
  pool.publish(b, hash_of(2), tb);
  pool.release(a);
  pool.release(b);
  EXPECT_EQ(pool.available_blocks(), 3);
  EXPECT_EQ(pool.cached_unused_blocks(), 2);

  const auto hit = pool.find(hash_of(1), ta);
  ASSERT_EQ(hit, a);
  pool.retain(*hit);
  EXPECT_EQ(pool.refcount(a), 1);
  EXPECT_EQ(pool.available_blocks(), 2);
  EXPECT_EQ(pool.cached_unused_blocks(), 1);
  EXPECT_EQ(pool.cached_blocks(), 2);
  EXPECT_EQ(pool.used_blocks(), 1);
  EXPECT_TRUE(pool.copy_before_write(a));  // still published

  // Allocation now takes the plain block, then evicts b, but never a (in use).
  const int c = *pool.allocate();
  EXPECT_NE(c, a);
  EXPECT_NE(c, b);
  EXPECT_EQ(pool.allocate(), b);
  EXPECT_FALSE(pool.allocate().has_value());
  EXPECT_EQ(pool.find(hash_of(1), ta), a);

  // Released again, a is cached (not freed) and its hash still answers.
  pool.release(a);
  EXPECT_EQ(pool.cached_unused_blocks(), 1);
  EXPECT_EQ(pool.find(hash_of(1), ta), a);
  EXPECT_EQ(pool.allocate(), a);
  EXPECT_FALSE(pool.find(hash_of(1), ta).has_value());
}

TEST(BlockPool, PublishingADuplicateHashKeepsTheFirstBlock) {
  BlockPool pool(3);
  const int a = *pool.allocate();
  const int b = *pool.allocate();
  const auto t = tokens_of(5);
  pool.publish(a, hash_of(5), t);
  pool.publish(b, hash_of(5), t);
  EXPECT_EQ(pool.cached_blocks(), 1);
  EXPECT_EQ(pool.find(hash_of(5), t), a);
  EXPECT_TRUE(pool.copy_before_write(a));
  EXPECT_FALSE(pool.copy_before_write(b));  // not published: b is a private block
  // A published block keeps its first hash.
  const auto t2 = tokens_of(6);
  pool.publish(a, hash_of(6), t2);
  EXPECT_FALSE(pool.find(hash_of(6), t2).has_value());
  EXPECT_EQ(pool.cached_blocks(), 1);

  pool.release(b);
  EXPECT_EQ(pool.cached_unused_blocks(), 0);  // b went back as a plain free block
  pool.release(a);
  EXPECT_EQ(pool.cached_unused_blocks(), 1);
  EXPECT_EQ(pool.find(hash_of(5), t), a);
}

TEST(BlockPool, FindComparesTheBlockTokens) {
  BlockPool pool(2);
  const int a = *pool.allocate();
  const BlockHash h{0x1234, 0x5678};
  const std::vector<TokenId> tokens = {10, 20, 30, 40};
  pool.publish(a, h, tokens);
  EXPECT_EQ(pool.find(h, tokens), a);
  const std::vector<TokenId> other = {10, 20, 30, 41};
  EXPECT_FALSE(pool.find(h, other).has_value());  // same hash, different tokens: a collision
  const std::vector<TokenId> shorter = {10, 20, 30};
  EXPECT_FALSE(pool.find(h, shorter).has_value());
  const std::vector<TokenId> longer = {10, 20, 30, 40, 50};
  EXPECT_FALSE(pool.find(h, longer).has_value());
  EXPECT_FALSE(pool.find(BlockHash{0x1234, 0x5679}, tokens).has_value());
  EXPECT_FALSE(pool.find(BlockHash{}, tokens).has_value());
}

TEST(BlockPool, CopyBeforeWriteForSharedAndPublishedBlocks) {
  BlockPool pool(2);
  const int a = *pool.allocate();
  EXPECT_FALSE(pool.copy_before_write(a));
  pool.retain(a);
  EXPECT_TRUE(pool.copy_before_write(a));  // shared
  pool.release(a);
  EXPECT_FALSE(pool.copy_before_write(a));
  const auto t = tokens_of(3);
  pool.publish(a, hash_of(3), t);
  EXPECT_TRUE(pool.copy_before_write(a));  // exclusive but published
  pool.retain(a);
  EXPECT_TRUE(pool.copy_before_write(a));
}

// A deliberately simple model of the pool: per-block state plus the two halves of the available
// list (plain blocks, handed out most recently freed first after the initial low-ids-first order,
// and cached blocks, evicted least recently released first).
class ReferencePool {
 public:
  explicit ReferencePool(int n) : ref_(static_cast<std::size_t>(n), 0), hash_(static_cast<std::size_t>(n)) {
    for (int b = 0; b < n; ++b) plain_.push_back(b);
  }

  std::optional<int> allocate() {
    int b;
    if (!plain_.empty()) {
      b = plain_.front();
      plain_.pop_front();
    } else if (!cached_.empty()) {
      b = cached_.front();
      cached_.pop_front();
      by_hash_.erase(*hash_[static_cast<std::size_t>(b)]);
      hash_[static_cast<std::size_t>(b)].reset();
      tokens_.erase(b);
      ++evictions_;
    } else {
      return std::nullopt;
    }
    ref_[static_cast<std::size_t>(b)] = 1;
    return b;
  }
  void retain(int b) {
    if (ref_[static_cast<std::size_t>(b)] == 0) cached_.remove(b);
    ++ref_[static_cast<std::size_t>(b)];
  }
  void release(int b) {
    if (--ref_[static_cast<std::size_t>(b)] > 0) return;
    if (hash_[static_cast<std::size_t>(b)])
      cached_.push_back(b);
    else
      plain_.push_front(b);
  }
  void publish(int b, std::uint64_t h, const std::vector<TokenId>& tokens) {
    if (hash_[static_cast<std::size_t>(b)] || by_hash_.contains(h)) return;
    hash_[static_cast<std::size_t>(b)] = h;
    by_hash_[h] = b;
    tokens_[b] = tokens;
  }
  std::optional<int> find(std::uint64_t h, const std::vector<TokenId>& tokens) const {
    const auto it = by_hash_.find(h);
    if (it == by_hash_.end() || tokens_.at(it->second) != tokens) return std::nullopt;
    return it->second;
  }

  int refcount(int b) const { return ref_[static_cast<std::size_t>(b)]; }
  bool published(int b) const { return hash_[static_cast<std::size_t>(b)].has_value(); }
  int available() const { return static_cast<int>(plain_.size() + cached_.size()); }
  int cached() const { return static_cast<int>(by_hash_.size()); }
  int cached_unused() const { return static_cast<int>(cached_.size()); }
  std::uint64_t evictions() const { return evictions_; }
  int n() const { return static_cast<int>(ref_.size()); }

 private:
  std::vector<int> ref_;
  std::vector<std::optional<std::uint64_t>> hash_;
  std::deque<int> plain_;
  std::list<int> cached_;
  std::map<std::uint64_t, int> by_hash_;
  std::map<int, std::vector<TokenId>> tokens_;
  std::uint64_t evictions_ = 0;
};

TEST(BlockPool, RandomisedOperationsMatchAReferenceModel) {
  for (const unsigned seed : {1u, 2u, 3u}) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    constexpr int kBlocks = 12;
    BlockPool pool(kBlocks);
    ReferencePool ref(kBlocks);
    std::mt19937 rng(seed);
    auto pick = [&](int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng); };

    for (int op = 0; op < 4000; ++op) {
      std::vector<int> in_use, cached_unused;
      for (int b = 0; b < kBlocks; ++b) {
        if (ref.refcount(b) > 0) in_use.push_back(b);
        else if (ref.published(b)) cached_unused.push_back(b);
      }
      const int what = pick(10);
      if (what <= 2) {
        const auto got = pool.allocate();
        const auto want = ref.allocate();
        ASSERT_EQ(got, want) << "op " << op;
      } else if (what <= 4 && !in_use.empty()) {
        const int b = in_use[static_cast<std::size_t>(pick(static_cast<int>(in_use.size())))];
        pool.release(b);
        ref.release(b);
      } else if (what == 5 && !in_use.empty()) {
        const int b = in_use[static_cast<std::size_t>(pick(static_cast<int>(in_use.size())))];
        pool.retain(b);
        ref.retain(b);
      } else if (what == 6 && !cached_unused.empty()) {
        const int b = cached_unused[static_cast<std::size_t>(pick(static_cast<int>(cached_unused.size())))];
        pool.retain(b);
        ref.retain(b);
      } else if (what == 7 && !in_use.empty()) {
        const int b = in_use[static_cast<std::size_t>(pick(static_cast<int>(in_use.size())))];
        const auto k = static_cast<std::uint64_t>(pick(20));
        const auto t = tokens_of(k);
        pool.publish(b, hash_of(k), t);
        ref.publish(b, k, t);
      } else {
        const auto k = static_cast<std::uint64_t>(pick(20));
        auto t = tokens_of(k);
        if (pick(4) == 0) t[3] += 1;  // same hash, other tokens
        const auto got = pool.find(hash_of(k), t);
        ASSERT_EQ(got, ref.find(k, t)) << "op " << op;
        // What find answers can be taken back into use (the way prefix matching does it).
        if (got && pick(2) == 0) {
          pool.retain(*got);
          ref.retain(*got);
        }
      }

      ASSERT_EQ(pool.available_blocks(), ref.available()) << "op " << op;
      ASSERT_EQ(pool.used_blocks(), ref.n() - ref.available()) << "op " << op;
      ASSERT_EQ(pool.cached_blocks(), ref.cached()) << "op " << op;
      ASSERT_EQ(pool.cached_unused_blocks(), ref.cached_unused()) << "op " << op;
      ASSERT_EQ(pool.evictions(), ref.evictions()) << "op " << op;
      int in_use_count = 0;
      for (int b = 0; b < kBlocks; ++b) {
        ASSERT_EQ(pool.refcount(b), ref.refcount(b)) << "op " << op << " block " << b;
        ASSERT_EQ(pool.copy_before_write(b), ref.refcount(b) > 1 || ref.published(b)) << "op " << op;
        if (ref.refcount(b) > 0) ++in_use_count;
      }
      ASSERT_EQ(pool.used_blocks(), in_use_count);
      expect_counts_consistent(pool);
    }
  }
}

}  // namespace
}  // namespace flux
