// AVX2 + FMA + F16C kernels (compiled with -mavx2 -mfma -mf16c; see CMakeLists.txt): Q4_0, Q4_1,
// Q8_0 and k-quant dot products through maddubs/madd, F32, F16 and BF16 through FMA on 8 float lanes,
// and the activation quantisers of quantize_avx2.cpp.

#include "kernels/dot_kernels.hpp"
#include "kernels/ops_x86.hpp"
#include "kernels/quantize_x86.hpp"
#include "kernels/x86_int8_table.hpp"
#include "tensor/quant.hpp"

namespace flux {
namespace {

// Products of plain rows are summed in float lanes (two accumulators per row to hide FMA
// latency); the reference sums them in double, hence the tolerance its tests allow.
// kType is F32, F16 or BF16 (weights and activations alike).
template <TensorType kType, int kRows>
void plain_row_group(const std::byte* w, std::size_t w_stride, const std::byte* x, float* out,
                     std::size_t n) {
  // Eight elements from p as floats.
  const auto load8 = [](const std::byte* p) {
    if constexpr (kType == TensorType::F32) {
      return _mm256_loadu_ps(reinterpret_cast<const float*>(p));
    } else if constexpr (kType == TensorType::F16) {
      return _mm256_cvtph_ps(load_128(p));
    } else {
      return widen_bf16(load_128(p));
    }
  };
  const auto load1 = [](const std::byte* p) {
    if constexpr (kType == TensorType::F32) {
      return load_f32(p);
    } else if constexpr (kType == TensorType::F16) {
      return load_f16(p);
    } else {
      std::uint16_t bits;
      std::memcpy(&bits, p, sizeof bits);
      return bf16_to_f32(bits);
    }
  };
  constexpr std::size_t kBytes = kType == TensorType::F32 ? 4 : 2;
  __m256 acc0[kRows];
  __m256 acc1[kRows];
  for (int r = 0; r < kRows; ++r) acc0[r] = acc1[r] = _mm256_setzero_ps();
  std::size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256 x0 = load8(x + i * kBytes);
    const __m256 x1 = load8(x + (i + 8) * kBytes);
    #pragma GCC unroll 4  // keeps acc0/acc1 in registers (x86_kernel_templates.hpp)
    for (int r = 0; r < kRows; ++r) {
      const std::byte* wr = w + static_cast<std::size_t>(r) * w_stride;
      acc0[r] = _mm256_fmadd_ps(load8(wr + i * kBytes), x0, acc0[r]);
      acc1[r] = _mm256_fmadd_ps(load8(wr + (i + 8) * kBytes), x1, acc1[r]);
    }
  }
  if (i + 8 <= n) {
    const __m256 x0 = load8(x + i * kBytes);
    #pragma GCC unroll 4  // keeps acc0/acc1 in registers (x86_kernel_templates.hpp)
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

template <TensorType kType>
void plain_dot_rows(const std::byte* w_rows, std::size_t w_stride, int n_w_rows,
                    const std::byte* x, float* out, std::int64_t n) {
  for_each_row_group(n_w_rows, [&](auto rows, int first) {
    plain_row_group<kType, decltype(rows)::value>(
        w_rows + static_cast<std::size_t>(first) * w_stride, w_stride, x, out + first,
        static_cast<std::size_t>(n));
  });
}

}  // namespace

DotKernels avx2_kernels(const DotKernels& below) {
  DotKernels k = below;
  k.level = IsaLevel::Avx2;
  k.f32 = plain_dot_rows<TensorType::F32>;
  k.f16 = plain_dot_rows<TensorType::F16>;
  k.bf16 = plain_dot_rows<TensorType::BF16>;
  set_int8_kernels<MaddubsInt8, Lanes8<MaddubsInt8>, Lanes8<MaddubsInt8>>(k);
  k.f16x8 = f16x8_dot_groups<Floats8, Floats8, TensorType::F16>;
  k.bf16x8 = f16x8_dot_groups<Floats8, Floats8, TensorType::BF16>;
  k.quantize_q8_0 = quantize_q8_0_avx2;
  k.quantize_q8_1 = quantize_q8_1_avx2;
  k.quantize_q8_k = quantize_q8_k_avx2;
  k.quantize_f16 = quantize_f16_avx2;
  k.quantize_bf16 = quantize_bf16_avx2;
  k.attend_head = attend_head_avx2;
  k.silu_mul = silu_mul_avx2;
  return k;
}

}  // namespace flux
