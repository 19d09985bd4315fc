// The fast Q8_0 activation quantiser must write the reference quantize_row's bytes exactly
// (roundf ties away from zero, NaN/inf/denormal handling included) at every level.

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "kernels/dot_kernels.hpp"
#include "simd_test_support.hpp"
#include "tensor/quant.hpp"

namespace flux {
namespace {

class QuantizeQ8_0Test : public ::testing::TestWithParam<IsaLevel> {
 protected:
  // Quantises `values` with the level's kernel (to a misaligned destination) and the reference,
  // and compares the bytes.
  void expect_reference_bytes(const std::vector<float>& values, std::size_t misalignment) const {
    const auto n = static_cast<std::int64_t>(values.size());
    const std::size_t bytes = row_bytes(TensorType::Q8_0, n);
    testing::MisalignedBytes fast(bytes, misalignment);
    std::vector<std::byte> reference(bytes);
    kernel_table_for(GetParam()).quantize_q8_0(values.data(), fast.data(), n);
    quantize_row(TensorType::Q8_0, values.data(), reference.data(), n);
    for (std::size_t i = 0; i < bytes; ++i) {
      ASSERT_EQ(fast.data()[i], reference[i]) << "byte " << i << " of " << bytes;
    }
  }
};

TEST_P(QuantizeQ8_0Test, RandomRowsAreByteIdentical) {
  std::mt19937 rng(31);
  std::size_t misalignment = 0;
  for (std::int64_t n : {32, 96, 2048, 11008}) {
    for (float scale : {1e-3f, 1.0f, 37.0f, 1e6f}) {
      expect_reference_bytes(testing::random_floats(rng, static_cast<std::size_t>(n), scale),
                             misalignment);
      misalignment = (misalignment + 1) % 4;
    }
  }
}

// amax = 127 makes 1/d exactly 1, so x.5 values are exact ties: roundf sends them away from zero
// where the FPU's default rounding would go to even.
TEST_P(QuantizeQ8_0Test, TiesRoundAwayFromZero) {
  std::vector<float> values(32);
  values[0] = 127.0f;
  for (std::size_t i = 1; i < values.size(); ++i) {
    values[i] = (static_cast<float>(i) - 16.0f) + 0.5f;
  }
  expect_reference_bytes(values, 1);
}

TEST_P(QuantizeQ8_0Test, SpecialValuesMatchReference) {
  constexpr float kInf = std::numeric_limits<float>::infinity();
  constexpr float kNan = std::numeric_limits<float>::quiet_NaN();
  constexpr float kDenormal = std::numeric_limits<float>::denorm_min();
  std::vector<std::vector<float>> blocks = {
      std::vector<float>(32, 0.0f),
      std::vector<float>(32, -0.0f),
      std::vector<float>(32, 3e38f),
      std::vector<float>(32, kDenormal),  // 1/d overflows to inf
  };
  std::vector<float> mixed(32, 1.0f);
  mixed[3] = kNan;
  mixed[4] = -2.0f;
  blocks.push_back(mixed);
  mixed[5] = kInf;
  blocks.push_back(mixed);
  mixed[6] = -kInf;
  blocks.push_back(mixed);
  std::vector<float> tiny(32);
  for (std::size_t i = 0; i < tiny.size(); ++i) tiny[i] = kDenormal * static_cast<float>(i) - 1e-39f;
  blocks.push_back(tiny);
  for (const auto& block : blocks) expect_reference_bytes(block, 3);
}

INSTANTIATE_TEST_SUITE_P(Levels, QuantizeQ8_0Test, ::testing::ValuesIn(supported_isa_levels()),
                         [](const auto& info) { return testing::level_test_name(info.param); });

}  // namespace
}  // namespace flux
