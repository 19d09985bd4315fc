// AVX2 activation quantisers (compiled with the AVX2 flags; see CMakeLists.txt): Q8_0 and Q8_1
// (the Q4_0 / Q8_0 and Q4_1 activations) and Q8_K (the k-quants'). Each writes the reference
// quantize_row's bytes exactly, so every kernel level sees the same activations.

#include <cstring>

#include "kernels/quantize_x86.hpp"
#include "kernels/x86_kernel_templates.hpp"
#include "tensor/quant.hpp"

namespace flux {
namespace {

float horizontal_max(__m256 v) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  return _mm_cvtss_f32(_mm_max_ss(m, _mm_movehdup_ps(m)));
}

int horizontal_sum_i32(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
  return _mm_cvtsi128_si32(_mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1)));
}

// Lane i: the sum of int8 elements 4i..4i+3 of q (exact: maddubs' pairs of +-128 fit int16).
__m256i quad_sums(__m256i q) {
  return _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(1), q), _mm256_set1_epi16(1));
}

// roundf (halves away from zero) of lanes already clamped to [-128, 127]: truncate, then step
// one away from zero where the dropped fraction is at least one half. v - trunc(v) is exact.
__m256 round_half_away_from_zero(__m256 v) {
  const __m256 truncated = _mm256_round_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
  const __m256 sign_bit = _mm256_set1_ps(-0.0f);
  const __m256 fraction = _mm256_andnot_ps(sign_bit, _mm256_sub_ps(v, truncated));
  const __m256 needs_step = _mm256_cmp_ps(fraction, _mm256_set1_ps(0.5f), _CMP_GE_OQ);
  const __m256 signed_one = _mm256_or_ps(_mm256_and_ps(v, sign_bit), _mm256_set1_ps(1.0f));
  return _mm256_add_ps(truncated, _mm256_and_ps(needs_step, signed_one));
}

// One block of 32 as Q8_0 and Q8_1 quantise it, byte-identical to the reference
// quantize_8bit_block: the same float operations (amax / 127, 1 / d, x * (1 / d)) and roundf's
// ties-away rounding, not the FPU's ties-to-even that ggml's own SIMD quantiser uses, so
// FLUX_ISA=scalar and the fast levels feed the dot products the same bytes. Lanes are clamped
// before rounding exactly as round_clamped does (NaN to -128, +-inf from a denormal scale to
// 127 / -128). Returns the unrounded f32 scale and the 32 quants in element order.
struct Block32 {
  float d;
  __m256i qs;
};

Block32 quantize_block_32(const float* xs) {
  const __m256 sign_bit = _mm256_set1_ps(-0.0f);
  __m256 v[4];
  // max_ps returns its second operand when either is NaN, so NaN inputs never win, as in the
  // reference's std::max(amax, |x|).
  __m256 amax8 = _mm256_setzero_ps();
  for (int k = 0; k < 4; ++k) {
    v[k] = _mm256_loadu_ps(xs + 8 * k);
    amax8 = _mm256_max_ps(_mm256_andnot_ps(sign_bit, v[k]), amax8);
  }
  const float d = horizontal_max(amax8) / 127.0f;
  const float inverse = d != 0.0f ? 1.0f / d : 0.0f;

  __m256i q[4];
  for (int k = 0; k < 4; ++k) {
    __m256 scaled = _mm256_mul_ps(v[k], _mm256_set1_ps(inverse));
    scaled = _mm256_max_ps(scaled, _mm256_set1_ps(-128.0f));  // NaN -> -128 (second operand)
    scaled = _mm256_min_ps(scaled, _mm256_set1_ps(127.0f));
    q[k] = _mm256_cvttps_epi32(round_half_away_from_zero(scaled));
  }
  // packs works within 128-bit lanes; the permute restores element order.
  const __m256i words = _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]),
                                           _mm256_packs_epi32(q[2], q[3]));
  return {d, _mm256_permutevar8x32_epi32(words, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7))};
}

// F16C's conversion (ties to even, overflow to inf, subnormal results kept) is f32_to_f16's
// except for NaN, which f32_to_f16 maps to one quiet NaN as ggml does while F16C keeps the
// payload: NaN takes the reference path.
std::uint16_t to_f16(float value) {
  if (value != value) return f32_to_f16(value);
  return static_cast<std::uint16_t>(_cvtss_sh(value, _MM_FROUND_TO_NEAREST_INT));
}

