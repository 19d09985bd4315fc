#pragma once
// The int8 policy of the two VNNI levels (x86_kernel_templates.hpp's Int8 interface): the same
// kernels run on AVX-512 VNNI (EVEX-encoded vpdpbusd on 256-bit lanes, Ice Lake and Zen 4) and on
// AVX-VNNI (the VEX encoding of the same instructions, Alder Lake and Zen 5, which have no AVX-512).
// Only the intrinsics' names differ, so each including file (dot_avx512_vnni.cpp,
// dot_avx_vnni.cpp) supplies them as `Encoding`:
//   dpbusd(acc, u, s): acc + sums of four u8 x s8 products per int32 lane;
//   dpwssd(acc, a, b): acc + sums of two s16 x s16 products per int32 lane.

#include "kernels/x86_kernel_templates.hpp"

namespace flux {
namespace {

// vpdpbusd needs one unsigned operand. Q4_0's nibbles already are (the -8 offset becomes
// -8 * sum(x)); Q8_0's weights are biased to w + 128 (an xor of the sign bit) and the bias
// removed as -128 * sum(x). Both corrections are computed once per activation block and seed the
// accumulator, so each weight row costs one vpdpbusd. int32 accumulation is exact.
template <class Encoding>
struct VnniInt8 {
  static __m256i x_sums(__m256i x) {
    return Encoding::dpbusd(_mm256_setzero_si256(), _mm256_set1_epi8(1), x);
  }

  struct Q4Activation {
    __m256i x;
    __m256i minus_eight_x_sums;
  };
  static Q4Activation prepare_q4(__m256i x) {
    return {x, _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(x_sums(x), 3))};
  }
  static __m256i dot_q4(__m256i nibbles, const Q4Activation& a) {
    return Encoding::dpbusd(a.minus_eight_x_sums, nibbles, a.x);
  }

  struct Q8Activation {
    __m256i x;
    __m256i minus_128_x_sums;
  };
  static Q8Activation prepare_q8(__m256i x) {
    return {x, _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(x_sums(x), 7))};
  }
  static __m256i dot_q8(const std::byte* w_qs, const Q8Activation& a) {
    const __m256i biased = _mm256_xor_si256(load_256(w_qs), _mm256_set1_epi8(-128));
    return Encoding::dpbusd(a.minus_128_x_sums, biased, a.x);
  }

  static __m256i dot_u8s8(__m256i u, __m256i s) {
    return Encoding::dpbusd(_mm256_setzero_si256(), u, s);
  }
  static __m256i add_u8s8(__m256i acc, __m256i u, __m256i s) { return Encoding::dpbusd(acc, u, s); }
  // vpdpbusd multiplies unsigned by signed bytes: w + 128 (w with its top bit flipped, by
  // prepare_s8, once per weight block) is unsigned, and the extra 128 * sum(s) per block is taken
  // off up front through the bias.
  static __m256i prepare_s8(__m256i w) { return _mm256_xor_si256(w, _mm256_set1_epi8(-128)); }
  static __m256i add_s8s8(__m256i acc, __m256i w, __m256i s) { return Encoding::dpbusd(acc, w, s); }
  static int s8s8_bias(int sum) { return -128 * sum; }
  // The k-quants scale every 16 or 32 products, so their pairs go through maddubs as at the
  // AVX2 level (exact for u <= 63); vpdpwssd then scales and accumulates in one instruction.
  static __m256i add_scaled(__m256i acc, __m256i u, __m256i s, __m256i scales) {
    return Encoding::dpwssd(acc, _mm256_maddubs_epi16(u, s), scales);
  }
};

}  // namespace
}  // namespace flux
