// The interleaved layout: a group holds exactly its rows' bytes, puts each row's 4-byte chunks
// where tensor/interleaved.hpp says, and deinterleave_row undoes interleave_rows exactly.

#include <gtest/gtest.h>

#include <cstddef>
#include <cstring>
#include <vector>

#include "base/error.hpp"
#include "tensor/blocks.hpp"
#include "tensor/interleaved.hpp"
#include "tensor/quant.hpp"

namespace flux {
namespace {

std::vector<std::byte> counting_bytes(std::size_t n) {
  std::vector<std::byte> out(n);
  for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<std::byte>(i * 37 + 11);
  return out;
}

TEST(Interleaved, RoundTripsEveryRow) {
  for (const TensorType type : {TensorType::Q4_0, TensorType::Q4_1, TensorType::Q8_0, TensorType::Q4_K, TensorType::Q5_K, TensorType::Q6_K, TensorType::F16, TensorType::BF16}) {
    for (const std::int64_t blocks : {1, 3, 8}) {
      const std::int64_t cols = blocks * interleaved_column_unit(type);
      const std::size_t row = row_bytes(type, cols);
      const std::size_t stride = row + 5;  // source rows need not be back to back
      // Every bit pattern of Q4_K's packed scales is a valid one, so counting bytes round-trip too.
      const std::vector<std::byte> src = counting_bytes(stride * kInterleaveRows);
      std::vector<std::byte> group(row * kInterleaveRows);
      interleave_rows(type, src.data(), stride, cols, group.data());
      for (int r = 0; r < kInterleaveRows; ++r) {
        std::vector<std::byte> back(row);
        deinterleave_row(type, group.data(), r, cols, back.data());
        EXPECT_EQ(std::memcmp(back.data(), src.data() + static_cast<std::size_t>(r) * stride, row), 0)
            << type_name(type) << " cols " << cols << " row " << r;
      }
    }
  }
}

TEST(Interleaved, PlacesScalesThenFourByteChunksRowByRow) {
  const std::int64_t cols = 64;  // two blocks
  const std::size_t row = row_bytes(TensorType::Q4_0, cols);
  const std::vector<std::byte> src = counting_bytes(row * kInterleaveRows);
  std::vector<std::byte> group(row * kInterleaveRows);
  interleave_rows(TensorType::Q4_0, src.data(), row, cols, group.data());
  // Block 1 of the group starts after block 0's 8 scales and 8 x 16 quant bytes.
  const std::size_t block1 = kInterleaveRows * sizeof(BlockQ4_0);
  const int r = 5;
  const std::size_t src_block1 = static_cast<std::size_t>(r) * row + sizeof(BlockQ4_0);
  EXPECT_EQ(std::memcmp(group.data() + block1 + 2 * r, src.data() + src_block1, 2), 0) << "scale of row 5";
  // Chunk 2 (quant bytes 8-11) of row 5: 16 bytes of scales, then 32 bytes per chunk index.
  EXPECT_EQ(std::memcmp(group.data() + block1 + 16 + 32 * 2 + 4 * r, src.data() + src_block1 + 2 + 8, 4), 0);
}

// Q6_K: the 8 rows' d, then sub-block scales 8 bytes per sub-block, then ql and qh in chunks.
TEST(Interleaved, PlacesQ6KFieldsScalesAndChunks) {
  const std::int64_t cols = 512;  // two super-blocks
  const std::size_t row = row_bytes(TensorType::Q6_K, cols);
  const std::vector<std::byte> src = counting_bytes(row * kInterleaveRows);
  std::vector<std::byte> group(row * kInterleaveRows);
  interleave_rows(TensorType::Q6_K, src.data(), row, cols, group.data());
  const std::size_t block1 = kInterleaveRows * sizeof(BlockQ6_K);
  const int r = 3;
  const std::byte* plain = src.data() + static_cast<std::size_t>(r) * row + sizeof(BlockQ6_K);
  const std::byte* out = group.data() + block1;
  EXPECT_EQ(std::memcmp(out + 2 * r, plain + offsetof(BlockQ6_K, d), 2), 0) << "d of row 3";
  EXPECT_EQ(out[16 + 8 * 9 + r], plain[offsetof(BlockQ6_K, scales) + 9]) << "scale 9 of row 3";
  const std::size_t low = 16 + 128;
  EXPECT_EQ(std::memcmp(out + low + 32 * 5 + 4 * r, plain + offsetof(BlockQ6_K, ql) + 20, 4), 0) << "ql[20..23]";
  const std::size_t high = low + 32 * 32;
  EXPECT_EQ(std::memcmp(out + high + 32 * 15 + 4 * r, plain + offsetof(BlockQ6_K, qh) + 60, 4), 0) << "qh[60..63]";
}

TEST(Interleaved, OnlySomeTypesHaveTheLayout) {
  EXPECT_TRUE(has_interleaved_layout(TensorType::Q4_0));
  EXPECT_TRUE(has_interleaved_layout(TensorType::Q4_1));
  EXPECT_TRUE(has_interleaved_layout(TensorType::Q8_0));
  EXPECT_TRUE(has_interleaved_layout(TensorType::Q4_K));
  EXPECT_TRUE(has_interleaved_layout(TensorType::Q6_K));
  EXPECT_TRUE(has_interleaved_layout(TensorType::Q5_K));
  EXPECT_TRUE(has_interleaved_layout(TensorType::BF16));
  EXPECT_FALSE(has_interleaved_layout(TensorType::F32));
  std::vector<std::byte> bytes(row_bytes(TensorType::F32, 256) * kInterleaveRows);
  EXPECT_THROW(interleave_rows(TensorType::F32, bytes.data(), row_bytes(TensorType::F32, 256), 256, bytes.data()),
               UnsupportedError);
}

}  // namespace
}  // namespace flux
