// AVX2 + FMA + F16C kernels (compiled with -mavx2 -mfma -mf16c; see CMakeLists.txt): Q4_0 and
// Q8_0 dot products through maddubs/madd, F32 and F16 through FMA on 8 float lanes, and a Q8_0
// activation quantiser that produces the reference's bytes exactly.

#include <cstring>

#include "kernels/dot_kernels.hpp"
#include "kernels/x86_kernel_templates.hpp"
#include "tensor/quant.hpp"

namespace flux {
namespace {

// Products of plain rows are summed in float lanes (two accumulators per row to hide FMA
// latency); the reference sums them in double, hence the tolerance its tests allow.
template <class Element, int kRows>
void plain_row_group(const std::byte* w, std::size_t w_stride, const std::byte* x, float* out,
                     std::size_t n) {
  // Eight elements from p as floats.
  const auto load8 = [](const std::byte* p) {
    if constexpr (sizeof(Element) == 4) {
      return _mm256_loadu_ps(reinterpret_cast<const float*>(p));
    } else {
      return _mm256_cvtph_ps(load_128(p));
    }
  };
  const auto load1 = [](const std::byte* p) {
    if constexpr (sizeof(Element) == 4) {
      return load_f32(p);
    } else {
      return load_f16(p);
    }
  };
  constexpr std::size_t kBytes = sizeof(Element);
  __m256 acc0[kRows];
  __m256 acc1[kRows];
  for (int r = 0; r < kRows; ++r) acc0[r] = acc1[r] = _mm256_setzero_ps();
  std::size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256 x0 = load8(x + i * kBytes);
    const __m256 x1 = load8(x + (i + 8) * kBytes);
    for (int r = 0; r < kRows; ++r) {
      const std::byte* wr = w + static_cast<std::size_t>(r) * w_stride;
      acc0[r] = _mm256_fmadd_ps(load8(wr + i * kBytes), x0, acc0[r]);
      acc1[r] = _mm256_fmadd_ps(load8(wr + (i + 8) * kBytes), x1, acc1[r]);
    }
  }
  if (i + 8 <= n) {
    const __m256 x0 = load8(x + i * kBytes);
    for (int r = 0; r < kRows; ++r) {
      const std::byte* wr = w + static_cast<std::size_t>(r) * w_stride;
      acc0[r] = _mm256_fmadd_ps(load8(wr + i * kBytes), x0, acc0[r]);
    }
    i += 8;
  }
  for (int r = 0; r < kRows; ++r) {
    const std::byte* wr = w + static_cast<std::size_t>(r) * w_stride;
    float sum = horizontal_sum(_mm256_add_ps(acc0[r], acc1[r]));
    for (std::size_t j = i; j < n; ++j) sum += load1(wr + j * kBytes) * load1(x + j * kBytes);
    out[r] = sum;
  }
}

template <class Element>
void plain_dot_rows(const std::byte* w_rows, std::size_t w_stride, int n_w_rows,
                    const std::byte* x, float* out, std::int64_t n) {
  for_each_row_group(n_w_rows, [&](auto rows, int first) {
    plain_row_group<Element, decltype(rows)::value>(
        w_rows + static_cast<std::size_t>(first) * w_stride, w_stride, x, out + first,
        static_cast<std::size_t>(n));
  });
}

// roundf (halves away from zero) of lanes already clamped to [-128, 127]: truncate, then step
// one away from zero where the dropped fraction is at least one half. v - trunc(v) is exact.
__m256 round_half_away_from_zero(__m256 v) {
  const __m256 truncated = _mm256_round_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
  const __m256 sign_bit = _mm256_set1_ps(-0.0f);
  const __m256 fraction = _mm256_andnot_ps(sign_bit, _mm256_sub_ps(v, truncated));
  const __m256 needs_step = _mm256_cmp_ps(fraction, _mm256_set1_ps(0.5f), _CMP_GE_OQ);
  const __m256 signed_one = _mm256_or_ps(_mm256_and_ps(v, sign_bit), _mm256_set1_ps(1.0f));
  return _mm256_add_ps(truncated, _mm256_and_ps(needs_step, signed_one));
}

// Q8_0 activations, byte-identical to the reference quantize_row: the same float operations
// (amax / 127, 1 / d, x * (1 / d)) and roundf's ties-away rounding, not the FPU's ties-to-even
// that ggml's own SIMD quantiser uses, so FLUX_ISA=scalar and the fast levels feed the dot
// products the same bytes. Lanes are clamped before rounding exactly as round_clamped does
// (NaN to -128, +-inf from a denormal scale to 127 / -128).
void quantize_q8_0_avx2(const float* src, std::byte* dst, std::int64_t n) {
  const auto blocks = static_cast<std::size_t>(n) / kQK8_0;
  const __m256 sign_bit = _mm256_set1_ps(-0.0f);
  for (std::size_t b = 0; b < blocks; ++b) {
    const float* xs = src + b * kQK8_0;
    __m256 v[4];
    // max_ps returns its second operand when either is NaN, so NaN inputs never win, as in the
    // reference's std::max(amax, |x|).
    __m256 amax8 = _mm256_setzero_ps();
    for (int k = 0; k < 4; ++k) {
      v[k] = _mm256_loadu_ps(xs + 8 * k);
      amax8 = _mm256_max_ps(_mm256_andnot_ps(sign_bit, v[k]), amax8);
    }
    __m128 amax4 = _mm_max_ps(_mm256_castps256_ps128(amax8), _mm256_extractf128_ps(amax8, 1));
    amax4 = _mm_max_ps(amax4, _mm_movehl_ps(amax4, amax4));
    amax4 = _mm_max_ss(amax4, _mm_movehdup_ps(amax4));
    const float d = _mm_cvtss_f32(amax4) / 127.0f;
    const float inverse = d != 0.0f ? 1.0f / d : 0.0f;

    std::byte* block = dst + b * sizeof(BlockQ8_0);
    const std::uint16_t d_bits = f32_to_f16(d);
    std::memcpy(block + offsetof(BlockQ8_0, d), &d_bits, sizeof d_bits);

    __m256i q[4];
    for (int k = 0; k < 4; ++k) {
      __m256 scaled = _mm256_mul_ps(v[k], _mm256_set1_ps(inverse));
      scaled = _mm256_max_ps(scaled, _mm256_set1_ps(-128.0f));  // NaN -> -128 (second operand)
      scaled = _mm256_min_ps(scaled, _mm256_set1_ps(127.0f));
      q[k] = _mm256_cvttps_epi32(round_half_away_from_zero(scaled));
    }
    // packs works within 128-bit lanes; the permute restores element order.
    const __m256i words = _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]),
                                             _mm256_packs_epi32(q[2], q[3]));
    const __m256i ordered =
        _mm256_permutevar8x32_epi32(words, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(block + offsetof(BlockQ8_0, qs)), ordered);
  }
}

}  // namespace

DotKernels avx2_kernels(const DotKernels& below) {
  DotKernels k = below;
  k.level = IsaLevel::Avx2;
  k.f32 = plain_dot_rows<float>;
  k.f16 = plain_dot_rows<std::uint16_t>;
  k.q4_0 = q4_0_dot_rows<MaddubsInt8>;
  k.q8_0 = q8_0_dot_rows<MaddubsInt8>;
  k.quantize_q8_0 = quantize_q8_0_avx2;
  return k;
}

}  // namespace flux
