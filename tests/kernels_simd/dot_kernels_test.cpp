// Every kernel table this machine can run, checked against the scalar reference vec_dot: random
// rows of every weight type (relative bound), rows built so that all arithmetic is exact (bit
// equality, which catches indexing and tail bugs a tolerance could hide), odd and large sizes,
// several weight rows per call, misaligned pointers and padded row strides.

#include <gtest/gtest.h>

#include <cmath>
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

class DotKernelsTest : public ::testing::TestWithParam<IsaLevel> {
 protected:
  const DotKernels& kernels() const { return kernel_table_for(GetParam()); }
};

struct RowsLayout {
  int rows;
  std::size_t misalignment;  // bytes past a 64-byte boundary, for both w and x
  std::size_t stride_padding;  // extra bytes between weight rows
};

constexpr RowsLayout kLayouts[] = {{1, 0, 0}, {3, 1, 3}, {4, 2, 0}, {5, 3, 7}, {9, 1, 1}};

// Weight rows and one activation row as raw bytes at the requested misalignment.
struct DotInputs {
  MisalignedBytes w;
  MisalignedBytes x;
  std::size_t stride;
};

DotInputs make_inputs(TensorType type, std::int64_t n, const RowsLayout& layout,
                      std::mt19937& rng) {
  const std::size_t row = row_bytes(type, n);
  const std::size_t stride = row + layout.stride_padding;
  DotInputs in{MisalignedBytes(stride * static_cast<std::size_t>(layout.rows), layout.misalignment),
               MisalignedBytes(row_bytes(vec_dot_type(type), n), layout.misalignment), stride};
  for (int r = 0; r < layout.rows; ++r) {
    // Rows of different magnitudes, so the per-block scales vary across rows.
    const auto values = testing::random_floats(rng, static_cast<std::size_t>(n), 0.5f + r);
    quantize_row(type, values.data(), in.w.data() + static_cast<std::size_t>(r) * stride, n);
  }
  const auto activations = testing::random_floats(rng, static_cast<std::size_t>(n), 3.0f);
  quantize_row(vec_dot_type(type), activations.data(), in.x.data(), n);
  return in;
}

// Per type: sizes (for block types 1, 2 and 7 blocks, an odd middle size and a large one) and
// the bound on |fast - reference| as a fraction of sum |w_i * x_i|. The plain types' reference
// sums in double, so a float-lane kernel differs by the rounding of up to n additions. The block
// types' integer block sums are exact in every kernel and both sides add per-block float terms in
// the same block order, only split differently across lanes, so they differ by a few roundings
// per block (observed below 1e-7; 1e-6 leaves a margin without hiding a wrong scale or block).
struct TypeSizes {
  TensorType type;
  std::vector<std::int64_t> sizes;
  double relative_bound;
};

const std::vector<TypeSizes>& type_sizes() {
  static const std::vector<TypeSizes> cases = {
      {TensorType::F32, {1, 7, 15, 16, 17, 31, 33, 100, 4096, 11008}, testing::kRelativeTolerance},
      {TensorType::F16, {1, 7, 15, 16, 17, 31, 33, 100, 4096, 11008}, testing::kRelativeTolerance},
      {TensorType::BF16, {1, 7, 15, 16, 17, 31, 33, 100, 4096, 11008}, testing::kRelativeTolerance},
      {TensorType::Q4_0, {32, 64, 224, 1056, 4096, 11008}, 1e-6},
      {TensorType::Q8_0, {32, 64, 224, 1056, 4096, 11008}, 1e-6},
      {TensorType::Q4_1, {32, 64, 224, 1056, 4096, 11008}, 1e-6},
      {TensorType::Q4_K, {256, 512, 1792, 2816, 11008}, 1e-6},
      {TensorType::Q5_K, {256, 512, 1792, 2816, 11008}, 1e-6},
      {TensorType::Q6_K, {256, 512, 1792, 2816, 11008}, 1e-6},
  };
  return cases;
}

TEST_P(DotKernelsTest, RandomRowsMatchReferenceWithinBound) {
  std::mt19937 rng(1234);
  for (const TypeSizes& c : type_sizes()) {
    const DotRowsFn dot_rows = kernels().dot_rows_for(c.type);
    for (std::int64_t n : c.sizes) {
      for (const RowsLayout& layout : kLayouts) {
        const DotInputs in = make_inputs(c.type, n, layout, rng);
        std::vector<float> out(static_cast<std::size_t>(layout.rows), -1.0f);
        dot_rows(in.w.data(), in.stride, layout.rows, in.x.data(), out.data(), n);
        for (int r = 0; r < layout.rows; ++r) {
          const std::byte* w_row = in.w.data() + static_cast<std::size_t>(r) * in.stride;
          const float expected = vec_dot(c.type, w_row, in.x.data(), n);
          const double bound =
              c.relative_bound * testing::absolute_product_sum(c.type, w_row, in.x.data(), n);
          EXPECT_NEAR(out[static_cast<std::size_t>(r)], expected, bound)
              << traits(c.type).name << " n=" << n << " rows=" << layout.rows << " row " << r
              << " misalignment=" << layout.misalignment;
        }
      }
    }
  }
}

