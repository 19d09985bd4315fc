#include "kv/kv_budget.hpp"

#include <cstdint>
#include <limits>
#include <string>

#include <gtest/gtest.h>

#include "base/error.hpp"

namespace flux {
namespace {

// 2 layers x (K + V) x 4 slots x 8 elements x 2 bytes = 256 bytes a block.
constexpr KvLayout kLayout{.n_layers = 2, .kv_dim = 8, .block_size = 4};
constexpr std::uint64_t kBlockBytes = 256;
constexpr std::uint64_t kGiB = std::uint64_t{1} << 30;

std::string invalid_argument_message(const MemoryBudgetRequest& request, std::uint64_t available,
                                     std::int64_t default_positions = 64) {
  try {
    text_kv_blocks(kLayout, request, default_positions, available);
  } catch (const InvalidArgument& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected InvalidArgument";
  return {};
}

TEST(KvBudget, BlockSize) { EXPECT_EQ(KvCache::bytes_per_block(kLayout), kBlockBytes); }

TEST(KvBudget, AbsoluteBytes) {
  EXPECT_EQ(text_kv_blocks(kLayout, {.bytes = 1024}, 64, kGiB), 4);
  EXPECT_EQ(text_kv_blocks(kLayout, {.bytes = 1023}, 64, kGiB), 3);  // rounded down to whole blocks
  EXPECT_EQ(text_kv_blocks(kLayout, {.bytes = kBlockBytes}, 64, 0), 1);
  // An explicit size is not capped by the memory available.
  EXPECT_EQ(text_kv_blocks(kLayout, {.bytes = 100 * kBlockBytes}, 64, kBlockBytes), 100);
}

TEST(KvBudget, FractionOfAvailableMemory) {
  EXPECT_EQ(text_kv_blocks(kLayout, {.fraction = 0.5}, 64, 4096), 8);
  EXPECT_EQ(text_kv_blocks(kLayout, {.fraction = 1.0}, 64, 4096), 16);
  EXPECT_EQ(text_kv_blocks(kLayout, {.fraction = 0.25}, 64, 4096 + 255), 4);
}

TEST(KvBudget, BytesAndFractionTogetherAreRejected) {
  const std::string msg = invalid_argument_message({.bytes = 1024, .fraction = 0.5}, kGiB);
  EXPECT_NE(msg.find("not both"), std::string::npos) << msg;
}

TEST(KvBudget, FractionOutOfRangeIsRejected) {
  for (const double f : {-0.5, 1.5, std::numeric_limits<double>::infinity(), std::numeric_limits<double>::quiet_NaN()}) {
    const std::string msg = invalid_argument_message({.fraction = f}, kGiB);
    EXPECT_NE(msg.find("fraction"), std::string::npos) << f << ": " << msg;
  }
  const std::string msg = invalid_argument_message({.fraction = 0.5}, 0);
  EXPECT_NE(msg.find("meminfo"), std::string::npos) << msg;
}

TEST(KvBudget, ABudgetWithoutAWholeBlockIsRejected) {
  std::string msg = invalid_argument_message({.bytes = kBlockBytes - 1}, kGiB);
  EXPECT_NE(msg.find("holds no block"), std::string::npos) << msg;
  EXPECT_NE(msg.find("256"), std::string::npos) << msg;
  msg = invalid_argument_message({.fraction = 0.01}, 1000);
  EXPECT_NE(msg.find("holds no block"), std::string::npos) << msg;
}

TEST(KvBudget, HugeBudgetIsRejected) {
  const std::uint64_t too_many = (static_cast<std::uint64_t>(std::numeric_limits<int>::max()) + 1) * kBlockBytes;
  const std::string msg = invalid_argument_message({.bytes = too_many}, kGiB);
  EXPECT_NE(msg.find("too large"), std::string::npos) << msg;
}

TEST(KvBudget, DefaultCoversTheDefaultPositionsCappedByAvailableMemory) {
  // 100 positions: 25 blocks, when memory is plentiful or unknown.
  EXPECT_EQ(text_kv_blocks(kLayout, {}, 100, kGiB), 25);
  EXPECT_EQ(text_kv_blocks(kLayout, {}, 101, kGiB), 26);
  EXPECT_EQ(text_kv_blocks(kLayout, {}, 100, 0), 25);
  // Capped at a quarter of what is available: 40 blocks' worth available -> 10 blocks.
  EXPECT_EQ(text_kv_blocks(kLayout, {}, 100, 40 * kBlockBytes), 10);
  EXPECT_EQ(text_kv_blocks(kLayout, {}, 100, 100 * kBlockBytes), 25);
  // Never below one block.
  EXPECT_EQ(text_kv_blocks(kLayout, {}, 100, 1), 1);
  EXPECT_EQ(text_kv_blocks(kLayout, {}, 0, kGiB), 1);
}

}  // namespace
}  // namespace flux
