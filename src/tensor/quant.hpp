#pragma once
// Reference (plain C++) conversions and dot products for every tensor type. These are the oracle
// the fast kernels are tested against; they favour clarity over speed.

#include <cstdint>
#include <span>

#include "tensor/dtype.hpp"

namespace flux {

// Scalar half/bfloat conversions (round to nearest even, as ggml does).
float f16_to_f32(std::uint16_t h);
std::uint16_t f32_to_f16(float f);
float bf16_to_f32(std::uint16_t h);
std::uint16_t f32_to_bf16(float f);

// Decodes n elements (a multiple of the block size) of `type` from src into dst.
void dequantize_row(TensorType type, const void* src, float* dst, std::int64_t n);

// Encodes n floats into `type`. Supported for F32, F16, BF16, Q8_0, Q8_1, Q8_K, Q4_0, Q4_1,
// Q4_K, Q5_K, Q6_K (Q8_1 and Q8_K are activation formats used by the dot products), with ggml's
// reference quantisers (no importance matrix) so the bytes match llama-quantize's. Throws
// UnsupportedError for the others.
void quantize_row(TensorType type, const float* src, void* dst, std::int64_t n);
bool can_quantize(TensorType type);

// The type an activation row is converted to before a dot product with a weight row of `type`,
// as llama.cpp does it: Q4_0/Q8_0 -> Q8_0, Q4_1 -> Q8_1, k-quants -> Q8_K, F16 -> F16, BF16 -> BF16,
// F32 -> F32.
TensorType vec_dot_type(TensorType weight_type);

// Dot product of n elements: weight row `w` of `type` with activation row `x` already encoded in
// vec_dot_type(type). The reference every fast kernel must agree with.
float vec_dot(TensorType type, const void* w, const void* x, std::int64_t n);

}  // namespace flux
