#include "kernels/attention.hpp"

#include <fmt/format.h>

#include <vector>

#include "base/error.hpp"
#include "kernels/attention_kernels.hpp"
#include "kernels/dot_kernels.hpp"
#include "tensor/quant.hpp"

namespace flux {
namespace {

struct HeadTask {
  const AttentionSequence* seq;
  std::int64_t row;
  int head;
};

}  // namespace

void paged_attention(std::span<const float> q, std::span<float> out,
                     std::span<const AttentionSequence> sequences, const KvCache& cache, int layer,
                     const AttentionShape& shape, ThreadPool& pool) {
  check(shape.n_kv_heads > 0 && shape.n_heads % shape.n_kv_heads == 0, "GQA head counts");
  check(shape.n_kv_heads * shape.head_dim == cache.layout().kv_dim, "KV width matches cache");
  if (shape.head_dim > kMaxAttentionHeadDim)
    throw UnsupportedError(fmt::format("attention head size {} is larger than the supported {}", shape.head_dim,
                                       kMaxAttentionHeadDim));
  const TensorType kv_type = cache.layout().type;
  // Head slices start on a block of the cache's type (checked for the whole row by KvCache).
  check(shape.head_dim % static_cast<int>(traits(kv_type).block_size) == 0, "attention heads split KV blocks");
  const std::size_t head_bytes = row_bytes(kv_type, shape.head_dim);
  const std::size_t q_width = static_cast<std::size_t>(shape.n_heads) * static_cast<std::size_t>(shape.head_dim);
  const int group = shape.n_heads / shape.n_kv_heads;
  const int block_size = cache.layout().block_size;
  const AttendHeadFn attend = active_kernels().attend_head;

  std::vector<HeadTask> tasks;
  for (const auto& seq : sequences)
    for (std::int64_t r = seq.first_row; r < seq.first_row + seq.n_rows; ++r)
      for (int h = 0; h < shape.n_heads; ++h) tasks.push_back({&seq, r, h});

  pool.parallel_for(tasks.size(), [&](std::size_t begin, std::size_t end) {
    std::vector<float> q_rounded(static_cast<std::size_t>(shape.head_dim));
    std::vector<const std::byte*> keys, values;
    for (std::size_t t = begin; t < end; ++t) {
      const HeadTask& task = tasks[t];
      const std::size_t at = static_cast<std::size_t>(task.row) * q_width +
                             static_cast<std::size_t>(task.head) * static_cast<std::size_t>(shape.head_dim);
      check(at + static_cast<std::size_t>(shape.head_dim) <= q.size(), "attention row in range");
      const std::int64_t n_positions = task.seq->first_pos + (task.row - task.seq->first_row) + 1;
      const std::size_t kv_offset = static_cast<std::size_t>(task.head / group) * head_bytes;
      // This head's keys and values, block by block.
      const auto n_blocks = static_cast<std::size_t>((n_positions + block_size - 1) / block_size);
      keys.resize(n_blocks);
      values.resize(n_blocks);
      for (std::size_t b = 0; b < n_blocks; ++b) {
        const int block = task.seq->blocks[b];
        keys[b] = cache.key_bytes(layer, block, 0).data() + kv_offset;
        values[b] = cache.value_bytes(layer, block, 0).data() + kv_offset;
      }
      // llama.cpp multiplies queries with F16 keys in F16, so queries are rounded the same way.
      for (int d = 0; d < shape.head_dim; ++d)
        q_rounded[static_cast<std::size_t>(d)] = f16_to_f32(f32_to_f16(q[at + static_cast<std::size_t>(d)]));
      attend(HeadAttention{.q = q_rounded.data(),
                           .out = out.data() + at,
                           .head_dim = shape.head_dim,
                           .scale = shape.scale,
                           .kv_type = kv_type,
                           .keys = keys.data(),
                           .values = values.data(),
                           .slot_stride = cache.row_bytes(),
                           .block_size = block_size,
                           .n_positions = n_positions});
    }
  });
}

}  // namespace flux
