#pragma once
// Activation quantisers compiled for AVX2 (quantize_avx2.cpp), for the AVX2 kernel table and
// the levels above it, which inherit them. Each writes exactly the bytes of tensor/quant.hpp's
// quantize_row for its type; call only on a CPU with AVX2, FMA and F16C.

#include <cstddef>
#include <cstdint>

namespace flux {

void quantize_q8_0_avx2(const float* src, std::byte* dst, std::int64_t n);
void quantize_q8_1_avx2(const float* src, std::byte* dst, std::int64_t n);
void quantize_q8_k_avx2(const float* src, std::byte* dst, std::int64_t n);
void quantize_f16_avx2(const float* src, std::byte* dst, std::int64_t n);
void quantize_bf16_avx2(const float* src, std::byte* dst, std::int64_t n);

}  // namespace flux