// Blocks whose scales are 1 or 2 and whose quants are bounded so that every partial sum is an
// integer below 2^24: every summation order then gives the same float, so fast and reference
// must agree to the bit.
template <class Block>
void fill_exact_blocks(std::byte* row, std::size_t blocks, std::mt19937& rng, int lo, int hi) {
  constexpr std::uint16_t kScaleBits[] = {0x3C00, 0x4000};  // f16 1.0 and 2.0
  for (std::size_t b = 0; b < blocks; ++b) {
    Block block{};
    block.d = kScaleBits[rng() % 2];
    for (auto& q : block.qs) {
      if constexpr (std::is_same_v<Block, BlockQ4_0>) {
        q = static_cast<std::uint8_t>(rng());  // packed nibbles: every value is fair
      } else {
        q = static_cast<std::int8_t>(lo + static_cast<int>(rng() % static_cast<unsigned>(hi - lo + 1)));
      }
    }
    std::memcpy(row + b * sizeof(Block), &block, sizeof(Block));
  }
}

template <class WeightBlock>
void expect_exact_int8_dots(const DotKernels& kernels, TensorType type) {
  std::mt19937 rng(99);
  // Full int8 range (including -128, which breaks maddubs' sign trick) on short rows; a narrow
  // range on long rows keeps the sums below 2^24.
  struct Case {
    std::size_t blocks;
    int lo;
    int hi;
  };
  for (const Case c : {Case{1, -128, 127}, Case{3, -128, 127}, Case{7, -128, 127},
                       Case{344, -8, 7}}) {
    const auto n = static_cast<std::int64_t>(c.blocks * 32);
    for (const RowsLayout& layout : kLayouts) {
      const std::size_t stride = c.blocks * sizeof(WeightBlock) + layout.stride_padding;
      MisalignedBytes w(stride * static_cast<std::size_t>(layout.rows), layout.misalignment);
      MisalignedBytes x(c.blocks * sizeof(BlockQ8_0), layout.misalignment);
      for (int r = 0; r < layout.rows; ++r) {
        fill_exact_blocks<WeightBlock>(w.data() + static_cast<std::size_t>(r) * stride, c.blocks,
                                       rng, c.lo, c.hi);
      }
      fill_exact_blocks<BlockQ8_0>(x.data(), c.blocks, rng, c.lo, c.hi);
      std::vector<float> out(static_cast<std::size_t>(layout.rows));
      kernels.dot_rows_for(type)(w.data(), stride, layout.rows, x.data(), out.data(), n);
      for (int r = 0; r < layout.rows; ++r) {
        const float expected =
            vec_dot(type, w.data() + static_cast<std::size_t>(r) * stride, x.data(), n);
        EXPECT_EQ(out[static_cast<std::size_t>(r)], expected)
            << traits(type).name << " blocks=" << c.blocks << " rows=" << layout.rows;
      }
    }
  }
}

TEST_P(DotKernelsTest, Q4_0IsExactWhenArithmeticIsExact) {
  expect_exact_int8_dots<BlockQ4_0>(kernels(), TensorType::Q4_0);
}

TEST_P(DotKernelsTest, Q8_0IsExactWhenArithmeticIsExact) {
  expect_exact_int8_dots<BlockQ8_0>(kernels(), TensorType::Q8_0);
}

// Small integers: products and partial sums are exact in float (|sum| <= 64 * 11008 < 2^24).
TEST_P(DotKernelsTest, PlainTypesAreExactOnSmallIntegers) {
  std::mt19937 rng(7);
  for (TensorType type : {TensorType::F32, TensorType::F16, TensorType::BF16}) {
    for (std::int64_t n : {1, 8, 17, 33, 47, 11008}) {
      for (const RowsLayout& layout : kLayouts) {
        std::vector<float> values(static_cast<std::size_t>(n));
        const std::size_t row = row_bytes(type, n);
        const std::size_t stride = row + layout.stride_padding;
        MisalignedBytes w(stride * static_cast<std::size_t>(layout.rows), layout.misalignment);
        MisalignedBytes x(row, layout.misalignment);
        for (int r = 0; r <= layout.rows; ++r) {
          for (float& v : values) v = static_cast<float>(static_cast<int>(rng() % 17) - 8);
          std::byte* dst = r < layout.rows ? w.data() + static_cast<std::size_t>(r) * stride
                                           : x.data();
          quantize_row(type, values.data(), dst, n);
        }
        std::vector<float> out(static_cast<std::size_t>(layout.rows));
        kernels().dot_rows_for(type)(w.data(), stride, layout.rows, x.data(), out.data(), n);
        for (int r = 0; r < layout.rows; ++r) {
          EXPECT_EQ(out[static_cast<std::size_t>(r)],
                    vec_dot(type, w.data() + static_cast<std::size_t>(r) * stride, x.data(), n))
              << traits(type).name << " n=" << n << " rows=" << layout.rows;
        }
      }
    }
  }
}

TEST_P(DotKernelsTest, ZeroRowsWritesNothing) {
  float sentinel = 42.0f;
  const std::byte dummy[64] = {};
  kernels().q4_0(dummy, 18, 0, dummy, &sentinel, 32);
  kernels().f32(dummy, 4, 0, dummy, &sentinel, 1);
  EXPECT_EQ(sentinel, 42.0f);
}

INSTANTIATE_TEST_SUITE_P(Levels, DotKernelsTest, ::testing::ValuesIn(supported_isa_levels()),
                         [](const auto& info) { return testing::level_test_name(info.param); });

}  // namespace
}  // namespace flux
