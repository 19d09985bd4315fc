#pragma once
// Per-type row codecs behind quant.hpp's dispatch (quant_dispatch.cpp). Internal to src/tensor.
//
// Every function works on whole rows whose sizes the dispatcher has already validated: a byte
// span holds exactly the blocks that the float span (or the element count) implies. Quantised
// rows are spans of bytes rather than of blocks because blocks sit at arbitrary alignment.

#include <cstddef>
#include <span>

#include "base/error.hpp"

namespace flux::codecs {

using ByteRow = std::span<const std::byte>;
using MutableByteRow = std::span<std::byte>;
using FloatRow = std::span<const float>;
using MutableFloatRow = std::span<float>;

// Blocks in a quantised row of `elements` values, after checking that `bytes` is exactly that
// many blocks.
template <class Block>
std::size_t checked_block_count(std::size_t bytes, std::size_t elements, std::size_t block_size) {
  check(elements % block_size == 0 && bytes == elements / block_size * sizeof(Block),
        "quantised row: byte and element counts disagree");
  return elements / block_size;
}

// Blocks in a dot product, after checking that both rows hold the same number of whole blocks.
template <class WeightBlock, class ActivationBlock>
std::size_t checked_dot_blocks(ByteRow w, ByteRow x) {
  const std::size_t blocks = w.size() / sizeof(WeightBlock);
  check(w.size() == blocks * sizeof(WeightBlock) && x.size() == blocks * sizeof(ActivationBlock),
        "dot: weight and activation rows are not the same number of whole blocks");
  return blocks;
}

// Plain float types (plain_types.cpp).
void dequantize_f32(ByteRow src, MutableFloatRow dst);
void quantize_f32(FloatRow src, MutableByteRow dst);
void dequantize_f16(ByteRow src, MutableFloatRow dst);
void quantize_f16(FloatRow src, MutableByteRow dst);
void dequantize_bf16(ByteRow src, MutableFloatRow dst);
void quantize_bf16(FloatRow src, MutableByteRow dst);
float dot_f32(ByteRow w, ByteRow x);
float dot_f16(ByteRow w, ByteRow x);
float dot_bf16(ByteRow w, ByteRow x);

// 32-element block types (quant_legacy.cpp).
void dequantize_q4_0(ByteRow src, MutableFloatRow dst);
void quantize_q4_0(FloatRow src, MutableByteRow dst);
void dequantize_q4_1(ByteRow src, MutableFloatRow dst);
void quantize_q4_1(FloatRow src, MutableByteRow dst);
void dequantize_q8_0(ByteRow src, MutableFloatRow dst);
void quantize_q8_0(FloatRow src, MutableByteRow dst);
void dequantize_q8_1(ByteRow src, MutableFloatRow dst);
void quantize_q8_1(FloatRow src, MutableByteRow dst);
float dot_q4_0_q8_0(ByteRow w, ByteRow x);
float dot_q4_1_q8_1(ByteRow w, ByteRow x);
float dot_q8_0_q8_0(ByteRow w, ByteRow x);
float dot_q8_1_q8_1(ByteRow w, ByteRow x);

// k-quants: decoding and dot products (quant_kquants.cpp).
void dequantize_q4_k(ByteRow src, MutableFloatRow dst);
void dequantize_q5_k(ByteRow src, MutableFloatRow dst);
void dequantize_q6_k(ByteRow src, MutableFloatRow dst);
void dequantize_q8_k(ByteRow src, MutableFloatRow dst);
float dot_q4_k_q8_k(ByteRow w, ByteRow x);
float dot_q5_k_q8_k(ByteRow w, ByteRow x);
float dot_q6_k_q8_k(ByteRow w, ByteRow x);
float dot_q8_k_q8_k(ByteRow w, ByteRow x);

// k-quants: encoding (quant_kquants_encode.cpp).
void quantize_q4_k(FloatRow src, MutableByteRow dst);
void quantize_q5_k(FloatRow src, MutableByteRow dst);
void quantize_q6_k(FloatRow src, MutableByteRow dst);
void quantize_q8_k(FloatRow src, MutableByteRow dst);

}  // namespace flux::codecs
