// f16 and bf16 scalar conversions: exhaustive over the 16-bit side, rounding checked at every
// halfway point, and the special values spelled out.

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>

#include "tensor/quant.hpp"

namespace flux {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

bool is_f16_nan(std::uint16_t h) { return (h & 0x7c00) == 0x7c00 && (h & 0x03ff) != 0; }
bool is_bf16_nan(std::uint16_t h) { return (h & 0x7f80) == 0x7f80 && (h & 0x007f) != 0; }
std::uint32_t bits_of(float f) { return std::bit_cast<std::uint32_t>(f); }

TEST(F16, EveryNonNaNPatternRoundTrips) {
  for (std::uint32_t h = 0; h <= 0xffff; ++h) {
    const auto half = static_cast<std::uint16_t>(h);
    if (is_f16_nan(half)) continue;
    ASSERT_EQ(f32_to_f16(f16_to_f32(half)), half) << std::hex << h;
  }
}

TEST(F16, EveryNaNStaysNaNAndComesBackQuiet) {
  for (std::uint32_t h = 0; h <= 0xffff; ++h) {
    const auto half = static_cast<std::uint16_t>(h);
    if (!is_f16_nan(half)) continue;
    const float f = f16_to_f32(half);
    ASSERT_TRUE(std::isnan(f)) << std::hex << h;
    ASSERT_EQ(std::signbit(f), (half & 0x8000) != 0);
    ASSERT_NE(bits_of(f) & 0x00400000u, 0u) << "quiet bit";
    // ggml turns every NaN into the canonical quiet NaN, keeping only the sign.
    ASSERT_EQ(f32_to_f16(f), static_cast<std::uint16_t>((half & 0x8000) | 0x7e00)) << std::hex << h;
  }
}

TEST(F16, KnownValues) {
  EXPECT_EQ(f16_to_f32(0x3c00), 1.0f);
  EXPECT_EQ(f16_to_f32(0xc000), -2.0f);
  EXPECT_EQ(f16_to_f32(0x7bff), 65504.0f);
  EXPECT_EQ(f16_to_f32(0x0400), 0x1p-14f);  // smallest normal
  EXPECT_EQ(f16_to_f32(0x0001), 0x1p-24f);  // smallest subnormal
  EXPECT_EQ(f16_to_f32(0x03ff), 1023 * 0x1p-24f);
  EXPECT_EQ(f16_to_f32(0x7c00), kInf);
  EXPECT_EQ(f16_to_f32(0xfc00), -kInf);
  EXPECT_EQ(bits_of(f16_to_f32(0x8000)), 0x80000000u);
  EXPECT_EQ(f16_to_f32(0x3555), 0.333251953125f);

  EXPECT_EQ(f32_to_f16(1.0f), 0x3c00);
  EXPECT_EQ(f32_to_f16(-0.0f), 0x8000);
  EXPECT_EQ(f32_to_f16(0.1f), 0x2e66);
  EXPECT_EQ(f32_to_f16(65504.0f), 0x7bff);
  EXPECT_EQ(f32_to_f16(65519.996f), 0x7bff);
  EXPECT_EQ(f32_to_f16(65520.0f), 0x7c00);  // halfway to 2^16 rounds to even: infinity
  EXPECT_EQ(f32_to_f16(1e10f), 0x7c00);
  EXPECT_EQ(f32_to_f16(-kInf), 0xfc00);
  EXPECT_EQ(f32_to_f16(std::numeric_limits<float>::quiet_NaN()), 0x7e00);
  EXPECT_EQ(f32_to_f16(0x1p-24f), 0x0001);
  EXPECT_EQ(f32_to_f16(0x1p-25f), 0x0000);         // exactly half the smallest subnormal: to even
  EXPECT_EQ(f32_to_f16(0x1.000002p-25f), 0x0001);  // just above half
  EXPECT_EQ(f32_to_f16(0x1.8p-24f), 0x0002);       // 1.5 units: to even
  EXPECT_EQ(f32_to_f16(0x1p-149f), 0x0000);        // f32 subnormals vanish
  EXPECT_EQ(f32_to_f16(-0x1p-149f), 0x8000);
}

// Between each pair of adjacent finite halves, the exact midpoint must round to the even one and
// the floats one ulp either side to the nearer one. This checks round-to-nearest-even over the
// whole range, subnormals and the carry into the next binade included.
TEST(F16, RoundsToNearestEvenAtEveryMidpoint) {
  for (std::uint32_t h = 0; h < 0x7bff; ++h) {
    for (std::uint32_t sign : {0u, 0x8000u}) {
      const auto lower = static_cast<std::uint16_t>(h | sign);
      const auto upper = static_cast<std::uint16_t>((h + 1) | sign);
      const float a = f16_to_f32(lower);
      const float b = f16_to_f32(upper);
      const float mid = (a + b) / 2;  // exact: halves have 11 significant bits, floats 24
      ASSERT_EQ(f32_to_f16(mid), (h & 1) ? upper : lower) << std::hex << h;
      ASSERT_EQ(f32_to_f16(std::nextafter(mid, a)), lower) << std::hex << h;
      ASSERT_EQ(f32_to_f16(std::nextafter(mid, b)), upper) << std::hex << h;
    }
  }
}

TEST(BF16, EveryNonNaNPatternRoundTrips) {
  for (std::uint32_t h = 0; h <= 0xffff; ++h) {
    const auto half = static_cast<std::uint16_t>(h);
    if (is_bf16_nan(half)) continue;
    ASSERT_EQ(f32_to_bf16(bf16_to_f32(half)), half) << std::hex << h;
    ASSERT_EQ(bits_of(bf16_to_f32(half)), h << 16);
  }
}

TEST(BF16, NaNIsQuietedAndKeepsItsTopBits) {
  EXPECT_EQ(f32_to_bf16(std::bit_cast<float>(0x7f800001u)), 0x7fc0);  // signalling -> quiet
  EXPECT_EQ(f32_to_bf16(std::bit_cast<float>(0xffc00000u)), 0xffc0);
  EXPECT_EQ(f32_to_bf16(std::bit_cast<float>(0x7fa50000u)), 0x7fe5);
  for (std::uint32_t h = 0; h <= 0xffff; ++h) {
    const auto half = static_cast<std::uint16_t>(h);
    if (!is_bf16_nan(half)) continue;
    ASSERT_TRUE(is_bf16_nan(f32_to_bf16(bf16_to_f32(half))));
  }
}

TEST(BF16, RoundsToNearestEven) {
  EXPECT_EQ(f32_to_bf16(1.0f), 0x3f80);
  EXPECT_EQ(f32_to_bf16(std::bit_cast<float>(0x3f808000u)), 0x3f80);  // tie, even below
  EXPECT_EQ(f32_to_bf16(std::bit_cast<float>(0x3f818000u)), 0x3f82);  // tie, even above
  EXPECT_EQ(f32_to_bf16(std::bit_cast<float>(0x3f808001u)), 0x3f81);
  EXPECT_EQ(f32_to_bf16(std::bit_cast<float>(0x3f807fffu)), 0x3f80);
  EXPECT_EQ(f32_to_bf16(std::numeric_limits<float>::max()), 0x7f80);  // rounds up to infinity
  EXPECT_EQ(f32_to_bf16(-kInf), 0xff80);
  EXPECT_EQ(f32_to_bf16(std::bit_cast<float>(0x00018000u)), 0x0002);  // subnormals are kept
  for (std::uint32_t h = 0; h < 0x7f7f; ++h) {
    const float a = bf16_to_f32(static_cast<std::uint16_t>(h));
    const float b = bf16_to_f32(static_cast<std::uint16_t>(h + 1));
    const float mid = std::bit_cast<float>((h << 16) | 0x8000u);
    ASSERT_EQ(f32_to_bf16(mid), (h & 1) ? h + 1 : h) << std::hex << h;
    ASSERT_EQ(f32_to_bf16(std::nextafter(mid, a)), h);
    ASSERT_EQ(f32_to_bf16(std::nextafter(mid, b)), h + 1);
  }
}

}  // namespace
}  // namespace flux
