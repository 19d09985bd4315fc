#include "kernels/matmul.hpp"

#include <algorithm>

#include "base/error.hpp"
#include "kernels/dot_kernels.hpp"
#include "kernels/ops.hpp"
#include "tensor/quant.hpp"

namespace flux {
namespace {

// With several input rows, each thread walks its weight rows in tiles of about this many bytes
// and runs every input row over a tile before the next, so the tile is read from memory once and
// from cache for the other input rows.
constexpr std::size_t kWeightTileBytes = 32 * 1024;

std::size_t weight_tile_rows(std::size_t row_stride, std::int64_t n_input_rows, std::size_t thread_rows) {
  if (n_input_rows == 1) return thread_rows;
  return std::clamp<std::size_t>(kWeightTileBytes / std::max<std::size_t>(row_stride, 1), 4, 256);
}

// The input rows encoded in one activation type.
struct EncodedInput {
  const std::byte* data = nullptr;
  std::size_t row_bytes = 0;
};

// Encodes the input once per activation type the weights read (vec_dot_type of each weight
// type), in one parallel pass over the rows.
std::vector<EncodedInput> encode_inputs(std::span<const MatmulTarget> targets, std::span<const float> in,
                                        std::int64_t n_rows, std::int64_t cols, MatmulScratch& scratch,
                                        const DotKernels& kernels, ThreadPool& pool, const InputNorm* norm) {
  auto& buffers = scratch.quantized_inputs;
  std::size_t n_types = 0;
  std::vector<std::size_t> buffer_of(targets.size());
  for (std::size_t t = 0; t < targets.size(); ++t) {
    const TensorType act = vec_dot_type(targets[t].weight->type);
    std::size_t i = 0;
    while (i < n_types && buffers[i].first != act) ++i;
    if (i == n_types) {
      if (buffers.size() <= n_types) buffers.emplace_back();
      buffers[n_types].first = act;
      buffers[n_types].second.resize(row_bytes(act, cols) * static_cast<std::size_t>(n_rows));
      ++n_types;
    }
    buffer_of[t] = i;
  }
  const auto ucols = static_cast<std::size_t>(cols);
  pool.parallel_for(static_cast<std::size_t>(n_rows), [&](std::size_t begin, std::size_t end) {
    std::vector<float> normed(norm ? ucols : 0);
    for (std::size_t r = begin; r < end; ++r) {
      const float* row = in.data() + r * ucols;
      if (norm) {
        rms_norm(std::span(row, ucols), norm->weight, norm->eps, normed);
        row = normed.data();
      }
      for (std::size_t b = 0; b < n_types; ++b) {
        const TensorType act = buffers[b].first;
        kernels.quantize_activations(act, row, buffers[b].second.data() + r * row_bytes(act, cols), cols);
      }
    }
  });
  std::vector<EncodedInput> encoded(targets.size());
  for (std::size_t t = 0; t < targets.size(); ++t) {
    auto& buffer = buffers[buffer_of[t]];
    encoded[t] = {buffer.second.data(), row_bytes(buffer.first, cols)};
  }
  return encoded;
}

// The kernels for one weight type: rows one activation row at a time, and (where the level has
// one) a tile kernel taking several activation rows per weight block.
struct WeightKernels {
  DotRowsFn rows = nullptr;
  DotTileFn tile = nullptr;
};

// out[r, j] for weight rows j in [begin, end) and every input row r.
void multiply_rows(const WeightMatrix& w, const WeightKernels& k, const EncodedInput& x, std::int64_t n_rows,
                   std::size_t begin, std::size_t end, float* out) {
  const std::size_t stride = w.row_stride();
  const std::size_t tile = weight_tile_rows(stride, n_rows, end - begin);
  for (std::size_t first = begin; first < end; first += tile) {
    const int count = static_cast<int>(std::min(tile, end - first));
    const std::byte* weights = w.row(static_cast<std::int64_t>(first));
    if (k.tile && n_rows > 1) {
      k.tile(weights, stride, count, x.data, x.row_bytes, static_cast<int>(n_rows), out + first,
             static_cast<std::size_t>(w.rows), w.cols);
      continue;
    }
    for (std::int64_t r = 0; r < n_rows; ++r)
      k.rows(weights, stride, count, x.data + static_cast<std::size_t>(r) * x.row_bytes,
             out + static_cast<std::size_t>(r * w.rows) + first, w.cols);
  }
}

WeightKernels kernels_for(const DotKernels& kernels, TensorType type) {
  return {kernels.dot_rows_for(type), kernels.dot_tile_for(type)};
}

void check_target(const MatmulTarget& t, std::int64_t cols, std::int64_t n_rows) {
  check(t.weight != nullptr && t.weight->cols == cols, "fused matmul weights must read the same input width");
  check(t.out.size() == static_cast<std::size_t>(n_rows * t.weight->rows), "matmul output size");
}

}  // namespace

void matmul(const WeightMatrix& w, std::span<const float> in, std::span<float> out, std::int64_t n_rows,
            MatmulScratch& scratch, ThreadPool& pool) {
  const MatmulTarget target{&w, out};
  matmul_many(std::span(&target, 1), in, n_rows, scratch, pool);
}

void matmul_many(std::span<const MatmulTarget> targets, std::span<const float> in, std::int64_t n_rows,
                 MatmulScratch& scratch, ThreadPool& pool, const InputNorm* norm) {
  check(!targets.empty(), "matmul needs a weight");
  const std::int64_t cols = targets[0].weight->cols;
  check(in.size() == static_cast<std::size_t>(n_rows * cols), "matmul input size");
  for (const MatmulTarget& t : targets) check_target(t, cols, n_rows);

  // The kernel table of the level chosen at start-up (FLUX_ISA=scalar gives the reference path).
  const DotKernels& kernels = active_kernels();
  const std::vector<EncodedInput> inputs = encode_inputs(targets, in, n_rows, cols, scratch, kernels, pool, norm);
  std::vector<WeightKernels> dots;
  std::vector<std::size_t> first_row{0};  // targets' rows laid end to end
  for (const MatmulTarget& t : targets) {
    dots.push_back(kernels_for(kernels, t.weight->type));
    first_row.push_back(first_row.back() + static_cast<std::size_t>(t.weight->rows));
  }

  pool.parallel_for(first_row.back(), [&](std::size_t begin, std::size_t end) {
    for (std::size_t t = 0; t < targets.size(); ++t) {
      const std::size_t lo = std::max(begin, first_row[t]);
      const std::size_t hi = std::min(end, first_row[t + 1]);
      if (lo < hi)
        multiply_rows(*targets[t].weight, dots[t], inputs[t], n_rows, lo - first_row[t], hi - first_row[t],
                      targets[t].out.data());
    }
  });
}

void matmul_gated_silu(const WeightMatrix& gate, const WeightMatrix& up, std::span<const float> in,
                       std::span<float> out, std::span<float> up_out, std::int64_t n_rows, MatmulScratch& scratch,
                       ThreadPool& pool, const InputNorm* norm) {
  check(gate.rows == up.rows, "gate and up projections must have the same width");
  const MatmulTarget targets[] = {{&gate, out}, {&up, up_out}};
  for (const MatmulTarget& t : targets) check_target(t, gate.cols, n_rows);
  check(in.size() == static_cast<std::size_t>(n_rows * gate.cols), "matmul input size");

  const DotKernels& kernels = active_kernels();
  const std::vector<EncodedInput> inputs = encode_inputs(targets, in, n_rows, gate.cols, scratch, kernels, pool, norm);
  const WeightKernels gate_dot = kernels_for(kernels, gate.type);
  const WeightKernels up_dot = kernels_for(kernels, up.type);
  pool.parallel_for(static_cast<std::size_t>(gate.rows), [&](std::size_t begin, std::size_t end) {
    multiply_rows(gate, gate_dot, inputs[0], n_rows, begin, end, out.data());
    multiply_rows(up, up_dot, inputs[1], n_rows, begin, end, up_out.data());
    const std::size_t width = end - begin;
    for (std::int64_t r = 0; r < n_rows; ++r) {
      const std::size_t at = static_cast<std::size_t>(r * gate.rows) + begin;
      silu_mul(out.subspan(at, width), up_out.subspan(at, width));
    }
  });
}

void dequantize_weight_row(const WeightMatrix& w, std::int64_t r, std::span<float> out) {
  check(r >= 0 && r < w.rows, "weight row out of range");
  check(out.size() == static_cast<std::size_t>(w.cols), "dequantize output size");
  dequantize_row(w.type, w.row(r), out.data(), w.cols);
}

}  // namespace flux
