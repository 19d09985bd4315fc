#pragma once
// Matrix products of weight matrices (any supported tensor type) with rows of float activations.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <utility>
#include <vector>

#include "base/thread_pool.hpp"
#include "tensor/dtype.hpp"
#include "tensor/interleaved.hpp"

namespace flux {

// How a weight matrix's bytes are arranged.
enum class WeightLayout : std::uint8_t {
  Rows,         // row-major, as in the file
  Interleaved,  // groups of kInterleaveRows rows repacked (tensor/interleaved.hpp); the rows after
                // the last full group stay plain rows at their usual offsets
};

// A non-owning view of a 2-D weight tensor: `rows` output features of `cols` inputs each, stored
// in `type` (GGUF's dims[0] = cols, dims[1] = rows).
struct WeightMatrix {
  TensorType type = TensorType::F32;
  std::int64_t rows = 0;
  std::int64_t cols = 0;
  const std::byte* data = nullptr;
  WeightLayout layout = WeightLayout::Rows;

  std::size_t row_stride() const { return row_bytes(type, cols); }
  // Rows [0, grouped_rows()) sit in interleaved groups; the others are plain rows.
  std::int64_t grouped_rows() const {
    return layout == WeightLayout::Interleaved ? rows / kInterleaveRows * kInterleaveRows : 0;
  }
  // The bytes of plain row r (r >= grouped_rows()); a group g starts at row(g * kInterleaveRows).
  const std::byte* row(std::int64_t r) const {
    return data + static_cast<std::size_t>(r) * row_stride();
  }
};

// Scratch for activations converted to the weight's dot-product type; reused across calls so a
// forward pass allocates nothing once warm.
struct MatmulScratch {
  // One buffer per activation type in use (fused weights of mixed types need more than one).
  std::vector<std::pair<TensorType, std::vector<std::byte>>> quantized_inputs;
  // Per Q8_0 input row and block, the sum of its int8 values and its scale as a float (read by
  // interleaved kernels).
  std::vector<std::int32_t> block_sums;
  std::vector<float> block_scales;
};

// out[r, j] = dot(w.row(j), in[r, :]) for n_rows input rows.
// in: [n_rows, w.cols] floats; out: [n_rows, w.rows] floats.
void matmul(const WeightMatrix& w, std::span<const float> in, std::span<float> out,
            std::int64_t n_rows, MatmulScratch& scratch, ThreadPool& pool);

// Several weights that read the same input rows, in one pass (the Q, K and V projections): the
// input is converted once per activation type, and one parallel split covers the rows of every
// weight, so the pool synchronises once instead of once per weight. Each output equals what
// matmul() gives for that weight alone, bit for bit.
//
// A target may carry an epilogue (fusion): work on finished output columns, run by the thread
// that computed them while they are in cache, e.g. the rotary embedding of Q and K and their
// storing into the KV cache. apply(begin, end) gets output columns [begin, end) of every input
// row; each column is in exactly one call, and begin and end are multiples of `columns` (or end
// is weight->rows), so a call holds whole attention heads. Equal, bit for bit, to running the
// epilogue over all columns after the product.
struct OutputEpilogue {
  std::size_t columns = 1;
  std::function<void(std::size_t begin, std::size_t end)> apply;
};
struct MatmulTarget {
  const WeightMatrix* weight = nullptr;
  std::span<float> out;                      // [n_rows, weight->rows]
  const OutputEpilogue* epilogue = nullptr;  // optional
};
// RMSNorm applied to each input row as it is encoded (fusion: the normalised rows never go
// through memory as floats). Equal, bit for bit, to rms_norm() and then the product.
struct InputNorm {
  std::span<const float> weight;
  float eps = 0;
};
void matmul_many(std::span<const MatmulTarget> targets, std::span<const float> in, std::int64_t n_rows,
                 MatmulScratch& scratch, ThreadPool& pool, const InputNorm* norm = nullptr);

// The SwiGLU feed-forward's first half in one pass: out[r, j] = silu(gate_j . in_r) * (up_j . in_r).
// Each thread multiplies the gate and up rows of its share and applies SiLU-multiply to them
// while they are in cache; equal, bit for bit, to two matmuls followed by silu_mul.
// `up_out` is scratch of the same shape as `out`.
void matmul_gated_silu(const WeightMatrix& gate, const WeightMatrix& up, std::span<const float> in,
                       std::span<float> out, std::span<float> up_out, std::int64_t n_rows, MatmulScratch& scratch,
                       ThreadPool& pool, const InputNorm* norm = nullptr);

// Copies row `r` of any supported weight type and layout into `out` as floats (embedding lookups).
void dequantize_weight_row(const WeightMatrix& w, std::int64_t r, std::span<float> out);

}  // namespace flux
