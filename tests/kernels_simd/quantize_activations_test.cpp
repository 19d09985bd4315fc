// The fast activation quantisers (Q8_0 for Q4_0 / Q8_0 weights, Q8_1 for Q4_1, Q8_K for the
// k-quants, F16 for F16 weights and KV cache rows) must write the reference quantize_row's bytes exactly at every level: rounding
// (roundf's ties away from zero for Q8_0 / Q8_1, ggml's nearest_int for Q8_K), the choice of
// scale, the sums stored beside the quants, and NaN / inf / denormal handling included.

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <tuple>
#include <vector>

#include "kernels/dot_kernels.hpp"
#include "simd_test_support.hpp"
#include "tensor/quant.hpp"

namespace flux {
namespace {

class QuantizeActivationsTest
    : public ::testing::TestWithParam<std::tuple<IsaLevel, TensorType>> {
 protected:
  TensorType type() const { return std::get<1>(GetParam()); }
  std::size_t block_size() const { return static_cast<std::size_t>(traits(type()).block_size); }

  // Quantises `values` with the level's kernel (to a misaligned destination) and the reference,
  // and compares the bytes.
  void expect_reference_bytes(const std::vector<float>& values, std::size_t misalignment) const {
    const auto n = static_cast<std::int64_t>(values.size());
    const std::size_t bytes = row_bytes(type(), n);
    testing::MisalignedBytes fast(bytes, misalignment);
    std::vector<std::byte> reference(bytes);
    kernel_table_for(std::get<0>(GetParam())).quantize_activations(type(), values.data(),
                                                                    fast.data(), n);
    quantize_row(type(), values.data(), reference.data(), n);
    for (std::size_t i = 0; i < bytes; ++i) {
      ASSERT_EQ(fast.data()[i], reference[i]) << "byte " << i << " of " << bytes;
    }
  }

  // One block: `pattern` repeated to the block size.
  std::vector<float> block_of(const std::vector<float>& pattern) const {
    std::vector<float> block(block_size());
    for (std::size_t i = 0; i < block.size(); ++i) block[i] = pattern[i % pattern.size()];
    return block;
  }
};

TEST_P(QuantizeActivationsTest, RandomRowsAreByteIdentical) {
  std::mt19937 rng(31);
  std::size_t misalignment = 0;
  for (std::size_t blocks : {1, 2, 7, 43}) {
    for (float scale : {1e-3f, 1.0f, 37.0f, 1e6f}) {
      expect_reference_bytes(testing::random_floats(rng, blocks * block_size(), scale),
                             misalignment);
      misalignment = (misalignment + 1) % 4;
    }
  }
}

// amax = 127 makes the scale exactly 1, so x.5 values are exact ties: Q8_0 / Q8_1 round them away
// from zero, Q8_K to even.
TEST_P(QuantizeActivationsTest, TiesFollowTheReference) {
  std::vector<float> values(block_size());
  for (std::size_t i = 0; i < values.size(); ++i) {
    values[i] = static_cast<float>(static_cast<int>(i % 64) - 32) + 0.5f;
  }
  values[0] = 127.0f;
  expect_reference_bytes(values, 1);
  values[0] = -127.0f;
  expect_reference_bytes(values, 2);
}

// Q8_K takes its scale from the first element of largest magnitude, sign included: pairs of
// equal magnitudes far apart and close together, in both orders.
TEST_P(QuantizeActivationsTest, EqualMagnitudesOfBothSigns) {
  const std::size_t last = block_size() - 1;
  for (const std::size_t first : {std::size_t{1}, last - 2}) {
    for (const float sign : {1.0f, -1.0f}) {
      std::vector<float> values = block_of({0.25f, -0.5f});
      values[first] = 3.0f * sign;
      values[last] = -3.0f * sign;
      expect_reference_bytes(values, 0);
    }
  }
}

TEST_P(QuantizeActivationsTest, SpecialValuesMatchReference) {
  constexpr float kInf = std::numeric_limits<float>::infinity();
  constexpr float kNan = std::numeric_limits<float>::quiet_NaN();
  constexpr float kDenormal = std::numeric_limits<float>::denorm_min();
  std::vector<std::vector<float>> blocks = {
      block_of({0.0f}),    block_of({-0.0f}),   block_of({3e38f}),     block_of({-3e38f, 1.0f}),
      block_of({kNan}),    block_of({kNan, 0.0f}),
      block_of({kDenormal}),  // the inverse scale overflows to inf
  };
  std::vector<float> mixed = block_of({1.0f, 0.5f, -0.25f});
  mixed[3] = kNan;
  mixed[4] = -2.0f;
  blocks.push_back(mixed);
  mixed[5] = kInf;
  blocks.push_back(mixed);
  mixed[6] = -kInf;
  blocks.push_back(mixed);
  std::vector<float> tiny(block_size());
  for (std::size_t i = 0; i < tiny.size(); ++i) {
    tiny[i] = kDenormal * static_cast<float>(i % 32) - 1e-39f;
  }
  blocks.push_back(tiny);
  for (const auto& block : blocks) expect_reference_bytes(block, 3);
}

INSTANTIATE_TEST_SUITE_P(
    Levels, QuantizeActivationsTest,
    ::testing::Combine(::testing::ValuesIn(supported_isa_levels()),
                       ::testing::Values(TensorType::Q8_0, TensorType::Q8_1, TensorType::Q8_K)),
    [](const auto& info) {
      return testing::level_test_name(std::get<0>(info.param)) + "_" +
             std::string(traits(std::get<1>(info.param)).name);
    });

// F16 and BF16 rows of every length up to 40 (the 8-wide loop and its tail), and a sweep of f32
// bit patterns that visits every exponent with many mantissas (NaNs with many payloads
// included), plus the halfway points between neighbouring halves (ties to even), the f16
// subnormal range and overflow to infinity.
class QuantizeHalvesTest : public ::testing::TestWithParam<std::tuple<IsaLevel, TensorType>> {
 protected:
  TensorType type() const { return std::get<1>(GetParam()); }

