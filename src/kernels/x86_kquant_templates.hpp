#pragma once
// Q4_K, Q5_K and Q6_K x Q8_K dot products, shared by the per-ISA translation units like the
// kernels of x86_kernel_templates.hpp (and under the same rules: anonymous namespace, no
// standard-library templates; see that header).
//
// Each kernel takes an `Int8` policy (MaddubsInt8 for AVX2 / AVX-512, VnniInt8 for VNNI) with
// add_scaled(acc, u, s, scales): acc + sum of scale * u * s over pairs of elements. Per super-block
// of 256 the integer sum is exact (int32), then scaled once by d_w * d_x into eight float lanes,
// as the reference does; only the partition of the integer sum into lanes differs from it, so
// results agree with the reference to a few float roundings per super-block.
//
// Batch invariance: a row's operations never depend on the other rows of its group or on the
// group's size, so a row's result is the same whatever n_w_rows it was computed with.

#include "kernels/x86_kernel_templates.hpp"

namespace flux {
namespace {

inline float horizontal_sum(__m128 v) {
  const __m128 pair = _mm_add_ps(v, _mm_movehl_ps(v, v));
  return _mm_cvtss_f32(_mm_add_ss(pair, _mm_movehdup_ps(pair)));
}

// Int16 lane j of each 128-bit half of v, repeated across that half (j < 8): picks one
// sub-block's scale for a whole madd.
template <int kLane>
__m256i broadcast_i16(__m256i v) {
  constexpr short kPair = static_cast<short>(0x0100 + 0x0202 * kLane);
  return _mm256_shuffle_epi8(v, _mm256_set1_epi16(kPair));
}

// Q4_K / Q5_K's twelve packed bytes (layout at unpack_scale_min_k4 in blocks.hpp) as 8 int16
// scales and 8 int16 mins. Working on the bytes four at a time: scales/mins 0-3 are the low six
// bits of bytes 0-3 / 4-7; 4-7 take their low four bits from the nibbles of bytes 8-11 and their
// top two from bits 6-7 of bytes 0-3 / 4-7 (shifted right by 2 and masked to bits 4-5).
struct KScalesMins {
  __m128i scales;
  __m128i mins;
};
inline KScalesMins unpack_k4_scales_mins(const std::byte* packed) {
  std::uint32_t words[3];
  std::memcpy(words, packed, sizeof words);
  const std::uint32_t scales_low = words[0] & 0x3F3F3F3Fu;
  const std::uint32_t mins_low = words[1] & 0x3F3F3F3Fu;
  const std::uint32_t scales_high = (words[2] & 0x0F0F0F0Fu) | ((words[0] >> 2) & 0x30303030u);
  const std::uint32_t mins_high = ((words[2] >> 4) & 0x0F0F0F0Fu) | ((words[1] >> 2) & 0x30303030u);
  const __m128i bytes =
      _mm_setr_epi32(static_cast<int>(scales_low), static_cast<int>(scales_high),
                     static_cast<int>(mins_low), static_cast<int>(mins_high));
  return {_mm_cvtepu8_epi16(bytes), _mm_cvtepu8_epi16(_mm_srli_si128(bytes, 8))};
}

// Moves bit kBit of every byte of h to bit 4 (value 16), clearing the rest: Q5_K's fifth bit.
template <int kBit>
__m256i fifth_bit(__m256i h) {
  // 16-bit shifts carry bits across the byte boundary, but never into bit 4 of either byte.
  if constexpr (kBit <= 4) {
    return _mm256_and_si256(_mm256_slli_epi16(h, 4 - kBit), _mm256_set1_epi8(0x10));
  } else {
    return _mm256_and_si256(_mm256_srli_epi16(h, kBit - 4), _mm256_set1_epi8(0x10));
  }
}

// Integer sums of one super-block in two accumulators, so that consecutive multiply-adds (four
// cycles of latency each for vpdpwssd) do not wait on each other; added together at the end.
struct SplitSums {
  __m256i even = _mm256_setzero_si256();
  __m256i odd = _mm256_setzero_si256();
  __m256i total() const { return _mm256_add_epi32(even, odd); }
};

// One 64-element chunk c of a Q4_K / Q5_K super-block: low nibbles are sub-block 2c, high
// nibbles sub-block 2c + 1, each with its own scale.
template <class Int8, bool kFifthBit, int kChunk>
void add_affine_k_chunk(SplitSums& sums, const std::byte* qs, __m256i high_bits, __m256i scales,
                        const std::byte* xq) {
  const __m256i packed = load_256(qs + 32 * kChunk);
  const __m256i low_nibbles = _mm256_set1_epi8(0x0F);
  __m256i low = _mm256_and_si256(packed, low_nibbles);
  __m256i high = _mm256_and_si256(_mm256_srli_epi16(packed, 4), low_nibbles);
  if constexpr (kFifthBit) {
    low = _mm256_or_si256(low, fifth_bit<2 * kChunk>(high_bits));
    high = _mm256_or_si256(high, fifth_bit<2 * kChunk + 1>(high_bits));
  }
  sums.even = Int8::add_scaled(sums.even, low, load_256(xq + 64 * kChunk),
                               broadcast_i16<2 * kChunk>(scales));
  sums.odd = Int8::add_scaled(sums.odd, high, load_256(xq + 64 * kChunk + 32),
                              broadcast_i16<2 * kChunk + 1>(scales));
}

// Q4_K (kFifthBit false) or Q5_K (true) x Q8_K for kRows weight rows. The mins term
// dmin * d_x * sum_j min_j * (sum of sub-block j's activation quants) uses Q8_K's bsums, in four
// float lanes per row beside the eight of the main sum.
template <class Int8, class Block, bool kFifthBit, int kRows>
void affine_k_row_group(const std::byte* w, std::size_t w_stride, const std::byte* x, float* out,
                        std::size_t blocks) {
  __m256 acc[kRows];
  __m128 acc_mins[kRows];
  for (int r = 0; r < kRows; ++r) {
    acc[r] = _mm256_setzero_ps();
    acc_mins[r] = _mm_setzero_ps();
  }
  for (std::size_t b = 0; b < blocks; ++b) {
    const std::byte* xb = x + b * sizeof(BlockQ8_K);
    const std::byte* xq = xb + offsetof(BlockQ8_K, qs);
    const float dx = load_f32(xb + offsetof(BlockQ8_K, d));
    // Sums over sub-blocks of 32 (pairs of bsums), below 2 * 16 * 128 so int16 holds them.
    const __m128i sub_block_sums = _mm_hadd_epi16(load_128(xb + offsetof(BlockQ8_K, bsums)),
                                                  load_128(xb + offsetof(BlockQ8_K, bsums) + 16));
#pragma GCC unroll 4
    for (int r = 0; r < kRows; ++r) {
      const std::byte* wb = w + static_cast<std::size_t>(r) * w_stride + b * sizeof(Block);
      const KScalesMins sm = unpack_k4_scales_mins(wb + offsetof(Block, scales));
      const __m256i scales = _mm256_broadcastsi128_si256(sm.scales);
      const std::byte* qs = wb + offsetof(Block, qs);
      __m256i high_bits = _mm256_setzero_si256();
      if constexpr (kFifthBit) high_bits = load_256(wb + offsetof(Block, qh));
      SplitSums sums;
      add_affine_k_chunk<Int8, kFifthBit, 0>(sums, qs, high_bits, scales, xq);
      add_affine_k_chunk<Int8, kFifthBit, 1>(sums, qs, high_bits, scales, xq);
      add_affine_k_chunk<Int8, kFifthBit, 2>(sums, qs, high_bits, scales, xq);
      add_affine_k_chunk<Int8, kFifthBit, 3>(sums, qs, high_bits, scales, xq);
      const __m256 d = _mm256_set1_ps(load_f16(wb + offsetof(Block, d)) * dx);
      acc[r] = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(sums.total()), acc[r]);
      const __m128i mins = _mm_madd_epi16(sm.mins, sub_block_sums);
      const __m128 dmin = _mm_set1_ps(load_f16(wb + offsetof(Block, dmin)) * dx);
      acc_mins[r] = _mm_fmadd_ps(dmin, _mm_cvtepi32_ps(mins), acc_mins[r]);
    }
  }
  for (int r = 0; r < kRows; ++r) out[r] = horizontal_sum(acc[r]) - horizontal_sum(acc_mins[r]);
}

// Q6_K's sixteen int8 scales as int16, evens (sub-blocks 0, 2, .., 14) in the low 128-bit half
// and odds in the high half: broadcast_i16<k> then gives the scales of a 32-element chunk k,
// whose first 16 elements (low half of maddubs' output) are sub-block 2k and last 16 are 2k + 1.
inline __m256i q6_k_chunk_scales(const std::byte* scales) {
  const __m128i evens_then_odds =
      _mm_setr_epi8(0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15);
  return _mm256_cvtepi8_epi16(_mm_shuffle_epi8(load_128(scales), evens_then_odds));
}

// Quants 0..63 of one 128-element half of a Q6_K block (layout in blocks.hpp), as four chunks of
// 32 in element order: low 4 bits from ql's nibbles, top 2 from successive bit pairs of qh, moved
// to bits 4-5.
template <class Int8, int kHalf>
void add_q6_k_half(SplitSums& sums, const std::byte* wb, __m256i scales, const std::byte* xq) {
  const std::byte* ql = wb + offsetof(BlockQ6_K, ql) + 64 * kHalf;
  const __m256i ql0 = load_256(ql);
  const __m256i ql1 = load_256(ql + 32);
  const __m256i qh = load_256(wb + offsetof(BlockQ6_K, qh) + 32 * kHalf);
  const __m256i low4 = _mm256_set1_epi8(0x0F);
  const __m256i top2 = _mm256_set1_epi8(0x30);
  const __m256i q0 = _mm256_or_si256(_mm256_and_si256(ql0, low4),
                                     _mm256_and_si256(_mm256_slli_epi16(qh, 4), top2));
  const __m256i q1 = _mm256_or_si256(_mm256_and_si256(ql1, low4),
                                     _mm256_and_si256(_mm256_slli_epi16(qh, 2), top2));
  const __m256i q2 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), low4),
                                     _mm256_and_si256(qh, top2));
  const __m256i q3 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), low4),
                                     _mm256_and_si256(_mm256_srli_epi16(qh, 2), top2));
  const std::byte* x = xq + 128 * kHalf;
  sums.even = Int8::add_scaled(sums.even, q0, load_256(x), broadcast_i16<4 * kHalf>(scales));
  sums.odd = Int8::add_scaled(sums.odd, q1, load_256(x + 32), broadcast_i16<4 * kHalf + 1>(scales));
  sums.even =
      Int8::add_scaled(sums.even, q2, load_256(x + 64), broadcast_i16<4 * kHalf + 2>(scales));
  sums.odd = Int8::add_scaled(sums.odd, q3, load_256(x + 96), broadcast_i16<4 * kHalf + 3>(scales));
}

