// vec_dot against float64 dot products: of the decoded rows (must agree up to float rounding),
// and of the original rows before quantisation (must agree within the quantisation error).

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "quant_test_support.hpp"
#include "tensor/blocks.hpp"

namespace flux {
namespace {

using testing::abs_dot64;
using testing::dequantized;
using testing::dot64;
using testing::make_row;
using testing::norm;
using testing::quantized;
using testing::rms_relative_error;
using testing::RowShape;
using testing::RowSource;

struct DotCase {
  TensorType type;
  // |vec_dot - dot64(decoded w, decoded x)| <= decoded_tolerance * sum |w_i x_i|. Integer block
  // sums are exact; two float products per block and a float sum over <= 16 blocks bound the
  // rest by ~1.1e-6 (measured <= 3e-8). Q4_1 is looser (measured 1.5e-4) because Q8_1's
  // s = d * sum(q) is rounded to f16 on its own, not as fp16(d) * sum(q).
  double decoded_tolerance;
  // Mean over rows of |vec_dot - dot64(w, x)| / (||w|| ||x||) for the unquantised rows.
  double mean_float_error;
};

void PrintTo(const DotCase& c, std::ostream* os) { *os << type_name(c.type); }

std::size_t unit_of(TensorType type) {
  const std::size_t block = traits(type).block_size;
  return block == 1 ? 32 : block;
}

class VecDot : public ::testing::TestWithParam<DotCase> {
 protected:
  TensorType type() const { return GetParam().type; }
  TensorType activation_type() const { return vec_dot_type(type()); }
};

TEST_P(VecDot, AgreesWithFloat64DotOfTheDecodedRows) {
  for (std::size_t blocks : {1u, 2u, 3u, 5u, 16u}) {
    for (std::uint32_t seed = 1; seed <= 8; ++seed) {
      const std::size_t n = blocks * unit_of(type());
      const auto w = make_row(seed % 2 ? RowShape::Normal : RowShape::Shifted, n, 0.05f, seed);
      const auto x = make_row(RowShape::Normal, n, 2.0f, seed + 500);
      const auto wq = quantized(type(), w);
      const auto xq = quantized(activation_type(), x);
      const auto wd = dequantized(type(), wq, n);
      const auto xd = dequantized(activation_type(), xq, n);
      const double expected = dot64(wd, xd);
      const double got = vec_dot(type(), wq.data(), xq.data(), static_cast<std::int64_t>(n));
      EXPECT_LE(std::fabs(got - expected), GetParam().decoded_tolerance * abs_dot64(wd, xd) + 1e-30)
          << "blocks=" << blocks << " seed=" << seed << " got=" << got << " expected=" << expected;
    }
  }
}

TEST_P(VecDot, AgreesWithFloat64DotOfTheOriginalRowsWithinQuantisationError) {
  double total = 0;
  int rows = 0;
  for (std::size_t blocks : {1u, 3u, 8u}) {
    for (std::uint32_t seed = 1; seed <= 12; ++seed) {
      const std::size_t n = blocks * unit_of(type());
      const auto w = make_row(RowShape::Normal, n, 0.05f, seed * 3);
      const auto x =
          make_row(seed % 3 ? RowShape::Normal : RowShape::OneOutlier, n, 1.5f, seed * 3 + 1);
      const auto wq = quantized(type(), w);
      const auto xq = quantized(activation_type(), x);
      const double got = vec_dot(type(), wq.data(), xq.data(), static_cast<std::int64_t>(n));
      const double scale = norm(w) * norm(x);
      const double error = std::fabs(got - dot64(w, x)) / scale;
      // Cauchy-Schwarz: |<w,x> - <w',x'>| <= ||w - w'|| ||x|| + ||w'|| ||x - x'||, with the rows'
      // actual decoding errors (plus float slack).
      const double e_w = rms_relative_error(w, dequantized(type(), wq, n));
      const double e_x = rms_relative_error(x, dequantized(activation_type(), xq, n));
      EXPECT_LE(error, e_w + (1 + e_w) * e_x + 1e-5) << "blocks=" << blocks << " seed=" << seed;
      total += error;
      ++rows;
    }
  }
  EXPECT_LT(total / rows, GetParam().mean_float_error);
  RecordProperty("mean_relative_dot_error", std::to_string(total / rows));
}

// Weight blocks with random bytes reach quant patterns and scale combinations that no encoder
// produces (all 6-bit scales, every qh pattern). The f16 scales are replaced by sane values so
// the products stay finite; the activations are quantised so their sums are consistent.
std::vector<std::byte> random_weight_row(TensorType type, std::size_t blocks, std::uint32_t seed) {
  RowSource source(seed);
  std::vector<std::byte> row(blocks * traits(type).block_bytes);
  for (auto& b : row) b = static_cast<std::byte>(source.bits());
  const auto sane_f16 = [&] { return f32_to_f16((source.uniform() - 0.5f) * 0.1f); };
  for (std::size_t b = 0; b < blocks; ++b) {
    std::byte* block = row.data() + b * traits(type).block_bytes;
    const auto put = [&](std::size_t offset, std::uint16_t v) {
      std::memcpy(block + offset, &v, 2);
    };
    switch (type) {
      case TensorType::Q4_0:
      case TensorType::Q8_0:
        put(0, sane_f16());
        break;
      case TensorType::Q4_1:
      case TensorType::Q4_K:
      case TensorType::Q5_K:
        put(0, sane_f16());
        put(2, sane_f16());
        break;
      case TensorType::Q6_K:
        put(offsetof(BlockQ6_K, d), sane_f16());
        break;
      default:
        ADD_FAILURE() << "no random layout for " << type_name(type);
    }
  }
  return row;
}

class RandomBlocks : public ::testing::TestWithParam<TensorType> {};

TEST_P(RandomBlocks, DotAgreesWithDecodedRows) {
  const TensorType type = GetParam();
  const TensorType activation = vec_dot_type(type);
  for (std::size_t blocks : {1u, 3u, 4u}) {
    for (std::uint32_t seed = 1; seed <= 20; ++seed) {
      const std::size_t n = blocks * traits(type).block_size;
      const auto wq = random_weight_row(type, blocks, seed);
      const auto x = make_row(RowShape::Normal, n, 1.0f, seed + 77);
      const auto xq = quantized(activation, x);
      const auto wd = dequantized(type, wq, n);
      const auto xd = dequantized(activation, xq, n);
      const double got = vec_dot(type, wq.data(), xq.data(), static_cast<std::int64_t>(n));
      const double tolerance = type == TensorType::Q4_1 ? 1e-3 : 2e-6;
      EXPECT_LE(std::fabs(got - dot64(wd, xd)), tolerance * abs_dot64(wd, xd) + 1e-30)
          << "blocks=" << blocks << " seed=" << seed;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(QuantisedWeights, RandomBlocks,
                         ::testing::Values(TensorType::Q4_0, TensorType::Q4_1, TensorType::Q8_0,
                                           TensorType::Q4_K, TensorType::Q5_K, TensorType::Q6_K),
                         [](const auto& info) { return std::string(type_name(info.param)); });

INSTANTIATE_TEST_SUITE_P(
    AllWeightTypes, VecDot,
    ::testing::Values(DotCase{TensorType::F32, 2e-6, 1e-6}, DotCase{TensorType::F16, 2e-6, 3e-5},
                      DotCase{TensorType::BF16, 2e-6, 2.5e-4},
                      DotCase{TensorType::Q8_0, 2e-6, 8e-4}, DotCase{TensorType::Q8_1, 2e-6, 8e-4},
                      DotCase{TensorType::Q8_K, 2e-6, 4e-4}, DotCase{TensorType::Q6_K, 2e-6, 8e-4},
                      DotCase{TensorType::Q5_K, 2e-6, 1.5e-3},
                      DotCase{TensorType::Q4_K, 2e-6, 2.5e-3},
                      DotCase{TensorType::Q4_1, 1e-3, 6.5e-3},
                      DotCase{TensorType::Q4_0, 2e-6, 8e-3}),
    [](const auto& info) { return std::string(type_name(info.param.type)); });

TEST(VecDotPlain, SmallIntegersAreExact) {
  std::vector<float> w(100), x(100);
  double expected = 0;
  for (int i = 0; i < 100; ++i) {
    w[i] = static_cast<float>(i % 7 - 3);
    x[i] = static_cast<float>(i % 5 - 2);
    expected += w[i] * x[i];
  }
  for (TensorType type : {TensorType::F32, TensorType::F16, TensorType::BF16}) {
    const auto wq = quantized(type, w);
    const auto xq = quantized(type, x);
    EXPECT_EQ(vec_dot(type, wq.data(), xq.data(), 100), expected) << type_name(type);
  }
}

TEST(VecDotPlain, Q4_0TimesQ8_0ByHand) {
  // w: d = 0.5, all nibbles 9 (value +1 * 0.5); x: d = 0.25, quants 0..31.
  BlockQ4_0 w{};
  w.d = f32_to_f16(0.5f);
  w.qs.fill(0x99);
  BlockQ8_0 x{};
  x.d = f32_to_f16(0.25f);
  for (int j = 0; j < 32; ++j) x.qs[j] = static_cast<std::int8_t>(j);
  EXPECT_EQ(vec_dot(TensorType::Q4_0, &w, &x, 32), 0.5f * 0.25f * (31 * 32 / 2));
}

}  // namespace
}  // namespace flux
