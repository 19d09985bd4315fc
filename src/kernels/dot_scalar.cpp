// The scalar kernel table: thin loops over tensor/quant.hpp's reference vec_dot and
// quantize_row. This is the oracle every faster table is tested against (FLUX_ISA=scalar).

#include <cmath>

#include "kernels/dot_kernels.hpp"
#include "tensor/quant.hpp"

namespace flux {
namespace {

template <TensorType kType>
void reference_dot_rows(const std::byte* w_rows, std::size_t w_stride, int n_w_rows,
                        const std::byte* x, float* out, std::int64_t n) {
  for (int i = 0; i < n_w_rows; ++i) {
    out[i] = vec_dot(kType, w_rows + static_cast<std::size_t>(i) * w_stride, x, n);
  }
}

void reference_silu_mul(float* gate, const float* up, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) gate[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
}

template <TensorType kType>
void reference_quantize(const float* src, std::byte* dst, std::int64_t n) {
  quantize_row(kType, src, dst, n);
}

}  // namespace

DotKernels scalar_kernels() {
  DotKernels k;
  k.level = IsaLevel::Scalar;
  k.f32 = reference_dot_rows<TensorType::F32>;
  k.f16 = reference_dot_rows<TensorType::F16>;
  k.bf16 = reference_dot_rows<TensorType::BF16>;
  k.q4_0 = reference_dot_rows<TensorType::Q4_0>;
  k.q4_1 = reference_dot_rows<TensorType::Q4_1>;
  k.q8_0 = reference_dot_rows<TensorType::Q8_0>;
  k.q4_k = reference_dot_rows<TensorType::Q4_K>;
  k.q5_k = reference_dot_rows<TensorType::Q5_K>;
  k.q6_k = reference_dot_rows<TensorType::Q6_K>;
  k.q8_1 = reference_dot_rows<TensorType::Q8_1>;
  k.q8_k = reference_dot_rows<TensorType::Q8_K>;
  k.quantize_q8_0 = reference_quantize<TensorType::Q8_0>;
  k.quantize_q8_1 = reference_quantize<TensorType::Q8_1>;
  k.quantize_q8_k = reference_quantize<TensorType::Q8_K>;
  k.quantize_f16 = reference_quantize<TensorType::F16>;
  k.quantize_bf16 = reference_quantize<TensorType::BF16>;
  k.attend_head = attend_head_scalar;
  k.silu_mul = reference_silu_mul;
  return k;
}

}  // namespace flux
