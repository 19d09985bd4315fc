#include "kernels/matmul.hpp"

#include "base/error.hpp"
#include "tensor/quant.hpp"

namespace flux {

void matmul(const WeightMatrix& w, std::span<const float> in, std::span<float> out,
            std::int64_t n_rows, MatmulScratch& scratch, ThreadPool& pool) {
  check(in.size() == static_cast<std::size_t>(n_rows * w.cols), "matmul input size");
  check(out.size() == static_cast<std::size_t>(n_rows * w.rows), "matmul output size");

  // Activations are converted once per row into the type the weight's dot product reads, and
  // reused by every output feature.
  const TensorType act_type = vec_dot_type(w.type);
  const std::size_t act_row_bytes = row_bytes(act_type, w.cols);
  scratch.quantized_input.resize(act_row_bytes * static_cast<std::size_t>(n_rows));
  pool.parallel_for(static_cast<std::size_t>(n_rows), [&](std::size_t begin, std::size_t end) {
    for (std::size_t r = begin; r < end; ++r) {
      quantize_row(act_type, in.data() + r * static_cast<std::size_t>(w.cols),
                   scratch.quantized_input.data() + r * act_row_bytes, w.cols);
    }
  });

  pool.parallel_for(static_cast<std::size_t>(w.rows), [&](std::size_t begin, std::size_t end) {
    for (std::size_t j = begin; j < end; ++j) {
      const std::byte* weight_row = w.row(static_cast<std::int64_t>(j));
      for (std::int64_t r = 0; r < n_rows; ++r) {
        const std::byte* act = scratch.quantized_input.data() + static_cast<std::size_t>(r) * act_row_bytes;
        out[static_cast<std::size_t>(r * w.rows) + j] = vec_dot(w.type, weight_row, act, w.cols);
      }
    }
  });
}

void dequantize_weight_row(const WeightMatrix& w, std::int64_t r, std::span<float> out) {
  check(r >= 0 && r < w.rows, "weight row out of range");
  check(out.size() == static_cast<std::size_t>(w.cols), "dequantize output size");
  dequantize_row(w.type, w.row(r), out.data(), w.cols);
}

}  // namespace flux
