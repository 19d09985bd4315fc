// Chooses the kernel table once. Each level's table is a function-local static built on first use
// from the level below it, so nothing here is mutable after initialisation and no level's
// instructions run unless the CPU supports it.

#include <fmt/format.h>

#include "base/error.hpp"
#include "kernels/dot_kernels.hpp"
#include "tensor/quant.hpp"

namespace flux {

DotRowsFn DotKernels::dot_rows_for(TensorType type) const {
  switch (type) {
    case TensorType::F32: return f32;
    case TensorType::F16: return f16;
    case TensorType::BF16: return bf16;
    case TensorType::Q4_0: return q4_0;
    case TensorType::Q4_1: return q4_1;
    case TensorType::Q8_0: return q8_0;
    case TensorType::Q4_K: return q4_k;
    case TensorType::Q5_K: return q5_k;
    case TensorType::Q6_K: return q6_k;
    case TensorType::Q8_1: return q8_1;
    case TensorType::Q8_K: return q8_k;
    default:
      throw UnsupportedError(
          fmt::format("matmul: no dot kernel for weight type {}", traits(type).name));
  }
}

DotTileFn DotKernels::dot_tile_for(TensorType type) const {
  switch (type) {
    case TensorType::Q4_0: return q4_0_tile;
    case TensorType::Q8_0: return q8_0_tile;
    default: return nullptr;
  }
}

DotGroupsFn DotKernels::dot_groups_for(TensorType type) const {
  switch (type) {
    case TensorType::Q4_0: return q4_0x8;
    case TensorType::Q4_1: return q4_1x8;
    case TensorType::Q8_0: return q8_0x8;
    case TensorType::Q4_K: return q4_kx8;
    case TensorType::Q5_K: return q5_kx8;
    case TensorType::Q6_K: return q6_kx8;
    case TensorType::F16: return f16x8;
    case TensorType::BF16: return bf16x8;
    default: return nullptr;
  }
}

void DotKernels::quantize_activations(TensorType act_type, const float* src, std::byte* dst,
                                      std::int64_t n) const {
  switch (act_type) {
    case TensorType::Q8_0: quantize_q8_0(src, dst, n); break;
    case TensorType::Q8_1: quantize_q8_1(src, dst, n); break;
    case TensorType::Q8_K: quantize_q8_k(src, dst, n); break;
    case TensorType::F16: quantize_f16(src, dst, n); break;
    case TensorType::BF16: quantize_bf16(src, dst, n); break;
    default: quantize_row(act_type, src, dst, n); break;
  }
}

const DotKernels& kernel_table_for(IsaLevel level) {
  if (!supports_isa_level(detect_cpu_features(), level)) {
    throw UnsupportedError(
        fmt::format("kernel level {} is not supported by this CPU", isa_level_name(level)));
  }
  // Each table starts from its base level's (base_isa_level).
  switch (level) {
    case IsaLevel::Scalar: {
      static const DotKernels table = scalar_kernels();
      return table;
    }
    case IsaLevel::Avx2: {
      static const DotKernels table = avx2_kernels(kernel_table_for(IsaLevel::Scalar));
      return table;
    }
    case IsaLevel::AvxVnni: {
      static const DotKernels table = avx_vnni_kernels(kernel_table_for(IsaLevel::Avx2));
      return table;
    }
    case IsaLevel::Avx512: {
      static const DotKernels table = avx512_kernels(kernel_table_for(IsaLevel::Avx2));
      return table;
    }
    case IsaLevel::Avx512Vnni: {
      static const DotKernels table = avx512_vnni_kernels(kernel_table_for(IsaLevel::Avx512));
      return table;
    }
    case IsaLevel::Avx512Bf16: {
      static const DotKernels table = avx512_bf16_kernels(kernel_table_for(IsaLevel::Avx512Vnni));
      return table;
    }
  }
  throw UnsupportedError("unknown kernel level");
}

const DotKernels& active_kernels() {
  static const DotKernels& table = kernel_table_for(isa_level_from_environment());
  return table;
}

}  // namespace flux

#ifndef FLUX_HAVE_X86_KERNELS
// Off x86 only the scalar level exists (best_isa_level never returns another), so these are never
// called; they keep the table chain linkable.
namespace flux {
DotKernels avx2_kernels(const DotKernels& below) { return below; }
DotKernels avx512_kernels(const DotKernels& below) { return below; }
DotKernels avx_vnni_kernels(const DotKernels& below) { return below; }
DotKernels avx512_vnni_kernels(const DotKernels& below) { return below; }
DotKernels avx512_bf16_kernels(const DotKernels& below) { return below; }
}  // namespace flux
#endif
