// The reference attention kernel: plain C++, the oracle the SIMD versions are tested against.
// Each key and value row is decoded to floats with the type's reference decoder.

#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/attention_kernels.hpp"
#include "tensor/quant.hpp"

namespace flux {

namespace {

void attend_query(const HeadAttention& a, const AttentionQuery& query) {
  const auto dim = static_cast<std::size_t>(a.head_dim);
  float acc[kMaxAttentionHeadDim];
  float row[kMaxAttentionHeadDim];
  float q[kMaxAttentionHeadDim];
  for (std::size_t d = 0; d < dim; ++d) q[d] = f16_to_f32(f32_to_f16(query.q[d]));
  float scores[kAttentionTile];
  std::fill(acc, acc + dim, 0.0f);
  float running_max = -std::numeric_limits<float>::infinity();
  float running_sum = 0.0f;

  for (std::int64_t first = 0; first < query.n_positions;) {
    const auto block = static_cast<std::size_t>(first / a.block_size);
    const int slot0 = static_cast<int>(first % a.block_size);
    const int n = static_cast<int>(std::min<std::int64_t>({query.n_positions - first, a.block_size - slot0, kAttentionTile}));
    const std::byte* keys = a.keys[block] + static_cast<std::size_t>(slot0) * a.slot_stride;
    const std::byte* values = a.values[block] + static_cast<std::size_t>(slot0) * a.slot_stride;

    float tile_max = -std::numeric_limits<float>::infinity();
    for (int s = 0; s < n; ++s) {
      dequantize_row(a.kv_type, keys + static_cast<std::size_t>(s) * a.slot_stride, row, a.head_dim);
      float dot = 0.0f;
      for (std::size_t d = 0; d < dim; ++d) dot += q[d] * row[d];
      scores[s] = dot * a.scale;
      tile_max = std::max(tile_max, scores[s]);
    }
    const float new_max = std::max(running_max, tile_max);
    const float correction = std::exp(running_max - new_max);
    for (std::size_t d = 0; d < dim; ++d) acc[d] *= correction;
    running_sum *= correction;
    running_max = new_max;
    for (int s = 0; s < n; ++s) {
      const float w = std::exp(scores[s] - running_max);
      running_sum += w;
      dequantize_row(a.kv_type, values + static_cast<std::size_t>(s) * a.slot_stride, row, a.head_dim);
      for (std::size_t d = 0; d < dim; ++d) acc[d] += w * row[d];
    }
    first += n;
  }
  const float inv = 1.0f / running_sum;
  for (std::size_t d = 0; d < dim; ++d) query.out[d] = acc[d] * inv;
}

}  // namespace

void attend_head_scalar(const HeadAttention& a) {
  for (int i = 0; i < a.n_queries; ++i) attend_query(a, a.queries[i]);
}

}  // namespace flux
