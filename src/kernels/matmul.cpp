#include "kernels/matmul.hpp"

#include <algorithm>
#include <cstring>
#include <numeric>

#include "base/error.hpp"
#include "kernels/dot_kernels.hpp"
#include "kernels/ops.hpp"
#include "tensor/blocks.hpp"
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

// Many input rows (a long prompt) are taken in chunks of about this many encoded bytes, each
// chunk over all of a thread's weight rows before the next: the chunk stays in the core's L2
// cache while the weight tiles pass over it. (All 512 rows of a prompt at once are over 1 MiB
// for a 2048-wide model, more than L2, and were streamed from L3 once per weight tile.)
constexpr std::size_t kInputChunkBytes = 256 * 1024;

// Chunks are whole passes of the group kernels, which take 8 (VNNI), 4 (AVX2) or 3 (F16 at
// AVX-512) activation rows at a time: a row left over runs a pass of its own at a third of the
// speed (measured: 6 % of an F16 down projection with 16-row chunks).
constexpr std::int64_t kChunkRowUnit = 24;

std::int64_t input_chunk_rows(std::size_t encoded_row_bytes) {
  const auto rows = static_cast<std::int64_t>(kInputChunkBytes / encoded_row_bytes);
  return std::max(kChunkRowUnit, (rows + kChunkRowUnit / 2) / kChunkRowUnit * kChunkRowUnit);
}

// The input rows encoded in one activation type.
struct EncodedInput {
  const std::byte* data = nullptr;
  std::size_t row_bytes = 0;
  const std::int32_t* block_sums = nullptr;  // Q8_0 rows read by interleaved weights: cols / 32
  const float* block_scales = nullptr;       // sums and scales per row, sums_stride apart
  std::size_t sums_stride = 0;
};

// sums[b] = the sum of the int8 values of block b of a Q8_0 row, scales[b] its scale.
void summarize_q8_0_blocks(const std::byte* row, std::int64_t cols, std::int32_t* sums, float* scales) {
  const auto blocks = static_cast<std::size_t>(cols) / kQK8_0;
  for (std::size_t b = 0; b < blocks; ++b) {
    const std::byte* block = row + b * sizeof(BlockQ8_0);
    const auto* q = reinterpret_cast<const std::int8_t*>(block + offsetof(BlockQ8_0, qs));
    std::int32_t sum = 0;
    for (std::size_t i = 0; i < kQK8_0; ++i) sum += q[i];
    sums[b] = sum;
    std::uint16_t d;
    std::memcpy(&d, block + offsetof(BlockQ8_0, d), sizeof d);
    scales[b] = f16_to_f32(d);
  }
}

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
  // Interleaved kernels read Q8_0 activations together with their block sums.
  const bool need_sums = std::any_of(targets.begin(), targets.end(), [](const MatmulTarget& t) {
    return t.weight->layout == WeightLayout::Interleaved && vec_dot_type(t.weight->type) == TensorType::Q8_0;
  });
  const std::size_t sums_stride = static_cast<std::size_t>(cols) / kQK8_0;
  if (need_sums) {
    scratch.block_sums.resize(sums_stride * static_cast<std::size_t>(n_rows));
    scratch.block_scales.resize(sums_stride * static_cast<std::size_t>(n_rows));
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
        std::byte* encoded = buffers[b].second.data() + r * row_bytes(act, cols);
        kernels.quantize_activations(act, row, encoded, cols);
        if (need_sums && act == TensorType::Q8_0)
          summarize_q8_0_blocks(encoded, cols, scratch.block_sums.data() + r * sums_stride,
                                scratch.block_scales.data() + r * sums_stride);
      }
    }
  });
  std::vector<EncodedInput> encoded(targets.size());
  for (std::size_t t = 0; t < targets.size(); ++t) {
    auto& buffer = buffers[buffer_of[t]];
    encoded[t] = {buffer.second.data(), row_bytes(buffer.first, cols)};
    if (targets[t].weight->layout == WeightLayout::Interleaved && buffer.first == TensorType::Q8_0) {
      encoded[t].block_sums = scratch.block_sums.data();
      encoded[t].block_scales = scratch.block_scales.data();
      encoded[t].sums_stride = sums_stride;
    }
  }
  return encoded;
}

// The kernels for one weight type: rows one activation row at a time, and (where the level has
// one) a tile kernel taking several activation rows per weight block.
struct WeightKernels {
  DotRowsFn rows = nullptr;
  DotTileFn tile = nullptr;
  DotGroupsFn groups = nullptr;  // for the interleaved part of a repacked matrix
};

// out[r, j] for the grouped weight rows j in [begin, end) (both multiples of kInterleaveRows) and
// every input row r.
void multiply_groups(const WeightMatrix& w, DotGroupsFn groups, const EncodedInput& x, std::int64_t n_rows,
                     std::size_t begin, std::size_t end, float* out) {
  // Tiles hold an even number of groups: the widest kernels take two groups at a time.
  constexpr auto kPair = 2 * static_cast<std::size_t>(kInterleaveRows);
  const std::size_t tile =
      n_rows == 1 ? end - begin : std::max(kPair, weight_tile_rows(w.row_stride(), n_rows, 0) / kPair * kPair);
  for (std::size_t first = begin; first < end; first += tile) {
    GroupDotArgs args;
    args.groups = w.row(static_cast<std::int64_t>(first));
    args.n_groups = static_cast<int>(std::min(tile, end - first) / kInterleaveRows);
    args.x = x.data;
    args.x_stride = x.row_bytes;
    args.x_sums = x.block_sums;
    args.x_scales = x.block_scales;
    args.sums_stride = x.sums_stride;
    args.n_x = static_cast<int>(n_rows);
    args.out = out + first;
    args.out_stride = static_cast<std::size_t>(w.rows);
    args.n = w.cols;
    groups(args);
  }
}

