#pragma once
// Matrix products of weight matrices (any supported tensor type) with rows of float activations.

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "base/thread_pool.hpp"
#include "tensor/dtype.hpp"

namespace flux {

// A non-owning view of a 2-D weight tensor: `rows` output features of `cols` inputs each, stored
// row-major in `type` (GGUF's dims[0] = cols, dims[1] = rows).
struct WeightMatrix {
  TensorType type = TensorType::F32;
  std::int64_t rows = 0;
  std::int64_t cols = 0;
  const std::byte* data = nullptr;

  std::size_t row_stride() const { return row_bytes(type, cols); }
  const std::byte* row(std::int64_t r) const {
    return data + static_cast<std::size_t>(r) * row_stride();
  }
};

// Scratch for activations converted to the weight's dot-product type; reused across calls so a
// forward pass allocates nothing once warm.
struct MatmulScratch {
  std::vector<std::byte> quantized_input;
};

// out[r, j] = dot(w.row(j), in[r, :]) for n_rows input rows.
// in: [n_rows, w.cols] floats; out: [n_rows, w.rows] floats.
void matmul(const WeightMatrix& w, std::span<const float> in, std::span<float> out,
            std::int64_t n_rows, MatmulScratch& scratch, ThreadPool& pool);

// Copies row `r` of any supported weight type into `out` as floats (embedding lookups).
void dequantize_weight_row(const WeightMatrix& w, std::int64_t r, std::span<float> out);

}  // namespace flux
