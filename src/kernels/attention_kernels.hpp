#pragma once
// The inner kernel of paged attention: a few queries against the keys and values of one KV head,
// read block by block through a sequence's block table. Flash-style: keys are taken a tile at a
// time (up to kAttentionTile positions, never crossing a block), scores of a tile first, then one
// rescale of each running output per tile; no score matrix is ever materialised.
//
// The queries of one call share the KV head (the query heads of a grouped-query group, and
// neighbouring rows of a prompt), so each key and value is loaded and decoded once for all of
// them. A query may see fewer positions than the others; it then ignores the rest of the tiles.
//
// Each ISA level has its own version (the scalar one is the oracle); they differ only in float
// rounding. Within a level a query's result depends only on its own inputs: never on the other
// queries of the call, nor on the other rows of the batch.

#include <cstddef>
#include <cstdint>

#include "tensor/dtype.hpp"

namespace flux {

inline constexpr int kAttentionTile = 64;
inline constexpr int kMaxAttentionHeadDim = 512;
inline constexpr int kMaxAttentionQueries = 8;

struct AttentionQuery {
  // [head_dim]. Kernels round it to F16 precision first: llama.cpp multiplies queries with F16
  // keys in F16, and generations are compared with its token for token.
  const float* q = nullptr;
  float* out = nullptr;          // [head_dim]
  std::int64_t n_positions = 0;  // attends to positions [0, n_positions), at least 1
};

struct HeadAttention {
  const AttentionQuery* queries = nullptr;   // 1 to kMaxAttentionQueries queries
  int n_queries = 0;
  int head_dim = 0;                          // at most kMaxAttentionHeadDim
  float scale = 0;
  TensorType kv_type = TensorType::F16;      // F16, or Q8_0 with head_dim a multiple of 32
  const std::byte* const* keys = nullptr;    // per block: this KV head's key in slot 0
  const std::byte* const* values = nullptr;  // per block: this KV head's value in slot 0
  std::size_t slot_stride = 0;               // bytes from one slot's key to the next one's
  int block_size = 0;
};

using AttendHeadFn = void (*)(const HeadAttention& args);

void attend_head_scalar(const HeadAttention& args);
// Defined in attention_avx2.cpp (AVX2 + FMA + F16C) and attention_avx512.cpp (AVX-512 F/BW/VL/DQ);
// call only where the CPU has them.
void attend_head_avx2(const HeadAttention& args);
void attend_head_avx512(const HeadAttention& args);

}  // namespace flux
