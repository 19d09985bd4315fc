#pragma once
// Float-to-integer conversions exactly as ggml's reference quantisers perform them, minus the
// undefined behaviour: ggml casts floats straight to int8_t, which is undefined for NaN or
// out-of-range values, so these clamp first. For every finite in-range input they return what
// ggml's casts return, which is what keeps our quantised bytes identical to llama.cpp's.

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>

namespace flux::rounding {

// ggml's nearest_int: adding 1.5 * 2^23 leaves round(x) (ties to even, the FPU's rounding) in
// the low mantissa bits. Exact for |x| <= 2^22 - 1; larger inputs give a meaningless (but
// defined) result, which callers clamp.
inline int nearest_int(float x) {
  const float shifted = x + 12582912.f;
  return static_cast<int>(std::bit_cast<std::uint32_t>(shifted) & 0x007fffffu) - 0x00400000;
}

// A C cast (truncation toward zero) of x, clamped to [lo, hi]; NaN gives lo.
inline int truncate_clamped(float x, int lo, int hi) {
  if (!(x > static_cast<float>(lo))) return lo;
  if (x >= static_cast<float>(hi)) return hi;
  return static_cast<int>(x);
}

// roundf (ties away from zero) of x, clamped to [lo, hi]; NaN gives lo.
inline int round_clamped(float x, int lo, int hi) {
  if (!(x > static_cast<float>(lo))) return lo;
  if (x >= static_cast<float>(hi)) return hi;
  return static_cast<int>(std::round(x));
}

}  // namespace flux::rounding
