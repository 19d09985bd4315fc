#pragma once
// The table of dot-product kernels for one ISA level: what matmul calls in its inner loop.
//
// Every entry is filled: a level that has no fast kernel for a type inherits the entry of the
// level below it, down to the scalar reference (which wraps tensor/quant.hpp's vec_dot), so
// callers never test for null. Tables are built once and never change afterwards.

#include <cstddef>
#include <cstdint>

#include "kernels/attention_kernels.hpp"
#include "kernels/cpu_features.hpp"
#include "tensor/dtype.hpp"

namespace flux {

// out[i] = vec_dot(type, w_rows + i * w_stride, x, n) for i < n_w_rows.
// `w_rows` holds weight rows of `n` elements, `w_stride` bytes apart; `x` is one activation row
// already encoded in vec_dot_type(type). Several weight rows per call let a kernel load each
// activation block once and reuse it from registers for all of them. No pointer needs any
// particular alignment; n is a multiple of the type's block size.
using DotRowsFn = void (*)(const std::byte* w_rows, std::size_t w_stride, int n_w_rows,
                           const std::byte* x, float* out, std::int64_t n);

// out[j * out_stride + i] = vec_dot(type, w_rows + i * w_stride, x_rows + j * x_stride, n) for
// i < n_w_rows, j < n_x_rows: several activation rows against the same weights (batched decode,
// prefill), each weight block loaded once for all of them. Must give, for every (i, j), exactly
// the bits DotRowsFn gives for that pair.
using DotTileFn = void (*)(const std::byte* w_rows, std::size_t w_stride, int n_w_rows, const std::byte* x_rows,
                           std::size_t x_stride, int n_x_rows, float* out, std::size_t out_stride, std::int64_t n);

// Weights in the interleaved layout (tensor/interleaved.hpp) against several activation rows:
// out[j * out_stride + 8 * g + r] = vec_dot(type, row r of group g, x row j, n) for g < n_groups,
// r < kInterleaveRows, j < n_x. Activation rows are encoded in vec_dot_type(type); for Q8_0
// activations, x_sums[j * sums_stride + b] holds the sum of block b's int8 values of row j
// (kernels fold Q4_0's offset, or VNNI's bias, into the accumulator through it) and
// x_scales[j * sums_stride + b] block b's scale as a float (so the inner loop converts no F16).
// Every (row, activation row) pair gets the same bits whatever n_groups and n_x are.
struct GroupDotArgs {
  const std::byte* groups = nullptr;  // n_groups groups, back to back
  int n_groups = 0;
  const std::byte* x = nullptr;
  std::size_t x_stride = 0;
  const std::int32_t* x_sums = nullptr;
  const float* x_scales = nullptr;
  std::size_t sums_stride = 0;
  int n_x = 0;
  float* out = nullptr;
  std::size_t out_stride = 0;
  std::int64_t n = 0;
};
using DotGroupsFn = void (*)(const GroupDotArgs& args);

// Encodes n floats (a multiple of the block size) into an activation row; must produce the same
// bytes as tensor/quant.hpp's quantize_row for that type.
using QuantizeRowFn = void (*)(const float* src, std::byte* dst, std::int64_t n);

// gate[i] = silu(gate[i]) * up[i] for i < n (the gated MLP's activation).
using SiluMulFn = void (*)(float* gate, const float* up, std::size_t n);

struct DotKernels {
  IsaLevel level = IsaLevel::Scalar;
  DotRowsFn f32 = nullptr;
  DotRowsFn f16 = nullptr;
  DotRowsFn bf16 = nullptr;
  DotRowsFn q4_0 = nullptr;
  DotRowsFn q4_1 = nullptr;
  DotRowsFn q8_0 = nullptr;
  DotRowsFn q4_k = nullptr;
  DotRowsFn q5_k = nullptr;
  DotRowsFn q6_k = nullptr;
  DotRowsFn q8_1 = nullptr;  // Q8_1 and Q8_K are activation formats; as weights only the
  DotRowsFn q8_k = nullptr;  // reference implements them
  QuantizeRowFn quantize_q8_0 = nullptr;  // activations of Q4_0 and Q8_0
  QuantizeRowFn quantize_q8_1 = nullptr;  // of Q4_1
  QuantizeRowFn quantize_q8_k = nullptr;  // of the k-quants
  QuantizeRowFn quantize_f16 = nullptr;   // of F16 weights, and F16 KV cache rows
  QuantizeRowFn quantize_bf16 = nullptr;  // of BF16 weights
  AttendHeadFn attend_head = nullptr;     // paged attention's inner kernel (attention_kernels.hpp)
  SiluMulFn silu_mul = nullptr;
  DotTileFn q4_0_tile = nullptr;          // several activation rows at once; null where a level has
  DotTileFn q8_0_tile = nullptr;          // none (matmul then runs the rows one by one)
  DotGroupsFn q4_0x8 = nullptr;           // interleaved weights; null where a level has none
  DotGroupsFn q4_1x8 = nullptr;           // (the weights then stay in their file's layout)
  DotGroupsFn q8_0x8 = nullptr;
  DotGroupsFn q4_kx8 = nullptr;
  DotGroupsFn q5_kx8 = nullptr;
  DotGroupsFn q6_kx8 = nullptr;
  DotGroupsFn f16x8 = nullptr;
  DotGroupsFn bf16x8 = nullptr;

  // The dot kernel for weights of `type`; throws UnsupportedError for a type without one.
  DotRowsFn dot_rows_for(TensorType type) const;
  // The several-activation-row kernel for weights of `type`, or null.
  DotTileFn dot_tile_for(TensorType type) const;
  // The kernel for interleaved weights of `type`, or null.
  DotGroupsFn dot_groups_for(TensorType type) const;
  // Encodes an activation row into `act_type` (vec_dot_type of some weight type).
  void quantize_activations(TensorType act_type, const float* src, std::byte* dst,
                            std::int64_t n) const;
};

// The table of one level; throws UnsupportedError when this machine cannot run that level.
const DotKernels& kernel_table_for(IsaLevel level);

// The table every matmul uses: chosen once, from isa_level_from_environment().
const DotKernels& active_kernels();

// Per-ISA tables, each built from the table of its base level (base_isa_level; entries it lacks
// are inherited). Defined in dot_scalar.cpp, dot_avx2.cpp, dot_avx_vnni.cpp, dot_avx512.cpp,
// dot_avx512_vnni.cpp and dot_avx512_bf16.cpp; call only on a CPU that supports the level, since
// building a table may itself execute that level's instructions.
DotKernels scalar_kernels();
DotKernels avx2_kernels(const DotKernels& below);
DotKernels avx_vnni_kernels(const DotKernels& below);
DotKernels avx512_kernels(const DotKernels& below);
DotKernels avx512_vnni_kernels(const DotKernels& below);
DotKernels avx512_bf16_kernels(const DotKernels& below);

}  // namespace flux
