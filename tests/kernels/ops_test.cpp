// rms_norm, apply_rope, silu_mul and softmax against float64 implementations written from the
// definitions (not from ggml's loops).

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cmath>
#include <numbers>
#include <string>
#include <vector>

#include "kernels/ops.hpp"
#include "kernels/seeded_random.hpp"

namespace flux {
namespace {

using testing::SeededRandom;

constexpr double kFloatEpsilon = 0x1p-23;

// ---- rms_norm ----

std::vector<double> rms_norm64(const std::vector<float>& x, const std::vector<float>& w, double eps) {
  double sum_squares = 0.0;
  for (float v : x) sum_squares += static_cast<double>(v) * v;
  const double scale = 1.0 / std::sqrt(sum_squares / static_cast<double>(x.size()) + eps);
  std::vector<double> out(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) out[i] = x[i] * scale * w[i];
  return out;
}

TEST(RmsNorm, AgreesWithFloat64) {
  std::uint32_t seed = 0;
  double worst = 0.0;
  for (std::size_t n : {1u, 7u, 64u, 4097u}) {
    // 1e-3: eps is a visible part of the mean; 300: large activations of late layers.
    for (float scale : {1e-3f, 1.0f, 300.0f}) {
      for (float eps : {1e-5f, 1e-6f}) {
        SeededRandom random(++seed);
        const std::vector<float> x = random.normals(n, scale);
        std::vector<float> w(n);
        for (float& v : w) v = random.uniform(-2.0f, 2.0f);
        std::vector<float> out(n, std::nanf(""));
        rms_norm(x, w, eps, out);
        const std::vector<double> expected = rms_norm64(x, w, eps);
        for (std::size_t i = 0; i < n; ++i) {
          // A handful of float roundings per element: the mean, the root, two products.
          const double error = std::fabs(out[i] - expected[i]);
          worst = std::max(worst, error / (std::fabs(expected[i]) + 1e-30));
          ASSERT_LE(error, 8 * kFloatEpsilon * std::fabs(expected[i]) + 1e-30)
              << "n=" << n << " scale=" << scale << " eps=" << eps << " i=" << i;
        }
      }
    }
  }
  RecordProperty("worst_relative_error", fmt::format("{:.3e}", worst));
}

TEST(RmsNorm, EpsilonIsAddedToTheMeanNotTheRoot) {
  // For x = 0.001 everywhere and eps = 1e-5: mean(x^2) = 1e-6, so out = 0.001 / sqrt(1.1e-5).
  const std::vector<float> x(16, 1e-3f), w(16, 1.0f);
  std::vector<float> out(16);
  rms_norm(x, w, 1e-5f, out);
  EXPECT_NEAR(out[0], 1e-3 / std::sqrt(1.1e-5), 1e-6);
}

// ---- rope ----

struct RopeCase {
  bool neox;
  int head_dim;
  int n_dims;
  bool with_factors;
  float freq_scale;
};

std::string rope_case_name(const ::testing::TestParamInfo<RopeCase>& info) {
  const RopeCase& c = info.param;
  return std::string(c.neox ? "neox" : "normal") + "_d" + std::to_string(c.head_dim) + "_rot" +
         std::to_string(c.n_dims) + (c.with_factors ? "_factors" : "") +
         (c.freq_scale != 1.0f ? "_scale" + std::to_string(static_cast<int>(1.0f / c.freq_scale)) : "");
}

// theta_i = pos * freq_scale * base^(-2i / n_dims) / factor_i, rotating the pair (2i, 2i+1), or
// (i, i + n_dims/2) in NEOX mode; dimensions from n_dims on are left alone.
std::vector<double> rope64(const std::vector<float>& head, std::int64_t pos, const RopeCase& c, double base,
                           const std::vector<float>& factors, std::vector<double>& angles) {
  std::vector<double> out(head.begin(), head.end());
  const int half = c.n_dims / 2;
  angles.assign(static_cast<std::size_t>(half), 0.0);
  for (int i = 0; i < half; ++i) {
    const double factor = factors.empty() ? 1.0 : factors[static_cast<std::size_t>(i)];
    const double theta = static_cast<double>(pos) * c.freq_scale * std::pow(base, -2.0 * i / c.n_dims) / factor;
    angles[static_cast<std::size_t>(i)] = theta;
    const int a = c.neox ? i : 2 * i;
    const int b = c.neox ? i + half : 2 * i + 1;
    const double x0 = head[static_cast<std::size_t>(a)], x1 = head[static_cast<std::size_t>(b)];
    out[static_cast<std::size_t>(a)] = x0 * std::cos(theta) - x1 * std::sin(theta);
    out[static_cast<std::size_t>(b)] = x0 * std::sin(theta) + x1 * std::cos(theta);
  }
  return out;
}

class Rope : public ::testing::TestWithParam<RopeCase> {};

TEST_P(Rope, AgreesWithFloat64AndLeavesTheTailAlone) {
  const RopeCase& c = GetParam();
  const int n_heads = 3;
  const float base = 10000.0f;
  SeededRandom random(static_cast<std::uint32_t>(c.head_dim * 131 + c.n_dims * 7 + (c.neox ? 1 : 0)));
  std::vector<float> factors;
  // Llama 3's factors are 1 for high frequencies and up to 8 for low ones.
  if (c.with_factors)
    for (int i = 0; i < c.n_dims / 2; ++i) factors.push_back(random.uniform(1.0f, 8.0f));
  const RopeParams params{c.n_dims, base, c.freq_scale, c.neox, factors};

  std::vector<float> scratch;
  std::vector<double> angles;
  double worst_angle_error_units = 0.0;
  for (std::int64_t pos : {0, 1, 2, 7, 31, 100, 1000, 5000}) {
    const std::vector<float> input = random.normals(static_cast<std::size_t>(n_heads * c.head_dim), 1.0f);
    std::vector<float> x = input;
    apply_rope(x, n_heads, c.head_dim, pos, params, scratch);
    for (int h = 0; h < n_heads; ++h) {
      const auto first = input.begin() + h * c.head_dim;
      const std::vector<float> head(first, first + c.head_dim);
      const std::vector<double> expected = rope64(head, pos, c, base, factors, angles);
      const int half = c.n_dims / 2;
      for (int i = 0; i < half; ++i) {
        const int a = c.neox ? i : 2 * i;
        const int b = c.neox ? i + half : 2 * i + 1;
        const double magnitude = std::fabs(head[static_cast<std::size_t>(a)]) + std::fabs(head[static_cast<std::size_t>(b)]);
        // The kernel computes theta in float as ggml does (base^(-2/n) raised by i repeated
        // multiplications, then divided and scaled), so its angle carries ~(i + 3) float roundings
        // of theta; the rotated pair moves by that angle error times its length.
        const double angle_error = angles[static_cast<std::size_t>(i)] * (i + 3) * kFloatEpsilon;
        const double tolerance = magnitude * (2 * angle_error + 4 * kFloatEpsilon) + 1e-30;
        for (int d : {a, b}) {
          const double got = x[static_cast<std::size_t>(h * c.head_dim + d)];
          const double error = std::fabs(got - expected[static_cast<std::size_t>(d)]);
          worst_angle_error_units = std::max(worst_angle_error_units, error / (magnitude * (angle_error + kFloatEpsilon)));
          ASSERT_LE(error, tolerance) << "pos=" << pos << " head=" << h << " pair=" << i << " dim=" << d;
        }
      }
      for (int d = c.n_dims; d < c.head_dim; ++d)
        ASSERT_EQ(x[static_cast<std::size_t>(h * c.head_dim + d)], head[static_cast<std::size_t>(d)])
            << "unrotated tail changed at pos=" << pos << " head=" << h << " dim=" << d;
    }
  }
  RecordProperty("worst_error_in_angle_error_units", fmt::format("{:.3e}", worst_angle_error_units));
}

TEST_P(Rope, PositionZeroIsTheIdentity) {
  const RopeCase& c = GetParam();
  SeededRandom random(5);
  const std::vector<float> input = random.normals(static_cast<std::size_t>(2 * c.head_dim), 1.0f);
  std::vector<float> x = input;
  std::vector<float> factors(static_cast<std::size_t>(c.n_dims / 2), 3.0f);
  if (!c.with_factors) factors.clear();
  std::vector<float> scratch;
  apply_rope(x, 2, c.head_dim, 0, RopeParams{c.n_dims, 10000.0f, c.freq_scale, c.neox, factors}, scratch);
  EXPECT_EQ(x, input);
}

INSTANTIATE_TEST_SUITE_P(
    Modes, Rope,
    ::testing::Values(RopeCase{false, 64, 64, false, 1.0f}, RopeCase{true, 64, 64, false, 1.0f},
                      RopeCase{false, 64, 64, true, 1.0f}, RopeCase{true, 64, 64, true, 1.0f},
                      RopeCase{false, 64, 64, false, 0.25f}, RopeCase{true, 64, 64, false, 0.25f},
                      RopeCase{false, 128, 128, true, 0.125f}, RopeCase{true, 128, 128, true, 0.125f},
                      RopeCase{false, 24, 16, false, 1.0f}, RopeCase{true, 24, 16, false, 1.0f},
                      RopeCase{false, 24, 16, true, 0.5f}, RopeCase{true, 24, 16, true, 0.5f},
                      RopeCase{false, 2, 2, false, 1.0f}, RopeCase{true, 2, 2, false, 1.0f}),
    rope_case_name);

TEST(RopeLayout, NormalAndNeoxRotateDifferentPairs) {
  // At pos 1 with one pair per mode, the first pair turns by exactly 1 radian (base^0 = 1):
  // normal mode moves elements 0 and 1, NEOX moves 0 and 2 (n_dims = 4).
  const std::vector<float> input = {1.0f, 0.0f, 0.0f, 0.0f};
  std::vector<float> scratch;
  for (bool neox : {false, true}) {
    std::vector<float> x = input;
    apply_rope(x, 1, 4, 1, RopeParams{4, 10000.0f, 1.0f, neox, {}}, scratch);
    EXPECT_NEAR(x[0], std::cos(1.0), 1e-6);
    EXPECT_NEAR(x[neox ? 2 : 1], std::sin(1.0), 1e-6);
    EXPECT_EQ(x[neox ? 1 : 2], 0.0f);
  }
}

// ---- activations ----

TEST(SiluMul, AgreesWithFloat64) {
  SeededRandom random(3);
  std::vector<float> gate = random.normals(1000, 4.0f);
  const std::vector<float> up = random.normals(1000, 2.0f);
  const std::vector<float> original = gate;
  silu_mul(gate, up);
  for (std::size_t i = 0; i < gate.size(); ++i) {
    const double g = original[i];
    const double expected = g / (1.0 + std::exp(-g)) * up[i];
    ASSERT_NEAR(gate[i], expected, 8 * kFloatEpsilon * std::fabs(expected) + 1e-30) << i;
  }
}

TEST(Softmax, AgreesWithFloat64AndSurvivesLargeLogits) {
  SeededRandom random(4);
  for (float shift : {0.0f, 1000.0f, -1000.0f}) {
    std::vector<float> x = random.normals(257, 5.0f);
    for (float& v : x) v += shift;
    const std::vector<float> original = x;
    softmax(x);
    double max = -1e300, sum = 0.0;
    for (float v : original) max = std::max(max, static_cast<double>(v));
    for (float v : original) sum += std::exp(v - max);
    for (std::size_t i = 0; i < x.size(); ++i) {
      const double argument = original[i] - max;
      const double expected = std::exp(argument) / sum;
      // The kernel rounds x - max to float before exp: a relative error of |x - max| * eps on
      // the result, plus a few roundings of exp, the sum and the product.
      const double tolerance = expected * (std::fabs(argument) + 8) * kFloatEpsilon + 1e-30;
      ASSERT_NEAR(x[i], expected, tolerance) << "shift=" << shift << " i=" << i;
    }
  }
}

}  // namespace
}  // namespace flux
