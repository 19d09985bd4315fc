// The 32-element block types Q4_0, Q4_1, Q8_0 and Q8_1: encoding with ggml's reference
// quantisers (quantize_row_*_ref), decoding, and the dot products of ggml's generic CPU path.
// Float expressions keep ggml's operation order so that results agree to the bit.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "base/error.hpp"
#include "tensor/blocks.hpp"
#include "tensor/quant.hpp"
#include "tensor/rounding.hpp"
#include "tensor/row_codecs.hpp"

namespace flux::codecs {
namespace {

using rounding::round_clamped;
using rounding::truncate_clamped;

std::uint8_t pack_nibbles(int low, int high) {
  return static_cast<std::uint8_t>(low | (high << 4));
}

float max_abs(FloatRow values) {
  float amax = 0.0f;
  for (float v : values) amax = std::max(amax, std::fabs(v));
  return amax;
}

// Symmetric 8-bit quants of one block of 32: d = amax / 127, q = round(x / d), as
// quantize_row_q8_0_ref. Returns the f32 scale (Q8_1 needs it unrounded for its sum).
float quantize_8bit_block(FloatRow x, std::array<std::int8_t, 32>& qs) {
  const float d = max_abs(x) / 127.0f;
  const float inverse = d != 0.0f ? 1.0f / d : 0.0f;
  for (std::size_t j = 0; j < qs.size(); ++j) {
    qs[j] = static_cast<std::int8_t>(round_clamped(x[j] * inverse, -128, 127));
  }
  return d;
}

// Sum over the block of the integer products, accumulated like ggml's two half-block sums
// (integer addition, so order does not matter).
template <class WeightNibble>
int nibble_dot(const std::array<std::uint8_t, 16>& qs, const std::array<std::int8_t, 32>& q8,
               WeightNibble nibble_value) {
  int sum = 0;
  for (std::size_t j = 0; j < qs.size(); ++j) {
    sum += nibble_value(qs[j] & 0xF) * q8[j];
    sum += nibble_value(qs[j] >> 4) * q8[j + 16];
  }
  return sum;
}

int q8_dot(const std::array<std::int8_t, 32>& a, const std::array<std::int8_t, 32>& b) {
  int sum = 0;
  for (std::size_t j = 0; j < a.size(); ++j) sum += a[j] * b[j];
  return sum;
}

}  // namespace

// ---- Q4_0 ----

void quantize_q4_0(FloatRow src, MutableByteRow dst) {
  const std::size_t blocks = checked_block_count<BlockQ4_0>(dst.size(), src.size(), kQK4_0);
  for (std::size_t b = 0; b < blocks; ++b) {
    const FloatRow x = src.subspan(b * kQK4_0, kQK4_0);
    // The value of largest magnitude, with its sign, maps to q = 0 (that is, -8 * d): using the
    // signed extreme gains one level over amax / 7.
    float amax = 0.0f;
    float extreme = 0.0f;
    for (float v : x) {
      if (amax < std::fabs(v)) {
        amax = std::fabs(v);
        extreme = v;
      }
    }
    const float d = extreme / -8.0f;
    const float inverse = d != 0.0f ? 1.0f / d : 0.0f;

    BlockQ4_0 block{};
    block.d = f32_to_f16(d);
    for (std::size_t j = 0; j < kQK4_0 / 2; ++j) {
      const int low = std::min(15, truncate_clamped(x[j] * inverse + 8.5f, 0, 16));
      const int high = std::min(15, truncate_clamped(x[j + kQK4_0 / 2] * inverse + 8.5f, 0, 16));
      block.qs[j] = pack_nibbles(low, high);
    }
    store_block(dst, b, block);
  }
}

void dequantize_q4_0(ByteRow src, MutableFloatRow dst) {
  const std::size_t blocks = checked_block_count<BlockQ4_0>(src.size(), dst.size(), kQK4_0);
  for (std::size_t b = 0; b < blocks; ++b) {
    const auto block = load_block<BlockQ4_0>(src, b);
    const float d = f16_to_f32(block.d);
    float* y = dst.data() + b * kQK4_0;
    for (std::size_t j = 0; j < kQK4_0 / 2; ++j) {
      y[j] = static_cast<float>((block.qs[j] & 0xF) - 8) * d;
      y[j + kQK4_0 / 2] = static_cast<float>((block.qs[j] >> 4) - 8) * d;
    }
  }
}

float dot_q4_0_q8_0(ByteRow w, ByteRow x) {
  const std::size_t blocks = checked_dot_blocks<BlockQ4_0, BlockQ8_0>(w, x);
  float sum = 0.0f;
  for (std::size_t b = 0; b < blocks; ++b) {
    const auto wb = load_block<BlockQ4_0>(w, b);
    const auto xb = load_block<BlockQ8_0>(x, b);
    const int sumi = nibble_dot(wb.qs, xb.qs, [](int q) { return q - 8; });
    sum += static_cast<float>(sumi) * f16_to_f32(wb.d) * f16_to_f32(xb.d);
  }
  return sum;
}

// ---- Q4_1 ----

void quantize_q4_1(FloatRow src, MutableByteRow dst) {
  const std::size_t blocks = checked_block_count<BlockQ4_1>(dst.size(), src.size(), kQK4_1);
  for (std::size_t b = 0; b < blocks; ++b) {
    const FloatRow x = src.subspan(b * kQK4_1, kQK4_1);
    float min = std::numeric_limits<float>::max();
    float max = -std::numeric_limits<float>::max();
    for (float v : x) {
      if (v < min) min = v;
      if (v > max) max = v;
    }
    const float d = (max - min) / 15.0f;
    const float inverse = d != 0.0f ? 1.0f / d : 0.0f;

    BlockQ4_1 block{};
    block.d = f32_to_f16(d);
    block.m = f32_to_f16(min);
    for (std::size_t j = 0; j < kQK4_1 / 2; ++j) {
      const int low = std::min(15, truncate_clamped((x[j] - min) * inverse + 0.5f, 0, 16));
      const int high =
          std::min(15, truncate_clamped((x[j + kQK4_1 / 2] - min) * inverse + 0.5f, 0, 16));
      block.qs[j] = pack_nibbles(low, high);
    }
    store_block(dst, b, block);
  }
}

void dequantize_q4_1(ByteRow src, MutableFloatRow dst) {
  const std::size_t blocks = checked_block_count<BlockQ4_1>(src.size(), dst.size(), kQK4_1);
  for (std::size_t b = 0; b < blocks; ++b) {
    const auto block = load_block<BlockQ4_1>(src, b);
    const float d = f16_to_f32(block.d);
    const float m = f16_to_f32(block.m);
    float* y = dst.data() + b * kQK4_1;
    for (std::size_t j = 0; j < kQK4_1 / 2; ++j) {
      y[j] = static_cast<float>(block.qs[j] & 0xF) * d + m;
      y[j + kQK4_1 / 2] = static_cast<float>(block.qs[j] >> 4) * d + m;
    }
  }
}

float dot_q4_1_q8_1(ByteRow w, ByteRow x) {
  const std::size_t blocks = checked_dot_blocks<BlockQ4_1, BlockQ8_1>(w, x);
  float sum = 0.0f;
  for (std::size_t b = 0; b < blocks; ++b) {
    const auto wb = load_block<BlockQ4_1>(w, b);
    const auto xb = load_block<BlockQ8_1>(x, b);
    const int sumi = nibble_dot(wb.qs, xb.qs, [](int q) { return q; });
    // sum((q*d + m) * x) = d*dx*sum(q*qx) + m * (dx*sum(qx)), the last factor being Q8_1's s.
    sum += (f16_to_f32(wb.d) * f16_to_f32(xb.d)) * static_cast<float>(sumi) +
           f16_to_f32(wb.m) * f16_to_f32(xb.s);
  }
  return sum;
}

// ---- Q8_0 ----

void quantize_q8_0(FloatRow src, MutableByteRow dst) {
  const std::size_t blocks = checked_block_count<BlockQ8_0>(dst.size(), src.size(), kQK8_0);
  for (std::size_t b = 0; b < blocks; ++b) {
    BlockQ8_0 block{};
    block.d = f32_to_f16(quantize_8bit_block(src.subspan(b * kQK8_0, kQK8_0), block.qs));
    store_block(dst, b, block);
  }
}

void dequantize_q8_0(ByteRow src, MutableFloatRow dst) {
  const std::size_t blocks = checked_block_count<BlockQ8_0>(src.size(), dst.size(), kQK8_0);
  for (std::size_t b = 0; b < blocks; ++b) {
    const auto block = load_block<BlockQ8_0>(src, b);
    const float d = f16_to_f32(block.d);
    for (std::size_t j = 0; j < kQK8_0; ++j)
      dst[b * kQK8_0 + j] = static_cast<float>(block.qs[j]) * d;
  }
}

float dot_q8_0_q8_0(ByteRow w, ByteRow x) {
  const std::size_t blocks = checked_dot_blocks<BlockQ8_0, BlockQ8_0>(w, x);
  float sum = 0.0f;
  for (std::size_t b = 0; b < blocks; ++b) {
    const auto wb = load_block<BlockQ8_0>(w, b);
    const auto xb = load_block<BlockQ8_0>(x, b);
    sum += static_cast<float>(q8_dot(wb.qs, xb.qs)) * (f16_to_f32(wb.d) * f16_to_f32(xb.d));
  }
  return sum;
}

// ---- Q8_1 ----

void quantize_q8_1(FloatRow src, MutableByteRow dst) {
  const std::size_t blocks = checked_block_count<BlockQ8_1>(dst.size(), src.size(), kQK8_1);
  for (std::size_t b = 0; b < blocks; ++b) {
    BlockQ8_1 block{};
    const float d = quantize_8bit_block(src.subspan(b * kQK8_1, kQK8_1), block.qs);
    int sum = 0;
    for (std::int8_t q : block.qs) sum += q;
    block.d = f32_to_f16(d);
    block.s = f32_to_f16(static_cast<float>(sum) * d);
    store_block(dst, b, block);
  }
}

void dequantize_q8_1(ByteRow src, MutableFloatRow dst) {
  const std::size_t blocks = checked_block_count<BlockQ8_1>(src.size(), dst.size(), kQK8_1);
  for (std::size_t b = 0; b < blocks; ++b) {
    const auto block = load_block<BlockQ8_1>(src, b);
    const float d = f16_to_f32(block.d);
    for (std::size_t j = 0; j < kQK8_1; ++j)
      dst[b * kQK8_1 + j] = static_cast<float>(block.qs[j]) * d;
  }
}

// ggml has no Q8_1 x Q8_1 product (Q8_1 is an activation format); this one exists so that every
// supported type has a dot product, and is shaped like Q8_0's.
float dot_q8_1_q8_1(ByteRow w, ByteRow x) {
  const std::size_t blocks = checked_dot_blocks<BlockQ8_1, BlockQ8_1>(w, x);
  float sum = 0.0f;
  for (std::size_t b = 0; b < blocks; ++b) {
    const auto wb = load_block<BlockQ8_1>(w, b);
    const auto xb = load_block<BlockQ8_1>(x, b);
    sum += static_cast<float>(q8_dot(wb.qs, xb.qs)) * (f16_to_f32(wb.d) * f16_to_f32(xb.d));
  }
  return sum;
}

}  // namespace flux::codecs
