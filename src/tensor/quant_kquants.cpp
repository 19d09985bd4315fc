// Decoding and dot products of the k-quants Q4_K, Q5_K, Q6_K and their activation format Q8_K.
//
// The dot products reproduce ggml's generic CPU kernels (ggml_vec_dot_q*_K_q8_K_generic) to the
// bit: those accumulate integer products in eight lanes (element index mod 8), scale each lane's
// per-block total by the block's float scale into eight float sums, and add the lanes together
// only at the end. Integer sums are exact in any order; the float sums are kept in lanes here too.

#include <array>
#include <cstdint>

#include "tensor/blocks.hpp"
#include "tensor/quant.hpp"
#include "tensor/row_codecs.hpp"

namespace flux::codecs {
namespace {

constexpr std::size_t kLanes = 8;
using Quants = std::array<std::int8_t, kQK_K>;  // one super-block's quants in element order
using LaneTotals = std::array<std::int32_t, kLanes>;

// Q4_K quants 0..15: each 32-byte group c holds elements 64c..64c+31 in its low nibbles and
// 64c+32..64c+63 in its high nibbles.
Quants unpack_q4_k(const BlockQ4_K& block) {
  Quants q{};
  for (std::size_t c = 0; c < kQK_K / 64; ++c) {
    for (std::size_t l = 0; l < 32; ++l) {
      const std::uint8_t byte = block.qs[32 * c + l];
      q[64 * c + l] = static_cast<std::int8_t>(byte & 0xF);
      q[64 * c + 32 + l] = static_cast<std::int8_t>(byte >> 4);
    }
  }
  return q;
}

// Q5_K quants 0..31: Q4_K's nibbles plus bit 2c (low half) / 2c+1 (high half) of qh[l].
Quants unpack_q5_k(const BlockQ5_K& block) {
  Quants q{};
  for (std::size_t c = 0; c < kQK_K / 64; ++c) {
    const unsigned low_bit = 1u << (2 * c);
    const unsigned high_bit = 1u << (2 * c + 1);
    for (std::size_t l = 0; l < 32; ++l) {
      const std::uint8_t byte = block.qs[32 * c + l];
      const std::uint8_t fifth = block.qh[l];
      q[64 * c + l] = static_cast<std::int8_t>((byte & 0xF) + ((fifth & low_bit) ? 16 : 0));
      q[64 * c + 32 + l] = static_cast<std::int8_t>((byte >> 4) + ((fifth & high_bit) ? 16 : 0));
    }
  }
  return q;
}

// Q6_K quants -32..31 (layout in blocks.hpp).
Quants unpack_q6_k(const BlockQ6_K& block) {
  Quants q{};
  for (std::size_t h = 0; h < kQK_K / 128; ++h) {
    const std::uint8_t* ql = block.ql.data() + 64 * h;
    const std::uint8_t* qh = block.qh.data() + 32 * h;
    std::int8_t* out = q.data() + 128 * h;
    for (std::size_t l = 0; l < 32; ++l) {
      out[l] = static_cast<std::int8_t>(((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32);
      out[l + 32] = static_cast<std::int8_t>(((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32);
      out[l + 64] = static_cast<std::int8_t>(((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
      out[l + 96] = static_cast<std::int8_t>(((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
    }
  }
  return q;
}

std::array<ScaleMin, kQK_K / 32> unpack_all_scale_min(
    const std::array<std::uint8_t, kKScaleBytes>& packed) {
  std::array<ScaleMin, kQK_K / 32> values{};
  for (std::size_t j = 0; j < values.size(); ++j) values[j] = unpack_scale_min_k4(packed, j);
  return values;
}

// Per-lane sums of scale(sub-block) * q * q8 over one super-block.
template <std::size_t kSubBlock, class ScaleOf>
LaneTotals scaled_lane_totals(const Quants& q, const Quants& q8, ScaleOf scale_of) {
  LaneTotals lanes{};
  for (std::size_t e = 0; e < kQK_K; ++e) {
    lanes[e % kLanes] += scale_of(e / kSubBlock) * (q[e] * q8[e]);
  }
  return lanes;
}

void add_scaled_lanes(std::array<float, kLanes>& sums, float d, const LaneTotals& lanes) {
  for (std::size_t l = 0; l < kLanes; ++l) sums[l] += d * static_cast<float>(lanes[l]);
}

float finish_lanes(float sum, const std::array<float, kLanes>& sums) {
  for (float lane : sums) sum += lane;
  return sum;
}

// Shared by Q4_K and Q5_K, which differ only in how quants unpack.
template <class Block, Quants (*unpack)(const Block&)>
float dot_affine_k_q8_k(ByteRow w, ByteRow x) {
  const std::size_t blocks = checked_dot_blocks<Block, BlockQ8_K>(w, x);
  std::array<float, kLanes> sums{};
  float sum = 0.0f;
  for (std::size_t b = 0; b < blocks; ++b) {
    const auto wb = load_block<Block>(w, b);
    const auto xb = load_block<BlockQ8_K>(x, b);
    const auto scale_min = unpack_all_scale_min(wb.scales);
    // The mins apply to whole sub-blocks of 32, i.e. two of Q8_K's 16-element sums.
    int min_total = 0;
    for (std::size_t j = 0; j < xb.bsums.size(); ++j)
      min_total += xb.bsums[j] * scale_min[j / 2].min;
    const LaneTotals lanes = scaled_lane_totals<32>(
        unpack(wb), xb.qs, [&](std::size_t sub) { return static_cast<int>(scale_min[sub].scale); });
    add_scaled_lanes(sums, f16_to_f32(wb.d) * xb.d, lanes);
    sum -= (f16_to_f32(wb.dmin) * xb.d) * static_cast<float>(min_total);
  }
  return finish_lanes(sum, sums);
}

// Decodes x = d * scale[j] * q - dmin * min[j] for Q4_K and Q5_K.
template <class Block, Quants (*unpack)(const Block&)>
void dequantize_affine_k(ByteRow src, MutableFloatRow dst) {
  const std::size_t blocks = checked_block_count<Block>(src.size(), dst.size(), kQK_K);
  for (std::size_t b = 0; b < blocks; ++b) {
    const auto block = load_block<Block>(src, b);
    const float d = f16_to_f32(block.d);
    const float dmin = f16_to_f32(block.dmin);
    const Quants q = unpack(block);
    float* y = dst.data() + b * kQK_K;
    for (std::size_t j = 0; j < kQK_K / 32; ++j) {
      const ScaleMin sm = unpack_scale_min_k4(block.scales, j);
      const float scale = d * static_cast<float>(sm.scale);
      const float offset = dmin * static_cast<float>(sm.min);
      for (std::size_t l = 0; l < 32; ++l) {
        y[32 * j + l] = scale * static_cast<float>(q[32 * j + l]) - offset;
      }
    }
  }
}

}  // namespace

void dequantize_q4_k(ByteRow src, MutableFloatRow dst) {
  dequantize_affine_k<BlockQ4_K, unpack_q4_k>(src, dst);
}

void dequantize_q5_k(ByteRow src, MutableFloatRow dst) {
  dequantize_affine_k<BlockQ5_K, unpack_q5_k>(src, dst);
}

void dequantize_q6_k(ByteRow src, MutableFloatRow dst) {
  const std::size_t blocks = checked_block_count<BlockQ6_K>(src.size(), dst.size(), kQK_K);
  for (std::size_t b = 0; b < blocks; ++b) {
    const auto block = load_block<BlockQ6_K>(src, b);
    const float d = f16_to_f32(block.d);
    const Quants q = unpack_q6_k(block);
    for (std::size_t e = 0; e < kQK_K; ++e) {
      dst[b * kQK_K + e] = d * static_cast<float>(block.scales[e / 16]) * static_cast<float>(q[e]);
    }
  }
}

void dequantize_q8_k(ByteRow src, MutableFloatRow dst) {
  const std::size_t blocks = checked_block_count<BlockQ8_K>(src.size(), dst.size(), kQK_K);
  for (std::size_t b = 0; b < blocks; ++b) {
    const auto block = load_block<BlockQ8_K>(src, b);
    for (std::size_t e = 0; e < kQK_K; ++e)
      dst[b * kQK_K + e] = block.d * static_cast<float>(block.qs[e]);
  }
}

float dot_q4_k_q8_k(ByteRow w, ByteRow x) {
  return dot_affine_k_q8_k<BlockQ4_K, unpack_q4_k>(w, x);
}

float dot_q5_k_q8_k(ByteRow w, ByteRow x) {
  return dot_affine_k_q8_k<BlockQ5_K, unpack_q5_k>(w, x);
}

float dot_q6_k_q8_k(ByteRow w, ByteRow x) {
  const std::size_t blocks = checked_dot_blocks<BlockQ6_K, BlockQ8_K>(w, x);
  std::array<float, kLanes> sums{};
  for (std::size_t b = 0; b < blocks; ++b) {
    const auto wb = load_block<BlockQ6_K>(w, b);
    const auto xb = load_block<BlockQ8_K>(x, b);
    const LaneTotals lanes = scaled_lane_totals<16>(
        unpack_q6_k(wb), xb.qs, [&](std::size_t sub) { return static_cast<int>(wb.scales[sub]); });
    add_scaled_lanes(sums, f16_to_f32(wb.d) * xb.d, lanes);
  }
  return finish_lanes(0.0f, sums);
}

// ggml has no Q8_K x Q8_K product (Q8_K exists only for activations); this one exists so that
// every supported type has a dot product.
float dot_q8_k_q8_k(ByteRow w, ByteRow x) {
  const std::size_t blocks = checked_dot_blocks<BlockQ8_K, BlockQ8_K>(w, x);
  float sum = 0.0f;
  for (std::size_t b = 0; b < blocks; ++b) {
    const auto wb = load_block<BlockQ8_K>(w, b);
    const auto xb = load_block<BlockQ8_K>(x, b);
    int total = 0;
    for (std::size_t e = 0; e < kQK_K; ++e) total += wb.qs[e] * xb.qs[e];
    sum += static_cast<float>(total) * (wb.d * xb.d);
  }
  return sum;
}

}  // namespace flux::codecs