// out[r, j] for weight rows j in [begin, end) and every input row r of one chunk.
void multiply_chunk(const WeightMatrix& w, const WeightKernels& k, const EncodedInput& x, std::int64_t n_rows,
                    std::size_t begin, std::size_t end, float* out) {
  const auto grouped = static_cast<std::size_t>(w.grouped_rows());
  if (begin < grouped) {
    const std::size_t group_end = std::min(end, grouped);
    multiply_groups(w, k.groups, x, n_rows, begin, group_end, out);
    begin = group_end;
  }
  if (begin >= end) return;
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

// out[r, j] for weight rows j in [begin, end) and every input row r, chunk by chunk of input rows.
void multiply_rows(const WeightMatrix& w, const WeightKernels& k, const EncodedInput& x, std::int64_t n_rows,
                   std::size_t begin, std::size_t end, float* out) {
  const std::int64_t chunk = input_chunk_rows(x.row_bytes);
  for (std::int64_t first = 0; first < n_rows; first += chunk) {
    const auto at = static_cast<std::size_t>(first);
    EncodedInput part = x;
    part.data += at * x.row_bytes;
    if (part.block_sums) part.block_sums += at * x.sums_stride;
    if (part.block_scales) part.block_scales += at * x.sums_stride;
    multiply_chunk(w, k, part, std::min(chunk, n_rows - first), begin, end, out + at * static_cast<std::size_t>(w.rows));
  }
}

WeightKernels kernels_for(const DotKernels& kernels, const WeightMatrix& w) {
  WeightKernels k{kernels.dot_rows_for(w.type), kernels.dot_tile_for(w.type), nullptr};
  if (w.layout == WeightLayout::Interleaved) {
    k.groups = kernels.dot_groups_for(w.type);
    check(k.groups != nullptr, "interleaved weights need a kernel level with interleaved kernels");
  }
  return k;
}

// A split point of a parallel loop over w's rows, moved up to a group boundary inside the
// interleaved part: groups are computed whole. The same map applied to every split point keeps
// the ranges a partition.
std::size_t align_to_groups(const WeightMatrix& w, std::size_t row) {
  const auto grouped = static_cast<std::size_t>(w.grouped_rows());
  if (row >= grouped) return row;
  constexpr auto kGroup = static_cast<std::size_t>(kInterleaveRows);
  return (row + kGroup - 1) / kGroup * kGroup;
}

// align_to_groups, then up to a multiple of the epilogue's column unit (capped at w.rows): still
// a non-decreasing map, so the ranges stay a partition, and a multiple of a multiple of 8 rows
// (the unit rounded up to whole groups) stays on a group boundary.
std::size_t align_split(const MatmulTarget& t, std::size_t row) {
  const WeightMatrix& w = *t.weight;
  if (t.epilogue == nullptr || t.epilogue->columns <= 1) return align_to_groups(w, row);
  std::size_t unit = t.epilogue->columns;
  if (w.grouped_rows() > 0) unit = std::lcm(unit, static_cast<std::size_t>(kInterleaveRows));
  return std::min((row + unit - 1) / unit * unit, static_cast<std::size_t>(w.rows));
}

void check_target(const MatmulTarget& t, std::int64_t cols, std::int64_t n_rows) {
  check(t.weight != nullptr && t.weight->cols == cols, "fused matmul weights must read the same input width");
  check(t.out.size() == static_cast<std::size_t>(n_rows * t.weight->rows), "matmul output size");
  check(t.epilogue == nullptr || (t.epilogue->apply && t.epilogue->columns > 0), "matmul epilogue");
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
    dots.push_back(kernels_for(kernels, *t.weight));
    first_row.push_back(first_row.back() + static_cast<std::size_t>(t.weight->rows));
  }

  pool.parallel_for(first_row.back(), [&](std::size_t begin, std::size_t end) {
    for (std::size_t t = 0; t < targets.size(); ++t) {
      if (begin >= first_row[t + 1] || end <= first_row[t]) continue;
      const WeightMatrix& w = *targets[t].weight;
      const std::size_t lo = align_split(targets[t], std::max(begin, first_row[t]) - first_row[t]);
      const std::size_t hi = align_split(targets[t], std::min(end, first_row[t + 1]) - first_row[t]);
      if (lo >= hi) continue;
      multiply_rows(w, dots[t], inputs[t], n_rows, lo, hi, targets[t].out.data());
      if (targets[t].epilogue) targets[t].epilogue->apply(lo, hi);
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
  const WeightKernels gate_dot = kernels_for(kernels, gate);
  const WeightKernels up_dot = kernels_for(kernels, up);
  pool.parallel_for(static_cast<std::size_t>(gate.rows), [&](std::size_t split_begin, std::size_t split_end) {
    const std::size_t begin = align_to_groups(up, align_to_groups(gate, split_begin));
    const std::size_t end = align_to_groups(up, align_to_groups(gate, split_end));
    if (begin >= end) return;
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
  if (r >= w.grouped_rows()) {
    dequantize_row(w.type, w.row(r), out.data(), w.cols);
    return;
  }
  std::vector<std::byte> plain(w.row_stride());
  deinterleave_row(w.type, w.row(r / kInterleaveRows * kInterleaveRows), static_cast<int>(r % kInterleaveRows), w.cols,
                   plain.data());
  dequantize_row(w.type, plain.data(), out.data(), w.cols);
}

}  // namespace flux
