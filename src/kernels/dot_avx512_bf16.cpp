// AVX-512 BF16 kernels (compiled with the AVX-512 flags plus -mavx512bf16; see CMakeLists.txt):
// BF16 weights against BF16 activations through vdpbf16ps, which multiplies pairs of bf16 values
// and adds both products into a float lane in one instruction: twice the multiply-adds of an FMA
// on widened values, and no widening at all.
//
// Products of two bf16 values are exact in float, so these kernels differ from the FMA path of
// the levels below only in the order of the additions and in vdpbf16ps' handling of denormals
// (inputs and results below 2^-126 count as zero, whatever MXCSR says). A row's result therefore
// stays within the tests' relative bound of the reference, and is the same whatever other rows or
// activation rows it was computed with.

#include "kernels/dot_kernels.hpp"
#include "kernels/x86_interleaved_templates.hpp"

namespace flux {
namespace {

constexpr std::size_t kHalfBytes = sizeof(std::uint16_t);

__m512bh as_bf16(__m512i v) { return (__m512bh)v; }

// Sum of the 8 lanes of a 256-bit half.
float sum_lanes(__m256 v) { return horizontal_sum(v); }
float sum_low_lanes(__m512 v) { return sum_lanes(_mm512_castps512_ps256(v)); }
float sum_high_lanes(__m512 v) {
  return sum_lanes(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
}

// Plain rows: 32 elements per vector, two accumulators per row (as the FMA kernels); the tail is
// a masked load whose cleared halves are zeros and add nothing.
template <int kRows>
void bf16_row_group(const std::byte* w, std::size_t w_stride, const std::byte* x, float* out,
                    std::size_t n) {
  constexpr std::size_t kStep = 32;
  __m512 acc0[kRows];
  __m512 acc1[kRows];
  for (int r = 0; r < kRows; ++r) acc0[r] = acc1[r] = _mm512_setzero_ps();
  const auto load = [](const std::byte* p) { return as_bf16(_mm512_loadu_si512(p)); };
  std::size_t i = 0;
  for (; i + 2 * kStep <= n; i += 2 * kStep) {
    const __m512bh x0 = load(x + i * kHalfBytes);
    const __m512bh x1 = load(x + (i + kStep) * kHalfBytes);
    #pragma GCC unroll 4  // keeps acc0/acc1 in registers (x86_kernel_templates.hpp)
    for (int r = 0; r < kRows; ++r) {
      const std::byte* wr = w + static_cast<std::size_t>(r) * w_stride;
      acc0[r] = _mm512_dpbf16_ps(acc0[r], load(wr + i * kHalfBytes), x0);
      acc1[r] = _mm512_dpbf16_ps(acc1[r], load(wr + (i + kStep) * kHalfBytes), x1);
    }
  }
  for (; i < n; i += kStep) {
    const std::size_t left = n - i;
    const auto mask = static_cast<__mmask32>(left >= kStep ? ~0u : (1u << left) - 1u);
    const auto load_masked = [&](const std::byte* p) {
      return as_bf16(_mm512_maskz_loadu_epi16(mask, p + i * kHalfBytes));
    };
    const __m512bh x0 = load_masked(x);
    #pragma GCC unroll 4
    for (int r = 0; r < kRows; ++r) {
      acc0[r] = _mm512_dpbf16_ps(acc0[r], load_masked(w + static_cast<std::size_t>(r) * w_stride), x0);
    }
  }
  for (int r = 0; r < kRows; ++r) {
    const __m512 sum = _mm512_add_ps(acc0[r], acc1[r]);
    out[r] = sum_low_lanes(sum) + sum_high_lanes(sum);
  }
}

void bf16_dot_rows(const std::byte* w_rows, std::size_t w_stride, int n_w_rows, const std::byte* x,
                   float* out, std::int64_t n) {
  for_each_row_group(n_w_rows, [&](auto rows, int first) {
    bf16_row_group<decltype(rows)::value>(w_rows + static_cast<std::size_t>(first) * w_stride,
                                          w_stride, x, out + first, static_cast<std::size_t>(n));
  });
}

// One interleaved group (tensor/interleaved.hpp: chunk k holds the 8 rows' 16-element chunks back
// to back) against kX activation rows. A 512-bit load takes two rows' chunks, so accumulator p
// holds row 2p in lanes 0-7 and row 2p + 1 in lanes 8-15, and the activation chunk is broadcast to
// both halves. Rows never share a lane, so a row's bits do not depend on kX.
template <int kX>
void bf16x8_group(const std::byte* group, std::size_t chunks, const GroupDotArgs& a, int first_x,
                  float* out) {
  constexpr std::size_t kChunkElements = 16;
  constexpr std::size_t kChunkBytes = kChunkElements * kHalfBytes;
  constexpr int kPairs = kInterleaveRows / 2;
  __m512 acc[kPairs][kX];
  for (int p = 0; p < kPairs; ++p)
    for (int j = 0; j < kX; ++j) acc[p][j] = _mm512_setzero_ps();
  const std::byte* x = a.x + static_cast<std::size_t>(first_x) * a.x_stride;
  for (std::size_t k = 0; k < chunks; ++k) {
    __m512bh xs[kX];
    for (int j = 0; j < kX; ++j)
      xs[j] = as_bf16(_mm512_broadcast_i64x4(load_256(x + static_cast<std::size_t>(j) * a.x_stride + k * kChunkBytes)));
    const std::byte* chunk = group + k * kInterleaveRows * kChunkBytes;
    // As the F16 kernel: the hardware prefetcher alone falls behind a stream this dense.
    for (std::size_t line = 0; line < kInterleaveRows * kChunkBytes; line += 64)
      _mm_prefetch(reinterpret_cast<const char*>(chunk + kPrefetchDistance + line), _MM_HINT_T0);
#pragma GCC unroll 4
    for (int p = 0; p < kPairs; ++p) {
      const __m512bh w = as_bf16(_mm512_loadu_si512(chunk + static_cast<std::size_t>(p) * 2 * kChunkBytes));
      for (int j = 0; j < kX; ++j) acc[p][j] = _mm512_dpbf16_ps(acc[p][j], w, xs[j]);
    }
  }
  for (int j = 0; j < kX; ++j) {
    float* row_out = out + static_cast<std::size_t>(j) * a.out_stride;
    for (int p = 0; p < kPairs; ++p) {
      row_out[2 * p] = sum_low_lanes(acc[p][j]);
      row_out[2 * p + 1] = sum_high_lanes(acc[p][j]);
    }
  }
}

// Activation rows 6 at a time (24 accumulators, 6 broadcasts and a weight vector fill the 32
// registers; matmul hands out chunks of 24 rows), then 4, 2 and 1.
void bf16x8_dot_groups(const GroupDotArgs& a) {
  constexpr std::size_t kChunkElements = 16;
  const std::size_t chunks = static_cast<std::size_t>(a.n) / kChunkElements;
  const std::size_t group_bytes = static_cast<std::size_t>(a.n) * kInterleaveRows * kHalfBytes;
  auto pass = [&](auto xs, int first_x) {
    for (int g = 0; g < a.n_groups; ++g)
      bf16x8_group<decltype(xs)::value>(
          a.groups + static_cast<std::size_t>(g) * group_bytes, chunks, a, first_x,
          a.out + static_cast<std::size_t>(first_x) * a.out_stride + static_cast<std::size_t>(g) * kInterleaveRows);
  };
  for_each_x_pass<6>(a.n_x, pass);
}

}  // namespace

DotKernels avx512_bf16_kernels(const DotKernels& below) {
  DotKernels k = below;
  k.level = IsaLevel::Avx512Bf16;
  k.bf16 = bf16_dot_rows;
  k.bf16x8 = bf16x8_dot_groups;
  return k;
}

}  // namespace flux