void store_f16(std::byte* p, float value) {
  const std::uint16_t bits = to_f16(value);
  std::memcpy(p, &bits, sizeof bits);
}

void store_256(std::byte* p, __m256i v) { _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), v); }

}  // namespace

void quantize_q8_0_avx2(const float* src, std::byte* dst, std::int64_t n) {
  const auto blocks = static_cast<std::size_t>(n) / kQK8_0;
  for (std::size_t b = 0; b < blocks; ++b) {
    const Block32 q = quantize_block_32(src + b * kQK8_0);
    std::byte* block = dst + b * sizeof(BlockQ8_0);
    store_f16(block + offsetof(BlockQ8_0, d), q.d);
    store_256(block + offsetof(BlockQ8_0, qs), q.qs);
  }
}

// Halves as quantize_row(F16) writes them, 8 at a time; a group of 8 holding a NaN goes
// through to_f16 lane by lane (see there).
void quantize_f16_avx2(const float* src, std::byte* dst, std::int64_t n) {
  const auto count = static_cast<std::size_t>(n);
  std::size_t i = 0;
  for (; i + 8 <= count; i += 8) {
    const __m256 v = _mm256_loadu_ps(src + i);
    if (_mm256_movemask_ps(_mm256_cmp_ps(v, v, _CMP_UNORD_Q)) == 0) {
      _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + 2 * i), _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT));
      continue;
    }
    for (std::size_t k = i; k < i + 8; ++k) store_f16(dst + 2 * k, src[k]);
  }
  for (; i < count; ++i) store_f16(dst + 2 * i, src[i]);
}

// Bfloat16s as quantize_row(BF16) writes them (f32_to_bf16: ties to even on the dropped 16 bits,
// NaN keeps its sign and top payload bits with the quiet bit set), 8 at a time.
void quantize_bf16_avx2(const float* src, std::byte* dst, std::int64_t n) {
  const auto count = static_cast<std::size_t>(n);
  std::size_t i = 0;
  for (; i + 8 <= count; i += 8) {
    const __m256 v = _mm256_loadu_ps(src + i);
    const __m256i bits = _mm256_castps_si256(v);
    const __m256i odd = _mm256_and_si256(_mm256_srli_epi32(bits, 16), _mm256_set1_epi32(1));
    const __m256i rounded = _mm256_srli_epi32(_mm256_add_epi32(bits, _mm256_add_epi32(odd, _mm256_set1_epi32(0x7fff))), 16);
    const __m256i quiet = _mm256_or_si256(_mm256_srli_epi32(bits, 16), _mm256_set1_epi32(0x40));
    const __m256i halves = _mm256_blendv_epi8(rounded, quiet, _mm256_castps_si256(_mm256_cmp_ps(v, v, _CMP_UNORD_Q)));
    // packus works within 128-bit lanes; the permute puts the two lanes' 4 halves in order.
    const __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi32(halves, halves), 0xD8);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + 2 * i), _mm256_castsi256_si128(packed));
  }
  for (; i < count; ++i) {
    const std::uint16_t half = f32_to_bf16(src[i]);
    std::memcpy(dst + 2 * i, &half, sizeof half);
  }
}

// Q8_0's quants plus s = d * sum(q), with the sum of the quants as stored (int8).
void quantize_q8_1_avx2(const float* src, std::byte* dst, std::int64_t n) {
  const auto blocks = static_cast<std::size_t>(n) / kQK8_1;
  for (std::size_t b = 0; b < blocks; ++b) {
    const Block32 q = quantize_block_32(src + b * kQK8_1);
    const int sum = horizontal_sum_i32(quad_sums(q.qs));
    std::byte* block = dst + b * sizeof(BlockQ8_1);
    store_f16(block + offsetof(BlockQ8_1, d), q.d);
    store_f16(block + offsetof(BlockQ8_1, s), static_cast<float>(sum) * q.d);
    store_256(block + offsetof(BlockQ8_1, qs), q.qs);
  }
}