// Q6_K x Q8_K for kRows weight rows. The quants are used unsigned (0..63, as maddubs needs) and
// the -32 offset is applied once per super-block as -32 * sum_j scale_j * bsums_j.
template <class Int8, int kRows>
void q6_k_row_group(const std::byte* w, std::size_t w_stride, const std::byte* x, float* out,
                    std::size_t blocks) {
  __m256 acc[kRows];
  for (int r = 0; r < kRows; ++r) acc[r] = _mm256_setzero_ps();
  for (std::size_t b = 0; b < blocks; ++b) {
    const std::byte* xb = x + b * sizeof(BlockQ8_K);
    const std::byte* xq = xb + offsetof(BlockQ8_K, qs);
    const float dx = load_f32(xb + offsetof(BlockQ8_K, d));
    // bsums in the same evens-then-odds order as the scales, so madd pairs each with its own.
    const __m256i bsums = _mm256_permute4x64_epi64(
        _mm256_shuffle_epi8(load_256(xb + offsetof(BlockQ8_K, bsums)),
                            _mm256_setr_epi8(0, 1, 4, 5, 8, 9, 12, 13, 2, 3, 6, 7, 10, 11, 14, 15,
                                             0, 1, 4, 5, 8, 9, 12, 13, 2, 3, 6, 7, 10, 11, 14, 15)),
        0xD8);
#pragma GCC unroll 4
    for (int r = 0; r < kRows; ++r) {
      const std::byte* wb = w + static_cast<std::size_t>(r) * w_stride + b * sizeof(BlockQ6_K);
      const __m256i scales = q6_k_chunk_scales(wb + offsetof(BlockQ6_K, scales));
      const __m256i offset = _mm256_madd_epi16(scales, bsums);
      SplitSums sums;
      sums.even = _mm256_sub_epi32(sums.even, _mm256_slli_epi32(offset, 5));
      add_q6_k_half<Int8, 0>(sums, wb, scales, xq);
      add_q6_k_half<Int8, 1>(sums, wb, scales, xq);
      const __m256 d = _mm256_set1_ps(load_f16(wb + offsetof(BlockQ6_K, d)) * dx);
      acc[r] = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(sums.total()), acc[r]);
    }
  }
  for (int r = 0; r < kRows; ++r) out[r] = horizontal_sum(acc[r]);
}

