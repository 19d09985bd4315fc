// Kernels over interleaved weights (tensor/interleaved.hpp) against the scalar reference on the
// same rows in their plain layout, and bit for bit against themselves with a single activation
// row: batching must never change a sequence's numbers. Sizes cover one and several groups, one
// and several blocks, and partial passes of activation rows.

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <numeric>
#include <random>
#include <vector>

#include "kernels/dot_kernels.hpp"
#include "simd_test_support.hpp"
#include "tensor/blocks.hpp"
#include "tensor/interleaved.hpp"
#include "tensor/quant.hpp"

namespace flux {
namespace {

// Random plain rows, their interleaved copy, and encoded activation rows with their block sums
// and scales.
struct GroupCase {
  TensorType type;
  std::int64_t n;
  int n_groups;
  int n_x;
  std::vector<std::byte> plain;  // n_groups * 8 rows
  testing::MisalignedBytes groups;
  std::vector<std::byte> x;
  std::vector<std::int32_t> sums;
  std::vector<float> scales;

  GroupCase(TensorType t, std::int64_t cols, int groups_count, int x_rows, std::mt19937& rng)
      : type(t), n(cols), n_groups(groups_count), n_x(x_rows),
        groups(row_bytes(t, cols) * kInterleaveRows * static_cast<std::size_t>(groups_count), 5) {
    const std::size_t w_bytes = row_bytes(type, n);
    plain.resize(w_bytes * kInterleaveRows * static_cast<std::size_t>(n_groups));
    for (std::size_t r = 0; r < plain.size() / w_bytes; ++r) {
      const auto f = testing::random_floats(rng, static_cast<std::size_t>(n));
      quantize_row(type, f.data(), plain.data() + r * w_bytes, n);
    }
    for (int g = 0; g < n_groups; ++g) {
      const std::size_t at = static_cast<std::size_t>(g) * kInterleaveRows * w_bytes;
      interleave_rows(type, plain.data() + at, w_bytes, n, groups.data() + at);
    }
    const TensorType act = vec_dot_type(type);
    x.resize(row_bytes(act, n) * static_cast<std::size_t>(n_x));
    const std::size_t blocks = static_cast<std::size_t>(n) / kQK8_0;
    for (int j = 0; j < n_x; ++j) {
      const auto f = testing::random_floats(rng, static_cast<std::size_t>(n), 3.0f);
      std::byte* row = x.data() + static_cast<std::size_t>(j) * x_stride();
      quantize_row(act, f.data(), row, n);
      for (std::size_t b = 0; b < blocks && act == TensorType::Q8_0; ++b) {
        BlockQ8_0 block;
        std::memcpy(&block, row + b * sizeof(BlockQ8_0), sizeof block);
        sums.push_back(std::accumulate(block.qs.begin(), block.qs.end(), 0));
        scales.push_back(f16_to_f32(block.d));
      }
    }
  }

  std::size_t x_stride() const { return row_bytes(vec_dot_type(type), n); }
  std::size_t rows() const { return static_cast<std::size_t>(n_groups) * kInterleaveRows; }

