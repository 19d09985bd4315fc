// AVX-512 F/BW/VL/DQ kernels (compiled with those -m flags plus FMA/F16C; see CMakeLists.txt):
// F32, F16 and BF16 on 16 float lanes with masked tails, and the int8 kernels of the AVX2 level (Q4_0,
// Q4_1, Q8_0 and the k-quants) recompiled here, where the compiler may use 32 vector registers
// and EVEX encodings. The integer kernels stay on 256-bit lanes: a Q4_0/Q8_0 block is 32
// elements, and on Zen 4 a 512-bit op costs two 256-bit ones, so wider lanes would add shuffles
// and save nothing.

#include "kernels/dot_kernels.hpp"
#include "kernels/x86_int8_table.hpp"

namespace flux {
namespace {

// 16 bf16 values as floats (the top halves of f32s).
__m512 widen_bf16(__m256i halves) {
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(halves), 16));
}

// Sixteen elements (fewer where `mask` clears lanes; masked-off lanes are not read, so the tail
// never touches memory past the row).
template <TensorType kType>
__m512 load16(const std::byte* p, __mmask16 mask) {
  if constexpr (kType == TensorType::F32) {
    return _mm512_maskz_loadu_ps(mask, reinterpret_cast<const float*>(p));
  } else if constexpr (kType == TensorType::F16) {
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(mask, p));
  } else {
    return widen_bf16(_mm256_maskz_loadu_epi16(mask, p));
  }
}

// Sum of 16 lanes. (GCC 12's _mm512_reduce_add_ps trips -Wmaybe-uninitialized in its own
// header, so the halves are folded by hand.)
float horizontal_sum(__m512 v) {
  const __m512 upper = _mm512_shuffle_f32x4(v, v, 0xEE);
  return horizontal_sum(_mm256_add_ps(_mm512_castps512_ps256(v), _mm512_castps512_ps256(upper)));
}

// Float lanes with two accumulators per row, as the AVX2 version; see its comment.
template <TensorType kType, int kRows>
void plain_row_group(const std::byte* w, std::size_t w_stride, const std::byte* x, float* out,
                     std::size_t n) {
  constexpr std::size_t kBytes = kType == TensorType::F32 ? 4 : 2;
  constexpr __mmask16 kAll = 0xFFFF;
  __m512 acc0[kRows];
  __m512 acc1[kRows];
  for (int r = 0; r < kRows; ++r) acc0[r] = acc1[r] = _mm512_setzero_ps();
  std::size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    const __m512 x0 = load16<kType>(x + i * kBytes, kAll);
    const __m512 x1 = load16<kType>(x + (i + 16) * kBytes, kAll);
    #pragma GCC unroll 4  // keeps acc0/acc1 in registers (x86_kernel_templates.hpp)
    for (int r = 0; r < kRows; ++r) {
      const std::byte* wr = w + static_cast<std::size_t>(r) * w_stride;
      acc0[r] = _mm512_fmadd_ps(load16<kType>(wr + i * kBytes, kAll), x0, acc0[r]);
      acc1[r] = _mm512_fmadd_ps(load16<kType>(wr + (i + 16) * kBytes, kAll), x1, acc1[r]);
    }
  }
  for (; i < n; i += 16) {
    const std::size_t left = n - i;
    const auto mask = static_cast<__mmask16>(left >= 16 ? kAll : (1u << left) - 1u);
    const __m512 x0 = load16<kType>(x + i * kBytes, mask);
    #pragma GCC unroll 4  // keeps acc0/acc1 in registers (x86_kernel_templates.hpp)
    for (int r = 0; r < kRows; ++r) {
      const std::byte* wr = w + static_cast<std::size_t>(r) * w_stride;
      acc0[r] = _mm512_fmadd_ps(load16<kType>(wr + i * kBytes, mask), x0, acc0[r]);
    }
  }
  for (int r = 0; r < kRows; ++r) out[r] = horizontal_sum(_mm512_add_ps(acc0[r], acc1[r]));
}

template <TensorType kType>
void plain_dot_rows(const std::byte* w_rows, std::size_t w_stride, int n_w_rows,
                    const std::byte* x, float* out, std::int64_t n) {
  for_each_row_group(n_w_rows, [&](auto rows, int first) {
    plain_row_group<kType, decltype(rows)::value>(
        w_rows + static_cast<std::size_t>(first) * w_stride, w_stride, x, out + first,
        static_cast<std::size_t>(n));
  });
}

// F16 groups in 512-bit float vectors (AVX-512F; no VNNI needed): a chunk of 16 halves is one
// vector, and 3 activation rows per pass keep 24 accumulators in registers (measured on TinyLlama
// F16 pp256: 3 rows 126 tok/s, 2 rows 113).
struct Floats16 {
  using F = __m512;
  static constexpr int kFloats = 16;
  static constexpr int kPassRows = 3;
  static F load_halves(const std::byte* p) { return _mm512_cvtph_ps(load_256(p)); }
  static F load_bf16(const std::byte* p) { return widen_bf16(load_256(p)); }
  static F zero() { return _mm512_setzero_ps(); }
  static F fmadd(F a, F b, F c) { return _mm512_fmadd_ps(a, b, c); }
  static float sum(const F* parts) { return horizontal_sum(parts[0]); }  // adds its 256-bit halves first
};

}  // namespace

DotKernels avx512_kernels(const DotKernels& below) {
  DotKernels k = below;
  k.level = IsaLevel::Avx512;
  k.f32 = plain_dot_rows<TensorType::F32>;
  k.f16 = plain_dot_rows<TensorType::F16>;
  k.bf16 = plain_dot_rows<TensorType::BF16>;
  set_int8_kernels<MaddubsInt8, Lanes8<MaddubsInt8>, Lanes8<MaddubsInt8>>(k);
  k.f16x8 = f16x8_dot_groups<Floats16, Floats8, TensorType::F16>;
  k.bf16x8 = f16x8_dot_groups<Floats16, Floats8, TensorType::BF16>;
  k.attend_head = attend_head_avx512;
  return k;
}

}  // namespace flux
