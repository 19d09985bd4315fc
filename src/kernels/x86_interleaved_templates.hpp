#pragma once
// Kernels for weights in the interleaved layout (tensor/interleaved.hpp), shared by the per-ISA
// translation units like x86_kernel_templates.hpp (whose rules about anonymous namespaces and
// standard-library templates apply here too).
//
// Int32 lane r of a vector belongs to weight row r of a group, so a block's integer dot products
// for a group's 8 rows come out of 8 multiply-adds against activation bytes broadcast to all
// lanes, and are scaled and accumulated in float lane r: no shuffles and no horizontal sums.
//
// The kernels are written once over a vector type V: Lanes8 holds one group in 256 bits;
// x86_interleaved_avx512.hpp's Lanes16Vnni holds two consecutive groups in 512 bits. Every lane goes
// through the same operations in either, and whatever the number of activation rows, so a
// (weight row, activation row) pair gets the same bits in every batch.

#include "kernels/dot_kernels.hpp"
#include "kernels/x86_kernel_templates.hpp"
#include "tensor/interleaved.hpp"

namespace flux {
namespace {


constexpr std::size_t kFieldBytes = kInterleaveRows * sizeof(std::uint16_t);  // one f16 field of 8 rows

inline std::int32_t load_i32(const std::byte* p) {
  std::int32_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// One group of 8 rows per 256-bit vector; Int8 supplies the byte multiply-adds (x86_kernel_templates.hpp).
template <class Int8>
struct Lanes8 {
  using I = __m256i;
  using F = __m256;
  static constexpr int kGroups = 1;
  // Activation rows per pass over a group's blocks: their accumulators, the unpacked weights and
  // the broadcasts fit in AVX2's 16 vector registers.
  static constexpr int kPassRows = 4;

  // The 32 bytes at `offset` of the current block of each group.
  static I load(const std::byte* const* blocks, std::size_t offset) { return load_256(blocks[0] + offset); }
  // The 8 f16 values at `offset` of each group's block, as floats.
  static F load_halves(const std::byte* const* blocks, std::size_t offset) {
    return _mm256_cvtph_ps(load_128(blocks[0] + offset));
  }
  static I low_nibbles(I packed) { return _mm256_and_si256(packed, _mm256_set1_epi8(0x0F)); }
  static I high_nibbles(I packed) { return low_nibbles(_mm256_srli_epi16(packed, 4)); }
  static I splat_i32(std::int32_t v) { return _mm256_set1_epi32(v); }
  static F splat_f32(float v) { return _mm256_set1_ps(v); }
  static I zero_i() { return _mm256_setzero_si256(); }
  static F zero_f() { return _mm256_setzero_ps(); }
  static I add_u8s8(I acc, I u, I s) { return Int8::add_u8s8(acc, u, s); }
  static I prepare_s8(I w) { return Int8::prepare_s8(w); }
  static I add_s8s8(I acc, I w, I s) { return Int8::add_s8s8(acc, w, s); }
  static std::int32_t s8s8_bias(std::int32_t sum) { return Int8::s8s8_bias(sum); }
  static I add_i(I a, I b) { return _mm256_add_epi32(a, b); }
  static I mul_i(I a, I b) { return _mm256_mullo_epi32(a, b); }
  static I and_i(I a, std::int32_t mask) { return _mm256_and_si256(a, _mm256_set1_epi32(mask)); }
  static I or_i(I a, I b) { return _mm256_or_si256(a, b); }
  template <int kBits>
  static I shift_left(I a) { return _mm256_slli_epi32(a, kBits); }
  template <int kBits>
  static I shift_right(I a) { return _mm256_srli_epi32(a, kBits); }
  static I shift_right_by(I a, int bits) { return _mm256_srl_epi32(a, _mm_cvtsi32_si128(bits)); }
  // The 8 bytes at `offset` of each group's block, one per int32 lane.
  static I load_bytes(const std::byte* const* blocks, std::size_t offset) {
    return _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(blocks[0] + offset)));
  }
  // The same for signed bytes.
  static I load_signed_bytes(const std::byte* const* blocks, std::size_t offset) {
    return _mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(blocks[0] + offset)));
  }
  // The 32-bit word at `offset` of each group's block, shifted right by 4r in lane r: nibble r
  // of the word lands in the low bits of lane r.
  static I load_row_nibbles(const std::byte* const* blocks, std::size_t offset) {
    return _mm256_srlv_epi32(_mm256_set1_epi32(load_i32(blocks[0] + offset)), _mm256_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28));
  }
  static F to_float(I v) { return _mm256_cvtepi32_ps(v); }
  static F mul(F a, F b) { return _mm256_mul_ps(a, b); }
  static F add_f(F a, F b) { return _mm256_add_ps(a, b); }
  static F fmadd(F a, F b, F c) { return _mm256_fmadd_ps(a, b, c); }
  static F fnmadd(F a, F b, F c) { return _mm256_fnmadd_ps(a, b, c); }
  static void store(float* out, F v) { _mm256_storeu_ps(out, v); }
};

