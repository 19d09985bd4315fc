#include "tensor/interleaved.hpp"

#include <array>
#include <cstddef>
#include <cstring>

#include <fmt/format.h>

#include "base/error.hpp"
#include "tensor/blocks.hpp"

namespace flux {
namespace {

constexpr std::size_t kFieldBytes = sizeof(std::uint16_t);
constexpr std::size_t kF16ChunkElements = 16;

// The shape of one block of a type with an interleaved layout: its elements and plain size, its
// f16 header fields (Q4_1 has d and m, Q4_K and Q5_K d and dmin), its packed 6-bit sub-block
// scales and mins (Q4_K and Q5_K), and the bytes of quants after them that go into chunks (Q5_K:
// its 32 bytes of fifth bits, then its nibbles).
struct BlockShape {
  std::size_t elements;
  std::size_t block_bytes;
  std::size_t fields;
  std::size_t scale_bytes;
  std::size_t quant_bytes;
  std::size_t chunk_bytes = 4;

  std::size_t header_bytes() const { return fields * kFieldBytes; }
  // Where field f of row r, the scales section, and chunk c of row r sit in an interleaved block.
  static std::size_t field_at(std::size_t f, std::size_t r) { return (f * kInterleaveRows + r) * kFieldBytes; }
  std::size_t scales_at() const { return kInterleaveRows * header_bytes(); }
  std::size_t chunk_at(std::size_t c, std::size_t r) const {
    return kInterleaveRows * (header_bytes() + scale_bytes) + (c * kInterleaveRows + r) * chunk_bytes;
  }
};

BlockShape shape_of(TensorType type) {
  switch (type) {
    case TensorType::Q4_0: return {kQK4_0, sizeof(BlockQ4_0), 1, 0, kQK4_0 / 2};
    case TensorType::Q4_1: return {kQK4_1, sizeof(BlockQ4_1), 2, 0, kQK4_1 / 2};
    case TensorType::Q8_0: return {kQK8_0, sizeof(BlockQ8_0), 1, 0, kQK8_0};
    case TensorType::Q4_K: return {kQK_K, sizeof(BlockQ4_K), 2, kKScaleBytes, kQK_K / 2};
    case TensorType::Q5_K: return {kQK_K, sizeof(BlockQ5_K), 2, kKScaleBytes, kQK_K / 8 + kQK_K / 2};  // qh, then qs
    case TensorType::F16:
    case TensorType::BF16: {  // a "block" of 16 halves, one chunk per row
      constexpr std::size_t bytes = kF16ChunkElements * sizeof(std::uint16_t);
      return {kF16ChunkElements, bytes, 0, 0, bytes, bytes};
    }
    default: break;
  }
  throw UnsupportedError(fmt::format("no interleaved layout for {}", type_name(type)));
}

// Q4_K's scales section for 8 rows (96 bytes, the rows' 8 x 12 packed bytes rearranged): for
// sub-block j and row r, byte 8j + r holds the low 4 bits of the scale and (high nibble) of the
// min; then 32-bit word j of the last 32 bytes holds, at bits 4r..4r+3, the top 2 bits of the
// scale and above them the top 2 bits of the min. A kernel widens 8 bytes and shifts one word
// to get sub-block j's scales and mins for all 8 rows.
constexpr std::size_t kSubBlocks = kQK_K / 32;
constexpr std::size_t kLowBytes = kSubBlocks * kInterleaveRows;

void interleave_k_scales(const std::array<ScaleMin, kSubBlocks>& row, std::size_t r, std::byte* section) {
  for (std::size_t j = 0; j < kSubBlocks; ++j) {
    const ScaleMin v = row[j];
    section[j * kInterleaveRows + r] = static_cast<std::byte>((v.scale & 15) | ((v.min & 15) << 4));
    std::uint32_t word;
    std::memcpy(&word, section + kLowBytes + 4 * j, sizeof word);
    word |= static_cast<std::uint32_t>((v.scale >> 4) | ((v.min >> 4) << 2)) << (4 * r);
    std::memcpy(section + kLowBytes + 4 * j, &word, sizeof word);
  }
}

std::array<ScaleMin, kSubBlocks> deinterleave_k_scales(const std::byte* section, std::size_t r) {
  std::array<ScaleMin, kSubBlocks> row{};
  for (std::size_t j = 0; j < kSubBlocks; ++j) {
    const auto low = static_cast<unsigned>(section[j * kInterleaveRows + r]);
    std::uint32_t word;
    std::memcpy(&word, section + kLowBytes + 4 * j, sizeof word);
    const unsigned high = (word >> (4 * r)) & 15;
    row[j] = {static_cast<std::uint8_t>((low & 15) | ((high & 3) << 4)), static_cast<std::uint8_t>((low >> 4) | ((high >> 2) << 4))};
  }
  return row;
}

static_assert(offsetof(BlockQ4_0, qs) == kFieldBytes && offsetof(BlockQ8_0, qs) == kFieldBytes &&
                  offsetof(BlockQ4_1, m) == kFieldBytes && offsetof(BlockQ4_1, qs) == 2 * kFieldBytes &&
                  offsetof(BlockQ4_K, dmin) == kFieldBytes && offsetof(BlockQ4_K, scales) == 2 * kFieldBytes &&
                  offsetof(BlockQ4_K, qs) == 2 * kFieldBytes + kKScaleBytes &&
                  offsetof(BlockQ5_K, scales) == 2 * kFieldBytes && offsetof(BlockQ5_K, qh) == 2 * kFieldBytes + kKScaleBytes &&
                  offsetof(BlockQ5_K, qs) == offsetof(BlockQ5_K, qh) + kQK_K / 8,
              "the interleaved layout assumes each block is its f16 fields, its scales, then its quants");
static_assert(kLowBytes + kSubBlocks * 4 == kInterleaveRows * kKScaleBytes,
              "Q4_K's rearranged scales take the bytes of the packed ones");

// Copies one piece. Pieces are 1, 2, 4 or 32 bytes, and a memcpy of a size known only at run
// time is a library call: repacking a 1.1 GB Q8_0 model made 300 million of them, 44 % of its
// load time (perf). With the size a constant each copy is one or two moves.
inline void copy_piece(std::byte* dst, const std::byte* src, std::size_t n) {
  switch (n) {
    case 1: *dst = *src; break;
    case 2: std::memcpy(dst, src, 2); break;
    case 4: std::memcpy(dst, src, 4); break;
    case 32: std::memcpy(dst, src, 32); break;
    default: std::memcpy(dst, src, n); break;
  }
}

// Calls piece(offset in the plain block, offset in the interleaved block, bytes) for every piece
// of row r's block: its f16 fields, then its 4-byte chunks of quants.
template <class Piece>
void for_each_piece(const BlockShape& s, std::size_t r, const Piece& piece) {
  for (std::size_t f = 0; f < s.fields; ++f) piece(f * kFieldBytes, BlockShape::field_at(f, r), kFieldBytes);
  for (std::size_t c = 0; c < s.quant_bytes / s.chunk_bytes; ++c)
    piece(s.header_bytes() + s.scale_bytes + c * s.chunk_bytes, s.chunk_at(c, r), s.chunk_bytes);
}

// Q6_K (interleaved.hpp has the layout): its plain block is ql, qh, scales, d, so it does not fit
// BlockShape's fields-scales-quants order and gets its own offsets.
namespace q6k {
constexpr std::size_t kScales = kInterleaveRows * kFieldBytes;                    // after the 8 d
constexpr std::size_t kLow = kScales + kInterleaveRows * kQK_K / 16;               // ql chunks
constexpr std::size_t kHigh = kLow + kInterleaveRows * kQK_K / 2;                  // qh chunks
static_assert(kHigh + kInterleaveRows * kQK_K / 4 == kInterleaveRows * sizeof(BlockQ6_K),
              "Q6_K's interleaved block takes the bytes of its 8 rows");

// Calls piece(offset in the plain block, offset in the interleaved block, bytes) for every piece
// of row r's block.
template <class Piece>
void for_each_piece(std::size_t r, const Piece& piece) {
  piece(offsetof(BlockQ6_K, d), r * kFieldBytes, kFieldBytes);
  for (std::size_t j = 0; j < kQK_K / 16; ++j) piece(offsetof(BlockQ6_K, scales) + j, kScales + j * kInterleaveRows + r, 1);
  for (std::size_t c = 0; c < kQK_K / 2 / 4; ++c) piece(offsetof(BlockQ6_K, ql) + 4 * c, kLow + (c * kInterleaveRows + r) * 4, 4);
  for (std::size_t c = 0; c < kQK_K / 4 / 4; ++c) piece(offsetof(BlockQ6_K, qh) + 4 * c, kHigh + (c * kInterleaveRows + r) * 4, 4);
}
}  // namespace q6k

}  // namespace

bool has_interleaved_layout(TensorType type) {
  return type == TensorType::Q4_0 || type == TensorType::Q4_1 || type == TensorType::Q8_0 || type == TensorType::Q4_K ||
         type == TensorType::Q5_K || type == TensorType::Q6_K || type == TensorType::F16 || type == TensorType::BF16;
}

std::int64_t interleaved_column_unit(TensorType type) {
  if (type == TensorType::Q6_K) return kQK_K;
  return static_cast<std::int64_t>(shape_of(type).elements);
}

void interleave_rows(TensorType type, const std::byte* src, std::size_t src_stride, std::int64_t cols,
                     std::byte* dst) {
  if (type == TensorType::Q6_K) {
    for (std::size_t b = 0; b < static_cast<std::size_t>(cols) / kQK_K; ++b) {
      std::byte* group = dst + b * kInterleaveRows * sizeof(BlockQ6_K);
      for (std::size_t r = 0; r < kInterleaveRows; ++r) {
        const std::byte* block = src + r * src_stride + b * sizeof(BlockQ6_K);
        q6k::for_each_piece(r, [&](std::size_t at_plain, std::size_t at_group, std::size_t n) {
          copy_piece(group + at_group, block + at_plain, n);
        });
      }
    }
    return;
  }
  const BlockShape s = shape_of(type);
  const auto blocks = static_cast<std::size_t>(cols) / s.elements;
  for (std::size_t b = 0; b < blocks; ++b) {
    std::byte* group = dst + b * kInterleaveRows * s.block_bytes;
    if (s.scale_bytes > 0) std::memset(group + s.scales_at(), 0, kInterleaveRows * s.scale_bytes);
    for (std::size_t r = 0; r < kInterleaveRows; ++r) {
      const std::byte* block = src + r * src_stride + b * s.block_bytes;
      for_each_piece(s, r, [&](std::size_t at_plain, std::size_t at_group, std::size_t n) {
        copy_piece(group + at_group, block + at_plain, n);
      });
      if (s.scale_bytes > 0) {
        std::array<std::uint8_t, kKScaleBytes> packed;
        std::memcpy(packed.data(), block + s.header_bytes(), kKScaleBytes);
        std::array<ScaleMin, kSubBlocks> row;
        for (std::size_t j = 0; j < kSubBlocks; ++j) row[j] = unpack_scale_min_k4(packed, j);
        interleave_k_scales(row, r, group + s.scales_at());
      }
    }
  }
}

void deinterleave_row(TensorType type, const std::byte* group, int lane, std::int64_t cols, std::byte* dst) {
  check(lane >= 0 && lane < kInterleaveRows, "interleaved lane out of range");
  if (type == TensorType::Q6_K) {
    for (std::size_t b = 0; b < static_cast<std::size_t>(cols) / kQK_K; ++b) {
      const std::byte* in = group + b * kInterleaveRows * sizeof(BlockQ6_K);
      q6k::for_each_piece(static_cast<std::size_t>(lane), [&](std::size_t at_plain, std::size_t at_group, std::size_t n) {
        copy_piece(dst + b * sizeof(BlockQ6_K) + at_plain, in + at_group, n);
      });
    }
    return;
  }
  const BlockShape s = shape_of(type);
  const auto blocks = static_cast<std::size_t>(cols) / s.elements;
  for (std::size_t b = 0; b < blocks; ++b) {
    const std::byte* in = group + b * kInterleaveRows * s.block_bytes;
    std::byte* block = dst + b * s.block_bytes;
    for_each_piece(s, static_cast<std::size_t>(lane), [&](std::size_t at_plain, std::size_t at_group, std::size_t n) {
      copy_piece(block + at_plain, in + at_group, n);
    });
    if (s.scale_bytes > 0) {
      const auto packed = pack_scale_min_k4(deinterleave_k_scales(in + s.scales_at(), static_cast<std::size_t>(lane)));
      std::memcpy(block + s.header_bytes(), packed.data(), kKScaleBytes);
    }
  }
}

}  // namespace flux
