// matmul against a float64 oracle: every supported weight type, odd row counts, one and several
// blocks per row, 1..5 input rows, and 1/2/3 threads giving bit-identical results.
//
// The oracle multiplies the dequantised weights with the activations as matmul must see them:
// converted to vec_dot_type(weight type) and decoded again. What remains between the two is
// float accumulation inside vec_dot, which the per-type tolerance bounds.

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "base/thread_pool.hpp"
#include "kernels/matmul.hpp"
#include "kernels/ops.hpp"
#include "kernels/seeded_random.hpp"
#include "tensor/quant.hpp"

namespace flux {
namespace {

using testing::SeededRandom;

std::vector<TensorType> supported_weight_types() {
  std::vector<TensorType> types;
  for (std::uint32_t id = 0; id < 64; ++id) {
    const auto t = type_traits(id);
    if (t && t->supported) types.push_back(static_cast<TensorType>(id));
  }
  return types;
}

// One "block" of columns: the type's block, or 32 for plain types so sizes stay small.
std::int64_t column_unit(TensorType type) {
  const auto block = static_cast<std::int64_t>(traits(type).block_size);
  return block == 1 ? 32 : block;
}

// Bound on |matmul - oracle| relative to sum_i |w_i x_i|: float sums over <= 3 * 256 products
// (measured <= 7e-8; Q4_1 1.5e-6 against the bound below).
constexpr double kRelativeTolerance = 4e-6;

// Q4_1 alone has a second source: its dot product adds m_b * s_b per block, where Q8_1 stores
// the activation block sum s = fp16(d * sum q) with the unrounded d, while the decoded values
// use fp16(d). The two sums differ by up to 2^-10 |s| (half an f16 ulp from each rounding), so
// the result moves by up to |m_b| |s_b| 2^-10; m_b is the block's smallest decoded weight (the
// quantiser maps the minimum to q = 0). The bound below doubles that for margin.
double q4_1_sum_rounding_bound(const double* w, const double* x, std::int64_t cols) {
  double bound = 0.0;
  for (std::int64_t b = 0; b < cols; b += 32) {
    double min = w[b], sum = 0.0;
    for (std::int64_t i = b; i < b + 32; ++i) {
      min = std::min(min, w[i]);
      sum += x[i];
    }
    bound += std::fabs(min) * std::fabs(sum) * 0x1p-9;
  }
  return bound;
}

struct EncodedMatrix {
  std::vector<std::byte> bytes;
  std::vector<double> decoded;  // [rows, cols]
  WeightMatrix view;
};

EncodedMatrix make_weights(TensorType type, std::int64_t rows, std::int64_t cols, std::uint32_t seed) {
  SeededRandom random(seed);
  EncodedMatrix m;
  const std::size_t stride = row_bytes(type, cols);
  m.bytes.resize(stride * static_cast<std::size_t>(rows));
  m.decoded.resize(static_cast<std::size_t>(rows * cols));
  std::vector<float> row(static_cast<std::size_t>(cols));
  for (std::int64_t r = 0; r < rows; ++r) {
    // Rows differ in scale and offset so that per-block scales and minimums matter.
    const float scale = random.uniform(0.01f, 1.0f);
    const float offset = random.uniform(-0.5f, 0.5f) * scale;
    for (float& v : row) v = random.normal() * scale + offset;
    std::byte* dst = m.bytes.data() + static_cast<std::size_t>(r) * stride;
    quantize_row(type, row.data(), dst, cols);
    dequantize_row(type, dst, row.data(), cols);
    for (std::int64_t c = 0; c < cols; ++c) m.decoded[static_cast<std::size_t>(r * cols + c)] = row[static_cast<std::size_t>(c)];
  }
  m.view = WeightMatrix{type, rows, cols, m.bytes.data()};
  return m;
}

// The activations after the round trip through the dot product's type.
std::vector<double> as_dot_type(TensorType weight_type, const std::vector<float>& in, std::int64_t cols) {
  const TensorType act = vec_dot_type(weight_type);
  const std::size_t n_rows = in.size() / static_cast<std::size_t>(cols);
  std::vector<std::byte> encoded(row_bytes(act, cols));
  std::vector<float> decoded(static_cast<std::size_t>(cols));
  std::vector<double> out;
  for (std::size_t r = 0; r < n_rows; ++r) {
    quantize_row(act, in.data() + r * static_cast<std::size_t>(cols), encoded.data(), cols);
    dequantize_row(act, encoded.data(), decoded.data(), cols);
    out.insert(out.end(), decoded.begin(), decoded.end());
  }
  return out;
}

class MatmulOracle : public ::testing::TestWithParam<TensorType> {};

TEST_P(MatmulOracle, AgreesWithFloat64ProductOfDecodedOperands) {
  const TensorType type = GetParam();
  const std::int64_t unit = column_unit(type);
  ThreadPool pool(1);
  MatmulScratch scratch;
  double worst = 0.0;
  std::uint32_t seed = 1;
  for (std::int64_t cols : {unit, 3 * unit}) {
    for (std::int64_t rows : {1, 7, 33}) {
      const EncodedMatrix w = make_weights(type, rows, cols, ++seed);
      for (std::int64_t n_in = 1; n_in <= 5; ++n_in) {
        SeededRandom random(++seed * 7919u);
        const std::vector<float> in = random.normals(static_cast<std::size_t>(n_in * cols), 1.5f);
        const std::vector<double> x = as_dot_type(type, in, cols);
        std::vector<float> out(static_cast<std::size_t>(n_in * rows), std::nanf(""));
        matmul(w.view, in, out, n_in, scratch, pool);
        for (std::int64_t r = 0; r < n_in; ++r) {
          for (std::int64_t j = 0; j < rows; ++j) {
            double expected = 0.0, magnitude = 0.0;
            for (std::int64_t c = 0; c < cols; ++c) {
              const double p = w.decoded[static_cast<std::size_t>(j * cols + c)] * x[static_cast<std::size_t>(r * cols + c)];
              expected += p;
              magnitude += std::fabs(p);
            }
            if (type == TensorType::Q4_1)
              magnitude += q4_1_sum_rounding_bound(&w.decoded[static_cast<std::size_t>(j * cols)],
                                                   &x[static_cast<std::size_t>(r * cols)], cols) /
                           kRelativeTolerance;
            const double got = out[static_cast<std::size_t>(r * rows + j)];
            const double error = std::fabs(got - expected) / (magnitude + 1e-30);
            worst = std::max(worst, error);
            ASSERT_LE(error, kRelativeTolerance)
                << type_name(type) << " rows=" << rows << " cols=" << cols << " n_in=" << n_in << " r=" << r
                << " j=" << j << " got=" << got << " expected=" << expected;
          }
        }
      }
    }
  }
  RecordProperty("worst_relative_error", fmt::format("{:.3e}", worst));
}

TEST_P(MatmulOracle, ThreadCountDoesNotChangeAnyBit) {
  const TensorType type = GetParam();
  const std::int64_t cols = 3 * column_unit(type);
  const std::int64_t rows = 33;
  const std::int64_t n_in = 5;
  const EncodedMatrix w = make_weights(type, rows, cols, 99);
  SeededRandom random(1234);
  const std::vector<float> in = random.normals(static_cast<std::size_t>(n_in * cols), 1.0f);

  std::vector<std::vector<float>> results;
  for (int threads : {1, 2, 3}) {
    ThreadPool pool(threads);
    MatmulScratch scratch;
    std::vector<float> out(static_cast<std::size_t>(n_in * rows), std::nanf(""));
    matmul(w.view, in, out, n_in, scratch, pool);
    results.push_back(out);
  }
  for (std::size_t i = 1; i < results.size(); ++i)
    EXPECT_EQ(std::memcmp(results[0].data(), results[i].data(), results[0].size() * sizeof(float)), 0)
        << type_name(type) << ": " << i + 1 << " threads differ from 1 thread";
}

// Batch invariance: a row's result must not depend on the other rows it is computed with (the
// engine's guarantee that batching never changes a sequence's tokens).
TEST_P(MatmulOracle, EachInputRowIsIndependentOfTheBatch) {
  const TensorType type = GetParam();
  const std::int64_t cols = 3 * column_unit(type);
  const std::int64_t rows = 37;
  const std::int64_t n_in = 6;
  const EncodedMatrix w = make_weights(type, rows, cols, 31);
  SeededRandom random(77);
  const std::vector<float> in = random.normals(static_cast<std::size_t>(n_in * cols), 1.0f);
  ThreadPool pool(2);
  MatmulScratch scratch;
  std::vector<float> batched(static_cast<std::size_t>(n_in * rows));
  matmul(w.view, in, batched, n_in, scratch, pool);
  for (std::int64_t r = 0; r < n_in; ++r) {
    std::vector<float> alone(static_cast<std::size_t>(rows));
    matmul(w.view, std::span(in).subspan(static_cast<std::size_t>(r * cols), static_cast<std::size_t>(cols)), alone, 1,
           scratch, pool);
    EXPECT_EQ(std::memcmp(alone.data(), batched.data() + r * rows, alone.size() * sizeof(float)), 0)
        << type_name(type) << ": row " << r << " differs when batched";
  }
}

// The fused forms equal the unfused ones bit for bit: Q, K, V in one pass (here with mixed types
// and widths), and gate/up with SiLU-multiply.
TEST_P(MatmulOracle, FusedProjectionsEqualSeparateOnes) {
  const TensorType type = GetParam();
  const std::int64_t cols = 2 * std::max(column_unit(type), column_unit(TensorType::Q8_0));
  if (cols % column_unit(TensorType::Q8_0) != 0) GTEST_SKIP();
  const std::int64_t n_in = 3;
  const EncodedMatrix a = make_weights(type, 29, cols, 5);
  const EncodedMatrix b = make_weights(TensorType::Q8_0, 11, cols, 6);
  const EncodedMatrix c = make_weights(type, 7, cols, 7);
  SeededRandom random(9);
  const std::vector<float> in = random.normals(static_cast<std::size_t>(n_in * cols), 1.0f);
  ThreadPool pool(2);
  MatmulScratch scratch;
  auto separate = [&](const EncodedMatrix& m) {
    std::vector<float> out(static_cast<std::size_t>(n_in * m.view.rows));
    matmul(m.view, in, out, n_in, scratch, pool);
    return out;
  };
  std::vector<float> fa(static_cast<std::size_t>(n_in * 29)), fb(static_cast<std::size_t>(n_in * 11)),
      fc(static_cast<std::size_t>(n_in * 7));
  const MatmulTarget targets[] = {{&a.view, fa}, {&b.view, fb}, {&c.view, fc}};
  matmul_many(targets, in, n_in, scratch, pool);
  EXPECT_EQ(fa, separate(a)) << type_name(type);
  EXPECT_EQ(fb, separate(b)) << type_name(type);
  EXPECT_EQ(fc, separate(c)) << type_name(type);

  // RMSNorm fused into the encoding equals normalising first.
  std::vector<float> weight(static_cast<std::size_t>(cols));
  for (float& v : weight) v = random.uniform(0.5f, 1.5f);
  const InputNorm norm{weight, 1e-5f};
  std::vector<float> normed(in.size());
  for (std::int64_t r = 0; r < n_in; ++r)
    rms_norm(std::span(in).subspan(static_cast<std::size_t>(r * cols), static_cast<std::size_t>(cols)), weight, 1e-5f,
             std::span(normed).subspan(static_cast<std::size_t>(r * cols), static_cast<std::size_t>(cols)));
  std::vector<float> fused_norm(fa.size()), unfused_norm(fa.size());
  const MatmulTarget one[] = {{&a.view, fused_norm}};
  matmul_many(one, in, n_in, scratch, pool, &norm);
  matmul(a.view, normed, unfused_norm, n_in, scratch, pool);
  EXPECT_EQ(fused_norm, unfused_norm) << type_name(type);

  const EncodedMatrix up = make_weights(type, 29, cols, 8);
  std::vector<float> gated(fa.size()), scratch_up(fa.size());
  matmul_gated_silu(a.view, up.view, in, gated, scratch_up, n_in, scratch, pool);
  std::vector<float> expected = separate(a);
  silu_mul(expected, separate(up));
  EXPECT_EQ(gated, expected) << type_name(type);
}

TEST_P(MatmulOracle, ScratchReusedAcrossShapesGivesFreshResults) {
  // A warm scratch sized for a bigger call must not leak into a smaller one.
  const TensorType type = GetParam();
  const std::int64_t cols = column_unit(type);
  const EncodedMatrix big = make_weights(type, 7, 3 * cols, 5);
  const EncodedMatrix small = make_weights(type, 7, cols, 6);
  SeededRandom random(77);
  const std::vector<float> in_big = random.normals(static_cast<std::size_t>(4 * 3 * cols), 1.0f);
  const std::vector<float> in_small = random.normals(static_cast<std::size_t>(2 * cols), 1.0f);
  ThreadPool pool(2);
  MatmulScratch warm, cold;
  std::vector<float> out_big(4 * 7), out_warm(2 * 7), out_cold(2 * 7);
  matmul(big.view, in_big, out_big, 4, warm, pool);
  matmul(small.view, in_small, out_warm, 2, warm, pool);
  matmul(small.view, in_small, out_cold, 2, cold, pool);
  EXPECT_EQ(out_warm, out_cold);
}

TEST_P(MatmulOracle, DequantizeWeightRowMatchesTheTypeDecoder) {
  const TensorType type = GetParam();
  const std::int64_t cols = 3 * column_unit(type);
  const EncodedMatrix w = make_weights(type, 7, cols, 11);
  std::vector<float> row(static_cast<std::size_t>(cols));
  for (std::int64_t r : {0, 3, 6}) {
    dequantize_weight_row(w.view, r, row);
    for (std::int64_t c = 0; c < cols; ++c)
      ASSERT_EQ(static_cast<double>(row[static_cast<std::size_t>(c)]), w.decoded[static_cast<std::size_t>(r * cols + c)])
          << type_name(type) << " row " << r << " col " << c;
  }
}

INSTANTIATE_TEST_SUITE_P(EverySupportedType, MatmulOracle, ::testing::ValuesIn(supported_weight_types()),
                         [](const ::testing::TestParamInfo<TensorType>& info) {
                           return std::string(type_name(info.param));
                         });

TEST(MatmulTypes, CoverTheTypesModelsShipWith) {
  // Guards the parameter list above: a broken traits table must not silently shrink the sweep.
  const std::vector<TensorType> types = supported_weight_types();
  for (TensorType t : {TensorType::F32, TensorType::F16, TensorType::BF16, TensorType::Q4_0, TensorType::Q8_0,
                       TensorType::Q4_K, TensorType::Q6_K})
    EXPECT_NE(std::find(types.begin(), types.end(), t), types.end()) << type_name(t);
}

}  // namespace
}  // namespace flux
