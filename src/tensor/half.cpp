// Scalar IEEE binary16 and bfloat16 conversions, bit-exact with ggml's software conversions
// (ggml_compute_fp16_to_fp32 / ggml_compute_fp32_to_fp16 / ggml_compute_fp32_to_bf16). They are
// written on integers so that they do not depend on the FPU's rounding mode or on flush-to-zero.

#include <bit>
#include <cstdint>

#include "tensor/quant.hpp"

namespace flux {
namespace {

constexpr std::uint32_t kF32SignMask = 0x80000000u;
constexpr std::uint32_t kF32AbsMask = 0x7fffffffu;
constexpr std::uint32_t kF32Infinity = 0x7f800000u;
constexpr std::uint32_t kF32QuietBit = 0x00400000u;
constexpr int kF32MantissaBits = 23;
constexpr int kF16MantissaBits = 10;
constexpr int kMantissaDrop = kF32MantissaBits - kF16MantissaBits;  // 13
// f32 exponent bias 127 minus f16 bias 15.
constexpr std::uint32_t kExponentRebias = 112;

constexpr std::uint16_t kF16Infinity = 0x7c00;
constexpr std::uint16_t kF16QuietNaN = 0x7e00;
// Smallest normal f16 (2^-14) as f32 bits.
constexpr std::uint32_t kF32OfSmallestNormalF16 = 0x38800000u;
// 65520 = halfway between the largest f16 (65504) and 2^16; it and everything above round to inf.
constexpr std::uint32_t kF32OfF16Overflow = 0x477ff000u;

// Rounds `value >> shift` to nearest, ties to even.
constexpr std::uint32_t shift_right_round_even(std::uint32_t value, int shift) {
  const std::uint32_t kept = value >> shift;
  const std::uint32_t remainder = value & ((1u << shift) - 1);
  const std::uint32_t half = 1u << (shift - 1);
  return kept + ((remainder > half || (remainder == half && (kept & 1))) ? 1 : 0);
}

}  // namespace

float f16_to_f32(std::uint16_t h) {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
  const std::uint32_t exponent = (h >> kF16MantissaBits) & 0x1f;
  const std::uint32_t mantissa = h & 0x3ffu;
  if (exponent == 0x1f) {
    // Inf keeps a zero mantissa; NaN keeps its payload and comes out quiet, as ggml's does.
    const std::uint32_t quiet = mantissa != 0 ? kF32QuietBit : 0;
    return std::bit_cast<float>(sign | kF32Infinity | quiet | (mantissa << kMantissaDrop));
  }
  if (exponent != 0) {
    return std::bit_cast<float>(sign | ((exponent + kExponentRebias) << kF32MantissaBits) |
                                (mantissa << kMantissaDrop));
  }
  // Zero or subnormal: mantissa * 2^-24, exact in f32.
  const float magnitude = static_cast<float>(mantissa) * 0x1p-24f;
  return std::bit_cast<float>(sign | std::bit_cast<std::uint32_t>(magnitude));
}

std::uint16_t f32_to_f16(float f) {
  const std::uint32_t bits = std::bit_cast<std::uint32_t>(f);
  const auto sign = static_cast<std::uint16_t>((bits & kF32SignMask) >> 16);
  const std::uint32_t magnitude = bits & kF32AbsMask;

  // ggml maps every NaN to one quiet NaN rather than keeping the payload.
  if (magnitude > kF32Infinity) return sign | kF16QuietNaN;
  if (magnitude >= kF32OfF16Overflow) return sign | kF16Infinity;
  if (magnitude >= kF32OfSmallestNormalF16) {
    // Rebias the exponent in place; a rounding carry out of the mantissa correctly bumps the
    // exponent (up to infinity for values just under the overflow threshold).
    const std::uint32_t rebiased = magnitude - (kExponentRebias << kF32MantissaBits);
    return sign | static_cast<std::uint16_t>(shift_right_round_even(rebiased, kMantissaDrop));
  }
  // Result is subnormal (or zero): count units of 2^-24. The f32 value is m * 2^(e - 150) with
  // the implicit bit restored, so the unit count is m >> (126 - e).
  const std::uint32_t exponent = magnitude >> kF32MantissaBits;
  constexpr std::uint32_t kBelowHalfSmallestSubnormal = 102;  // 2^-25 is a tie that rounds to 0
  if (exponent < kBelowHalfSmallestSubnormal) return sign;
  const std::uint32_t mantissa = (magnitude & 0x7fffffu) | 0x800000u;
  const int shift = static_cast<int>(126 - exponent);  // 14..24
  return sign | static_cast<std::uint16_t>(shift_right_round_even(mantissa, shift));
}

float bf16_to_f32(std::uint16_t h) {
  return std::bit_cast<float>(static_cast<std::uint32_t>(h) << 16);
}

std::uint16_t f32_to_bf16(float f) {
  const std::uint32_t bits = std::bit_cast<std::uint32_t>(f);
  if ((bits & kF32AbsMask) > kF32Infinity) {
    // Keep sign and top payload bits, force the quiet bit (bit 6 of the bf16).
    return static_cast<std::uint16_t>((bits >> 16) | 0x40u);
  }
  // Round to nearest even on the 16 dropped bits; overflow carries into infinity as it should.
  const std::uint32_t round_even = 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<std::uint16_t>((bits + round_even) >> 16);
}

}  // namespace flux
