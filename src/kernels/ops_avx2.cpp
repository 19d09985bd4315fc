// SiLU-multiply eight lanes at a time, with the polynomial exp of x86_math.hpp (within about
// 2 ulp of expf, so results differ from the scalar table's in the last bits only).

#include "kernels/ops_x86.hpp"
#include "kernels/x86_math.hpp"

namespace flux {

void silu_mul_avx2(float* gate, const float* up, std::size_t n) {
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 g = _mm256_loadu_ps(gate + i);
    const __m256 sigmoid_denominator = _mm256_add_ps(_mm256_set1_ps(1.0f), exp8(_mm256_sub_ps(_mm256_setzero_ps(), g)));
    _mm256_storeu_ps(gate + i, _mm256_mul_ps(_mm256_div_ps(g, sigmoid_denominator), _mm256_loadu_ps(up + i)));
  }
  if (i == n) return;
  // The tail through the same vector code, so every element gets the same arithmetic.
  float g[8] = {}, u[8] = {};
  for (std::size_t j = i; j < n; ++j) {
    g[j - i] = gate[j];
    u[j - i] = up[j];
  }
  silu_mul_avx2(g, u, 8);
  for (std::size_t j = i; j < n; ++j) gate[j] = g[j - i];
}

}  // namespace flux
