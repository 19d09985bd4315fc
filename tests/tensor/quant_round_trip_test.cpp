// dequantize(quantize(x)) against x for every type we can encode, with a per-type bound on the
// RMS-relative error ||x' - x|| / ||x||.
//
// Bounds were measured over the shapes, sizes and scales below and set ~30% above the worst
// single row / ~25% above the mean over all rows. Measured (worst / mean):
//   f16  0.027% / 0.021%    bf16 0.22% / 0.17%     q8_0, q8_1 0.57% / 0.43%   q8_K 0.70% / 0.51%
//   q6_K 1.8% / 1.5%        q5_K 3.7% / 2.4%       q4_K 7.6% / 4.8%
//   q4_1 8.4% / 5.0%        q4_0 10.1% / 7.1%
// (On N(0,1) rows alone the means are higher: q4_K ~6.9%, q4_0 ~8.2%; Positive and Shifted rows
// favour the types with a min.)
// Scales are kept in the range where the f16 block scales are normal numbers: for rows of
// magnitude ~1e-3 and below, k-quant super-scales (max_scale / 63 or / 128) become f16
// subnormals and the error grows, exactly as in llama.cpp.

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "quant_test_support.hpp"

namespace flux {
namespace {

using testing::dequantized;
using testing::make_row;
using testing::quantized;
using testing::rms_relative_error;
using testing::RowShape;

struct RoundTripBound {
  TensorType type;
  double worst;  // largest RMS-relative error of any one row
  double mean;   // mean over all rows
};

void PrintTo(const RoundTripBound& b, std::ostream* os) { *os << type_name(b.type); }

class RoundTrip : public ::testing::TestWithParam<RoundTripBound> {
 protected:
  TensorType type() const { return GetParam().type; }
  // Plain types have block size 1; test them on rows of 32 "blocks" so sizes stay comparable.
  std::size_t unit() const {
    const std::size_t block = traits(type()).block_size;
    return block == 1 ? 32 : block;
  }
};

TEST_P(RoundTrip, ErrorWithinTheTypesBound) {
  double worst = 0;
  double total = 0;
  int rows = 0;
  for (RowShape shape :
       {RowShape::Normal, RowShape::Uniform, RowShape::Positive, RowShape::Shifted}) {
    for (std::size_t blocks : {1u, 2u, 3u, 7u}) {
      for (float scale : {0.02f, 1.0f, 300.0f}) {
        for (std::uint32_t seed = 1; seed <= 6; ++seed) {
          const auto x = make_row(shape, blocks * unit(), scale,
                                  seed * 1000 + static_cast<std::uint32_t>(blocks));
          const auto y = dequantized(type(), quantized(type(), x), x.size());
          const double error = rms_relative_error(x, y);
          EXPECT_LT(error, GetParam().worst) << testing::shape_name(shape) << " blocks=" << blocks
                                             << " scale=" << scale << " seed=" << seed;
          worst = std::max(worst, error);
          total += error;
          ++rows;
        }
      }
    }
  }
  EXPECT_LT(total / rows, GetParam().mean);
  RecordProperty("worst_rms_relative_error", std::to_string(worst));
  RecordProperty("mean_rms_relative_error", std::to_string(total / rows));
}

TEST_P(RoundTrip, ZerosStayExactlyZero) {
  const std::vector<float> x(3 * unit(), 0.0f);
  const auto y = dequantized(type(), quantized(type(), x), x.size());
  for (float v : y) ASSERT_EQ(v, 0.0f);
}

TEST_P(RoundTrip, ConstantRowIsNearlyExact) {
  for (float c : {0.75f, -2.5f, 40.0f}) {
    const std::vector<float> x(2 * unit(), c);
    const auto y = dequantized(type(), quantized(type(), x), x.size());
    // Only the f16 rounding of the block scales remains (2^-11 relative, and products of two).
    EXPECT_LT(rms_relative_error(x, y), 2e-3) << c;
  }
}

TEST_P(RoundTrip, OutlierSurvives) {
  const auto x = make_row(RowShape::OneOutlier, 3 * unit(), 1.0f, 7);
  const auto y = dequantized(type(), quantized(type(), x), x.size());
  for (std::size_t i = 0; i < x.size(); ++i) {
    // The outliers (100 among values ~0.01) set their blocks' scales and come back within 1%.
    if (x[i] == 100.0f) {
      EXPECT_NEAR(y[i], 100.0f, 1.0f) << i;
    }
  }
  EXPECT_LT(rms_relative_error(x, y), GetParam().worst);
}

// Blocks do not share state: a row quantises to the concatenation of its blocks quantised alone.
TEST_P(RoundTrip, BlocksAreIndependent) {
  const auto x = make_row(RowShape::Normal, 3 * unit(), 1.0f, 99);
  const auto whole = quantized(type(), x);
  std::vector<std::byte> pieces;
  for (std::size_t b = 0; b < 3; ++b) {
    const auto part = quantized(type(), std::span(x).subspan(b * unit(), unit()));
    pieces.insert(pieces.end(), part.begin(), part.end());
  }
  EXPECT_EQ(whole, pieces);
}

INSTANTIATE_TEST_SUITE_P(AllEncodableTypes, RoundTrip,
                         ::testing::Values(RoundTripBound{TensorType::F16, 0.00035, 0.00026},
                                           RoundTripBound{TensorType::BF16, 0.003, 0.0021},
                                           RoundTripBound{TensorType::Q8_0, 0.0075, 0.0054},
                                           RoundTripBound{TensorType::Q8_1, 0.0075, 0.0054},
                                           RoundTripBound{TensorType::Q8_K, 0.009, 0.0064},
                                           RoundTripBound{TensorType::Q6_K, 0.023, 0.0185},
                                           RoundTripBound{TensorType::Q5_K, 0.048, 0.030},
                                           RoundTripBound{TensorType::Q4_K, 0.098, 0.060},
                                           RoundTripBound{TensorType::Q4_1, 0.11, 0.063},
                                           RoundTripBound{TensorType::Q4_0, 0.13, 0.089}),
                         [](const auto& info) { return std::string(type_name(info.param.type)); });

TEST(RoundTripF32, IsExact) {
  const auto x = make_row(RowShape::Normal, 77, 3.0f, 5);
  EXPECT_EQ(dequantized(TensorType::F32, quantized(TensorType::F32, x), x.size()), x);
}

}  // namespace
}  // namespace flux
