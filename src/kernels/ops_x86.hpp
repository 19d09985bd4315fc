#pragma once
// Element-wise kernels compiled for AVX2 + FMA (ops_avx2.cpp), for the AVX2 kernel table and the
// levels above it, which inherit them. Call only on a CPU with AVX2 and FMA.

#include <cstddef>

namespace flux {

void silu_mul_avx2(float* gate, const float* up, std::size_t n);

}  // namespace flux
