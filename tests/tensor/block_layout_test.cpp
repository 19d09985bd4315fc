// Hand-built blocks with known bytes pin each type's bit layout: which nibble is which element,
// where scales and mins live, how the fifth and sixth bits are spread.

#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "tensor/blocks.hpp"
#include "tensor/dtype.hpp"
#include "tensor/quant.hpp"

namespace flux {
namespace {

template <class Block>
std::vector<float> decode(TensorType type, const Block& block) {
  std::vector<float> out(traits(type).block_size);
  dequantize_row(type, &block, out.data(), static_cast<std::int64_t>(out.size()));
  return out;
}

TEST(BlockLayout, StructSizesMatchTheTypeTable) {
  EXPECT_EQ(traits(TensorType::Q4_0).block_bytes, sizeof(BlockQ4_0));
  EXPECT_EQ(traits(TensorType::Q4_1).block_bytes, sizeof(BlockQ4_1));
  EXPECT_EQ(traits(TensorType::Q8_0).block_bytes, sizeof(BlockQ8_0));
  EXPECT_EQ(traits(TensorType::Q8_1).block_bytes, sizeof(BlockQ8_1));
  EXPECT_EQ(traits(TensorType::Q4_K).block_bytes, sizeof(BlockQ4_K));
  EXPECT_EQ(traits(TensorType::Q5_K).block_bytes, sizeof(BlockQ5_K));
  EXPECT_EQ(traits(TensorType::Q6_K).block_bytes, sizeof(BlockQ6_K));
  EXPECT_EQ(traits(TensorType::Q8_K).block_bytes, sizeof(BlockQ8_K));
  EXPECT_EQ(traits(TensorType::Q4_0).block_size, kQK4_0);
  EXPECT_EQ(traits(TensorType::Q4_K).block_size, kQK_K);
  EXPECT_EQ(traits(TensorType::Q8_K).block_size, kQK_K);
}

TEST(BlockLayout, FieldOffsetsMatchGgml) {
  EXPECT_EQ(offsetof(BlockQ4_1, m), 2u);
  EXPECT_EQ(offsetof(BlockQ4_1, qs), 4u);
  EXPECT_EQ(offsetof(BlockQ8_1, s), 2u);
  EXPECT_EQ(offsetof(BlockQ4_K, scales), 4u);
  EXPECT_EQ(offsetof(BlockQ4_K, qs), 16u);
  EXPECT_EQ(offsetof(BlockQ5_K, qh), 16u);
  EXPECT_EQ(offsetof(BlockQ5_K, qs), 48u);
  EXPECT_EQ(offsetof(BlockQ6_K, qh), 128u);
  EXPECT_EQ(offsetof(BlockQ6_K, scales), 192u);
  EXPECT_EQ(offsetof(BlockQ6_K, d), 208u);
  EXPECT_EQ(offsetof(BlockQ8_K, qs), 4u);
  EXPECT_EQ(offsetof(BlockQ8_K, bsums), 260u);
}

TEST(BlockLayout, Q4_0LowNibblesAreTheFirstHalf) {
  // Raw bytes: d = 1.0 (f16 0x3c00, little-endian), then byte j holds nibble j (element j, value
  // j - 8) low and nibble 15 - j (element j + 16, value 7 - j) high.
  std::array<std::uint8_t, 18> bytes{0x00, 0x3c};
  for (int j = 0; j < 16; ++j) bytes[2 + j] = static_cast<std::uint8_t>(j | ((15 - j) << 4));
  std::vector<float> out(32);
  dequantize_row(TensorType::Q4_0, bytes.data(), out.data(), 32);
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(out[j], static_cast<float>(j - 8)) << j;
    EXPECT_EQ(out[j + 16], static_cast<float>(7 - j)) << j;
  }
}

TEST(BlockLayout, Q4_0QuantisesAKnownRow) {
  // The element of largest magnitude (-8) sets d = -8 / -8 = 1, so x = q - 8 exactly.
  std::vector<float> x(32);
  for (int i = 0; i < 32; ++i) x[i] = static_cast<float>(i % 16 - 8);
  BlockQ4_0 block{};
  quantize_row(TensorType::Q4_0, x.data(), &block, 32);
  EXPECT_EQ(block.d, 0x3c00);
  for (int j = 0; j < 16; ++j) EXPECT_EQ(block.qs[j], j | (j << 4)) << j;
  EXPECT_EQ(decode(TensorType::Q4_0, block), x);
}

TEST(BlockLayout, Q4_1AddsTheMin) {
  BlockQ4_1 block{};
  block.d = f32_to_f16(0.5f);
  block.m = f32_to_f16(-3.0f);
  for (int j = 0; j < 16; ++j) block.qs[j] = static_cast<std::uint8_t>(j | (15 << 4));
  const auto out = decode(TensorType::Q4_1, block);
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(out[j], 0.5f * j - 3.0f);
    EXPECT_EQ(out[j + 16], 0.5f * 15 - 3.0f);
  }
}

