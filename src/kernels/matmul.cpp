#include "kernels/matmul.hpp"

#include <algorithm>

#include "base/error.hpp"
#include "kernels/dot_kernels.hpp"
#include "tensor/quant.hpp"

namespace flux {
namespace {

// With several input rows, each thread walks its weight rows in tiles of about this many bytes
// and runs every input row over a tile before the next, so the tile is read from memory once and
// from cache for the other input rows.
constexpr std::size_t kWeightTileBytes = 32 * 1024;

std::size_t weight_tile_rows(std::size_t row_stride, std::int64_t n_input_rows,
                             std::size_t thread_rows) {
  if (n_input_rows == 1) return thread_rows;
  return std::clamp<std::size_t>(kWeightTileBytes / std::max<std::size_t>(row_stride, 1), 4, 256);
}

}  // namespace

void matmul(const WeightMatrix& w, std::span<const float> in, std::span<float> out,
            std::int64_t n_rows, MatmulScratch& scratch, ThreadPool& pool) {
  check(in.size() == static_cast<std::size_t>(n_rows * w.cols), "matmul input size");
  check(out.size() == static_cast<std::size_t>(n_rows * w.rows), "matmul output size");

  // The kernel table of the level chosen at start-up (FLUX_ISA=scalar gives the reference path).
  const DotKernels& kernels = active_kernels();
  const DotRowsFn dot_rows = kernels.dot_rows_for(w.type);

  // Activations are converted once per row into the type the weight's dot product reads, and
  // reused by every output feature.
  const TensorType act_type = vec_dot_type(w.type);
  const std::size_t act_row_bytes = row_bytes(act_type, w.cols);
  scratch.quantized_input.resize(act_row_bytes * static_cast<std::size_t>(n_rows));
  pool.parallel_for(static_cast<std::size_t>(n_rows), [&](std::size_t begin, std::size_t end) {
    for (std::size_t r = begin; r < end; ++r) {
      kernels.quantize_activations(act_type, in.data() + r * static_cast<std::size_t>(w.cols),
                                   scratch.quantized_input.data() + r * act_row_bytes, w.cols);
    }
  });

  const std::size_t stride = w.row_stride();
  pool.parallel_for(static_cast<std::size_t>(w.rows), [&](std::size_t begin, std::size_t end) {
    const std::size_t tile = weight_tile_rows(stride, n_rows, end - begin);
    for (std::size_t first = begin; first < end; first += tile) {
      const int count = static_cast<int>(std::min(tile, end - first));
      for (std::int64_t r = 0; r < n_rows; ++r) {
        const std::byte* act =
            scratch.quantized_input.data() + static_cast<std::size_t>(r) * act_row_bytes;
        dot_rows(w.row(static_cast<std::int64_t>(first)), stride, count, act,
                 out.data() + static_cast<std::size_t>(r * w.rows) + first, w.cols);
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
