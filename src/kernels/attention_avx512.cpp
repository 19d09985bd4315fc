// The attention kernel (attention_x86_templates.hpp) on 16-lane vectors, compiled with the
// AVX-512 flags (see CMakeLists.txt): a 64-wide head is four multiply-adds per key and query.

#include "kernels/attention_x86_templates.hpp"

namespace flux {
namespace {

struct Floats16 {
  using F = __m512;
  static constexpr int kWidth = 16;
  static F zero() { return _mm512_setzero_ps(); }
  static F set1(float v) { return _mm512_set1_ps(v); }
  static F loadu(const float* p) { return _mm512_loadu_ps(p); }
  static void storeu(float* p, F v) { _mm512_storeu_ps(p, v); }
  static F mul(F a, F b) { return _mm512_mul_ps(a, b); }
  static F fmadd(F a, F b, F c) { return _mm512_fmadd_ps(a, b, c); }
  static F from_halves(const std::byte* p) {
    return _mm512_cvtph_ps(load_256(p));
  }
  static F from_int8(const std::byte* p) {
    return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(load_128(p)));
  }
  // Lanes d and d + 8 added: the 8 lanes horizontal_sums8 reduces.
  static __m256 fold(F v) { return _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1)); }
};

}  // namespace

void attend_head_avx512(const HeadAttention& a) { attend_head<Floats16>(a); }

}  // namespace flux