TEST(BlockLayout, Q8_0AndQ8_1AreSignedBytes) {
  BlockQ8_0 block{};
  block.d = f32_to_f16(0.25f);
  for (int j = 0; j < 32; ++j) block.qs[j] = static_cast<std::int8_t>(j * 8 - 128);
  const auto out = decode(TensorType::Q8_0, block);
  for (int j = 0; j < 32; ++j) EXPECT_EQ(out[j], 0.25f * (j * 8 - 128));

  // Q8_1's s is d times the sum of the quants.
  std::vector<float> x(32);
  for (int j = 0; j < 32; ++j) x[j] = static_cast<float>(j - 4);  // amax 27 -> d = 27 / 127
  BlockQ8_1 q{};
  quantize_row(TensorType::Q8_1, x.data(), &q, 32);
  int sum = 0;
  for (int j = 0; j < 32; ++j) sum += q.qs[j];
  EXPECT_EQ(q.qs[31], 127);
  EXPECT_EQ(q.d, f32_to_f16(27.0f / 127.0f));
  EXPECT_EQ(q.s, f32_to_f16(static_cast<float>(sum) * (27.0f / 127.0f)));
}

TEST(BlockLayout, KQuantScalesPackAndUnpack) {
  std::array<ScaleMin, 8> values{};
  for (std::uint8_t j = 0; j < 8; ++j)
    values[j] = {static_cast<std::uint8_t>(63 - 5 * j), static_cast<std::uint8_t>(7 * j + 3)};
  const auto packed = pack_scale_min_k4(values);
  for (std::size_t j = 0; j < 8; ++j) {
    EXPECT_EQ(unpack_scale_min_k4(packed, j).scale, values[j].scale) << j;
    EXPECT_EQ(unpack_scale_min_k4(packed, j).min, values[j].min) << j;
  }
  // ggml's layout: sub-block 5's scale = low nibble of byte 9 | top two bits of byte 1 << 4.
  std::array<std::uint8_t, 12> raw{};
  raw[1] = 0b10'000000;
  raw[9] = 0x3;
  raw[5] = 0b01'000000;
  raw[9] |= 0x70;
  EXPECT_EQ(unpack_scale_min_k4(raw, 5).scale, 0x23);
  EXPECT_EQ(unpack_scale_min_k4(raw, 5).min, 0x17);
  EXPECT_EQ(unpack_scale_min_k4(raw, 1).scale, 0);
  EXPECT_EQ(unpack_scale_min_k4(raw, 1).min, 0);
}

TEST(BlockLayout, Q4_KKnownScalesAndNibbles) {
  BlockQ4_K block{};
  block.d = f32_to_f16(0.5f);
  block.dmin = f32_to_f16(0.25f);
  std::array<ScaleMin, 8> values{};
  for (std::uint8_t j = 0; j < 8; ++j)
    values[j] = {static_cast<std::uint8_t>(j + 1), static_cast<std::uint8_t>(2 * j)};
  block.scales = pack_scale_min_k4(values);
  // Group c of 32 bytes: low nibble -> element 64c + l, high nibble -> 64c + 32 + l.
  for (int i = 0; i < 128; ++i)
    block.qs[i] = static_cast<std::uint8_t>((i % 16) | ((15 - i % 16) << 4));
  const auto out = decode(TensorType::Q4_K, block);
  for (int c = 0; c < 4; ++c) {
    for (int l = 0; l < 32; ++l) {
      const int low = l % 16, high = 15 - l % 16;
      const int sub_low = 2 * c, sub_high = 2 * c + 1;
      EXPECT_EQ(out[64 * c + l], 0.5f * (sub_low + 1) * low - 0.25f * (2 * sub_low))
          << c << " " << l;
      EXPECT_EQ(out[64 * c + 32 + l], 0.5f * (sub_high + 1) * high - 0.25f * (2 * sub_high));
    }
  }
}