namespace {

// ggml's nearest_int on 8 lanes, bit for bit (rounding::nearest_int): adding 1.5 * 2^23 leaves
// the rounded value (ties to even) in the low mantissa bits, read back with integer operations,
// so NaN and inf give the same (meaningless) integers as the reference too.
__m256i nearest_int(__m256 v) {
  const __m256i bits = _mm256_castps_si256(_mm256_add_ps(v, _mm256_set1_ps(12582912.0f)));
  return _mm256_sub_epi32(_mm256_and_si256(bits, _mm256_set1_epi32(0x007FFFFF)),
                          _mm256_set1_epi32(0x00400000));
}

// The low bytes of 32 int32 lanes (a C cast to int8 of each), in element order.
__m256i truncate_to_bytes(const __m256i q[4]) {
  const __m256i low_byte = _mm256_set1_epi32(0xFF);
  const __m256i words = _mm256_packus_epi32(_mm256_and_si256(q[0], low_byte),
                                            _mm256_and_si256(q[1], low_byte));
  const __m256i words2 = _mm256_packus_epi32(_mm256_and_si256(q[2], low_byte),
                                             _mm256_and_si256(q[3], low_byte));
  return _mm256_permutevar8x32_epi32(_mm256_packus_epi16(words, words2),
                                     _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

// Q8_K's bsums for four consecutive 32-element vectors a, b, c, d: the eight sums of 16, in
// element order, as int16.
__m128i sums_of_16(const __m256i q[4]) {
  // Each 128-bit half of quad_sums(v) holds one 16-element half of v as four partial sums; two
  // rounds of hadd finish all eight: [a_lo b_lo c_lo d_lo | a_hi b_hi c_hi d_hi].
  const __m256i ab = _mm256_hadd_epi32(quad_sums(q[0]), quad_sums(q[1]));
  const __m256i cd = _mm256_hadd_epi32(quad_sums(q[2]), quad_sums(q[3]));
  const __m256i sums = _mm256_permutevar8x32_epi32(_mm256_hadd_epi32(ab, cd),
                                                   _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
  return _mm_packs_epi32(_mm256_castsi256_si128(sums), _mm256_extracti128_si256(sums, 1));
}

}  // namespace

// As the reference quantize_q8_k: the scale comes from the first element of largest magnitude
// (its sign included; NaN never wins), q = min(127, nearest_int(-127 / max * x)) cast to int8,
// d = 1 / inverse, and bsums summed from the stored quants.
void quantize_q8_k_avx2(const float* src, std::byte* dst, std::int64_t n) {
  constexpr int kVectors = static_cast<int>(kQK_K / 8);
  const auto blocks = static_cast<std::size_t>(n) / kQK_K;
  const __m256 sign_bit = _mm256_set1_ps(-0.0f);
  for (std::size_t b = 0; b < blocks; ++b) {
    const float* xs = src + b * kQK_K;
    std::byte* block = dst + b * sizeof(BlockQ8_K);
    __m256 amax8 = _mm256_setzero_ps();
    for (int k = 0; k < kVectors; ++k) {
      amax8 = _mm256_max_ps(_mm256_andnot_ps(sign_bit, _mm256_loadu_ps(xs + 8 * k)), amax8);
    }
    const float amax = horizontal_max(amax8);
    if (amax == 0.0f) {  // all zeros (or NaN): the reference writes an all-zero block
      std::memset(block, 0, sizeof(BlockQ8_K));
      continue;
    }
    float max = 0.0f;
    for (int k = 0; k < kVectors; ++k) {
      const __m256 magnitude = _mm256_andnot_ps(sign_bit, _mm256_loadu_ps(xs + 8 * k));
      const int hits = _mm256_movemask_ps(_mm256_cmp_ps(magnitude, _mm256_set1_ps(amax), _CMP_EQ_OQ));
      if (hits != 0) {
        max = xs[8 * k + __builtin_ctz(static_cast<unsigned>(hits))];
        break;
      }
    }
    const float inverse = -127.f / max;
    const float d = 1 / inverse;
    std::memcpy(block + offsetof(BlockQ8_K, d), &d, sizeof d);

    for (int group = 0; group < kVectors / 16; ++group) {  // 128 elements: four output vectors
      __m256i bytes[4];
      for (int v = 0; v < 4; ++v) {
        __m256i q[4];
        for (int k = 0; k < 4; ++k) {
          const __m256 x = _mm256_loadu_ps(xs + 128 * group + 32 * v + 8 * k);
          q[k] = _mm256_min_epi32(nearest_int(_mm256_mul_ps(_mm256_set1_ps(inverse), x)),
                                  _mm256_set1_epi32(127));
        }
        bytes[v] = truncate_to_bytes(q);
        store_256(block + offsetof(BlockQ8_K, qs) + 128 * group + 32 * v, bytes[v]);
      }
      _mm_storeu_si128(reinterpret_cast<__m128i*>(block + offsetof(BlockQ8_K, bsums) + 16 * group),
                       sums_of_16(bytes));
    }
  }
}

}  // namespace flux
