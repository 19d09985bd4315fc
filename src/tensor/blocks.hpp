#pragma once
// Block layouts of the quantised tensor types, byte for byte as ggml stores them in GGUF files
// (ggml-common.h). Fast kernels code against these structs too, so a layout lives in one place.
//
// Blocks sit at arbitrary byte offsets inside mapped files (a Q4_0 block is 18 bytes), so never
// dereference a Block* into raw tensor bytes: copy blocks in and out with load_block/store_block.

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <type_traits>

namespace flux {

// Multi-byte fields (f16 scales, Q8_K's float and int16 sums) are little-endian in GGUF; the
// memcpy-based loads below read them natively.
static_assert(std::endian::native == std::endian::little,
              "block loads assume a little-endian host");

inline constexpr std::size_t kQK4_0 = 32;
inline constexpr std::size_t kQK4_1 = 32;
inline constexpr std::size_t kQK8_0 = 32;
inline constexpr std::size_t kQK8_1 = 32;
// Elements in a k-quant super-block.
inline constexpr std::size_t kQK_K = 256;
// Bytes of the packed 6-bit scales and mins of Q4_K / Q5_K.
inline constexpr std::size_t kKScaleBytes = 12;

// Half-precision fields hold raw IEEE binary16 bits; convert with f16_to_f32 (quant.hpp).

// x[i] = (q[i] - 8) * d. qs[j] holds element j in its low nibble and element j + 16 in its high.
struct BlockQ4_0 {
  std::uint16_t d;
  std::array<std::uint8_t, kQK4_0 / 2> qs;
};

// x[i] = q[i] * d + m, nibbles ordered as in Q4_0.
struct BlockQ4_1 {
  std::uint16_t d;
  std::uint16_t m;
  std::array<std::uint8_t, kQK4_1 / 2> qs;
};

// x[i] = q[i] * d.
struct BlockQ8_0 {
  std::uint16_t d;
  std::array<std::int8_t, kQK8_0> qs;
};

// Activation format for Q4_1 dot products: s = d * sum(q) lets the dot product apply Q4_1's
// offset m without touching the quants.
struct BlockQ8_1 {
  std::uint16_t d;
  std::uint16_t s;
  std::array<std::int8_t, kQK8_1> qs;
};

// Eight sub-blocks of 32: x = d * scale[j] * q - dmin * min[j], with 6-bit scale/min pairs packed
// into `scales` (see unpack_scale_min_k4). qs[32*c + l] holds element 64*c + l in its low nibble
// and element 64*c + 32 + l in its high nibble.
struct BlockQ4_K {
  std::uint16_t d;
  std::uint16_t dmin;
  std::array<std::uint8_t, kKScaleBytes> scales;
  std::array<std::uint8_t, kQK_K / 2> qs;
};

// Q4_K plus a fifth bit per element: bit 2c of qh[l] is the high bit of element 64*c + l and
// bit 2c+1 that of element 64*c + 32 + l.
struct BlockQ5_K {
  std::uint16_t d;
  std::uint16_t dmin;
  std::array<std::uint8_t, kKScaleBytes> scales;
  std::array<std::uint8_t, kQK_K / 8> qh;
  std::array<std::uint8_t, kQK_K / 2> qs;
};

// Sixteen sub-blocks of 16: x = d * scales[j] * (q - 32) with 6-bit q. In each half of 128
// elements (h = 0, 1), for l < 32: ql[64h + l] holds the low 4 bits of elements l (low nibble)
// and l + 64 (high nibble); ql[64h + 32 + l] those of l + 32 and l + 96; qh[32h + l] holds the
// top 2 bits of l, l + 32, l + 64, l + 96 in bits 0-1, 2-3, 4-5, 6-7.
struct BlockQ6_K {
  std::array<std::uint8_t, kQK_K / 2> ql;
  std::array<std::uint8_t, kQK_K / 4> qh;
  std::array<std::int8_t, kQK_K / 16> scales;
  std::uint16_t d;
};

// Activation format for k-quant dot products: a float scale and per-16 sums of the quants so
// that the mins of Q4_K/Q5_K cost one multiply per 16 elements.
struct BlockQ8_K {
  float d;
  std::array<std::int8_t, kQK_K> qs;
  std::array<std::int16_t, kQK_K / 16> bsums;
};

// The byte sizes below are the ones in the type table (dtype.cpp) and in ggml-common.h.
static_assert(sizeof(BlockQ4_0) == 18);
static_assert(sizeof(BlockQ4_1) == 20);
static_assert(sizeof(BlockQ8_0) == 34);
static_assert(sizeof(BlockQ8_1) == 36);
static_assert(sizeof(BlockQ4_K) == 144);
static_assert(sizeof(BlockQ5_K) == 176);
static_assert(sizeof(BlockQ6_K) == 210);
static_assert(sizeof(BlockQ8_K) == 292);

// Copies block `index` out of a row of raw bytes; safe at any alignment.
template <class Block>
Block load_block(std::span<const std::byte> row, std::size_t index) {
  static_assert(std::is_trivially_copyable_v<Block>);
  Block block;
  std::memcpy(&block, row.data() + index * sizeof(Block), sizeof(Block));
  return block;
}

// Writes a block into slot `index` of a row of raw bytes; safe at any alignment.
template <class Block>
void store_block(std::span<std::byte> row, std::size_t index, const Block& block) {
  static_assert(std::is_trivially_copyable_v<Block>);
  std::memcpy(row.data() + index * sizeof(Block), &block, sizeof(Block));
}

struct ScaleMin {
  std::uint8_t scale;  // 0..63
  std::uint8_t min;    // 0..63
};

// Sub-block j (0..7) of Q4_K/Q5_K's 12 packed bytes (ggml's get_scale_min_k4): bytes 0-3 hold
// scales 0-3 and bytes 4-7 mins 0-3 in their low 6 bits; scales/mins 4-7 keep their low 4 bits
// in the nibbles of bytes 8-11 and their top 2 bits in the spare top bits of bytes 0-3 / 4-7.
constexpr ScaleMin unpack_scale_min_k4(const std::array<std::uint8_t, kKScaleBytes>& packed,
                                       std::size_t j) {
  if (j < 4) {
    return {static_cast<std::uint8_t>(packed[j] & 63),
            static_cast<std::uint8_t>(packed[j + 4] & 63)};
  }
  return {static_cast<std::uint8_t>((packed[j + 4] & 0xF) | ((packed[j - 4] >> 6) << 4)),
          static_cast<std::uint8_t>((packed[j + 4] >> 4) | ((packed[j] >> 6) << 4))};
}

// Inverse of unpack_scale_min_k4; every value must be below 64.
constexpr std::array<std::uint8_t, kKScaleBytes> pack_scale_min_k4(
    const std::array<ScaleMin, kQK_K / 32>& values) {
  std::array<std::uint8_t, kKScaleBytes> packed{};
  for (std::size_t j = 0; j < 4; ++j) {
    const ScaleMin low = values[j];
    const ScaleMin high = values[j + 4];
    packed[j] = static_cast<std::uint8_t>(low.scale | ((high.scale >> 4) << 6));
    packed[j + 4] = static_cast<std::uint8_t>(low.min | ((high.min >> 4) << 6));
    packed[j + 8] = static_cast<std::uint8_t>((high.scale & 0xF) | ((high.min & 0xF) << 4));
  }
  return packed;
}

}  // namespace flux
