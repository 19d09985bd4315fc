#pragma once
// Kernels for weights in the interleaved layout (tensor/interleaved.hpp), shared by the per-ISA
// translation units like x86_kernel_templates.hpp (whose rules about anonymous namespaces and
// standard-library templates apply here too).
//
// Int32 lane r of every vector belongs to weight row r of the group, so a block's integer dot
// products for 8 rows come out of 4 (Q4_0) or 8 (Q8_0) multiply-adds against activation bytes
// broadcast to all lanes, and are scaled and accumulated in float lane r: no shuffles and no
// horizontal sums. A pair (weight row, activation row) goes through the same operations whatever
// the number of activation rows, so batched and single results are equal bit for bit.

#include "kernels/dot_kernels.hpp"
#include "kernels/x86_kernel_templates.hpp"
#include "tensor/interleaved.hpp"

namespace flux {
namespace {

// Activation rows handled per pass over a group's blocks: their accumulators, the unpacked
// weights and the broadcasts fit in AVX-512VL's 32 vector registers.
constexpr int kGroupActivationRows = 4;

constexpr std::size_t kScalesBytes = kInterleaveRows * sizeof(std::uint16_t);

inline __m256i broadcast_4_bytes(const std::byte* p) {
  std::int32_t v;
  std::memcpy(&v, p, sizeof v);
  return _mm256_set1_epi32(v);
}

// One Q4_0 group against kX activation rows. The -8 offset of Q4_0's nibbles enters as the
// accumulator's start, -8 * sum(x), so the unsigned nibbles multiply the activations directly.
template <class Int8, int kX>
void q4_0x8_group(const std::byte* group, std::size_t blocks, const GroupDotArgs& a, int first_x, float* out) {
  constexpr std::size_t kBlockBytes = kInterleaveRows * sizeof(BlockQ4_0);
  const __m256i low_mask = _mm256_set1_epi8(0x0F);
  __m256 acc[kX];
  for (int j = 0; j < kX; ++j) acc[j] = _mm256_setzero_ps();
  for (std::size_t b = 0; b < blocks; ++b) {
    const std::byte* gb = group + b * kBlockBytes;
    const __m256 dw = _mm256_cvtph_ps(load_128(gb));
    __m256i low[4];
    __m256i high[4];
    for (int c = 0; c < 4; ++c) {
      const __m256i packed = load_256(gb + kScalesBytes + 32 * static_cast<std::size_t>(c));
      low[c] = _mm256_and_si256(packed, low_mask);
      high[c] = _mm256_and_si256(_mm256_srli_epi16(packed, 4), low_mask);
    }
    for (int j = 0; j < kX; ++j) {
      const std::size_t x_row = static_cast<std::size_t>(first_x + j);
      const std::byte* xb = a.x + x_row * a.x_stride + b * sizeof(BlockQ8_0);
      const std::byte* xq = xb + offsetof(BlockQ8_0, qs);
      // Two chains (elements 0-15 and 16-31) halve the dependent multiply-adds per block.
      __m256i sum_low = _mm256_set1_epi32(-8 * a.x_sums[x_row * a.sums_stride + b]);
      __m256i sum_high = _mm256_setzero_si256();
      for (int c = 0; c < 4; ++c) {
        sum_low = Int8::add_u8s8(sum_low, low[c], broadcast_4_bytes(xq + 4 * c));
        sum_high = Int8::add_u8s8(sum_high, high[c], broadcast_4_bytes(xq + 16 + 4 * c));
      }
      const __m256 scale = _mm256_mul_ps(dw, _mm256_set1_ps(load_f16(xb + offsetof(BlockQ8_0, d))));
      acc[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_add_epi32(sum_low, sum_high)), scale, acc[j]);
    }
  }
  for (int j = 0; j < kX; ++j) _mm256_storeu_ps(out + static_cast<std::size_t>(j) * a.out_stride, acc[j]);
}

// One Q4_1 group against kX Q8_1 activation rows. The weights' offsets m enter per block as
// m * s, with s = d_x * sum(x) stored in the activation block, accumulated in float lanes of
// their own and added at the end.
template <class Int8, int kX>
void q4_1x8_group(const std::byte* group, std::size_t blocks, const GroupDotArgs& a, int first_x, float* out) {
  constexpr std::size_t kBlockBytes = kInterleaveRows * sizeof(BlockQ4_1);
  constexpr std::size_t kFieldsBytes = 2 * kScalesBytes;  // d for 8 rows, then m for 8 rows
  const __m256i low_mask = _mm256_set1_epi8(0x0F);
  __m256 acc[kX];
  __m256 offsets[kX];
  for (int j = 0; j < kX; ++j) acc[j] = offsets[j] = _mm256_setzero_ps();
  for (std::size_t b = 0; b < blocks; ++b) {
    const std::byte* gb = group + b * kBlockBytes;
    const __m256 dw = _mm256_cvtph_ps(load_128(gb));
    const __m256 mw = _mm256_cvtph_ps(load_128(gb + kScalesBytes));
    __m256i low[4];
    __m256i high[4];
    for (int c = 0; c < 4; ++c) {
      const __m256i packed = load_256(gb + kFieldsBytes + 32 * static_cast<std::size_t>(c));
      low[c] = _mm256_and_si256(packed, low_mask);
      high[c] = _mm256_and_si256(_mm256_srli_epi16(packed, 4), low_mask);
    }
    for (int j = 0; j < kX; ++j) {
      const std::byte* xb = a.x + static_cast<std::size_t>(first_x + j) * a.x_stride + b * sizeof(BlockQ8_1);
      const std::byte* xq = xb + offsetof(BlockQ8_1, qs);
      __m256i sum_low = _mm256_setzero_si256();
      __m256i sum_high = _mm256_setzero_si256();
      for (int c = 0; c < 4; ++c) {
        sum_low = Int8::add_u8s8(sum_low, low[c], broadcast_4_bytes(xq + 4 * c));
        sum_high = Int8::add_u8s8(sum_high, high[c], broadcast_4_bytes(xq + 16 + 4 * c));
      }
      const __m256 scale = _mm256_mul_ps(dw, _mm256_set1_ps(load_f16(xb + offsetof(BlockQ8_1, d))));
      acc[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_add_epi32(sum_low, sum_high)), scale, acc[j]);
      offsets[j] = _mm256_fmadd_ps(mw, _mm256_set1_ps(load_f16(xb + offsetof(BlockQ8_1, s))), offsets[j]);
    }
  }
  for (int j = 0; j < kX; ++j)
    _mm256_storeu_ps(out + static_cast<std::size_t>(j) * a.out_stride, _mm256_add_ps(acc[j], offsets[j]));
}

