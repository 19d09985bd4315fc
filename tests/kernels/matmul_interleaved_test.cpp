// matmul over weights repacked into the interleaved layout (tensor/interleaved.hpp), as the model
// loader does for Q4_0, Q4_1, Q8_0 and Q4_K when the active kernel level has interleaved kernels: results
// agree with the scalar reference on the plain rows, rows past the last full group take the
// plain kernels, and thread count, batching and fusion change no bit.

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include "base/thread_pool.hpp"
#include "kernels/dot_kernels.hpp"
#include "kernels/matmul.hpp"
#include "kernels/ops.hpp"
#include "kernels/seeded_random.hpp"
#include "tensor/interleaved.hpp"
#include "tensor/quant.hpp"

namespace flux {
namespace {

using testing::SeededRandom;

// |matmul - reference| <= this times sum |w_i x_i|: both sum exact integer block products in
// float, in different orders.
constexpr double kRelativeTolerance = 1e-5;

struct RepackedMatrix {
  std::vector<std::byte> plain;
  std::vector<std::byte> packed;
  WeightMatrix view;  // over `packed`
  WeightMatrix plain_view;
};

RepackedMatrix make_repacked(TensorType type, std::int64_t rows, std::int64_t cols, std::uint32_t seed) {
  SeededRandom random(seed);
  RepackedMatrix m;
  const std::size_t stride = row_bytes(type, cols);
  m.plain.resize(stride * static_cast<std::size_t>(rows));
  for (std::int64_t r = 0; r < rows; ++r) {
    const std::vector<float> row = random.normals(static_cast<std::size_t>(cols), random.uniform(0.05f, 1.0f));
    quantize_row(type, row.data(), m.plain.data() + static_cast<std::size_t>(r) * stride, cols);
  }
  m.packed = m.plain;  // the rows after the last full group stay as they are
  for (std::int64_t g = 0; g + kInterleaveRows <= rows; g += kInterleaveRows) {
    const std::size_t at = static_cast<std::size_t>(g) * stride;
    interleave_rows(type, m.plain.data() + at, stride, cols, m.packed.data() + at);
  }
  m.view = WeightMatrix{type, rows, cols, m.packed.data(), WeightLayout::Interleaved};
  m.plain_view = WeightMatrix{type, rows, cols, m.plain.data()};
  return m;
}

std::vector<float> run(const WeightMatrix& w, const std::vector<float>& in, std::int64_t n_in, int threads) {
  ThreadPool pool(threads);
  MatmulScratch scratch;
  std::vector<float> out(static_cast<std::size_t>(n_in * w.rows), std::nanf(""));
  matmul(w, in, out, n_in, scratch, pool);
  return out;
}

class MatmulInterleaved : public ::testing::TestWithParam<TensorType> {
 protected:
  void SetUp() override {
    if (active_kernels().dot_groups_for(GetParam()) == nullptr)
      GTEST_SKIP() << "the active kernel level has no interleaved kernels (the loader keeps the file's layout)";
  }
};

TEST_P(MatmulInterleaved, AgreesWithTheReferenceOnThePlainRows) {
  const TensorType type = GetParam();
  const TensorType act = vec_dot_type(type);
  std::uint32_t seed = 1;
  // 4096 columns make a group wider than matmul's cache tile for several input rows.
  const auto unit = interleaved_column_unit(type);
  for (const std::int64_t cols : {unit, 3 * unit, std::int64_t{4096}}) {
    for (const std::int64_t rows : {8, 33, 70}) {
      const RepackedMatrix w = make_repacked(type, rows, cols, ++seed);
      for (const std::int64_t n_in : {1, 2, 5}) {
        SeededRandom random(++seed);
        const std::vector<float> in = random.normals(static_cast<std::size_t>(n_in * cols), 1.5f);
        const std::vector<float> out = run(w.view, in, n_in, 2);
        std::vector<std::byte> x(row_bytes(act, cols));
        std::vector<float> wf(static_cast<std::size_t>(cols)), xf(static_cast<std::size_t>(cols));
        for (std::int64_t r = 0; r < n_in; ++r) {
          quantize_row(act, in.data() + r * cols, x.data(), cols);
          dequantize_row(act, x.data(), xf.data(), cols);
          for (std::int64_t j = 0; j < rows; ++j) {
            const std::byte* w_row = w.plain_view.row(j);
            dequantize_row(type, w_row, wf.data(), cols);
            double magnitude = 0;
            for (std::size_t c = 0; c < wf.size(); ++c) magnitude += std::fabs(double(wf[c]) * xf[c]);
            ASSERT_NEAR(out[static_cast<std::size_t>(r * rows + j)], vec_dot(type, w_row, x.data(), cols),
                        kRelativeTolerance * magnitude + 1e-30)
                << type_name(type) << " rows " << rows << " cols " << cols << " input " << r << " row " << j;
          }
        }
      }
    }
  }
}

TEST_P(MatmulInterleaved, ThreadsAndBatchingChangeNoBit) {
  const TensorType type = GetParam();
  const std::int64_t cols = 3 * interleaved_column_unit(type), rows = 70, n_in = 6;  // 8 groups, 6 rows
  const RepackedMatrix w = make_repacked(type, rows, cols, 42);
  SeededRandom random(43);
  const std::vector<float> in = random.normals(static_cast<std::size_t>(n_in * cols), 1.0f);
  const std::vector<float> one_thread = run(w.view, in, n_in, 1);
  for (const int threads : {2, 3, 5}) EXPECT_EQ(run(w.view, in, n_in, threads), one_thread) << threads << " threads";
  for (std::int64_t r = 0; r < n_in; ++r) {
    const std::vector<float> row(in.begin() + r * cols, in.begin() + (r + 1) * cols);
    const std::vector<float> alone = run(w.view, row, 1, 2);
    EXPECT_EQ(std::memcmp(alone.data(), one_thread.data() + r * rows, alone.size() * sizeof(float)), 0)
        << "input row " << r << " differs when batched";
  }
}

TEST_P(MatmulInterleaved, FusedFormsEqualSeparateOnes) {
  const TensorType type = GetParam();
  const std::int64_t cols = 2 * interleaved_column_unit(type), n_in = 3;
  const RepackedMatrix a = make_repacked(type, 24, cols, 5);
  const RepackedMatrix b = make_repacked(type, 13, cols, 6);
  SeededRandom random(9);
  const std::vector<float> in = random.normals(static_cast<std::size_t>(n_in * cols), 1.0f);
  ThreadPool pool(2);
  MatmulScratch scratch;
  // An interleaved weight beside a plain one reading the same input.
  std::vector<float> fa(static_cast<std::size_t>(n_in * 24)), fb(static_cast<std::size_t>(n_in * 13));
  const MatmulTarget targets[] = {{&a.view, fa}, {&b.plain_view, fb}};
  matmul_many(targets, in, n_in, scratch, pool);
  EXPECT_EQ(fa, run(a.view, in, n_in, 2));
  EXPECT_EQ(fb, run(b.plain_view, in, n_in, 2));

  const RepackedMatrix up = make_repacked(type, 24, cols, 8);
  std::vector<float> gated(fa.size()), up_scratch(fa.size());
  matmul_gated_silu(a.view, up.view, in, gated, up_scratch, n_in, scratch, pool);
  std::vector<float> expected = run(a.view, in, n_in, 2);
  silu_mul(expected, run(up.view, in, n_in, 2));
  EXPECT_EQ(gated, expected);
}

TEST_P(MatmulInterleaved, DequantizedRowsEqualThePlainOnes) {
  const TensorType type = GetParam();
  const std::int64_t cols = 3 * interleaved_column_unit(type);
  const RepackedMatrix w = make_repacked(type, 19, cols, 11);
  std::vector<float> got(static_cast<std::size_t>(cols)), want(static_cast<std::size_t>(cols));
  for (std::int64_t r = 0; r < 19; ++r) {
    dequantize_weight_row(w.view, r, got);
    dequantize_weight_row(w.plain_view, r, want);
    ASSERT_EQ(got, want) << "row " << r;
  }
}

// Epilogues (the fusion of rope and KV-cache stores into the Q/K/V projections) see each output
// column once, in whole units of their column count, and give the bits of running them after the
// product; a target without one beside them is unchanged. Units of 12 columns meet groups of 8
// rows (splits land on multiples of 24) and the plain rows past the last group.
TEST_P(MatmulInterleaved, EpiloguesSeeEachColumnOnceInWholeUnits) {
  const TensorType type = GetParam();
  const std::int64_t cols = 2 * interleaved_column_unit(type);
  const std::int64_t n_in = 3;
  SeededRandom random(404);
  const std::vector<float> in = random.normals(static_cast<std::size_t>(n_in * cols), 1.0f);
  std::uint32_t seed = 40;
  for (const std::size_t columns : {std::size_t{1}, std::size_t{12}, std::size_t{16}, std::size_t{64}}) {
    for (const std::int64_t rows : {70, 96}) {
      const RepackedMatrix w = make_repacked(type, rows, cols, ++seed);
      const RepackedMatrix other = make_repacked(type, 21, cols, ++seed);
      const auto finish = [&](std::vector<float>& out, std::size_t begin, std::size_t end) {
        for (std::int64_t r = 0; r < n_in; ++r)
          for (std::size_t c = begin; c < end; ++c) {
            float& v = out[static_cast<std::size_t>(r * rows) + c];
            v = v * 2.0f + static_cast<float>(c);
          }
      };
      std::vector<float> expected = run(w.view, in, n_in, 1);
      finish(expected, 0, static_cast<std::size_t>(rows));
      for (const int threads : {1, 2, 3}) {
        std::vector<float> out(expected.size()), other_out(static_cast<std::size_t>(n_in * 21));
        std::vector<int> seen(static_cast<std::size_t>(rows), 0);
        std::mutex mutex;
        bool whole_units = true;
        const OutputEpilogue epilogue{columns, [&](std::size_t begin, std::size_t end) {
          const std::lock_guard lock(mutex);
          whole_units &= begin % columns == 0 && (end % columns == 0 || end == static_cast<std::size_t>(rows));
          for (std::size_t c = begin; c < end; ++c) ++seen[c];
          finish(out, begin, end);
        }};
        const MatmulTarget targets[] = {{&other.view, other_out}, {&w.view, out, &epilogue}};
        ThreadPool pool(threads);
        MatmulScratch scratch;
        matmul_many(targets, in, n_in, scratch, pool);
        const std::string where = std::string(type_name(type)) + " columns " + std::to_string(columns) + " rows " +
                                  std::to_string(rows) + " threads " + std::to_string(threads);
        EXPECT_TRUE(whole_units) << where;
        EXPECT_EQ(seen, std::vector<int>(static_cast<std::size_t>(rows), 1)) << where;
        EXPECT_EQ(out, expected) << where;
        EXPECT_EQ(other_out, run(other.view, in, n_in, 1)) << where;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Types, MatmulInterleaved, ::testing::Values(TensorType::Q4_0, TensorType::Q4_1, TensorType::Q8_0, TensorType::Q4_K, TensorType::Q5_K, TensorType::Q6_K, TensorType::F16, TensorType::BF16),
                         [](const auto& info) { return std::string(type_name(info.param)); });

}  // namespace
}  // namespace flux
