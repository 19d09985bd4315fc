// AVX-512 VNNI kernels (compiled with the AVX-512 flags plus -mavx512vnni; see CMakeLists.txt):
// Q4_0, Q4_1 and Q8_0 dot products through vpdpbusd on 256-bit lanes (AVX-512 VL encoding), which
// multiplies u8 by s8 and adds groups of four into int32 in one instruction; the k-quants
// through vpdpwssd, which applies their int16 sub-block scales and accumulates in one.

#include "kernels/dot_kernels.hpp"
#include "kernels/x86_interleaved_avx512.hpp"
#include "kernels/x86_kquant_templates.hpp"

namespace flux {
namespace {

// vpdpbusd needs one unsigned operand. Q4_0's nibbles already are (the -8 offset becomes
// -8 * sum(x)); Q8_0's weights are biased to w + 128 (an xor of the sign bit) and the bias
// removed as -128 * sum(x). Both corrections are computed once per activation block and seed the
// accumulator, so each weight row costs one vpdpbusd. int32 accumulation is exact.
struct VnniInt8 {
  static __m256i x_sums(__m256i x) {
    return _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_set1_epi8(1), x);
  }

  struct Q4Activation {
    __m256i x;
    __m256i minus_eight_x_sums;
  };
  static Q4Activation prepare_q4(__m256i x) {
    return {x, _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(x_sums(x), 3))};
  }
  static __m256i dot_q4(__m256i nibbles, const Q4Activation& a) {
    return _mm256_dpbusd_epi32(a.minus_eight_x_sums, nibbles, a.x);
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
    return _mm256_dpbusd_epi32(a.minus_128_x_sums, biased, a.x);
  }

  static __m256i dot_u8s8(__m256i u, __m256i s) {
    return _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, s);
  }
  static __m256i add_u8s8(__m256i acc, __m256i u, __m256i s) { return _mm256_dpbusd_epi32(acc, u, s); }
  // vpdpbusd multiplies unsigned by signed bytes: w + 128 (w with its top bit flipped, by
  // prepare_s8, once per weight block) is unsigned, and the extra 128 * sum(s) per block is taken
  // off up front through the bias.
  static __m256i prepare_s8(__m256i w) { return _mm256_xor_si256(w, _mm256_set1_epi8(-128)); }
  static __m256i add_s8s8(__m256i acc, __m256i w, __m256i s) { return _mm256_dpbusd_epi32(acc, w, s); }
  static int s8s8_bias(int sum) { return -128 * sum; }
  // The k-quants scale every 16 or 32 products, so their pairs go through maddubs as at the
  // AVX2 level (exact for u <= 63); vpdpwssd then scales and accumulates in one instruction.
  static __m256i add_scaled(__m256i acc, __m256i u, __m256i s, __m256i scales) {
    return _mm256_dpwssd_epi32(acc, _mm256_maddubs_epi16(u, s), scales);
  }
};

}  // namespace

DotKernels avx512_vnni_kernels(const DotKernels& below) {
  DotKernels k = below;
  k.level = IsaLevel::Avx512Vnni;
  k.q4_0 = q4_0_dot_rows<VnniInt8>;
  k.q8_0 = q8_0_dot_rows<VnniInt8>;
  k.q4_0_tile = q4_0_dot_tile<VnniInt8>;
  k.q8_0_tile = q8_0_dot_tile<VnniInt8>;
  k.q4_0x8 = q4_0x8_dot_groups<Lanes16Vnni, Lanes8<VnniInt8>>;
  k.q4_1x8 = q4_1x8_dot_groups<Lanes16Vnni, Lanes8<VnniInt8>>;
  k.q8_0x8 = q8_0x8_dot_groups<Lanes16Vnni, Lanes8<VnniInt8>>;
  k.q4_kx8 = k4_kx8_dot_groups<Lanes16Vnni, Lanes8<VnniInt8>, false>;
  k.q5_kx8 = k4_kx8_dot_groups<Lanes16Vnni, Lanes8<VnniInt8>, true>;
  k.q6_kx8 = q6_kx8_dot_groups<Lanes16Vnni, Lanes8<VnniInt8>>;
  k.q4_1 = q4_1_dot_rows<VnniInt8>;
  k.q4_k = q4_k_dot_rows<VnniInt8>;
  k.q5_k = q5_k_dot_rows<VnniInt8>;
  k.q6_k = q6_k_dot_rows<VnniInt8>;
  return k;
}

}  // namespace flux