// The activation block of row j of the current pass.
inline const std::byte* activation_block(const GroupDotArgs& a, int first_x, int j, std::size_t b,
                                         std::size_t block_bytes) {
  return a.x + static_cast<std::size_t>(first_x + j) * a.x_stride + b * block_bytes;
}

inline std::int32_t activation_sum(const GroupDotArgs& a, int first_x, int j, std::size_t b) {
  return a.x_sums[static_cast<std::size_t>(first_x + j) * a.sums_stride + b];
}

inline float activation_scale(const GroupDotArgs& a, int first_x, int j, std::size_t b) {
  return a.x_scales[static_cast<std::size_t>(first_x + j) * a.sums_stride + b];
}

// The 4 chunks of a Q4 block at `offset` of each group's block, unpacked: low[c] holds
// elements 4c..4c+3 of every row, high[c] elements 16 + 4c..16 + 4c + 3.
template <class V>
void unpack_q4_chunks(const std::byte* const* gb, std::size_t offset, typename V::I* low, typename V::I* high) {
  for (int c = 0; c < 4; ++c) {
    const typename V::I packed = V::load(gb, offset + 32 * static_cast<std::size_t>(c));
    low[c] = V::low_nibbles(packed);
    high[c] = V::high_nibbles(packed);
  }
}

// start + the integer dot products of one block of unpacked nibbles with the 32 activation bytes
// at xq, in two chains (elements 0-15 and 16-31) to halve the dependent multiply-adds.
template <class V>
typename V::I dot_q4_block(const typename V::I* low, const typename V::I* high, const std::byte* xq,
                           typename V::I start) {
  typename V::I sum_low = start;
  typename V::I sum_high = V::zero_i();
  for (int c = 0; c < 4; ++c) {
    sum_low = V::add_u8s8(sum_low, low[c], V::splat_i32(load_i32(xq + 4 * c)));
    sum_high = V::add_u8s8(sum_high, high[c], V::splat_i32(load_i32(xq + 16 + 4 * c)));
  }
  return V::add_i(sum_low, sum_high);
}

// Q4_0 groups against kX activation rows. The -8 offset of Q4_0's nibbles enters as the
// accumulator's start, -8 * sum(x), so the unsigned nibbles multiply the activations directly.
template <class V, int kX>
void q4_0x8_groups(const std::byte* const* groups, std::size_t blocks, const GroupDotArgs& a, int first_x, float* out) {
  constexpr std::size_t kBlockBytes = kInterleaveRows * sizeof(BlockQ4_0);
  typename V::F acc[kX];
  for (int j = 0; j < kX; ++j) acc[j] = V::zero_f();
  for (std::size_t b = 0; b < blocks; ++b) {
    const std::byte* gb[V::kGroups];
    for (int g = 0; g < V::kGroups; ++g) gb[g] = groups[g] + b * kBlockBytes;
    const typename V::F dw = V::load_halves(gb, 0);
    typename V::I low[4];
    typename V::I high[4];
    unpack_q4_chunks<V>(gb, kFieldBytes, low, high);
#pragma GCC unroll 8
    for (int j = 0; j < kX; ++j) {
      const std::byte* xb = activation_block(a, first_x, j, b, sizeof(BlockQ8_0));
      const typename V::I sums = dot_q4_block<V>(low, high, xb + offsetof(BlockQ8_0, qs),
                                                 V::splat_i32(-8 * activation_sum(a, first_x, j, b)));
      const typename V::F scale = V::mul(dw, V::splat_f32(activation_scale(a, first_x, j, b)));
      acc[j] = V::fmadd(V::to_float(sums), scale, acc[j]);
    }
  }
  for (int j = 0; j < kX; ++j) V::store(out + static_cast<std::size_t>(j) * a.out_stride, acc[j]);
}

