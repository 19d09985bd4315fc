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
// x86_interleaved_avx512.hpp's Lanes16 holds two consecutive groups in 512 bits. Every lane goes
// through the same operations in either, and whatever the number of activation rows, so a
// (weight row, activation row) pair gets the same bits in every batch.

#include "kernels/dot_kernels.hpp"
#include "kernels/x86_kernel_templates.hpp"
#include "tensor/interleaved.hpp"

namespace flux {
namespace {

// Activation rows handled per pass over a group's blocks: their accumulators, the unpacked
// weights and the broadcasts fit in AVX-512VL's 32 vector registers.
constexpr int kGroupActivationRows = 4;

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
  static I add_s8s8(I acc, I w, I s) { return Int8::add_s8s8(acc, w, s); }
  static std::int32_t s8s8_bias(std::int32_t sum) { return Int8::s8s8_bias(sum); }
  static I add_i(I a, I b) { return _mm256_add_epi32(a, b); }
  static F to_float(I v) { return _mm256_cvtepi32_ps(v); }
  static F mul(F a, F b) { return _mm256_mul_ps(a, b); }
  static F add_f(F a, F b) { return _mm256_add_ps(a, b); }
  static F fmadd(F a, F b, F c) { return _mm256_fmadd_ps(a, b, c); }
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
    for (int c = 0; c < 4; ++c) {
      const typename V::I packed = V::load(gb, kFieldBytes + 32 * static_cast<std::size_t>(c));
      low[c] = V::low_nibbles(packed);
      high[c] = V::high_nibbles(packed);
    }
    for (int j = 0; j < kX; ++j) {
      const std::byte* xb = activation_block(a, first_x, j, b, sizeof(BlockQ8_0));
      const std::byte* xq = xb + offsetof(BlockQ8_0, qs);
      // Two chains (elements 0-15 and 16-31) halve the dependent multiply-adds per block.
      typename V::I sum_low = V::splat_i32(-8 * activation_sum(a, first_x, j, b));
      typename V::I sum_high = V::zero_i();
      for (int c = 0; c < 4; ++c) {
        sum_low = V::add_u8s8(sum_low, low[c], V::splat_i32(load_i32(xq + 4 * c)));
        sum_high = V::add_u8s8(sum_high, high[c], V::splat_i32(load_i32(xq + 16 + 4 * c)));
      }
      const typename V::F scale = V::mul(dw, V::splat_f32(load_f16(xb + offsetof(BlockQ8_0, d))));
      acc[j] = V::fmadd(V::to_float(V::add_i(sum_low, sum_high)), scale, acc[j]);
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
    for (int c = 0; c < 4; ++c) {
      const typename V::I packed = V::load(gb, 2 * kFieldBytes + 32 * static_cast<std::size_t>(c));
      low[c] = V::low_nibbles(packed);
      high[c] = V::high_nibbles(packed);
    }
    for (int j = 0; j < kX; ++j) {
      const std::byte* xb = activation_block(a, first_x, j, b, sizeof(BlockQ8_1));
      const std::byte* xq = xb + offsetof(BlockQ8_1, qs);
      typename V::I sum_low = V::zero_i();
      typename V::I sum_high = V::zero_i();
      for (int c = 0; c < 4; ++c) {
        sum_low = V::add_u8s8(sum_low, low[c], V::splat_i32(load_i32(xq + 4 * c)));
        sum_high = V::add_u8s8(sum_high, high[c], V::splat_i32(load_i32(xq + 16 + 4 * c)));
      }
      const typename V::F scale = V::mul(dw, V::splat_f32(load_f16(xb + offsetof(BlockQ8_1, d))));
      acc[j] = V::fmadd(V::to_float(V::add_i(sum_low, sum_high)), scale, acc[j]);
      offsets[j] = V::fmadd(mw, V::splat_f32(load_f16(xb + offsetof(BlockQ8_1, s))), offsets[j]);
    }
  }
  for (int j = 0; j < kX; ++j) V::store(out + static_cast<std::size_t>(j) * a.out_stride, V::add_f(acc[j], offsets[j]));
}

// Q8_0 groups against kX activation rows; V::add_s8s8 multiplies the signed weights, from an
// accumulator started at V::s8s8_bias.
template <class V, int kX>
void q8_0x8_groups(const std::byte* const* groups, std::size_t blocks, const GroupDotArgs& a, int first_x, float* out) {
  constexpr std::size_t kBlockBytes = kInterleaveRows * sizeof(BlockQ8_0);
  typename V::F acc[kX];
  for (int j = 0; j < kX; ++j) acc[j] = V::zero_f();
  for (std::size_t b = 0; b < blocks; ++b) {
    const std::byte* gb[V::kGroups];
    for (int g = 0; g < V::kGroups; ++g) gb[g] = groups[g] + b * kBlockBytes;
    const typename V::F dw = V::load_halves(gb, 0);
    for (int j = 0; j < kX; ++j) {
      const std::byte* xb = activation_block(a, first_x, j, b, sizeof(BlockQ8_0));
      const std::byte* xq = xb + offsetof(BlockQ8_0, qs);
      typename V::I sum_low = V::splat_i32(V::s8s8_bias(activation_sum(a, first_x, j, b)));
      typename V::I sum_high = V::zero_i();
      for (int c = 0; c < 4; ++c) {
        const std::size_t at = kFieldBytes + 32 * static_cast<std::size_t>(c);
        sum_low = V::add_s8s8(sum_low, V::load(gb, at), V::splat_i32(load_i32(xq + 4 * c)));
        sum_high = V::add_s8s8(sum_high, V::load(gb, at + 128), V::splat_i32(load_i32(xq + 16 + 4 * c)));
      }
      const typename V::F scale = V::mul(dw, V::splat_f32(load_f16(xb + offsetof(BlockQ8_0, d))));
      acc[j] = V::fmadd(V::to_float(V::add_i(sum_low, sum_high)), scale, acc[j]);
    }
  }
  for (int j = 0; j < kX; ++j) V::store(out + static_cast<std::size_t>(j) * a.out_stride, acc[j]);
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
  int first_x = 0;
  for (; first_x + kGroupActivationRows <= a.n_x; first_x += kGroupActivationRows)
    pass(RowCount<kGroupActivationRows>{}, first_x);
  switch (a.n_x - first_x) {
    case 3: pass(RowCount<3>{}, first_x); break;
    case 2: pass(RowCount<2>{}, first_x); break;
    case 1: pass(RowCount<1>{}, first_x); break;
    default: break;
  }
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

template <class Wide, class Narrow>
void q8_0x8_dot_groups(const GroupDotArgs& a) {
  const std::size_t blocks = static_cast<std::size_t>(a.n) / kQK8_0;
  for_each_group_pass<Wide, Narrow>(a, group_bytes(a, sizeof(BlockQ8_0)), [&](auto v, auto xs, auto groups, int first_x, float* out) {
    q8_0x8_groups<decltype(v), decltype(xs)::value>(groups, blocks, a, first_x, out);
  });
}

}  // namespace
}  // namespace flux
