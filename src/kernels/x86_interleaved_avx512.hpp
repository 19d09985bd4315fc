#pragma once
// Two interleaved groups per 512-bit vector for the AVX-512 VNNI level (only dot_avx512_vnni.cpp
// includes this): lanes 0-7 are the rows of group g, lanes 8-15 those of group g + 1, so one
// vpdpbusd does 64 byte products and the 16 results are 16 consecutive output rows. Each lane
// goes through exactly the operations of Lanes8<VnniInt8> (x86_interleaved_templates.hpp), so a
// row gets the same bits whether its group was paired or computed alone.

#include "kernels/x86_interleaved_templates.hpp"

namespace flux {
namespace {

struct Lanes16Vnni {
  using I = __m512i;
  using F = __m512;
  static constexpr int kGroups = 2;
  // 8 unpacked weight vectors, 8 accumulators and the temporaries fit in 32 registers.
  static constexpr int kPassRows = 8;

  static I load(const std::byte* const* blocks, std::size_t offset) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(load_256(blocks[0] + offset)), load_256(blocks[1] + offset), 1);
  }
  static F load_halves(const std::byte* const* blocks, std::size_t offset) {
    return _mm512_cvtph_ps(
        _mm256_inserti128_si256(_mm256_castsi128_si256(load_128(blocks[0] + offset)), load_128(blocks[1] + offset), 1));
  }
  static I low_nibbles(I packed) { return _mm512_and_si512(packed, _mm512_set1_epi8(0x0F)); }
  static I high_nibbles(I packed) { return low_nibbles(_mm512_srli_epi16(packed, 4)); }
  static I splat_i32(std::int32_t v) { return _mm512_set1_epi32(v); }
  static F splat_f32(float v) { return _mm512_set1_ps(v); }
  static I zero_i() { return _mm512_setzero_si512(); }
  static F zero_f() { return _mm512_setzero_ps(); }
  static I add_u8s8(I acc, I u, I s) { return _mm512_dpbusd_epi32(acc, u, s); }
  // As VnniInt8: w + 128 is unsigned, and the bias takes 128 * sum(s) off.
  static I prepare_s8(I w) { return _mm512_xor_si512(w, _mm512_set1_epi8(-128)); }
  static I add_s8s8(I acc, I w, I s) { return _mm512_dpbusd_epi32(acc, w, s); }
  static std::int32_t s8s8_bias(std::int32_t sum) { return -128 * sum; }
  static I add_i(I a, I b) { return _mm512_add_epi32(a, b); }
  static I mul_i(I a, I b) { return _mm512_mullo_epi32(a, b); }
  static I and_i(I a, std::int32_t mask) { return _mm512_and_si512(a, _mm512_set1_epi32(mask)); }
  static I or_i(I a, I b) { return _mm512_or_si512(a, b); }
  template <int kBits>
  static I shift_left(I a) { return _mm512_slli_epi32(a, kBits); }
  template <int kBits>
  static I shift_right(I a) { return _mm512_srli_epi32(a, kBits); }
  static I shift_right_by(I a, int bits) { return _mm512_srl_epi32(a, _mm_cvtsi32_si128(bits)); }
  static I load_bytes(const std::byte* const* blocks, std::size_t offset) {
    const __m128i first = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(blocks[0] + offset));
    const __m128i second = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(blocks[1] + offset));
    return _mm512_cvtepu8_epi32(_mm_unpacklo_epi64(first, second));
  }
  static I load_signed_bytes(const std::byte* const* blocks, std::size_t offset) {
    const __m128i first = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(blocks[0] + offset));
    const __m128i second = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(blocks[1] + offset));
    return _mm512_cvtepi8_epi32(_mm_unpacklo_epi64(first, second));
  }
  static I load_row_nibbles(const std::byte* const* blocks, std::size_t offset) {
    const I words = _mm512_inserti64x4(_mm512_set1_epi32(load_i32(blocks[0] + offset)),
                                       _mm256_set1_epi32(load_i32(blocks[1] + offset)), 1);
    return _mm512_srlv_epi32(words, _mm512_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28, 0, 4, 8, 12, 16, 20, 24, 28));
  }
  static F to_float(I v) { return _mm512_cvtepi32_ps(v); }
  static F mul(F a, F b) { return _mm512_mul_ps(a, b); }
  static F add_f(F a, F b) { return _mm512_add_ps(a, b); }
  static F fmadd(F a, F b, F c) { return _mm512_fmadd_ps(a, b, c); }
  static F fnmadd(F a, F b, F c) { return _mm512_fnmadd_ps(a, b, c); }
  static void store(float* out, F v) { _mm512_storeu_ps(out, v); }
};

}  // namespace
}  // namespace flux
