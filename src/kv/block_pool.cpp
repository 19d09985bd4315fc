#include "kv/block_pool.hpp"

#include <algorithm>

#include "base/error.hpp"

namespace flux {

BlockPool::BlockPool(int n_blocks) {
  check(n_blocks > 0, "a block pool needs at least one block");
  meta_.resize(static_cast<std::size_t>(n_blocks));
  // Low ids first: a short sequence's blocks stay close together in memory.
  for (int b = 0; b < n_blocks; ++b) push_back(b);
}

void BlockPool::check_block(int block) const {
  check(block >= 0 && block < n_blocks(), "block id out of range");
}

int BlockPool::refcount(int block) const {
  check_block(block);
  return meta_[static_cast<std::size_t>(block)].refcount;
}

bool BlockPool::copy_before_write(int block) const {
  check_block(block);
  const Meta& m = meta_[static_cast<std::size_t>(block)];
  return m.refcount > 1 || m.published;
}

void BlockPool::unlink(int block) {
  Meta& m = meta_[static_cast<std::size_t>(block)];
  (m.prev >= 0 ? meta_[static_cast<std::size_t>(m.prev)].next : head_) = m.next;
  (m.next >= 0 ? meta_[static_cast<std::size_t>(m.next)].prev : tail_) = m.prev;
  m.prev = m.next = -1;
  --n_available_;
}

void BlockPool::push_front(int block) {
  Meta& m = meta_[static_cast<std::size_t>(block)];
  m.prev = -1;
  m.next = head_;
  (head_ >= 0 ? meta_[static_cast<std::size_t>(head_)].prev : tail_) = block;
  head_ = block;
  ++n_available_;
}

void BlockPool::push_back(int block) {
  Meta& m = meta_[static_cast<std::size_t>(block)];
  m.next = -1;
  m.prev = tail_;
  (tail_ >= 0 ? meta_[static_cast<std::size_t>(tail_)].next : head_) = block;
  tail_ = block;
  ++n_available_;
}

void BlockPool::forget_hash(int block) {
  Meta& m = meta_[static_cast<std::size_t>(block)];
  if (!m.published) return;
  by_hash_.erase(m.hash);
  m.published = false;
  m.tokens.clear();
}

std::optional<int> BlockPool::allocate() {
  if (head_ < 0) return std::nullopt;
  const int block = head_;
  unlink(block);
  Meta& m = meta_[static_cast<std::size_t>(block)];
  if (m.published) {
    --n_cached_unused_;
    forget_hash(block);
    ++evictions_;
  }
  m.refcount = 1;
  return block;
}

void BlockPool::retain(int block) {
  check_block(block);
  Meta& m = meta_[static_cast<std::size_t>(block)];
  if (m.refcount == 0) {
    check(m.published, "only a cached block can be taken back from the free list");
    unlink(block);
    --n_cached_unused_;
  }
  ++m.refcount;
}

void BlockPool::release(int block) {
  check_block(block);
  Meta& m = meta_[static_cast<std::size_t>(block)];
  check(m.refcount > 0, "released a block that is not in use");
  if (--m.refcount > 0) return;
  // Cached blocks join the back (evicted last, oldest first); plain ones the front (reused first).
  if (m.published) {
    push_back(block);
    ++n_cached_unused_;
  } else {
    push_front(block);
  }
}

std::optional<int> BlockPool::find(const BlockHash& hash, std::span<const TokenId> tokens) const {
  const auto it = by_hash_.find(hash);
  if (it == by_hash_.end()) return std::nullopt;
  const Meta& m = meta_[static_cast<std::size_t>(it->second)];
  if (!std::equal(m.tokens.begin(), m.tokens.end(), tokens.begin(), tokens.end())) return std::nullopt;
  return it->second;
}

void BlockPool::publish(int block, const BlockHash& hash, std::span<const TokenId> tokens) {
  check_block(block);
  Meta& m = meta_[static_cast<std::size_t>(block)];
  check(m.refcount > 0, "published a block that is not in use");
  if (m.published || by_hash_.contains(hash)) return;
  by_hash_.emplace(hash, block);
  m.published = true;
  m.hash = hash;
  m.tokens.assign(tokens.begin(), tokens.end());
}

}  // namespace flux