// Q4_1 groups against kX Q8_1 activation rows. The weights' offsets m enter per block as m * s,
// with s = d_x * sum(x) stored in the activation block, accumulated in float lanes of their own
// and added at the end.
template <class V, int kX>
void q4_1x8_groups(const std::byte* const* groups, std::size_t blocks, const GroupDotArgs& a, int first_x, float* out) {
  constexpr std::size_t kBlockBytes = kInterleaveRows * sizeof(BlockQ4_1);
  typename V::F acc[kX];
  typename V::F offsets[kX];
  for (int j = 0; j < kX; ++j) acc[j] = offsets[j] = V::zero_f();
  for (std::size_t b = 0; b < blocks; ++b) {
    const std::byte* gb[V::kGroups];
    for (int g = 0; g < V::kGroups; ++g) gb[g] = groups[g] + b * kBlockBytes;
    const typename V::F dw = V::load_halves(gb, 0);
    const typename V::F mw = V::load_halves(gb, kFieldBytes);
    typename V::I low[4];
    typename V::I high[4];
    unpack_q4_chunks<V>(gb, 2 * kFieldBytes, low, high);
#pragma GCC unroll 8
    for (int j = 0; j < kX; ++j) {
      const std::byte* xb = activation_block(a, first_x, j, b, sizeof(BlockQ8_1));
      const typename V::I sums = dot_q4_block<V>(low, high, xb + offsetof(BlockQ8_1, qs), V::zero_i());
      const typename V::F scale = V::mul(dw, V::splat_f32(load_f16(xb + offsetof(BlockQ8_1, d))));
      acc[j] = V::fmadd(V::to_float(sums), scale, acc[j]);
      offsets[j] = V::fmadd(mw, V::splat_f32(load_f16(xb + offsetof(BlockQ8_1, s))), offsets[j]);
    }
  }
  for (int j = 0; j < kX; ++j) V::store(out + static_cast<std::size_t>(j) * a.out_stride, V::add_f(acc[j], offsets[j]));
}

// Q8_0 groups against kX activation rows; V::add_s8s8 multiplies the signed weights (prepared
// once per block), from an accumulator started at V::s8s8_bias.
template <class V, int kX>
void q8_0x8_groups(const std::byte* const* groups, std::size_t blocks, const GroupDotArgs& a, int first_x, float* out) {
  constexpr std::size_t kBlockBytes = kInterleaveRows * sizeof(BlockQ8_0);
  typename V::F acc[kX];
  for (int j = 0; j < kX; ++j) acc[j] = V::zero_f();
  for (std::size_t b = 0; b < blocks; ++b) {
    const std::byte* gb[V::kGroups];
    for (int g = 0; g < V::kGroups; ++g) gb[g] = groups[g] + b * kBlockBytes;
    const typename V::F dw = V::load_halves(gb, 0);
    typename V::I w[8];  // chunk c: elements 4c..4c+3 of every row
    for (int c = 0; c < 8; ++c) w[c] = V::prepare_s8(V::load(gb, kFieldBytes + 32 * static_cast<std::size_t>(c)));
#pragma GCC unroll 8
    for (int j = 0; j < kX; ++j) {
      const std::byte* xb = activation_block(a, first_x, j, b, sizeof(BlockQ8_0));
      const std::byte* xq = xb + offsetof(BlockQ8_0, qs);
      typename V::I sum_low = V::splat_i32(V::s8s8_bias(activation_sum(a, first_x, j, b)));
      typename V::I sum_high = V::zero_i();
      for (int c = 0; c < 4; ++c) {
        sum_low = V::add_s8s8(sum_low, w[c], V::splat_i32(load_i32(xq + 4 * c)));
        sum_high = V::add_s8s8(sum_high, w[c + 4], V::splat_i32(load_i32(xq + 16 + 4 * c)));
      }
      const typename V::F scale = V::mul(dw, V::splat_f32(activation_scale(a, first_x, j, b)));
      acc[j] = V::fmadd(V::to_float(V::add_i(sum_low, sum_high)), scale, acc[j]);
    }
  }
  for (int j = 0; j < kX; ++j) V::store(out + static_cast<std::size_t>(j) * a.out_stride, acc[j]);
}

