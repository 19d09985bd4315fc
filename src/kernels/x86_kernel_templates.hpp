#pragma once
// Kernel templates shared by the per-ISA translation units (dot_avx2.cpp, dot_avx_vnni.cpp,
// dot_avx512.cpp, dot_avx512_vnni.cpp, dot_avx512_bf16.cpp). Only those files include this header,
// each compiled with its own -m flags.
//
// Everything here sits in an anonymous namespace on purpose: each including file gets its own
// copy, compiled for its own ISA. With external linkage the linker would keep one copy of each
// template instance (say, the AVX-512 one) for every caller, and an AVX2-only CPU would fault.
// For the same reason these kernels call no standard-library templates (std::array, std::span):
// an out-of-line copy of one, compiled with AVX-512 flags, could be the one the linker keeps.

#include "kernels/x86_math.hpp"  // first: it includes immintrin.h under GCC 12's warning fix

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "tensor/blocks.hpp"

namespace flux {
namespace {

// Weight rows processed together: each activation block is loaded once per group of this many
// rows. Four keeps the accumulators, the activation block and a weight block in registers.
// Kernels whose per-row body is long mark their row loop `#pragma GCC unroll 4` (a pragma, since
// the count must be a literal): GCC otherwise keeps acc[] in memory and issues one row's loads at
// a time, and a thread streaming Q4_K weights from DRAM ran at half the speed.
constexpr int kRowGroup = 4;

template <int kRows>
struct RowCount {
  static constexpr int value = kRows;
};

// Calls group(RowCount<R>{}, first_row) for consecutive groups of R <= kRowGroup rows covering
// [0, n_rows), so each group's row count is a compile-time constant the kernel unrolls over.
template <class Group>
void for_each_row_group(int n_rows, const Group& group) {
  int first = 0;
  for (; first + kRowGroup <= n_rows; first += kRowGroup) group(RowCount<kRowGroup>{}, first);
  switch (n_rows - first) {
    case 3: group(RowCount<3>{}, first); break;
    case 2: group(RowCount<2>{}, first); break;
    case 1: group(RowCount<1>{}, first); break;
    default: break;
  }
}

inline float load_f32(const std::byte* p) {
  float value;
  std::memcpy(&value, p, sizeof value);
  return value;
}

// Q4_0's (and Q4_1's) 16 packed bytes as 32 unsigned nibbles in element order: low nibbles are
// elements 0-15, high nibbles 16-31.
inline __m256i unpack_q4_nibbles(const std::byte* packed_qs) {
  const __m128i packed = load_128(packed_qs);
  const __m256i both = _mm256_set_m128i(_mm_srli_epi16(packed, 4), packed);
  return _mm256_and_si256(both, _mm256_set1_epi8(0x0F));
}

// Integer dot products of one 32-element block with AVX2's maddubs/madd. Exact for every int8
// input: Q4_0's nibbles are unsigned (<= 15), so u8 x s8 pairs never saturate the int16 sums, and
// the -8 offset is applied as -8 * sum(x) from the activation side; Q8_0 x Q8_0 sign-extends to
// int16 (maddubs' sign trick would overflow on -128 * -128).
struct MaddubsInt8 {
  struct Q4Activation {
    __m256i x;
    __m256i eight_x_sums;  // 8 * (sums of x over each group of four int32 lanes' elements)
  };
  static Q4Activation prepare_q4(__m256i x) {
    const __m256i pair_sums = _mm256_maddubs_epi16(_mm256_set1_epi8(1), x);
    const __m256i sums = _mm256_madd_epi16(pair_sums, _mm256_set1_epi16(1));
    return {x, _mm256_slli_epi32(sums, 3)};
  }
  // Lanes summing to dot(q - 8, x) for unsigned nibbles q.
  static __m256i dot_q4(__m256i nibbles, const Q4Activation& a) {
    const __m256i pairs = _mm256_maddubs_epi16(nibbles, a.x);
    return _mm256_sub_epi32(_mm256_madd_epi16(pairs, _mm256_set1_epi16(1)), a.eight_x_sums);
  }

