// Q4_1 and the k-quants at every kernel level this machine can run: blocks built so that all
// arithmetic is exact (bit equality with the reference, which catches unpacking and indexing bugs
// a tolerance could hide), and batch invariance for every weight type: a row's result must be the
// same bits whether it is computed alone or among any number of other rows.

#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <type_traits>
#include <vector>

#include "kernels/dot_kernels.hpp"
#include "simd_test_support.hpp"
#include "tensor/blocks.hpp"
#include "tensor/quant.hpp"

namespace flux {
namespace {

using testing::MisalignedBytes;

class DotKQuantsTest : public ::testing::TestWithParam<IsaLevel> {
 protected:
  const DotKernels& kernels() const { return kernel_table_for(GetParam()); }
};

constexpr std::uint16_t kF16One = 0x3C00;
constexpr std::uint16_t kF16Two = 0x4000;

int uniform_int(std::mt19937& rng, int lo, int hi) {
  return lo + static_cast<int>(rng() % static_cast<unsigned>(hi - lo + 1));
}

template <class Array>
void fill_random_bytes(Array& bytes, std::mt19937& rng) {
  for (auto& b : bytes) b = static_cast<std::remove_reference_t<decltype(b)>>(rng());
}

// Weight blocks with every quant bit pattern and scale bit fair, but power-of-two float scales;
// activation quants in [-2, 1] with d = 1. Worst case over 7 super-blocks: Q5_K reaches
// 7 * 2 * 63 * 31 * 2 * 256 < 2^24 and Q6_K (scales limited to [-64, 63]) 7 * 2 * 64 * 32 * 2 *
// 256 < 2^24, so every partial sum is an integer float and any order gives the same bits.
BlockQ4_1 exact_q4_1(std::mt19937& rng) {
  BlockQ4_1 b{};
  b.d = rng() % 2 ? kF16One : kF16Two;
  b.m = rng() % 2 ? kF16One : 0xBC00;  // +-1
  fill_random_bytes(b.qs, rng);
  return b;
}

template <class Block>
Block exact_affine_k(std::mt19937& rng) {
  Block b{};
  b.d = rng() % 2 ? kF16One : kF16Two;
  b.dmin = rng() % 2 ? kF16One : kF16Two;
  fill_random_bytes(b.scales, rng);
  if constexpr (requires { b.qh; }) fill_random_bytes(b.qh, rng);
  fill_random_bytes(b.qs, rng);
  return b;
}

BlockQ6_K exact_q6_k(std::mt19937& rng) {
  BlockQ6_K b{};
  b.d = rng() % 2 ? kF16One : kF16Two;
  fill_random_bytes(b.ql, rng);
  fill_random_bytes(b.qh, rng);
  for (auto& s : b.scales) s = static_cast<std::int8_t>(uniform_int(rng, -64, 63));
  return b;
}

BlockQ8_1 exact_q8_1(std::mt19937& rng) {
  BlockQ8_1 b{};
  b.d = rng() % 2 ? kF16One : kF16Two;
  constexpr std::uint16_t kSmallIntegers[] = {kF16One, kF16Two, 0xBC00, 0xC000};  // +-1, +-2
  b.s = kSmallIntegers[rng() % 4];  // the kernels read s as given: it need not match qs
  for (auto& q : b.qs) q = static_cast<std::int8_t>(uniform_int(rng, -128, 127));
  return b;
}

// The bsums must be the sums of the quants: the kernels take Q4_K/Q5_K's mins and Q6_K's -32
// offset from them.
BlockQ8_K exact_q8_k(std::mt19937& rng) {
  BlockQ8_K b{};
  b.d = 1.0f;
  for (auto& q : b.qs) q = static_cast<std::int8_t>(uniform_int(rng, -2, 1));
  for (std::size_t j = 0; j < b.bsums.size(); ++j) {
    int sum = 0;
    for (std::size_t l = 0; l < 16; ++l) sum += b.qs[16 * j + l];
    b.bsums[j] = static_cast<std::int16_t>(sum);
  }
  return b;
}

struct RowsLayout {
  int rows;
  std::size_t misalignment;
  std::size_t stride_padding;
};
constexpr RowsLayout kLayouts[] = {{1, 0, 0}, {3, 1, 3}, {4, 2, 0}, {5, 3, 7}, {9, 1, 1}};

template <class WeightBlock, class ActBlock, class MakeWeight, class MakeAct>
void expect_exact(const DotKernels& kernels, TensorType type, MakeWeight make_weight,
                  MakeAct make_act) {
  std::mt19937 rng(2024);
  constexpr auto kBlockSize = static_cast<std::int64_t>(sizeof(ActBlock::qs));
  for (std::size_t blocks : {1, 2, 7}) {
    const auto n = static_cast<std::int64_t>(blocks) * kBlockSize;
    for (const RowsLayout& layout : kLayouts) {
      const std::size_t stride = blocks * sizeof(WeightBlock) + layout.stride_padding;
      MisalignedBytes w(stride * static_cast<std::size_t>(layout.rows), layout.misalignment);
      MisalignedBytes x(blocks * sizeof(ActBlock), layout.misalignment);
      for (int r = 0; r < layout.rows; ++r) {
        for (std::size_t b = 0; b < blocks; ++b) {
          const WeightBlock block = make_weight(rng);
          std::memcpy(w.data() + static_cast<std::size_t>(r) * stride + b * sizeof block, &block,
                      sizeof block);
        }
      }
      for (std::size_t b = 0; b < blocks; ++b) {
        const ActBlock block = make_act(rng);
        std::memcpy(x.data() + b * sizeof block, &block, sizeof block);
      }
      std::vector<float> out(static_cast<std::size_t>(layout.rows));
      kernels.dot_rows_for(type)(w.data(), stride, layout.rows, x.data(), out.data(), n);
      for (int r = 0; r < layout.rows; ++r) {
        EXPECT_EQ(out[static_cast<std::size_t>(r)],
                  vec_dot(type, w.data() + static_cast<std::size_t>(r) * stride, x.data(), n))
            << traits(type).name << " blocks=" << blocks << " rows=" << layout.rows << " row "
            << r;
      }
    }
  }
}

TEST_P(DotKQuantsTest, Q4_1IsExactWhenArithmeticIsExact) {
  expect_exact<BlockQ4_1, BlockQ8_1>(kernels(), TensorType::Q4_1, exact_q4_1, exact_q8_1);
}

TEST_P(DotKQuantsTest, Q4_KIsExactWhenArithmeticIsExact) {
  expect_exact<BlockQ4_K, BlockQ8_K>(kernels(), TensorType::Q4_K, exact_affine_k<BlockQ4_K>,
                                     exact_q8_k);
}

TEST_P(DotKQuantsTest, Q5_KIsExactWhenArithmeticIsExact) {
  expect_exact<BlockQ5_K, BlockQ8_K>(kernels(), TensorType::Q5_K, exact_affine_k<BlockQ5_K>,
                                     exact_q8_k);
}

TEST_P(DotKQuantsTest, Q6_KIsExactWhenArithmeticIsExact) {
  expect_exact<BlockQ6_K, BlockQ8_K>(kernels(), TensorType::Q6_K, exact_q6_k, exact_q8_k);
}

// Realistic rows (quantised random floats, so float rounding does happen): every row's result
// from one call over all rows must equal, bit for bit, its result from calls over one row at a
// time and over uneven slices (which put it at other positions of other row groups).
TEST_P(DotKQuantsTest, RowResultsDoNotDependOnRowsPerCall) {
  std::mt19937 rng(77);
  constexpr int kRows = 11;
  for (TensorType type : {TensorType::F32, TensorType::F16, TensorType::BF16, TensorType::Q4_0,
                          TensorType::Q4_1, TensorType::Q8_0, TensorType::Q4_K, TensorType::Q5_K,
                          TensorType::Q6_K}) {
    const std::int64_t n = 2048;
    const std::size_t stride = row_bytes(type, n);
    std::vector<std::byte> w(stride * kRows);
    for (int r = 0; r < kRows; ++r) {
      const auto values = testing::random_floats(rng, static_cast<std::size_t>(n), 1.0f + r);
      quantize_row(type, values.data(), w.data() + static_cast<std::size_t>(r) * stride, n);
    }
    std::vector<std::byte> x(row_bytes(vec_dot_type(type), n));
    const auto activations = testing::random_floats(rng, static_cast<std::size_t>(n), 3.0f);
    kernels().quantize_activations(vec_dot_type(type), activations.data(), x.data(), n);

    const DotRowsFn dot_rows = kernels().dot_rows_for(type);
    std::vector<float> together(kRows);
    dot_rows(w.data(), stride, kRows, x.data(), together.data(), n);
    for (const std::vector<int>& slices :
         {std::vector<int>(kRows, 1), std::vector<int>{2, 5, 4}, std::vector<int>{3, 3, 3, 2},
          std::vector<int>{7, 1, 3}}) {
      std::vector<float> sliced(kRows);
      int first = 0;
      for (int count : slices) {
        dot_rows(w.data() + static_cast<std::size_t>(first) * stride, stride, count, x.data(),
                 sliced.data() + first, n);
        first += count;
      }
      ASSERT_EQ(first, kRows);
      for (int r = 0; r < kRows; ++r) {
        const auto i = static_cast<std::size_t>(r);
        EXPECT_EQ(std::memcmp(&sliced[i], &together[i], sizeof(float)), 0)
            << traits(type).name << " row " << r << ": " << sliced[i] << " vs " << together[i];
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Levels, DotKQuantsTest, ::testing::ValuesIn(supported_isa_levels()),
                         [](const auto& info) { return testing::level_test_name(info.param); });

}  // namespace
}  // namespace flux
