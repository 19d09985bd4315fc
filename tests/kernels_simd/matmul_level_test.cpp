// matmul through the table FLUX_ISA selects (ctest runs this binary once per level) against
// reference vec_dot loops: several input rows, odd output counts, both threads busy.

#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "kernels/dot_kernels.hpp"
#include "kernels/matmul.hpp"
#include "simd_test_support.hpp"
#include "tensor/quant.hpp"

namespace flux {
namespace {

TEST(MatmulAtActiveLevel, MatchesReferenceDotProducts) {
  std::mt19937 rng(5);
  ThreadPool pool(2);
  MatmulScratch scratch;
  for (TensorType type : {TensorType::F32, TensorType::F16, TensorType::Q4_0, TensorType::Q8_0,
                          TensorType::Q4_K, TensorType::Q6_K}) {
    for (std::int64_t n_rows : {1, 3, 17}) {
      const std::int64_t rows = 37;
      const std::int64_t cols = 512;
      std::vector<std::byte> weights(row_bytes(type, cols) * rows);
      const WeightMatrix w{type, rows, cols, weights.data()};
      for (std::int64_t r = 0; r < rows; ++r) {
        const auto values = testing::random_floats(rng, cols);
        quantize_row(type, values.data(), weights.data() + r * w.row_stride(), cols);
      }
      const auto in = testing::random_floats(rng, static_cast<std::size_t>(n_rows * cols), 2.0f);
      std::vector<float> out(static_cast<std::size_t>(n_rows * rows));
      matmul(w, in, out, n_rows, scratch, pool);

      std::vector<std::byte> act(row_bytes(vec_dot_type(type), cols));
      for (std::int64_t i = 0; i < n_rows; ++i) {
        quantize_row(vec_dot_type(type), in.data() + i * cols, act.data(), cols);
        for (std::int64_t j = 0; j < rows; ++j) {
          const float expected = vec_dot(type, w.row(j), act.data(), cols);
          const double bound = testing::kRelativeTolerance *
                               testing::absolute_product_sum(type, w.row(j), act.data(), cols);
          EXPECT_NEAR(out[static_cast<std::size_t>(i * rows + j)], expected, bound)
              << traits(type).name << " at " << isa_level_name(active_kernels().level);
        }
      }
    }
  }
}

}  // namespace
}  // namespace flux