// One Q8_0 group against kX activation rows; Int8::add_s8s8 multiplies the signed weights.
template <class Int8, int kX>
void q8_0x8_group(const std::byte* group, std::size_t blocks, const GroupDotArgs& a, int first_x, float* out) {
  constexpr std::size_t kBlockBytes = kInterleaveRows * sizeof(BlockQ8_0);
  __m256 acc[kX];
  for (int j = 0; j < kX; ++j) acc[j] = _mm256_setzero_ps();
  for (std::size_t b = 0; b < blocks; ++b) {
    const std::byte* gb = group + b * kBlockBytes;
    const __m256 dw = _mm256_cvtph_ps(load_128(gb));
    for (int j = 0; j < kX; ++j) {
      const std::size_t x_row = static_cast<std::size_t>(first_x + j);
      const std::byte* xb = a.x + x_row * a.x_stride + b * sizeof(BlockQ8_0);
      const std::byte* xq = xb + offsetof(BlockQ8_0, qs);
      __m256i sum_low = _mm256_set1_epi32(Int8::s8s8_bias(a.x_sums[x_row * a.sums_stride + b]));
      __m256i sum_high = _mm256_setzero_si256();
      for (int c = 0; c < 4; ++c) {
        const std::byte* w = gb + kScalesBytes + 32 * static_cast<std::size_t>(c);
        sum_low = Int8::add_s8s8(sum_low, load_256(w), broadcast_4_bytes(xq + 4 * c));
        sum_high = Int8::add_s8s8(sum_high, load_256(w + 128), broadcast_4_bytes(xq + 16 + 4 * c));
      }
      const __m256 scale = _mm256_mul_ps(dw, _mm256_set1_ps(load_f16(xb + offsetof(BlockQ8_0, d))));
      acc[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_add_epi32(sum_low, sum_high)), scale, acc[j]);
    }
  }
  for (int j = 0; j < kX; ++j) _mm256_storeu_ps(out + static_cast<std::size_t>(j) * a.out_stride, acc[j]);
}

// Every group against every activation row, kGroupActivationRows activation rows per pass.
template <int kX, class Group>
void for_groups(const GroupDotArgs& a, std::size_t group_bytes, std::size_t blocks, int first_x, const Group& group) {
  for (int g = 0; g < a.n_groups; ++g) {
    group(RowCount<kX>{}, a.groups + static_cast<std::size_t>(g) * group_bytes, blocks, first_x,
          a.out + static_cast<std::size_t>(first_x) * a.out_stride + static_cast<std::size_t>(g) * kInterleaveRows);
  }
}

template <class Group>
void dot_groups(const GroupDotArgs& a, std::size_t block_bytes, const Group& group) {
  const auto blocks = static_cast<std::size_t>(a.n) / kQK8_0;
  const std::size_t group_bytes = blocks * kInterleaveRows * block_bytes;
  int first_x = 0;
  for (; first_x + kGroupActivationRows <= a.n_x; first_x += kGroupActivationRows)
    for_groups<kGroupActivationRows>(a, group_bytes, blocks, first_x, group);
  switch (a.n_x - first_x) {
    case 3: for_groups<3>(a, group_bytes, blocks, first_x, group); break;
    case 2: for_groups<2>(a, group_bytes, blocks, first_x, group); break;
    case 1: for_groups<1>(a, group_bytes, blocks, first_x, group); break;
    default: break;
  }
}

template <class Int8>
void q4_0x8_dot_groups(const GroupDotArgs& a) {
  dot_groups(a, sizeof(BlockQ4_0), [&](auto xs, const std::byte* group, std::size_t blocks, int first_x, float* out) {
    q4_0x8_group<Int8, decltype(xs)::value>(group, blocks, a, first_x, out);
  });
}

template <class Int8>
void q4_1x8_dot_groups(const GroupDotArgs& a) {
  dot_groups(a, sizeof(BlockQ4_1), [&](auto xs, const std::byte* group, std::size_t blocks, int first_x, float* out) {
    q4_1x8_group<Int8, decltype(xs)::value>(group, blocks, a, first_x, out);
  });
}

template <class Int8>
void q8_0x8_dot_groups(const GroupDotArgs& a) {
  dot_groups(a, sizeof(BlockQ8_0), [&](auto xs, const std::byte* group, std::size_t blocks, int first_x, float* out) {
    q8_0x8_group<Int8, decltype(xs)::value>(group, blocks, a, first_x, out);
  });
}

}  // namespace
}  // namespace flux
