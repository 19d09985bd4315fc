// AVX2 + FMA + F16C attention kernel (compiled with those flags only; see CMakeLists.txt): the
// scalar kernel's tile structure, eight head dimensions at a time, with F16 keys and values
// widened by vcvtph2ps or Q8_0 ones by sign extension and their block scale. Calls no
// standard-library templates or inline functions (expf, not std::exp), so no copy compiled with
// these flags can be picked by the linker for code that runs on older CPUs.

#include <immintrin.h>

#include <math.h>

#include "kernels/attention_kernels.hpp"

namespace flux {
namespace {

float horizontal_sum(__m256 v) {
  const __m128 lo = _mm256_castps256_ps128(v);
  const __m128 hi = _mm256_extractf128_ps(v, 1);
  __m128 s = _mm_add_ps(lo, hi);
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

float read_f16(const std::byte* p) {
  std::uint16_t h;
  __builtin_memcpy(&h, p, sizeof(h));
  return _cvtsh_ss(h);
}

// Eight elements of a row starting at element d (a multiple of 8), as floats.
struct F16Row {
  static __m256 load8(const std::byte* row, int d) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row + 2 * d)));
  }
  static float at(const std::byte* row, int d) { return read_f16(row + 2 * d); }
};

// Q8_0 blocks: an F16 scale, then 32 int8; head_dim is a multiple of 32, so eight elements never
// straddle two blocks and there is no tail.
struct Q8Row {
  static constexpr int kBlockBytes = 34;
  static __m256 load8(const std::byte* row, int d) {
    const std::byte* block = row + (d / 32) * kBlockBytes;
    const __m128i q = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(block + 2 + d % 32));
    return _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q)), _mm256_set1_ps(read_f16(block)));
  }
  static float at(const std::byte* row, int d) {
    const std::byte* block = row + (d / 32) * kBlockBytes;
    return static_cast<float>(static_cast<std::int8_t>(block[2 + d % 32])) * read_f16(block);
  }
};

template <class Row>
float dot(const float* q, const std::byte* k, int dim) {
  __m256 acc = _mm256_setzero_ps();
  int d = 0;
  for (; d + 8 <= dim; d += 8) acc = _mm256_fmadd_ps(_mm256_loadu_ps(q + d), Row::load8(k, d), acc);
  float sum = horizontal_sum(acc);
  for (; d < dim; ++d) sum += q[d] * Row::at(k, d);
  return sum;
}

template <class Row>
void attend(const HeadAttention& a) {
  const int dim = a.head_dim;
  alignas(32) float acc[kMaxAttentionHeadDim];
  float scores[kAttentionTile];
  for (int d = 0; d < dim; ++d) acc[d] = 0.0f;
  float running_max = -INFINITY;
  float running_sum = 0.0f;

  for (std::int64_t first = 0; first < a.n_positions;) {
    const auto block = static_cast<std::size_t>(first / a.block_size);
    const int slot0 = static_cast<int>(first % a.block_size);
    std::int64_t n64 = a.n_positions - first;
    if (n64 > a.block_size - slot0) n64 = a.block_size - slot0;
    if (n64 > kAttentionTile) n64 = kAttentionTile;
    const int n = static_cast<int>(n64);
    const std::byte* keys = a.keys[block] + static_cast<std::size_t>(slot0) * a.slot_stride;
    const std::byte* values = a.values[block] + static_cast<std::size_t>(slot0) * a.slot_stride;

    float tile_max = -INFINITY;
    for (int s = 0; s < n; ++s) {
      scores[s] = dot<Row>(a.q, keys + static_cast<std::size_t>(s) * a.slot_stride, dim) * a.scale;
      if (scores[s] > tile_max) tile_max = scores[s];
    }
    const float new_max = running_max > tile_max ? running_max : tile_max;
    const float correction = expf(running_max - new_max);
    running_sum *= correction;
    running_max = new_max;
    const __m256 c = _mm256_set1_ps(correction);
    int d = 0;
    for (; d + 8 <= dim; d += 8) _mm256_store_ps(acc + d, _mm256_mul_ps(_mm256_load_ps(acc + d), c));
    for (; d < dim; ++d) acc[d] *= correction;

    for (int s = 0; s < n; ++s) {
      const float w = expf(scores[s] - running_max);
      running_sum += w;
      const std::byte* v = values + static_cast<std::size_t>(s) * a.slot_stride;
      const __m256 wv = _mm256_set1_ps(w);
      int e = 0;
      for (; e + 8 <= dim; e += 8) _mm256_store_ps(acc + e, _mm256_fmadd_ps(wv, Row::load8(v, e), _mm256_load_ps(acc + e)));
      for (; e < dim; ++e) acc[e] += w * Row::at(v, e);
    }
    first += n;
  }
  const float inv = 1.0f / running_sum;
  for (int d = 0; d < dim; ++d) a.out[d] = acc[d] * inv;
}

}  // namespace

void attend_head_avx2(const HeadAttention& a) {
  if (a.kv_type == TensorType::Q8_0) attend<Q8Row>(a);
  else attend<F16Row>(a);
}

}  // namespace flux