  // The kernel's output for activation rows [first_x, first_x + count), rows() + 3 floats apart,
  // over groups [first_group, first_group + group_count) (all of them by default).
  std::vector<float> run(DotGroupsFn kernel, int first_x, int count, int first_group = 0, int group_count = -1) const {
    if (group_count < 0) group_count = n_groups;
    const std::size_t out_stride = rows() + 3;
    std::vector<float> out(out_stride * static_cast<std::size_t>(count), -1.0f);
    const std::size_t blocks = static_cast<std::size_t>(n) / kQK8_0;
    const std::size_t group_bytes = row_bytes(type, n) * kInterleaveRows;
    GroupDotArgs args;
    args.groups = groups.data() + static_cast<std::size_t>(first_group) * group_bytes;
    args.n_groups = group_count;
    args.x = x.data() + static_cast<std::size_t>(first_x) * x_stride();
    args.x_stride = x_stride();
    args.x_sums = sums.empty() ? nullptr : sums.data() + static_cast<std::size_t>(first_x) * blocks;
    args.x_scales = scales.empty() ? nullptr : scales.data() + static_cast<std::size_t>(first_x) * blocks;
    args.sums_stride = blocks;
    args.n_x = count;
    args.out = out.data() + static_cast<std::size_t>(first_group) * kInterleaveRows;
    args.out_stride = out_stride;
    args.n = n;
    kernel(args);
    return out;
  }
};

class DotGroups : public ::testing::TestWithParam<IsaLevel> {};

TEST_P(DotGroups, MatchTheReferenceAndTheirSingleRowSelves) {
  const DotKernels& k = kernel_table_for(GetParam());
  std::mt19937 rng(2718);
  int tested = 0;
  for (const TensorType type : {TensorType::Q4_0, TensorType::Q4_1, TensorType::Q8_0, TensorType::Q4_K, TensorType::Q5_K, TensorType::Q6_K, TensorType::F16, TensorType::BF16}) {
    const DotGroupsFn kernel = k.dot_groups_for(type);
    if (!kernel) continue;
    for (const std::int64_t blocks : {1, 2, 7}) {
      const std::int64_t n = blocks * interleaved_column_unit(type);
      for (const int n_groups : {1, 2, 3, 4}) {
        for (const int n_x : {1, 3, 4, 5, 9}) {
          const GroupCase c(type, n, n_groups, n_x, rng);
          const std::vector<float> all = c.run(kernel, 0, n_x);
          const std::size_t out_stride = c.rows() + 3;
          const std::size_t w_bytes = row_bytes(type, n);
          for (int j = 0; j < n_x; ++j) {
            const std::vector<float> alone = c.run(kernel, j, 1);
            const float* batched = all.data() + static_cast<std::size_t>(j) * out_stride;
            EXPECT_EQ(std::memcmp(alone.data(), batched, c.rows() * sizeof(float)), 0)
                << type_name(type) << " n " << n << " groups " << n_groups << " activation row " << j << " of " << n_x;
            EXPECT_EQ(batched[c.rows()], -1.0f) << "wrote outside its rows";
            const std::byte* x_row = c.x.data() + static_cast<std::size_t>(j) * c.x_stride();
            for (std::size_t r = 0; r < c.rows(); ++r) {
              const std::byte* w_row = c.plain.data() + r * w_bytes;
              const double expected = vec_dot(type, w_row, x_row, n);
              const double bound = testing::kRelativeTolerance * testing::absolute_product_sum(type, w_row, x_row, n);
              EXPECT_NEAR(batched[r], expected, bound) << type_name(type) << " n " << n << " row " << r << " x " << j;
            }
          }
          // Wide levels compute groups in pairs; a group alone must give the same bits.
          for (int g = 0; g < n_groups; ++g) {
            const std::vector<float> one_group = c.run(kernel, 0, n_x, g, 1);
            for (int j = 0; j < n_x; ++j) {
              const std::size_t at = static_cast<std::size_t>(j) * out_stride + static_cast<std::size_t>(g) * kInterleaveRows;
              EXPECT_EQ(std::memcmp(one_group.data() + at, all.data() + at, kInterleaveRows * sizeof(float)), 0)
                  << type_name(type) << " n " << n << " group " << g << " of " << n_groups << " computed alone";
            }
          }
          ++tested;
        }
      }
    }
  }
  if (GetParam() != IsaLevel::Scalar) {
    EXPECT_GT(tested, 0) << "this level should have interleaved kernels";
  }
}

INSTANTIATE_TEST_SUITE_P(EveryLevel, DotGroups, ::testing::ValuesIn(supported_isa_levels()),
                         [](const auto& info) { return std::string(isa_level_name(info.param)); });

}  // namespace
}  // namespace flux