  struct Q8Activation {
    __m256i low;   // elements 0-15 as int16
    __m256i high;  // elements 16-31 as int16
  };
  static Q8Activation prepare_q8(__m256i x) {
    return {_mm256_cvtepi8_epi16(_mm256_castsi256_si128(x)),
            _mm256_cvtepi8_epi16(_mm256_extracti128_si256(x, 1))};
  }
  // Lanes summing to dot(w, x) for the 32 int8 weights at w_qs.
  static __m256i dot_q8(const std::byte* w_qs, const Q8Activation& a) {
    const __m256i low = _mm256_cvtepi8_epi16(load_128(w_qs));
    const __m256i high = _mm256_cvtepi8_epi16(load_128(w_qs + 16));
    return _mm256_add_epi32(_mm256_madd_epi16(low, a.low), _mm256_madd_epi16(high, a.high));
  }

  // Lanes summing to dot(u, s) for unsigned u <= 127 (exact: a pair of products stays within
  // int16).
  static __m256i dot_u8s8(__m256i u, __m256i s) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
  }
  // acc plus dot_u8s8(u, s): int32 lane k gains the products of bytes 4k..4k+3.
  static __m256i add_u8s8(__m256i acc, __m256i u, __m256i s) { return _mm256_add_epi32(acc, dot_u8s8(u, s)); }
  // acc plus the products of int8 weights w (as prepare_s8 left them) and int8 s per group of
  // four bytes. maddubs wants one side unsigned, so |w| takes w's sign over to s (|-128| = 128 as
  // u8; a pair stays within int16; s is never -128, Q8 activations stay within +-127).
  // s8s8_bias(sum) is what the caller must start acc at for a block whose activation bytes sum
  // to `sum`: nothing here (VNNI's version biases w and needs -128 * sum).
  static __m256i prepare_s8(__m256i w) { return w; }
  static __m256i add_s8s8(__m256i acc, __m256i w, __m256i s) {
    return add_u8s8(acc, _mm256_abs_epi8(w), _mm256_sign_epi8(s, w));
  }
  static int s8s8_bias(int /*sum*/) { return 0; }
  // acc plus lanes summing scale * u * s, where the int16 lane i of `scales` weights the products
  // of elements 2i and 2i+1 (the k-quants' per-sub-block scales). Exact for u <= 63 and
  // |scale| <= 128: a scaled pair stays below 2^22.
  static __m256i add_scaled(__m256i acc, __m256i u, __m256i s, __m256i scales) {
    return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), scales));
  }
};

// Q4_0 x Q8_0 for kRows weight rows against one activation row: per block, the integer sums are
// exact and are scaled by d_w * d_x into float lanes, summed horizontally at the end.
template <class Int8, int kRows>
void q4_0_row_group(const std::byte* w, std::size_t w_stride, const std::byte* x, float* out,
                    std::size_t blocks) {
  __m256 acc[kRows];
  for (int r = 0; r < kRows; ++r) acc[r] = _mm256_setzero_ps();
  for (std::size_t b = 0; b < blocks; ++b) {
    const std::byte* xb = x + b * sizeof(BlockQ8_0);
    const typename Int8::Q4Activation act =
        Int8::prepare_q4(load_256(xb + offsetof(BlockQ8_0, qs)));
    const float dx = load_f16(xb + offsetof(BlockQ8_0, d));
    for (int r = 0; r < kRows; ++r) {
      const std::byte* wb = w + static_cast<std::size_t>(r) * w_stride + b * sizeof(BlockQ4_0);
      const __m256i sums = Int8::dot_q4(unpack_q4_nibbles(wb + offsetof(BlockQ4_0, qs)), act);
      const __m256 scale = _mm256_set1_ps(load_f16(wb + offsetof(BlockQ4_0, d)) * dx);
      acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sums), scale, acc[r]);
    }
  }
  for (int r = 0; r < kRows; ++r) out[r] = horizontal_sum(acc[r]);
}

