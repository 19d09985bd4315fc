#pragma once
// The x86 attention kernel, written once over a float vector type V (attention_avx2.cpp's 8
// lanes, attention_avx512.cpp's 16) and included only by those translation units, each compiled
// for its own ISA. It keeps the scalar kernel's tile structure (attention_kernels.hpp), V::kWidth
// head dimensions at a time, and decodes each key and value once for all the call's queries
// (F16 widened by vcvtph2ps, Q8_0 by sign extension and its block scale). A tile's softmax is
// taken eight weights at a time with a polynomial exp. Calls no standard-library templates or
// inline functions (expf, not std::exp), so no copy compiled with these flags can be picked by the
// linker for code that runs on older CPUs.
//
// Every query goes through the same operations whichever other queries share the call: its
// score is one accumulator reduced by the same additions, its weights and sums are its own, and
// masked positions add exact zeros. So a query's result does not depend on the others.

#include "kernels/x86_math.hpp"  // first: it includes immintrin.h under GCC 12's warning fix

#include <math.h>

#include "kernels/attention_kernels.hpp"

namespace flux {
namespace {

// kWidth elements of a row starting at element d (a multiple of kWidth), as floats.
template <class V>
struct F16Row {
  static typename V::F load(const std::byte* row, int d) { return V::from_halves(row + 2 * d); }
  static float at(const std::byte* row, int d) { return load_f16(row + 2 * d); }
};

// Q8_0 blocks: an F16 scale, then 32 int8; head_dim is a multiple of 32, so kWidth elements (8
// or 16) never straddle two blocks and there is no tail.
template <class V>
struct Q8Row {
  static constexpr int kBlockBytes = 34;
  static typename V::F load(const std::byte* row, int d) {
    const std::byte* block = row + (d / 32) * kBlockBytes;
    return V::mul(V::from_int8(block + 2 + d % 32), V::set1(load_f16(block)));
  }
  static float at(const std::byte* row, int d) {
    const std::byte* block = row + (d / 32) * kBlockBytes;
    return static_cast<float>(static_cast<std::int8_t>(block[2 + d % 32])) * load_f16(block);
  }
};

// out = in rounded to F16 precision (to nearest, ties to even, as the scalar conversion).
void round_to_f16(const float* in, float* out, int n) {
  int d = 0;
  for (; d + 8 <= n; d += 8)
    _mm256_storeu_ps(out + d, _mm256_cvtph_ps(_mm256_cvtps_ph(_mm256_loadu_ps(in + d), _MM_FROUND_TO_NEAREST_INT)));
  for (; d < n; ++d) out[d] = _cvtsh_ss(_cvtss_sh(in[d], _MM_FROUND_TO_NEAREST_INT));
}

// Lane i of the result: the horizontal sum of sums[i].
__m256 horizontal_sums8(const __m256* sums) {
  const __m256 pairs01 = _mm256_hadd_ps(sums[0], sums[1]);
  const __m256 pairs23 = _mm256_hadd_ps(sums[2], sums[3]);
  const __m256 pairs45 = _mm256_hadd_ps(sums[4], sums[5]);
  const __m256 pairs67 = _mm256_hadd_ps(sums[6], sums[7]);
  const __m256 quads0123 = _mm256_hadd_ps(pairs01, pairs23);  // [low halves 0-3 | high halves 0-3]
  const __m256 quads4567 = _mm256_hadd_ps(pairs45, pairs67);
  const __m256 lows = _mm256_permute2f128_ps(quads0123, quads4567, 0x20);
  const __m256 highs = _mm256_permute2f128_ps(quads0123, quads4567, 0x31);
  return _mm256_add_ps(lows, highs);
}

float horizontal_max(__m256 v) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_movehdup_ps(m));
  return _mm_cvtss_f32(m);
}

// A query's running softmax state, and the factor its running output is rescaled by for the
// current tile.
struct QueryState {
  float running_max = -INFINITY;
  float running_sum = 0.0f;
  float correction = 1.0f;
};

// Turns a query's scores for one tile (the first `valid` of them are positions it sees) into
// weights, 0 for the positions it does not see, and updates its state: rescaled by the change of
// the maximum, then the tile's weights added.
void softmax_tile(float* weights, int valid, QueryState& state) {
  if (valid <= 0) {  // the query has seen all its positions: nothing changes
    state.correction = 1.0f;
    for (int s = 0; s < kAttentionTile; ++s) weights[s] = 0.0f;
    return;
  }
  const int chunks_end = (valid + 7) / 8 * 8;
  for (int s = valid; s < chunks_end; ++s) weights[s] = -INFINITY;  // the max ignores them, exp8 gives 0
  __m256 max = _mm256_set1_ps(-INFINITY);
  for (int s = 0; s < chunks_end; s += 8) max = _mm256_max_ps(max, _mm256_load_ps(weights + s));
  const float tile_max = horizontal_max(max);
  const float new_max = state.running_max > tile_max ? state.running_max : tile_max;
  state.correction = expf(state.running_max - new_max);
  state.running_max = new_max;
  max = _mm256_set1_ps(new_max);
  __m256 sum = _mm256_setzero_ps();
  for (int s = 0; s < chunks_end; s += 8) {
    const __m256 w = exp8(_mm256_sub_ps(_mm256_load_ps(weights + s), max));
    _mm256_store_ps(weights + s, w);
    sum = _mm256_add_ps(sum, w);
  }
  for (int s = chunks_end; s < kAttentionTile; ++s) weights[s] = 0.0f;
  state.running_sum = state.running_sum * state.correction + horizontal_sum(sum);
}