// Decode (one activation row) streams the weights once. Kernels that read two sections of a
// block in alternation (Q5_K's fifth bits and nibbles, Q6_K's ql and qh) lose the hardware
// prefetchers, so they fetch the block two ahead themselves (Q6_K, one thread, 110 MB matrix:
// 12 GB/s without, 37 GB/s with; Q4_K's in-order reads stream 33 GB/s).
template <class V>
void prefetch_two_blocks_ahead(const std::byte* const* gb, std::size_t block_bytes) {
  for (int g = 0; g < V::kGroups; ++g)
    for (std::size_t line = 0; line < block_bytes; line += 64)
      _mm_prefetch(reinterpret_cast<const char*>(gb[g] + 2 * block_bytes + line), _MM_HINT_T0);
}

// Q4_K groups against kX Q8_K activation rows. Per 256-element super-block, sub-block j's 8
// scales and mins come out of the rearranged scales section (tensor/interleaved.cpp) as int32
// lanes; the integer products of each 32-element sub-block are scaled in int32 (exact: at most
// 8 x 63 x 32 x 15 x 127 < 2^31) and the super-block converted to float once, as ggml does:
// d_w d_x sum_j sc_j dot_j - dmin_w d_x sum_j m_j sum(x in sub-block j).
// Q5_K (kFifthBit) is the same with bit 2 pair (low nibbles) or 2 pair + 1 (high nibbles) of its
// qh chunk c added as 16 to the nibbles of chunk c of a pair (exact: 31 instead of 15 above).
template <class V, int kX, bool kFifthBit>
void k4_kx8_groups(const std::byte* const* groups, std::size_t blocks, const GroupDotArgs& a, int first_x, float* out) {
  constexpr std::size_t kBlockBytes = kInterleaveRows * (kFifthBit ? sizeof(BlockQ5_K) : sizeof(BlockQ4_K));
  constexpr std::size_t kLowScales = 2 * kFieldBytes;      // 64 bytes: low bits of scale and min
  constexpr std::size_t kHighScales = kLowScales + 64;     // 32 bytes: their top bits
  constexpr std::size_t kFifthBits = kHighScales + 32;     // Q5_K: 8 chunks of qh
  constexpr std::size_t kQuants = kFifthBits + (kFifthBit ? 8 * 32 : 0);  // 32 chunks of 32 bytes
  constexpr int kSubBlocks = static_cast<int>(kQK_K / 32);
  using I = typename V::I;
  typename V::F acc[kX];
  for (int j = 0; j < kX; ++j) acc[j] = V::zero_f();
  for (std::size_t b = 0; b < blocks; ++b) {
    const std::byte* gb[V::kGroups];
    for (int g = 0; g < V::kGroups; ++g) gb[g] = groups[g] + b * kBlockBytes;
    if constexpr (kFifthBit && kX == 1) prefetch_two_blocks_ahead<V>(gb, kBlockBytes);
    I scales[kSubBlocks];
    I mins[kSubBlocks];
    for (int s = 0; s < kSubBlocks; ++s) {
      const I low = V::load_bytes(gb, kLowScales + 8 * static_cast<std::size_t>(s));
      const I high = V::load_row_nibbles(gb, kHighScales + 4 * static_cast<std::size_t>(s));
      scales[s] = V::or_i(V::and_i(low, 15), V::template shift_left<4>(V::and_i(high, 3)));
      mins[s] = V::or_i(V::template shift_right<4>(low),
                        V::template shift_left<4>(V::and_i(V::template shift_right<2>(high), 3)));
    }
    const std::byte* xb[kX];
    I sums[kX];
    for (int j = 0; j < kX; ++j) {
      xb[j] = activation_block(a, first_x, j, b, sizeof(BlockQ8_K));
      sums[j] = V::zero_i();
    }
    for (int pair = 0; pair < kSubBlocks / 2; ++pair) {  // sub-blocks 2 pair (low nibbles), 2 pair + 1 (high)
      I low_sums[kX];
      I high_sums[kX];
      for (int j = 0; j < kX; ++j) low_sums[j] = high_sums[j] = V::zero_i();
      for (int c = 0; c < 8; ++c) {
        const I packed = V::load(gb, kQuants + 32 * static_cast<std::size_t>(8 * pair + c));
        I low = V::low_nibbles(packed);
        I high = V::high_nibbles(packed);
        if constexpr (kFifthBit) {
          const I bits = V::load(gb, kFifthBits + 32 * static_cast<std::size_t>(c));
          low = V::or_i(low, V::template shift_left<4>(V::and_i(V::shift_right_by(bits, 2 * pair), 0x01010101)));
          high = V::or_i(high, V::template shift_left<4>(V::and_i(V::shift_right_by(bits, 2 * pair + 1), 0x01010101)));
        }
        for (int j = 0; j < kX; ++j) {
          const std::byte* xq = xb[j] + offsetof(BlockQ8_K, qs) + 64 * static_cast<std::size_t>(pair) + 4 * static_cast<std::size_t>(c);
          low_sums[j] = V::add_u8s8(low_sums[j], low, V::splat_i32(load_i32(xq)));
          high_sums[j] = V::add_u8s8(high_sums[j], high, V::splat_i32(load_i32(xq + 32)));
        }
      }
      for (int j = 0; j < kX; ++j)
        sums[j] = V::add_i(sums[j], V::add_i(V::mul_i(low_sums[j], scales[2 * pair]), V::mul_i(high_sums[j], scales[2 * pair + 1])));
    }
    const typename V::F dw = V::load_halves(gb, 0);
    const typename V::F dmin = V::load_halves(gb, kFieldBytes);
    for (int j = 0; j < kX; ++j) {
      BlockQ8_K x;  // only d and bsums are read
      std::memcpy(&x.d, xb[j] + offsetof(BlockQ8_K, d), sizeof x.d);
      std::memcpy(x.bsums.data(), xb[j] + offsetof(BlockQ8_K, bsums), sizeof x.bsums);
      I min_sums = V::zero_i();
      for (int s = 0; s < kSubBlocks; ++s)
        min_sums = V::add_i(min_sums, V::mul_i(mins[s], V::splat_i32(x.bsums[2 * s] + x.bsums[2 * s + 1])));
      const typename V::F dx = V::splat_f32(x.d);
      acc[j] = V::fmadd(V::to_float(sums[j]), V::mul(dw, dx), acc[j]);
      acc[j] = V::fnmadd(V::to_float(min_sums), V::mul(dmin, dx), acc[j]);
    }
  }
  for (int j = 0; j < kX; ++j) V::store(out + static_cast<std::size_t>(j) * a.out_stride, acc[j]);
}

