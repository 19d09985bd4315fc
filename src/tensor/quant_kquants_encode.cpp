// Encoding of the k-quants, following ggml's reference quantisers (quantize_row_q4_K_ref,
// quantize_row_q5_K_ref, quantize_row_q6_K_ref, quantize_row_q8_K_ref): what llama-quantize
// runs when it has no importance matrix. The scale searches (make_qkx2_quants, make_qx_quants)
// keep ggml's float operation order, since a different rounding anywhere can flip a quant and
// then the file is no longer byte-identical to llama.cpp's.

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>

#include "tensor/blocks.hpp"
#include "tensor/quant.hpp"
#include "tensor/rounding.hpp"
#include "tensor/row_codecs.hpp"

namespace flux::codecs {
namespace {

using rounding::nearest_int;

constexpr std::size_t kSubBlocks32 = kQK_K / 32;
constexpr std::size_t kSubBlocks16 = kQK_K / 16;
// ggml's GROUP_MAX_EPS: below this a group counts as all zeros.
constexpr float kGroupMaxEps = 1e-15f;

// Search parameters of make_qkx2_quants: candidate inverse scales (nmax + rmin + rdelta * i) /
// (max - min) for i = 0..steps.
struct ScaleSearch {
  int nmax;
  float rmin;
  float rdelta;
  int steps;
};

struct AffineFit {
  float scale;
  float min;  // subtracted: x ~ scale * q - min, min >= 0
};

// ggml's make_qkx2_quants with use_mad = false: fits x ~ scale * q - min with q in [0, nmax]
// minimising the weighted squared error, trying a few candidate scales and refining each by
// weighted least squares. Writes the chosen quants into q. While searching, `min` is the offset
// as ggml keeps it (x ~ scale * q + min, min <= 0); the result reports it negated.
AffineFit fit_affine_quants(FloatRow x, FloatRow weights, const ScaleSearch& search,
                            std::span<std::uint8_t> q) {
  const std::size_t n = x.size();
  float min = x[0];
  float max = x[0];
  float sum_w = weights[0];
  float sum_x = sum_w * x[0];
  for (std::size_t i = 1; i < n; ++i) {
    if (x[i] < min) min = x[i];
    if (x[i] > max) max = x[i];
    const float w = weights[i];
    sum_w += w;
    sum_x += w * x[i];
  }
  if (min > 0) min = 0;
  if (max == min) {
    std::fill(q.begin(), q.end(), std::uint8_t{0});
    return {0.0f, -min};
  }
  const auto quantize_at = [&](float inverse_scale, float offset, std::size_t i) {
    return static_cast<std::uint8_t>(
        std::clamp(nearest_int(inverse_scale * (x[i] - offset)), 0, search.nmax));
  };

  const float nmax = static_cast<float>(search.nmax);
  float inverse_scale = nmax / (max - min);
  float scale = 1 / inverse_scale;
  float best_error = 0;
  for (std::size_t i = 0; i < n; ++i) {
    q[i] = quantize_at(inverse_scale, min, i);
    const float diff = scale * static_cast<float>(q[i]) + min - x[i];
    best_error += weights[i] * (diff * diff);
  }

  std::array<std::uint8_t, 32> candidate{};
  check(n <= candidate.size(), "fit_affine_quants: group larger than 32");
  for (int step = 0; step <= search.steps; ++step) {
    inverse_scale = (search.rmin + search.rdelta * static_cast<float>(step) + nmax) / (max - min);
    float sum_l = 0, sum_l2 = 0, sum_xl = 0;
    for (std::size_t i = 0; i < n; ++i) {
      candidate[i] = quantize_at(inverse_scale, min, i);
      const float l = static_cast<float>(candidate[i]);
      const float w = weights[i];
      sum_l += w * l;
      sum_l2 += w * l * l;
      sum_xl += w * l * x[i];
    }
    const float det = sum_w * sum_l2 - sum_l * sum_l;
    if (det > 0) {
      float this_scale = (sum_w * sum_xl - sum_x * sum_l) / det;
      float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / det;
      if (this_min > 0) {
        this_min = 0;
        this_scale = sum_xl / sum_l2;
      }
      float error = 0;
      for (std::size_t i = 0; i < n; ++i) {
        const float diff = this_scale * static_cast<float>(candidate[i]) + this_min - x[i];
        error += weights[i] * (diff * diff);
      }
      if (error < best_error) {
        std::copy_n(candidate.begin(), n, q.begin());
        best_error = error;
        scale = this_scale;
        min = this_min;
      }
    }
  }
  return {scale, -min};
}

// ggml's make_qx_quants with rmse_type = 1 and no importance weights: a symmetric scale for
// q in [-nmax, nmax - 1] (stored offset by nmax), chosen among 19 candidates by the x^2-weighted
// least-squares fit. Returns the scale (negative when the extreme value is positive).
float fit_symmetric_quants(FloatRow x, int nmax, std::span<std::int8_t> q) {
  float max = 0;
  float amax = 0;
  for (float v : x) {
    if (std::fabs(v) > amax) {
      amax = std::fabs(v);
      max = v;
    }
  }
  if (amax < kGroupMaxEps) {
    std::fill(q.begin(), q.end(), std::int8_t{0});
    return 0.0f;
  }
  const auto level = [&](float inverse_scale, float v) {
    return std::clamp(nearest_int(inverse_scale * v), -nmax, nmax - 1);
  };
  // Least-squares numerator and denominator with weights x^2, as ggml accumulates them.
  const auto fit = [&](float inverse_scale, float& sum_lx, float& sum_l2) {
    sum_lx = 0;
    sum_l2 = 0;
    for (float v : x) {
      const float l = static_cast<float>(level(inverse_scale, v));
      const float w = v * v;
      sum_lx += w * v * l;
      sum_l2 += w * l * l;
    }
  };
  const auto store = [&](float inverse_scale) {
    for (std::size_t i = 0; i < x.size(); ++i)
      q[i] = static_cast<std::int8_t>(nmax + level(inverse_scale, x[i]));
  };

  float inverse_scale = static_cast<float>(-nmax) / max;
  float sum_lx = 0;
  float sum_l2 = 0;
  fit(inverse_scale, sum_lx, sum_l2);
  store(inverse_scale);
  float scale = sum_l2 != 0 ? sum_lx / sum_l2 : 0.0f;
  float best = scale * sum_lx;
  for (int step = -9; step <= 9; ++step) {
    if (step == 0) continue;
    inverse_scale = -(static_cast<float>(nmax) + 0.1f * static_cast<float>(step)) / max;
    fit(inverse_scale, sum_lx, sum_l2);
    if (sum_l2 > 0 && sum_lx * sum_lx > best * sum_l2) {
      store(inverse_scale);
      scale = sum_lx / sum_l2;
      best = scale * sum_lx;
    }
  }
  return scale;
}

// The 6-bit level (0..63) of a sub-block scale or min; `inverse` maps the largest one to 63.
std::uint8_t six_bit_level(float value, float inverse) {
  // ggml stores nearest_int's result in a uint8_t before clamping; keep that wrap-around.
  return std::min<std::uint8_t>(63, static_cast<std::uint8_t>(nearest_int(inverse * value)));
}

// The part Q4_K and Q5_K share: per-32 affine fits, 6-bit scales and mins under two f16
// super-scales, then the final quants re-derived from the rounded scales. Returns the packed
// scales and f16 d/dmin through the block; quants (0..nmax) go to `levels`.
template <class Block>
void encode_affine_super_block(FloatRow x, const ScaleSearch& search, Block& block,
                               std::array<std::uint8_t, kQK_K>& levels) {
  std::array<float, kSubBlocks32> scales{};
  std::array<float, kSubBlocks32> mins{};
  std::array<float, 32> weights{};
  float max_scale = 0;  // the mins are subtracted, so the scales are never negative
  float max_min = 0;
  for (std::size_t j = 0; j < kSubBlocks32; ++j) {
    const FloatRow group = x.subspan(32 * j, 32);
    float sum_x2 = 0;
    for (float v : group) sum_x2 += v * v;
    const float average_magnitude = std::sqrt(sum_x2 / 32);
    for (std::size_t l = 0; l < 32; ++l) weights[l] = average_magnitude + std::fabs(group[l]);
    const AffineFit fit =
        fit_affine_quants(group, weights, search, std::span(levels).subspan(32 * j, 32));
    scales[j] = fit.scale;
    mins[j] = fit.min;
    if (fit.scale > max_scale) max_scale = fit.scale;
    if (fit.min > max_min) max_min = fit.min;
  }

  const float inverse_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
  const float inverse_min = max_min > 0 ? 63.f / max_min : 0.f;
  std::array<ScaleMin, kSubBlocks32> packed{};
  for (std::size_t j = 0; j < kSubBlocks32; ++j) {
    packed[j] = {six_bit_level(scales[j], inverse_scale), six_bit_level(mins[j], inverse_min)};
  }
  block.scales = pack_scale_min_k4(packed);
  block.d = f32_to_f16(max_scale / 63.f);
  block.dmin = f32_to_f16(max_min / 63.f);

  // Re-quantise against the scales as they will be decoded. A sub-block whose scale rounded to
  // zero keeps the quants of its fit, as in ggml.
  for (std::size_t j = 0; j < kSubBlocks32; ++j) {
    const ScaleMin sm = unpack_scale_min_k4(block.scales, j);
    const float d = f16_to_f32(block.d) * static_cast<float>(sm.scale);
    if (d == 0.0f) continue;
    const float dm = f16_to_f32(block.dmin) * static_cast<float>(sm.min);
    for (std::size_t l = 0; l < 32; ++l) {
      levels[32 * j + l] = static_cast<std::uint8_t>(
          std::clamp(nearest_int((x[32 * j + l] + dm) / d), 0, search.nmax));
    }
  }
}

}  // namespace

void quantize_q4_k(FloatRow src, MutableByteRow dst) {
  const std::size_t blocks = checked_block_count<BlockQ4_K>(dst.size(), src.size(), kQK_K);
  constexpr ScaleSearch kSearch{15, -1.f, 0.1f, 20};
  for (std::size_t b = 0; b < blocks; ++b) {
    BlockQ4_K block{};
    std::array<std::uint8_t, kQK_K> levels{};
    encode_affine_super_block(src.subspan(b * kQK_K, kQK_K), kSearch, block, levels);
    for (std::size_t c = 0; c < kQK_K / 64; ++c) {
      for (std::size_t l = 0; l < 32; ++l) {
        block.qs[32 * c + l] =
            static_cast<std::uint8_t>(levels[64 * c + l] | (levels[64 * c + 32 + l] << 4));
      }
    }
    store_block(dst, b, block);
  }
}

void quantize_q5_k(FloatRow src, MutableByteRow dst) {
  const std::size_t blocks = checked_block_count<BlockQ5_K>(dst.size(), src.size(), kQK_K);
  constexpr ScaleSearch kSearch{31, -0.5f, 0.1f, 15};
  for (std::size_t b = 0; b < blocks; ++b) {
    BlockQ5_K block{};
    std::array<std::uint8_t, kQK_K> levels{};
    encode_affine_super_block(src.subspan(b * kQK_K, kQK_K), kSearch, block, levels);
    for (std::size_t c = 0; c < kQK_K / 64; ++c) {
      for (std::size_t l = 0; l < 32; ++l) {
        const int low = levels[64 * c + l];
        const int high = levels[64 * c + 32 + l];
        block.qs[32 * c + l] = static_cast<std::uint8_t>((low & 0xF) | ((high & 0xF) << 4));
        block.qh[l] |=
            static_cast<std::uint8_t>(((low >> 4) << (2 * c)) | ((high >> 4) << (2 * c + 1)));
      }
    }
    store_block(dst, b, block);
  }
}

void quantize_q6_k(FloatRow src, MutableByteRow dst) {
  const std::size_t blocks = checked_block_count<BlockQ6_K>(dst.size(), src.size(), kQK_K);
  for (std::size_t b = 0; b < blocks; ++b) {
    const FloatRow x = src.subspan(b * kQK_K, kQK_K);
    std::array<std::int8_t, kQK_K> levels{};  // q + 32, 0..63
    std::array<float, kSubBlocks16> scales{};
    float max_scale = 0;
    float max_abs_scale = 0;
    for (std::size_t j = 0; j < kSubBlocks16; ++j) {
      scales[j] =
          fit_symmetric_quants(x.subspan(16 * j, 16), 32, std::span(levels).subspan(16 * j, 16));
      if (std::fabs(scales[j]) > max_abs_scale) {
        max_abs_scale = std::fabs(scales[j]);
        max_scale = scales[j];
      }
    }

    BlockQ6_K block{};
    if (max_abs_scale >= kGroupMaxEps) {
      // The sub-scale of largest magnitude maps to -128, the one extra negative level.
      const float inverse = -128.f / max_scale;
      block.d = f32_to_f16(1 / inverse);
      for (std::size_t j = 0; j < kSubBlocks16; ++j) {
        block.scales[j] = static_cast<std::int8_t>(std::min(127, nearest_int(inverse * scales[j])));
      }
      for (std::size_t j = 0; j < kSubBlocks16; ++j) {
        const float d = f16_to_f32(block.d) * static_cast<float>(block.scales[j]);
        if (d == 0.0f) continue;
        for (std::size_t l = 0; l < 16; ++l) {
          levels[16 * j + l] =
              static_cast<std::int8_t>(std::clamp(nearest_int(x[16 * j + l] / d), -32, 31) + 32);
        }
      }
      for (std::size_t h = 0; h < kQK_K / 128; ++h) {
        const std::int8_t* level = levels.data() + 128 * h;
        for (std::size_t l = 0; l < 32; ++l) {
          const int q1 = level[l], q2 = level[l + 32], q3 = level[l + 64], q4 = level[l + 96];
          block.ql[64 * h + l] = static_cast<std::uint8_t>((q1 & 0xF) | ((q3 & 0xF) << 4));
          block.ql[64 * h + l + 32] = static_cast<std::uint8_t>((q2 & 0xF) | ((q4 & 0xF) << 4));
          block.qh[32 * h + l] = static_cast<std::uint8_t>((q1 >> 4) | ((q2 >> 4) << 2) |
                                                           ((q3 >> 4) << 4) | ((q4 >> 4) << 6));
        }
      }
    }
    store_block(dst, b, block);
  }
}

void quantize_q8_k(FloatRow src, MutableByteRow dst) {
  const std::size_t blocks = checked_block_count<BlockQ8_K>(dst.size(), src.size(), kQK_K);
  for (std::size_t b = 0; b < blocks; ++b) {
    const FloatRow x = src.subspan(b * kQK_K, kQK_K);
    float max = 0;
    float amax = 0;
    for (float v : x) {
      if (std::fabs(v) > amax) {
        amax = std::fabs(v);
        max = v;
      }
    }
    BlockQ8_K block{};  // an all-zero block gets d = 0 and zero sums
    if (amax != 0.0f) {
      // -127 rather than -128 keeps every quant within +-127 (ggml needs that for IQ2 kernels).
      const float inverse = -127.f / max;
      for (std::size_t e = 0; e < kQK_K; ++e) {
        block.qs[e] = static_cast<std::int8_t>(std::min(127, nearest_int(inverse * x[e])));
      }
      for (std::size_t j = 0; j < kSubBlocks16; ++j) {
        int sum = 0;
        for (std::size_t l = 0; l < 16; ++l) sum += block.qs[16 * j + l];
        block.bsums[j] = static_cast<std::int16_t>(sum);
      }
      block.d = 1 / inverse;
    }
    store_block(dst, b, block);
  }
}

}  // namespace flux::codecs