// kQueries queries against one KV head. Scores: per key, one accumulator per query over the
// kWidth-wide chunks of the head, reduced together. Values: per chunk of the head, the queries'
// outputs stay in registers over the tile's positions.
template <class V, class Row, int kQueries>
void attend(const HeadAttention& a) {
  using F = typename V::F;
  constexpr int kWidth = V::kWidth;
  const int dim = a.head_dim;
  const int vector_dim = dim / kWidth * kWidth;
  alignas(64) float acc[kQueries][kMaxAttentionHeadDim];
  alignas(32) float weights[kQueries][kAttentionTile];
  alignas(64) float q[kQueries][kMaxAttentionHeadDim];
  QueryState state[kQueries];
  std::int64_t n_positions = 0;
  for (int i = 0; i < kQueries; ++i) {
    round_to_f16(a.queries[i].q, q[i], dim);
    for (int d = 0; d < dim; ++d) acc[i][d] = 0.0f;
    if (a.queries[i].n_positions > n_positions) n_positions = a.queries[i].n_positions;
  }

  for (std::int64_t first = 0; first < n_positions;) {
    const auto block = static_cast<std::size_t>(first / a.block_size);
    const int slot0 = static_cast<int>(first % a.block_size);
    std::int64_t n64 = n_positions - first;
    if (n64 > a.block_size - slot0) n64 = a.block_size - slot0;
    if (n64 > kAttentionTile) n64 = kAttentionTile;
    const int n = static_cast<int>(n64);
    const std::byte* keys = a.keys[block] + static_cast<std::size_t>(slot0) * a.slot_stride;
    const std::byte* values = a.values[block] + static_cast<std::size_t>(slot0) * a.slot_stride;

    for (int s = 0; s < n; ++s) {
      const std::byte* key = keys + static_cast<std::size_t>(s) * a.slot_stride;
      F sums[kQueries];
      for (int i = 0; i < kQueries; ++i) sums[i] = V::zero();
      for (int d = 0; d < vector_dim; d += kWidth) {
        const F k = Row::load(key, d);
        for (int i = 0; i < kQueries; ++i) sums[i] = V::fmadd(V::loadu(q[i] + d), k, sums[i]);
      }
      __m256 folded[8];
      for (int i = 0; i < 8; ++i) folded[i] = i < kQueries ? V::fold(sums[i]) : _mm256_setzero_ps();
      alignas(32) float dots[8];
      _mm256_store_ps(dots, horizontal_sums8(folded));
      for (int i = 0; i < kQueries; ++i) {
        float dot = dots[i];
        for (int d = vector_dim; d < dim; ++d) dot += q[i][d] * Row::at(key, d);
        weights[i][s] = dot * a.scale;
      }
    }
    for (int i = 0; i < kQueries; ++i) {
      std::int64_t valid = a.queries[i].n_positions - first;
      if (valid > n) valid = n;
      softmax_tile(weights[i], static_cast<int>(valid), state[i]);
    }

    for (int d = 0; d < vector_dim; d += kWidth) {
      F out[kQueries];
      for (int i = 0; i < kQueries; ++i) out[i] = V::mul(V::loadu(acc[i] + d), V::set1(state[i].correction));
      for (int s = 0; s < n; ++s) {
        const F v = Row::load(values + static_cast<std::size_t>(s) * a.slot_stride, d);
        for (int i = 0; i < kQueries; ++i) out[i] = V::fmadd(V::set1(weights[i][s]), v, out[i]);
      }
      for (int i = 0; i < kQueries; ++i) V::storeu(acc[i] + d, out[i]);
    }
    for (int d = vector_dim; d < dim; ++d) {
      for (int i = 0; i < kQueries; ++i) {
        float sum = acc[i][d] * state[i].correction;
        for (int s = 0; s < n; ++s) sum += weights[i][s] * Row::at(values + static_cast<std::size_t>(s) * a.slot_stride, d);
        acc[i][d] = sum;
      }
    }
    first += n;
  }
  for (int i = 0; i < kQueries; ++i) {
    const float inv = 1.0f / state[i].running_sum;
    for (int d = 0; d < dim; ++d) a.queries[i].out[d] = acc[i][d] * inv;
  }
}

template <class V, class Row>
void attend_queries(const HeadAttention& a) {
  switch (a.n_queries) {
    case 1: return attend<V, Row, 1>(a);
    case 2: return attend<V, Row, 2>(a);
    case 3: return attend<V, Row, 3>(a);
    case 4: return attend<V, Row, 4>(a);
    case 5: return attend<V, Row, 5>(a);
    case 6: return attend<V, Row, 6>(a);
    case 7: return attend<V, Row, 7>(a);
    default: return attend<V, Row, kMaxAttentionQueries>(a);
  }
}

template <class V>
void attend_head(const HeadAttention& a) {
  if (a.kv_type == TensorType::Q8_0) attend_queries<V, Q8Row<V>>(a);
  else attend_queries<V, F16Row<V>>(a);
}

}  // namespace
}  // namespace flux