// Q6_K groups against kX Q8_K activation rows. In each 128-element half, element 32k + l (l < 32)
// is the low (k < 2) or high nibble of ql byte l + 32 (k % 2) with bits 2k, 2k + 1 of qh byte l
// on top, as in ggml; its sub-block is 2k + l / 16. A sub-block's 16 products are summed in int32
// from -32 * (the sum of its activations), which applies Q6_K's offset, then scaled by its int8
// scale (exact: 16 x 127 x (63 + 32) x 128 x 16 sub-blocks < 2^31), and the super-block is
// converted to float once: d_w d_x sum_j sc_j (dot_j - 32 sum_j x).
template <class V, int kX>
void q6_kx8_groups(const std::byte* const* groups, std::size_t blocks, const GroupDotArgs& a, int first_x, float* out) {
  constexpr std::size_t kBlockBytes = kInterleaveRows * sizeof(BlockQ6_K);
  constexpr std::size_t kScales = kFieldBytes;                   // after the 8 rows' d
  constexpr std::size_t kLow = kScales + 16 * kInterleaveRows;    // 32 chunks of ql
  constexpr std::size_t kHigh = kLow + 32 * 32;                   // 16 chunks of qh
  using I = typename V::I;
  typename V::F acc[kX];
  for (int j = 0; j < kX; ++j) acc[j] = V::zero_f();
  for (std::size_t b = 0; b < blocks; ++b) {
    const std::byte* gb[V::kGroups];
    for (int g = 0; g < V::kGroups; ++g) gb[g] = groups[g] + b * kBlockBytes;
    if constexpr (kX == 1) prefetch_two_blocks_ahead<V>(gb, kBlockBytes);
    const std::byte* xb[kX];
    I sums[kX];
    for (int j = 0; j < kX; ++j) {
      xb[j] = activation_block(a, first_x, j, b, sizeof(BlockQ8_K));
      sums[j] = V::zero_i();
    }
    for (int h = 0; h < 2; ++h) {
#pragma GCC unroll 8
      for (int sub = 0; sub < 8; ++sub) {
        const int k = sub / 2;
        I dots[kX];
        for (int j = 0; j < kX; ++j) {
          std::int16_t bsum;
          std::memcpy(&bsum, xb[j] + offsetof(BlockQ8_K, bsums) + sizeof bsum * static_cast<std::size_t>(8 * h + sub), sizeof bsum);
          dots[j] = V::splat_i32(-32 * bsum);
        }
#pragma GCC unroll 4
        for (int c = 0; c < 4; ++c) {
          const int l = 16 * (sub % 2) + 4 * c;
          const I low = V::load(gb, kLow + 32 * static_cast<std::size_t>((64 * h + 32 * (k % 2) + l) / 4));
          const I high = V::load(gb, kHigh + 32 * static_cast<std::size_t>((32 * h + l) / 4));
          I top = high;  // bits 2k, 2k + 1 of each qh byte, moved to bits 4 and 5
          if (k == 0) top = V::template shift_left<4>(high);
          if (k == 1) top = V::template shift_left<2>(high);
          if (k == 3) top = V::template shift_right<2>(high);
          const I q = V::or_i(k < 2 ? V::low_nibbles(low) : V::high_nibbles(low), V::and_i(top, 0x30303030));
#pragma GCC unroll 8
          for (int j = 0; j < kX; ++j) {
            const std::byte* xq = xb[j] + offsetof(BlockQ8_K, qs) + static_cast<std::size_t>(128 * h + 32 * k + l);
            dots[j] = V::add_u8s8(dots[j], q, V::splat_i32(load_i32(xq)));
          }
        }
        const I scale = V::load_signed_bytes(gb, kScales + 8 * static_cast<std::size_t>(8 * h + sub));
        for (int j = 0; j < kX; ++j) sums[j] = V::add_i(sums[j], V::mul_i(dots[j], scale));
      }
    }
    const typename V::F dw = V::load_halves(gb, 0);
    for (int j = 0; j < kX; ++j) {
      float dx;
      std::memcpy(&dx, xb[j] + offsetof(BlockQ8_K, d), sizeof dx);
      acc[j] = V::fmadd(V::to_float(sums[j]), V::mul(dw, V::splat_f32(dx)), acc[j]);
    }
  }
  for (int j = 0; j < kX; ++j) V::store(out + static_cast<std::size_t>(j) * a.out_stride, acc[j]);
}