template <class Int8, int kRows>
void q8_0_row_group(const std::byte* w, std::size_t w_stride, const std::byte* x, float* out,
                    std::size_t blocks) {
  __m256 acc[kRows];
  for (int r = 0; r < kRows; ++r) acc[r] = _mm256_setzero_ps();
  for (std::size_t b = 0; b < blocks; ++b) {
    const std::byte* xb = x + b * sizeof(BlockQ8_0);
    const typename Int8::Q8Activation act =
        Int8::prepare_q8(load_256(xb + offsetof(BlockQ8_0, qs)));
    const float dx = load_f16(xb + offsetof(BlockQ8_0, d));
    for (int r = 0; r < kRows; ++r) {
      const std::byte* wb = w + static_cast<std::size_t>(r) * w_stride + b * sizeof(BlockQ8_0);
      const __m256i sums = Int8::dot_q8(wb + offsetof(BlockQ8_0, qs), act);
      const __m256 scale = _mm256_set1_ps(load_f16(wb + offsetof(BlockQ8_0, d)) * dx);
      acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sums), scale, acc[r]);
    }
  }
  for (int r = 0; r < kRows; ++r) out[r] = horizontal_sum(acc[r]);
}

// Two adjacent f16 fields (Q4_1's d and m, Q8_1's d and s) as floats in lanes 0 and 1.
inline __m128 load_f16_pair(const std::byte* p) {
  std::uint32_t bits;
  std::memcpy(&bits, p, sizeof bits);
  return _mm_cvtph_ps(_mm_cvtsi32_si128(static_cast<int>(bits)));
}

// Q4_1 x Q8_1: as Q4_0, with the weight offset m applied through the activation block's
// s = d_x * sum(q_x). One multiply gives both d * d_x (lane 0, the block's scale) and m * s
// (lane 1, summed per row in its own lane and added at the end).
template <class Int8, int kRows>
void q4_1_row_group(const std::byte* w, std::size_t w_stride, const std::byte* x, float* out,
                    std::size_t blocks) {
  static_assert(offsetof(BlockQ4_1, m) == offsetof(BlockQ4_1, d) + 2);
  static_assert(offsetof(BlockQ8_1, s) == offsetof(BlockQ8_1, d) + 2);
  __m256 acc[kRows];
  __m128 offsets[kRows];
  for (int r = 0; r < kRows; ++r) {
    acc[r] = _mm256_setzero_ps();
    offsets[r] = _mm_setzero_ps();
  }
  for (std::size_t b = 0; b < blocks; ++b) {
    const std::byte* xb = x + b * sizeof(BlockQ8_1);
    const __m256i xq = load_256(xb + offsetof(BlockQ8_1, qs));
    const __m128 x_ds = load_f16_pair(xb + offsetof(BlockQ8_1, d));
#pragma GCC unroll 4
    for (int r = 0; r < kRows; ++r) {
      const std::byte* wb = w + static_cast<std::size_t>(r) * w_stride + b * sizeof(BlockQ4_1);
      const __m256i sums = Int8::dot_u8s8(unpack_q4_nibbles(wb + offsetof(BlockQ4_1, qs)), xq);
      const __m128 products = _mm_mul_ps(load_f16_pair(wb + offsetof(BlockQ4_1, d)), x_ds);
      acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sums), _mm256_broadcastss_ps(products), acc[r]);
      offsets[r] = _mm_add_ps(offsets[r], products);
    }
  }
  for (int r = 0; r < kRows; ++r) {
    out[r] = horizontal_sum(acc[r]) + _mm_cvtss_f32(_mm_movehdup_ps(offsets[r]));
  }
}

template <class Int8>
void q4_0_dot_rows(const std::byte* w_rows, std::size_t w_stride, int n_w_rows,
                   const std::byte* x, float* out, std::int64_t n) {
  const auto blocks = static_cast<std::size_t>(n) / kQK4_0;
  for_each_row_group(n_w_rows, [&](auto rows, int first) {
    q4_0_row_group<Int8, decltype(rows)::value>(w_rows + static_cast<std::size_t>(first) * w_stride,
                                        w_stride, x, out + first, blocks);
  });
}

