// The attention kernel (attention_x86_templates.hpp) on 8-lane vectors, compiled with AVX2, FMA
// and F16C only (see CMakeLists.txt).

#include "kernels/attention_x86_templates.hpp"

namespace flux {
namespace {

struct Floats8 {
  using F = __m256;
  static constexpr int kWidth = 8;
  static F zero() { return _mm256_setzero_ps(); }
  static F set1(float v) { return _mm256_set1_ps(v); }
  static F loadu(const float* p) { return _mm256_loadu_ps(p); }
  static void storeu(float* p, F v) { _mm256_storeu_ps(p, v); }
  static F mul(F a, F b) { return _mm256_mul_ps(a, b); }
  static F fmadd(F a, F b, F c) { return _mm256_fmadd_ps(a, b, c); }
  static F from_halves(const std::byte* p) { return _mm256_cvtph_ps(load_128(p)); }
  static F from_int8(const std::byte* p) {
    return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))));
  }
  static __m256 fold(F v) { return v; }  // to the 8 lanes horizontal_sums8 reduces
};

}  // namespace

void attend_head_avx2(const HeadAttention& a) { attend_head<Floats8>(a); }

}  // namespace flux