// F16 or BF16 groups (chunks of 16 halves per row, tensor/interleaved.hpp) against activation
// rows of the same type, with float vectors FV of FV::kFloats lanes: every row keeps its own
// accumulators across the chunks, one per FV-sized part of a chunk, summed horizontally at the end. Floats8 keeps two
// (elements 0-7 and 8-15 of each chunk) and adds them lane by lane before its horizontal sum,
// which is what Floats16 (dot_avx512.cpp) does with its one 16-lane accumulator: the two give
// the same bits, so decode can take 256-bit vectors and prefill 512-bit ones.
struct Floats8 {
  using F = __m256;
  static constexpr int kFloats = 8;
  static constexpr int kPassRows = 1;  // 16 accumulators per activation row
  static F load_halves(const std::byte* p) { return _mm256_cvtph_ps(load_128(p)); }
  static F load_bf16(const std::byte* p) { return widen_bf16(load_128(p)); }
  static F zero() { return _mm256_setzero_ps(); }
  static F fmadd(F a, F b, F c) { return _mm256_fmadd_ps(a, b, c); }
  static float sum(const F* parts) { return horizontal_sum(_mm256_add_ps(parts[0], parts[1])); }
};

// How far ahead of the F16 kernel's loads its software prefetches reach.
constexpr std::size_t kPrefetchDistance = 2048;

// kType's halves (F16 or BF16) at p as FV::kFloats floats.
template <class FV, TensorType kType>
typename FV::F load_halves_as(const std::byte* p) {
  if constexpr (kType == TensorType::BF16) {
    return FV::load_bf16(p);
  } else {
    return FV::load_halves(p);
  }
}