TEST(BlockLayout, Q5_KFifthBitComesFromQh) {
  BlockQ5_K block{};
  block.d = f32_to_f16(1.0f);
  block.dmin = 0;
  std::array<ScaleMin, 8> values{};
  for (auto& v : values) v = {1, 0};
  block.scales = pack_scale_min_k4(values);
  // All nibbles zero; qh[l] = 1 << (l % 8), so element 64c + l has its fifth bit when
  // l % 8 == 2c, and element 64c + 32 + l when l % 8 == 2c + 1.
  for (int l = 0; l < 32; ++l) block.qh[l] = static_cast<std::uint8_t>(1 << (l % 8));
  const auto out = decode(TensorType::Q5_K, block);
  for (int c = 0; c < 4; ++c) {
    for (int l = 0; l < 32; ++l) {
      EXPECT_EQ(out[64 * c + l], (l % 8 == 2 * c) ? 16.0f : 0.0f) << c << " " << l;
      EXPECT_EQ(out[64 * c + 32 + l], (l % 8 == 2 * c + 1) ? 16.0f : 0.0f) << c << " " << l;
    }
  }
}

TEST(BlockLayout, Q6_KSplitsSixBitsOverQlAndQh) {
  BlockQ6_K block{};
  block.d = f32_to_f16(1.0f);
  for (int j = 0; j < 16; ++j) block.scales[j] = static_cast<std::int8_t>(j % 2 == 0 ? 1 : -2);
  // Element e of half h, position l: we want q = (e % 64) - 32, i.e. stored u = e % 64.
  std::array<int, 256> stored{};
  for (int e = 0; e < 256; ++e) stored[e] = (e * 37 + 11) % 64;
  for (int h = 0; h < 2; ++h) {
    for (int l = 0; l < 32; ++l) {
      const int* u = stored.data() + 128 * h;
      block.ql[64 * h + l] = static_cast<std::uint8_t>((u[l] & 0xF) | ((u[l + 64] & 0xF) << 4));
      block.ql[64 * h + l + 32] =
          static_cast<std::uint8_t>((u[l + 32] & 0xF) | ((u[l + 96] & 0xF) << 4));
      block.qh[32 * h + l] =
          static_cast<std::uint8_t>((u[l] >> 4) | ((u[l + 32] >> 4) << 2) |
                                    ((u[l + 64] >> 4) << 4) | ((u[l + 96] >> 4) << 6));
    }
  }
  const auto out = decode(TensorType::Q6_K, block);
  for (int e = 0; e < 256; ++e) {
    const float scale = (e / 16) % 2 == 0 ? 1.0f : -2.0f;
    EXPECT_EQ(out[e], scale * static_cast<float>(stored[e] - 32)) << e;
  }
}

TEST(BlockLayout, Q8_KQuantisesWithBlockSums) {
  std::vector<float> x(256);
  for (int i = 0; i < 256; ++i)
    x[i] = static_cast<float>(i % 32) - 15.0f;  // max |x| = 16 at i%32 == 31
  BlockQ8_K block{};
  quantize_row(TensorType::Q8_K, x.data(), &block, 256);
  // The signed extreme (+16) maps to -127, so d = -16 / 127 (a float, not rounded to f16).
  EXPECT_FLOAT_EQ(block.d, -16.0f / 127.0f);
  for (int j = 0; j < 16; ++j) {
    int sum = 0;
    for (int l = 0; l < 16; ++l) sum += block.qs[16 * j + l];
    EXPECT_EQ(block.bsums[j], sum);
  }
  EXPECT_EQ(block.qs[31], -127);
  std::vector<float> out(256);
  dequantize_row(TensorType::Q8_K, &block, out.data(), 256);
  for (int i = 0; i < 256; ++i) EXPECT_NEAR(out[i], x[i], 0.5f * std::fabs(block.d) + 1e-6f);
}

TEST(BlockLayout, UnalignedRowsDecodeLikeAlignedOnes) {
  std::vector<float> x(64);
  for (int i = 0; i < 64; ++i) x[i] = static_cast<float>(i) * 0.1f - 3.0f;
  for (TensorType type : {TensorType::Q4_0, TensorType::Q8_0, TensorType::F16, TensorType::F32}) {
    const std::size_t bytes = row_bytes(type, 64);
    std::vector<std::uint8_t> buffer(bytes + 1);
    quantize_row(type, x.data(), buffer.data() + 1, 64);  // odd address
    std::vector<std::uint8_t> aligned(buffer.begin() + 1, buffer.end());
    std::vector<float> a(64), b(64);
    dequantize_row(type, buffer.data() + 1, a.data(), 64);
    dequantize_row(type, aligned.data(), b.data(), 64);
    EXPECT_EQ(a, b) << type_name(type);
  }
}

}  // namespace
}  // namespace flux
