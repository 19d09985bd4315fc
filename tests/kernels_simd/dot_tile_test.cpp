// The several-activation-row (tile) kernels give, for every (weight row, activation row) pair,
// exactly the bits of the one-row kernel of the same level: batching sequences together must
// never change any of them. Sizes cover partial tiles on both sides and several blocks.

#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <vector>

#include "kernels/dot_kernels.hpp"
#include "simd_test_support.hpp"
#include "tensor/quant.hpp"

namespace flux {
namespace {

class DotTile : public ::testing::TestWithParam<IsaLevel> {};

TEST_P(DotTile, EveryPairEqualsTheOneRowKernel) {
  const DotKernels& k = kernel_table_for(GetParam());
  std::mt19937 rng(314);
  int tested = 0;
  for (const TensorType type : {TensorType::Q4_0, TensorType::Q8_0}) {
    const DotTileFn tile = k.dot_tile_for(type);
    if (!tile) continue;
    const DotRowsFn rows = k.dot_rows_for(type);
    const TensorType act = vec_dot_type(type);
    for (const std::int64_t n : {32, 64, 224}) {
      for (const int n_w : {1, 2, 3, 7}) {
        for (const int n_x : {1, 2, 3, 4, 5, 9}) {
          const std::size_t w_stride = row_bytes(type, n) + 3;  // rows not packed back to back
          const std::size_t x_stride = row_bytes(act, n);
          std::vector<std::byte> w(w_stride * static_cast<std::size_t>(n_w));
          std::vector<std::byte> x(x_stride * static_cast<std::size_t>(n_x));
          for (int i = 0; i < n_w; ++i) {
            const auto f = testing::random_floats(rng, static_cast<std::size_t>(n));
            quantize_row(type, f.data(), w.data() + static_cast<std::size_t>(i) * w_stride, n);
          }
          for (int j = 0; j < n_x; ++j) {
            const auto f = testing::random_floats(rng, static_cast<std::size_t>(n), 3.0f);
            quantize_row(act, f.data(), x.data() + static_cast<std::size_t>(j) * x_stride, n);
          }
          const std::size_t out_stride = static_cast<std::size_t>(n_w) + 2;
          std::vector<float> tiled(out_stride * static_cast<std::size_t>(n_x), -1.0f);
          tile(w.data(), w_stride, n_w, x.data(), x_stride, n_x, tiled.data(), out_stride, n);
          for (int j = 0; j < n_x; ++j) {
            std::vector<float> one(static_cast<std::size_t>(n_w));
            rows(w.data(), w_stride, n_w, x.data() + static_cast<std::size_t>(j) * x_stride, one.data(), n);
            EXPECT_EQ(std::memcmp(one.data(), tiled.data() + static_cast<std::size_t>(j) * out_stride,
                                  one.size() * sizeof(float)), 0)
                << type_name(type) << " n " << n << " weights " << n_w << " activations " << n_x << " row " << j;
            EXPECT_EQ(tiled[static_cast<std::size_t>(j) * out_stride + static_cast<std::size_t>(n_w)], -1.0f)
                << "wrote outside its rows";
          }
          ++tested;
        }
      }
    }
  }
  if (GetParam() != IsaLevel::Scalar) {
    EXPECT_GT(tested, 0) << "this level should have tile kernels";
  }
}

INSTANTIATE_TEST_SUITE_P(EveryLevel, DotTile, ::testing::ValuesIn(supported_isa_levels()),
                         [](const auto& info) { return std::string(isa_level_name(info.param)); });

}  // namespace
}  // namespace flux