template <class FV, int kX, TensorType kType>
void f16x8_group(const std::byte* group, std::size_t chunks, const GroupDotArgs& a, int first_x, float* out) {
  constexpr std::size_t kChunkElements = 16;
  constexpr std::size_t kChunkBytes = kChunkElements * sizeof(std::uint16_t);
  constexpr int kParts = static_cast<int>(kChunkElements) / FV::kFloats;
  typename FV::F acc[kInterleaveRows][kX][kParts];
  for (int r = 0; r < kInterleaveRows; ++r)
    for (int j = 0; j < kX; ++j)
      for (int h = 0; h < kParts; ++h) acc[r][j][h] = FV::zero();
  for (std::size_t k = 0; k < chunks; ++k) {
    typename FV::F x[kX][kParts];
    for (int j = 0; j < kX; ++j)
      for (int h = 0; h < kParts; ++h)
        x[j][h] = load_halves_as<FV, kType>(a.x + static_cast<std::size_t>(first_x + j) * a.x_stride + k * kChunkBytes +
                                            static_cast<std::size_t>(h * FV::kFloats) * sizeof(std::uint16_t));
    const std::byte* chunk = group + k * kInterleaveRows * kChunkBytes;
    // F16 asks for twice Q4_0's bytes per instruction, more than the hardware prefetcher runs
    // ahead of on its own (measured: the loop stalled on its loads at a third of the bandwidth).
    for (std::size_t line = 0; line < kInterleaveRows * kChunkBytes; line += 64)
      _mm_prefetch(reinterpret_cast<const char*>(chunk + kPrefetchDistance + line), _MM_HINT_T0);
#pragma GCC unroll 8
    for (int r = 0; r < kInterleaveRows; ++r) {
      for (int h = 0; h < kParts; ++h) {
        const typename FV::F w = load_halves_as<FV, kType>(chunk + static_cast<std::size_t>(r) * kChunkBytes +
                                                           static_cast<std::size_t>(h * FV::kFloats) * sizeof(std::uint16_t));
        for (int j = 0; j < kX; ++j) acc[r][j][h] = FV::fmadd(w, x[j][h], acc[r][j][h]);
      }
    }
  }
  for (int j = 0; j < kX; ++j)
    for (int r = 0; r < kInterleaveRows; ++r)
      out[static_cast<std::size_t>(j) * a.out_stride + static_cast<std::size_t>(r)] = FV::sum(acc[r][j]);
}

// Calls pass(RowCount<kX>{}, first_x) for consecutive runs of kX activation rows covering
// [0, n_x): kFull rows at a time, then the rows left over in runs of 4, 2 and 1 (only the run
// sizes below kFull, so no kernel is instantiated for a run that cannot happen).
template <int kFull, class Pass>
void for_each_x_pass(int n_x, const Pass& pass) {
  int first_x = 0;
  for (; first_x + kFull <= n_x; first_x += kFull) pass(RowCount<kFull>{}, first_x);
  if constexpr (kFull > 4) {
    if (first_x + 4 <= n_x) {
      pass(RowCount<4>{}, first_x);
      first_x += 4;
    }
  }
  if constexpr (kFull > 2) {
    if (first_x + 2 <= n_x) {
      pass(RowCount<2>{}, first_x);
      first_x += 2;
    }
  }
  for (; first_x < n_x; ++first_x) pass(RowCount<1>{}, first_x);
}

// One activation row (decode) takes Narrow's vectors, several take Wide's (measured on TinyLlama
// F16, one thread: 512-bit vectors decode at 2.2-2.8 tok/s, 256-bit ones at 4.6-5.9; prefill
// runs faster with 512 bits).
template <class Wide, class Narrow, TensorType kType>
void f16x8_dot_groups(const GroupDotArgs& a) {
  constexpr std::size_t kChunkElements = 16;
  const std::size_t chunks = static_cast<std::size_t>(a.n) / kChunkElements;
  const std::size_t group_bytes = static_cast<std::size_t>(a.n) * kInterleaveRows * sizeof(std::uint16_t);
  auto pass = [&](auto fv, auto xs, int first_x) {
    for (int g = 0; g < a.n_groups; ++g)
      f16x8_group<decltype(fv), decltype(xs)::value, kType>(
          a.groups + static_cast<std::size_t>(g) * group_bytes, chunks, a, first_x,
          a.out + static_cast<std::size_t>(first_x) * a.out_stride + static_cast<std::size_t>(g) * kInterleaveRows);
  };
  if (a.n_x == 1) return pass(Narrow{}, RowCount<1>{}, 0);
  for_each_x_pass<Wide::kPassRows>(a.n_x, [&](auto xs, int first_x) { pass(Wide{}, xs, first_x); });
}

