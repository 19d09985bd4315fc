#pragma once
// The allocator behind the paged KV cache: a fixed number of block ids with reference counts, a
// free list in least-recently-used order, and the prefix-cache map from block hash to block.
//
// A block is in one of three states:
//   in use      refcount > 0 (one or more block tables hold it; shared blocks are copy-on-write)
//   cached      refcount 0 but it still holds the K/V of a published hash: a later request with
//               the same prefix can take it back; it is evicted (its hash forgotten) only when
//               allocation needs it, oldest first
//   free        refcount 0 and no hash
// Free and cached blocks share one list: allocation takes plain free blocks first, then the
// least recently released cached block. The pool never touches K/V bytes.

#include <cstdint>
#include <optional>
#include <span>
#include <unordered_map>
#include <vector>

#include "base/token_id.hpp"
#include "kv/block_hash.hpp"

namespace flux {

class BlockPool {
 public:
  explicit BlockPool(int n_blocks);

  int n_blocks() const { return static_cast<int>(meta_.size()); }
  // Blocks allocation can hand out: free ones plus cached ones not in use.
  int available_blocks() const { return n_available_; }
  int used_blocks() const { return n_blocks() - n_available_; }
  // Blocks holding a published hash, in use or not.
  int cached_blocks() const { return static_cast<int>(by_hash_.size()); }
  // Cached blocks no sequence holds: reusable by a prefix hit, evictable by allocation.
  int cached_unused_blocks() const { return n_cached_unused_; }
  std::uint64_t evictions() const { return evictions_; }

  int refcount(int block) const;
  // True when a write to the block must copy it first: another table holds it, or its contents
  // are published under a hash that other requests may find.
  bool copy_before_write(int block) const;

  // A block with refcount 1, evicting the least recently used cached block when no plain free
  // block is left; nullopt when every block is in use (the caller preempts or waits).
  std::optional<int> allocate();
  // One more holder of a block in use, or takes a cached block back into use.
  void retain(int block);
  // One holder fewer; at zero the block becomes free, or cached if it holds a hash.
  void release(int block);

  // The cached block with this hash and exactly these tokens, if any (in use or not).
  std::optional<int> find(const BlockHash& hash, std::span<const TokenId> tokens) const;
  // Publishes a full block under its hash so that later requests can reuse it. Does nothing when
  // another block already holds that hash (the first copy stays the shared one).
  void publish(int block, const BlockHash& hash, std::span<const TokenId> tokens);

 private:
  struct Meta {
    int refcount = 0;
    int prev = -1;  // neighbours in the available list while refcount == 0
    int next = -1;
    bool published = false;
    BlockHash hash;
    std::vector<TokenId> tokens;  // the block's tokens while published: checked on every hit
  };

  void check_block(int block) const;
  void unlink(int block);
  void push_front(int block);
  void push_back(int block);
  void forget_hash(int block);

  std::vector<Meta> meta_;
  int head_ = -1;  // next block allocation hands out
  int tail_ = -1;  // most recently released cached block
  int n_available_ = 0;
  int n_cached_unused_ = 0;
  std::uint64_t evictions_ = 0;
  std::unordered_map<BlockHash, int, BlockHashHasher> by_hash_;
};

}  // namespace flux
