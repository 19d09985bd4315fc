#include "tensor/interleaved.hpp"

#include <cstring>

#include <fmt/format.h>

#include "base/error.hpp"
#include "tensor/blocks.hpp"

namespace flux {
namespace {

constexpr std::size_t kChunkBytes = 4;
constexpr std::size_t kFieldBytes = sizeof(std::uint16_t);

// The shape of one block of a type with an interleaved layout: its plain block size, its f16
// header fields (Q4_1 has d and m), and the bytes of quants after them that go into chunks.
struct BlockShape {
  std::size_t block_bytes;
  std::size_t fields;
  std::size_t quant_bytes;

  std::size_t header_bytes() const { return fields * kFieldBytes; }
  // Where field f of row r, and chunk c of row r, sit in an interleaved block.
  static std::size_t field_at(std::size_t f, std::size_t r) { return (f * kInterleaveRows + r) * kFieldBytes; }
  std::size_t chunk_at(std::size_t c, std::size_t r) const {
    return kInterleaveRows * header_bytes() + (c * kInterleaveRows + r) * kChunkBytes;
  }
};

BlockShape shape_of(TensorType type) {
  switch (type) {
    case TensorType::Q4_0: return {sizeof(BlockQ4_0), 1, kQK4_0 / 2};
    case TensorType::Q4_1: return {sizeof(BlockQ4_1), 2, kQK4_1 / 2};
    case TensorType::Q8_0: return {sizeof(BlockQ8_0), 1, kQK8_0};
    default: break;
  }
  throw UnsupportedError(fmt::format("no interleaved layout for {}", type_name(type)));
}

static_assert(offsetof(BlockQ4_0, qs) == kFieldBytes && offsetof(BlockQ8_0, qs) == kFieldBytes &&
                  offsetof(BlockQ4_1, m) == kFieldBytes && offsetof(BlockQ4_1, qs) == 2 * kFieldBytes,
              "the interleaved layout assumes each block is its f16 fields, then its quants");

// Calls piece(offset in the plain block, offset in the interleaved block, bytes) for every piece
// of row r's block: its f16 fields, then its 4-byte chunks of quants.
template <class Piece>
void for_each_piece(const BlockShape& s, std::size_t r, const Piece& piece) {
  for (std::size_t f = 0; f < s.fields; ++f) piece(f * kFieldBytes, BlockShape::field_at(f, r), kFieldBytes);
  for (std::size_t c = 0; c < s.quant_bytes / kChunkBytes; ++c)
    piece(s.header_bytes() + c * kChunkBytes, s.chunk_at(c, r), kChunkBytes);
}

}  // namespace

bool has_interleaved_layout(TensorType type) {
  return type == TensorType::Q4_0 || type == TensorType::Q4_1 || type == TensorType::Q8_0;
}

void interleave_rows(TensorType type, const std::byte* src, std::size_t src_stride, std::int64_t cols,
                     std::byte* dst) {
  const BlockShape s = shape_of(type);
  const auto blocks = static_cast<std::size_t>(cols) / kQK8_0;
  for (std::size_t b = 0; b < blocks; ++b) {
    std::byte* group = dst + b * kInterleaveRows * s.block_bytes;
    for (std::size_t r = 0; r < kInterleaveRows; ++r) {
      const std::byte* block = src + r * src_stride + b * s.block_bytes;
      for_each_piece(s, r, [&](std::size_t at_plain, std::size_t at_group, std::size_t n) {
        std::memcpy(group + at_group, block + at_plain, n);
      });
    }
  }
}

void deinterleave_row(TensorType type, const std::byte* group, int lane, std::int64_t cols, std::byte* dst) {
  check(lane >= 0 && lane < kInterleaveRows, "interleaved lane out of range");
  const BlockShape s = shape_of(type);
  const auto blocks = static_cast<std::size_t>(cols) / kQK8_0;
  for (std::size_t b = 0; b < blocks; ++b) {
    const std::byte* in = group + b * kInterleaveRows * s.block_bytes;
    std::byte* block = dst + b * s.block_bytes;
    for_each_piece(s, static_cast<std::size_t>(lane), [&](std::size_t at_plain, std::size_t at_group, std::size_t n) {
      std::memcpy(block + at_plain, in + at_group, n);
    });
  }
}

}  // namespace flux