// Calls kernel(V{}, RowCount<kX>{}, group pointers, first_x, out) over every group, for kX
// activation rows at a time. With several activation rows (prefill, batched decode: compute
// bound) Wide's vectors take Wide::kGroups groups at a time and Narrow's the groups left over.
// One activation row (decode) is bound by memory, and one stream of bytes per thread reads
// faster than Wide's two (measured: 512-bit pairs decoded TinyLlama Q4_0 at 22 tok/s on one
// thread, 256-bit groups at 31), so Narrow takes every group.
template <class Wide, class Narrow, class Kernel>
void for_each_group_pass(const GroupDotArgs& a, std::size_t group_bytes, const Kernel& kernel) {
  const int wide_groups = a.n_x > 1 ? a.n_groups : 0;
  auto pass = [&](auto xs, int first_x) {
    float* out = a.out + static_cast<std::size_t>(first_x) * a.out_stride;
    int g = 0;
    const std::byte* groups[Wide::kGroups];
    for (; g + Wide::kGroups <= wide_groups; g += Wide::kGroups) {
      for (int i = 0; i < Wide::kGroups; ++i) groups[i] = a.groups + static_cast<std::size_t>(g + i) * group_bytes;
      kernel(Wide{}, xs, groups, first_x, out + static_cast<std::size_t>(g) * kInterleaveRows);
    }
    for (; g < a.n_groups; ++g) {
      groups[0] = a.groups + static_cast<std::size_t>(g) * group_bytes;
      kernel(Narrow{}, xs, groups, first_x, out + static_cast<std::size_t>(g) * kInterleaveRows);
    }
  };
  for_each_x_pass<Wide::kPassRows>(a.n_x, pass);
}

inline std::size_t group_bytes(const GroupDotArgs& a, std::size_t block_bytes) {
  return static_cast<std::size_t>(a.n) / kQK8_0 * kInterleaveRows * block_bytes;
}

template <class Wide, class Narrow>
void q4_0x8_dot_groups(const GroupDotArgs& a) {
  const std::size_t blocks = static_cast<std::size_t>(a.n) / kQK4_0;
  for_each_group_pass<Wide, Narrow>(a, group_bytes(a, sizeof(BlockQ4_0)), [&](auto v, auto xs, auto groups, int first_x, float* out) {
    q4_0x8_groups<decltype(v), decltype(xs)::value>(groups, blocks, a, first_x, out);
  });
}

template <class Wide, class Narrow>
void q4_1x8_dot_groups(const GroupDotArgs& a) {
  const std::size_t blocks = static_cast<std::size_t>(a.n) / kQK4_1;
  for_each_group_pass<Wide, Narrow>(a, group_bytes(a, sizeof(BlockQ4_1)), [&](auto v, auto xs, auto groups, int first_x, float* out) {
    q4_1x8_groups<decltype(v), decltype(xs)::value>(groups, blocks, a, first_x, out);
  });
}

// Q4_K (kFifthBit false) and Q5_K (true).
template <class Wide, class Narrow, bool kFifthBit>
void k4_kx8_dot_groups(const GroupDotArgs& a) {
  const std::size_t blocks = static_cast<std::size_t>(a.n) / kQK_K;
  const std::size_t block_bytes = kFifthBit ? sizeof(BlockQ5_K) : sizeof(BlockQ4_K);
  for_each_group_pass<Wide, Narrow>(a, blocks * kInterleaveRows * block_bytes,
                                    [&](auto v, auto xs, auto groups, int first_x, float* out) {
    k4_kx8_groups<decltype(v), decltype(xs)::value, kFifthBit>(groups, blocks, a, first_x, out);
  });
}

template <class Wide, class Narrow>
void q6_kx8_dot_groups(const GroupDotArgs& a) {
  const std::size_t blocks = static_cast<std::size_t>(a.n) / kQK_K;
  for_each_group_pass<Wide, Narrow>(a, blocks * kInterleaveRows * sizeof(BlockQ6_K),
                                    [&](auto v, auto xs, auto groups, int first_x, float* out) {
    q6_kx8_groups<decltype(v), decltype(xs)::value>(groups, blocks, a, first_x, out);
  });
}

template <class Wide, class Narrow>
void q8_0x8_dot_groups(const GroupDotArgs& a) {
  const std::size_t blocks = static_cast<std::size_t>(a.n) / kQK8_0;
  for_each_group_pass<Wide, Narrow>(a, group_bytes(a, sizeof(BlockQ8_0)), [&](auto v, auto xs, auto groups, int first_x, float* out) {
    q8_0x8_groups<decltype(v), decltype(xs)::value>(groups, blocks, a, first_x, out);
  });
}

}  // namespace
}  // namespace flux