template <class Int8>
void q8_0_dot_rows(const std::byte* w_rows, std::size_t w_stride, int n_w_rows,
                   const std::byte* x, float* out, std::int64_t n) {
  const auto blocks = static_cast<std::size_t>(n) / kQK8_0;
  for_each_row_group(n_w_rows, [&](auto rows, int first) {
    q8_0_row_group<Int8, decltype(rows)::value>(w_rows + static_cast<std::size_t>(first) * w_stride,
                                        w_stride, x, out + first, blocks);
  });
}

template <class Int8>
void q4_1_dot_rows(const std::byte* w_rows, std::size_t w_stride, int n_w_rows,
                   const std::byte* x, float* out, std::int64_t n) {
  const auto blocks = static_cast<std::size_t>(n) / kQK4_1;
  for_each_row_group(n_w_rows, [&](auto rows, int first) {
    q4_1_row_group<Int8, decltype(rows)::value>(w_rows + static_cast<std::size_t>(first) * w_stride,
                                        w_stride, x, out + first, blocks);
  });
}

// Several activation rows at once (batched decode and prefill): each weight block is loaded and
// unpacked once for up to kMaxActivationRows activation rows. Every (weight row, activation row)
// pair goes through exactly the operations of the one-row kernels above, in the same order, so
// its result is the same bit for bit: batching never changes a sequence's numbers.
constexpr int kMaxActivationRows = 4;
constexpr int kTileWeightRows = 2;  // 2 x 4 accumulators, activations and a weight in registers

template <class Int8, int kRows, int kX>
void q4_0_tile(const std::byte* w, std::size_t w_stride, const std::byte* x, std::size_t x_stride, float* out,
               std::size_t out_stride, std::size_t blocks) {
  __m256 acc[kRows][kX];
  for (int r = 0; r < kRows; ++r)
    for (int j = 0; j < kX; ++j) acc[r][j] = _mm256_setzero_ps();
  for (std::size_t b = 0; b < blocks; ++b) {
    typename Int8::Q4Activation act[kX];
    float dx[kX];
    for (int j = 0; j < kX; ++j) {
      const std::byte* xb = x + static_cast<std::size_t>(j) * x_stride + b * sizeof(BlockQ8_0);
      act[j] = Int8::prepare_q4(load_256(xb + offsetof(BlockQ8_0, qs)));
      dx[j] = load_f16(xb + offsetof(BlockQ8_0, d));
    }
    for (int r = 0; r < kRows; ++r) {
      const std::byte* wb = w + static_cast<std::size_t>(r) * w_stride + b * sizeof(BlockQ4_0);
      const __m256i nibbles = unpack_q4_nibbles(wb + offsetof(BlockQ4_0, qs));
      const float dw = load_f16(wb + offsetof(BlockQ4_0, d));
      for (int j = 0; j < kX; ++j) {
        const __m256i sums = Int8::dot_q4(nibbles, act[j]);
        acc[r][j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sums), _mm256_set1_ps(dw * dx[j]), acc[r][j]);
      }
    }
  }
  for (int r = 0; r < kRows; ++r)
    for (int j = 0; j < kX; ++j) out[static_cast<std::size_t>(j) * out_stride + static_cast<std::size_t>(r)] = horizontal_sum(acc[r][j]);
}