  void expect_reference_bytes(const std::vector<float>& values, std::size_t misalignment) const {
    const std::size_t bytes = values.size() * sizeof(std::uint16_t);
    testing::MisalignedBytes fast(bytes, misalignment);
    std::vector<std::byte> reference(bytes);
    const auto n = static_cast<std::int64_t>(values.size());
    kernel_table_for(std::get<0>(GetParam())).quantize_activations(type(), values.data(), fast.data(), n);
    quantize_row(type(), values.data(), reference.data(), n);
    for (std::size_t i = 0; i < bytes; ++i) {
      ASSERT_EQ(fast.data()[i], reference[i]) << "byte " << i << " of " << bytes;
    }
  }
};

TEST_P(QuantizeHalvesTest, RowsOfEveryLength) {
  std::mt19937 rng(5);
  for (std::size_t n = 1; n <= 40; ++n) expect_reference_bytes(testing::random_floats(rng, n, 3.0f), n % 4);
}

TEST_P(QuantizeHalvesTest, EveryExponentMidpointsAndSpecialValues) {
  std::vector<float> sweep;
  for (std::uint64_t bits = 0; bits < (std::uint64_t{1} << 32); bits += 65521) {
    sweep.push_back(std::bit_cast<float>(static_cast<std::uint32_t>(bits)));
  }
  const bool bf16 = type() == TensorType::BF16;
  const auto widen = [bf16](std::uint32_t half) {
    return bf16 ? bf16_to_f32(static_cast<std::uint16_t>(half)) : f16_to_f32(static_cast<std::uint16_t>(half));
  };
  for (std::uint32_t half = 0; half < (bf16 ? 0x7f80u : 0x7c00u); half += 7) {
    const float low = widen(half);
    const float high = widen(half + 1);
    sweep.push_back((low + high) / 2);
    sweep.push_back(-(low + high) / 2);
  }
  for (float v : {65504.0f, 65519.0f, 65520.0f, -65520.0f, 0x1p-25f, 0x1p-24f, 0x1.8p-25f,
                  std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::quiet_NaN()}) {
    sweep.push_back(v);
  }
  expect_reference_bytes(sweep, 1);
}

INSTANTIATE_TEST_SUITE_P(Levels, QuantizeHalvesTest,
                         ::testing::Combine(::testing::ValuesIn(supported_isa_levels()),
                                            ::testing::Values(TensorType::F16, TensorType::BF16)),
                         [](const auto& info) {
                           return testing::level_test_name(std::get<0>(info.param)) + "_" +
                                  std::string(traits(std::get<1>(info.param)).name);
                         });

}  // namespace
}  // namespace flux