template <class Int8>
void q4_k_dot_rows(const std::byte* w_rows, std::size_t w_stride, int n_w_rows,
                   const std::byte* x, float* out, std::int64_t n) {
  const auto blocks = static_cast<std::size_t>(n) / kQK_K;
  for_each_row_group(n_w_rows, [&](auto rows, int first) {
    affine_k_row_group<Int8, BlockQ4_K, false, decltype(rows)::value>(
        w_rows + static_cast<std::size_t>(first) * w_stride, w_stride, x, out + first, blocks);
  });
}

template <class Int8>
void q5_k_dot_rows(const std::byte* w_rows, std::size_t w_stride, int n_w_rows,
                   const std::byte* x, float* out, std::int64_t n) {
  const auto blocks = static_cast<std::size_t>(n) / kQK_K;
  for_each_row_group(n_w_rows, [&](auto rows, int first) {
    affine_k_row_group<Int8, BlockQ5_K, true, decltype(rows)::value>(
        w_rows + static_cast<std::size_t>(first) * w_stride, w_stride, x, out + first, blocks);
  });
}

template <class Int8>
void q6_k_dot_rows(const std::byte* w_rows, std::size_t w_stride, int n_w_rows,
                   const std::byte* x, float* out, std::int64_t n) {
  const auto blocks = static_cast<std::size_t>(n) / kQK_K;
  for_each_row_group(n_w_rows, [&](auto rows, int first) {
    q6_k_row_group<Int8, decltype(rows)::value>(
        w_rows + static_cast<std::size_t>(first) * w_stride, w_stride, x, out + first, blocks);
  });
}

}  // namespace
}  // namespace flux