template <class Int8, int kRows, int kX>
void q8_0_tile(const std::byte* w, std::size_t w_stride, const std::byte* x, std::size_t x_stride, float* out,
               std::size_t out_stride, std::size_t blocks) {
  __m256 acc[kRows][kX];
  for (int r = 0; r < kRows; ++r)
    for (int j = 0; j < kX; ++j) acc[r][j] = _mm256_setzero_ps();
  for (std::size_t b = 0; b < blocks; ++b) {
    typename Int8::Q8Activation act[kX];
    float dx[kX];
    for (int j = 0; j < kX; ++j) {
      const std::byte* xb = x + static_cast<std::size_t>(j) * x_stride + b * sizeof(BlockQ8_0);
      act[j] = Int8::prepare_q8(load_256(xb + offsetof(BlockQ8_0, qs)));
      dx[j] = load_f16(xb + offsetof(BlockQ8_0, d));
    }
    for (int r = 0; r < kRows; ++r) {
      const std::byte* wb = w + static_cast<std::size_t>(r) * w_stride + b * sizeof(BlockQ8_0);
      const float dw = load_f16(wb + offsetof(BlockQ8_0, d));
      for (int j = 0; j < kX; ++j) {
        const __m256i sums = Int8::dot_q8(wb + offsetof(BlockQ8_0, qs), act[j]);
        acc[r][j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sums), _mm256_set1_ps(dw * dx[j]), acc[r][j]);
      }
    }
  }
  for (int r = 0; r < kRows; ++r)
    for (int j = 0; j < kX; ++j) out[static_cast<std::size_t>(j) * out_stride + static_cast<std::size_t>(r)] = horizontal_sum(acc[r][j]);
}

// Calls tile(RowCount<R>{}, RowCount<X>{}, first_w, first_x) over [0, n_w) x [0, n_x) in tiles of
// at most kTileWeightRows x kMaxActivationRows, with compile-time sizes.
template <class Tile>
void for_each_tile(int n_w, int n_x, const Tile& tile) {
  auto with_x = [&](auto rows, int first_w) {
    int first_x = 0;
    for (; first_x + kMaxActivationRows <= n_x; first_x += kMaxActivationRows)
      tile(rows, RowCount<kMaxActivationRows>{}, first_w, first_x);
    switch (n_x - first_x) {
      case 3: tile(rows, RowCount<3>{}, first_w, first_x); break;
      case 2: tile(rows, RowCount<2>{}, first_w, first_x); break;
      case 1: tile(rows, RowCount<1>{}, first_w, first_x); break;
      default: break;
    }
  };
  int first_w = 0;
  for (; first_w + kTileWeightRows <= n_w; first_w += kTileWeightRows) with_x(RowCount<kTileWeightRows>{}, first_w);
  if (first_w < n_w) with_x(RowCount<1>{}, first_w);
}

template <class Int8>
void q4_0_dot_tile(const std::byte* w_rows, std::size_t w_stride, int n_w_rows, const std::byte* x_rows,
                   std::size_t x_stride, int n_x_rows, float* out, std::size_t out_stride, std::int64_t n) {
  const auto blocks = static_cast<std::size_t>(n) / kQK4_0;
  for_each_tile(n_w_rows, n_x_rows, [&](auto rows, auto xs, int first_w, int first_x) {
    q4_0_tile<Int8, decltype(rows)::value, decltype(xs)::value>(
        w_rows + static_cast<std::size_t>(first_w) * w_stride, w_stride,
        x_rows + static_cast<std::size_t>(first_x) * x_stride, x_stride,
        out + static_cast<std::size_t>(first_x) * out_stride + static_cast<std::size_t>(first_w), out_stride, blocks);
  });
}

template <class Int8>
void q8_0_dot_tile(const std::byte* w_rows, std::size_t w_stride, int n_w_rows, const std::byte* x_rows,
                   std::size_t x_stride, int n_x_rows, float* out, std::size_t out_stride, std::int64_t n) {
  const auto blocks = static_cast<std::size_t>(n) / kQK8_0;
  for_each_tile(n_w_rows, n_x_rows, [&](auto rows, auto xs, int first_w, int first_x) {
    q8_0_tile<Int8, decltype(rows)::value, decltype(xs)::value>(
        w_rows + static_cast<std::size_t>(first_w) * w_stride, w_stride,
        x_rows + static_cast<std::size_t>(first_x) * x_stride, x_stride,
        out + static_cast<std::size_t>(first_x) * out_stride + static_cast<std::size_t>(first_w), out_stride, blocks);
  });
}

}  // namespace
}  // namespace flux
