#include "tensor/interleaved.hpp"

#include <cstring>

#include <fmt/format.h>

#include "base/error.hpp"
#include "tensor/blocks.hpp"

namespace flux {
namespace {

constexpr std::size_t kChunkBytes = 4;
constexpr std::size_t kScaleBytes = sizeof(std::uint16_t);

// The shape of one block of a type with an interleaved layout: its plain block size, and the
// bytes of quants (after the f16 scale) that go into chunks.
struct BlockShape {
  std::size_t block_bytes;
  std::size_t quant_bytes;
};

BlockShape shape_of(TensorType type) {
  switch (type) {
    case TensorType::Q4_0: return {sizeof(BlockQ4_0), kQK4_0 / 2};
    case TensorType::Q8_0: return {sizeof(BlockQ8_0), kQK8_0};
    default: break;
  }
  throw UnsupportedError(fmt::format("no interleaved layout for {}", type_name(type)));
}

static_assert(offsetof(BlockQ4_0, qs) == kScaleBytes && offsetof(BlockQ8_0, qs) == kScaleBytes,
              "the interleaved layout assumes the scale leads each block");

}  // namespace

bool has_interleaved_layout(TensorType type) { return type == TensorType::Q4_0 || type == TensorType::Q8_0; }

void interleave_rows(TensorType type, const std::byte* src, std::size_t src_stride, std::int64_t cols,
                     std::byte* dst) {
  const BlockShape s = shape_of(type);
  const auto blocks = static_cast<std::size_t>(cols) / kQK8_0;
  const std::size_t chunks = s.quant_bytes / kChunkBytes;
  for (std::size_t b = 0; b < blocks; ++b) {
    std::byte* out = dst + b * kInterleaveRows * s.block_bytes;
    for (int r = 0; r < kInterleaveRows; ++r) {
      const std::byte* block = src + static_cast<std::size_t>(r) * src_stride + b * s.block_bytes;
      std::memcpy(out + static_cast<std::size_t>(r) * kScaleBytes, block, kScaleBytes);
      for (std::size_t c = 0; c < chunks; ++c)
        std::memcpy(out + kInterleaveRows * kScaleBytes + (c * kInterleaveRows + static_cast<std::size_t>(r)) * kChunkBytes,
                    block + kScaleBytes + c * kChunkBytes, kChunkBytes);
    }
  }
}

void deinterleave_row(TensorType type, const std::byte* group, int lane, std::int64_t cols, std::byte* dst) {
  check(lane >= 0 && lane < kInterleaveRows, "interleaved lane out of range");
  const BlockShape s = shape_of(type);
  const auto blocks = static_cast<std::size_t>(cols) / kQK8_0;
  const std::size_t chunks = s.quant_bytes / kChunkBytes;
  const auto r = static_cast<std::size_t>(lane);
  for (std::size_t b = 0; b < blocks; ++b) {
    const std::byte* in = group + b * kInterleaveRows * s.block_bytes;
    std::byte* block = dst + b * s.block_bytes;
    std::memcpy(block, in + r * kScaleBytes, kScaleBytes);
    for (std::size_t c = 0; c < chunks; ++c)
      std::memcpy(block + kScaleBytes + c * kChunkBytes,
                  in + kInterleaveRows * kScaleBytes + (c * kInterleaveRows + r) * kChunkBytes, kChunkBytes);
  }
}

}  // namespace flux
