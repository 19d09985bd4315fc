// The SiLU-multiply kernel of every ISA level against float64, over lengths with vector tails
// and over extreme gates (large of either sign, where exp overflows or underflows).

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "kernels/dot_kernels.hpp"
#include "simd_test_support.hpp"

namespace flux {
namespace {

class SiluMulKernels : public ::testing::TestWithParam<IsaLevel> {};

TEST_P(SiluMulKernels, AgreeWithFloat64) {
  const SiluMulFn silu_mul = kernel_table_for(GetParam()).silu_mul;
  ASSERT_NE(silu_mul, nullptr);
  std::mt19937 rng(31);
  for (std::size_t n : {1u, 7u, 8u, 9u, 100u, 1001u}) {
    std::vector<float> gate = testing::random_floats(rng, n, 8.0f);
    const std::vector<float> up = testing::random_floats(rng, n, 2.0f);
    // Gates where exp(-g) overflows or vanishes, and exact zero.
    const float extremes[] = {-200.0f, -88.5f, -87.0f, 0.0f, 87.0f, 88.5f, 200.0f};
    for (std::size_t i = 0; i < n && i < std::size(extremes); ++i) gate[i * 7 % n] = extremes[i];
    const std::vector<float> original = gate;
    silu_mul(gate.data(), up.data(), n);
    for (std::size_t i = 0; i < n; ++i) {
      const double g = original[i];
      const double expected = g / (1.0 + std::exp(-g)) * up[i];
      ASSERT_TRUE(std::isfinite(gate[i])) << "n " << n << " gate " << g;
      // A few ulp, or an absolute underflow-sized error where the result is ~0 (g << 0).
      ASSERT_NEAR(gate[i], expected, 8 * std::numeric_limits<float>::epsilon() * std::fabs(expected) + 1e-35)
          << "n " << n << " gate " << g << " up " << up[i];
    }
  }
}

INSTANTIATE_TEST_SUITE_P(EveryLevel, SiluMulKernels, ::testing::ValuesIn(supported_isa_levels()),
                         [](const auto& info) { return std::string(isa_level_name(info.param)); });

}  // namespace
}  // namespace flux
