#include "kernels/attention.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <vector>

#include "base/error.hpp"
#include "kernels/attention_kernels.hpp"
#include "kernels/dot_kernels.hpp"
#include "tensor/quant.hpp"

namespace flux {
namespace {

// One call of the head kernel: query heads [first_head, first_head + n_heads) of one KV group,
// for rows [first_row, first_row + n_rows) of one sequence.
struct HeadTask {
  const AttentionSequence* seq;
  std::int64_t first_row;
  int n_rows;
  int first_head;
  int n_heads;
};

// Queries that share a KV head go to the kernel together, up to kMaxAttentionQueries: the heads of
// a grouped-query group first, then neighbouring rows (which is what fills a call for models
// without grouped queries).
std::vector<HeadTask> plan_tasks(std::span<const AttentionSequence> sequences, const AttentionShape& shape) {
  const int group = shape.n_heads / shape.n_kv_heads;
  const int heads_per_task = std::min(group, kMaxAttentionQueries);
  const int rows_per_task = kMaxAttentionQueries / heads_per_task;
  std::vector<HeadTask> tasks;
  for (const auto& seq : sequences)
    for (std::int64_t r = seq.first_row; r < seq.first_row + seq.n_rows; r += rows_per_task) {
      const auto n_rows = static_cast<int>(std::min<std::int64_t>(rows_per_task, seq.first_row + seq.n_rows - r));
      for (int kv = 0; kv < shape.n_kv_heads; ++kv)
        for (int h = 0; h < group; h += heads_per_task)
          tasks.push_back({&seq, r, n_rows, kv * group + h, std::min(heads_per_task, group - h)});
    }
  return tasks;
}

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

  const std::vector<HeadTask> tasks = plan_tasks(sequences, shape);
  pool.parallel_for(tasks.size(), [&](std::size_t begin, std::size_t end) {
    const auto head_dim = static_cast<std::size_t>(shape.head_dim);
    std::vector<AttentionQuery> queries(kMaxAttentionQueries);
    std::vector<const std::byte*> keys, values;
    for (std::size_t t = begin; t < end; ++t) {
      const HeadTask& task = tasks[t];
      const AttentionSequence& seq = *task.seq;
      int n_queries = 0;
      for (std::int64_t row = task.first_row; row < task.first_row + task.n_rows; ++row) {
        for (int head = task.first_head; head < task.first_head + task.n_heads; ++head) {
          const std::size_t at = static_cast<std::size_t>(row) * q_width + static_cast<std::size_t>(head) * head_dim;
          check(at + head_dim <= q.size(), "attention row in range");
          queries[static_cast<std::size_t>(n_queries++)] = {q.data() + at, out.data() + at,
                                                            seq.first_pos + (row - seq.first_row) + 1};
        }
      }
      // The KV head's keys and values, block by block, as far as the last row sees.
      const std::int64_t n_positions = seq.first_pos + (task.first_row + task.n_rows - seq.first_row);
      const std::size_t kv_offset = static_cast<std::size_t>(task.first_head / group) * head_bytes;
      const auto n_blocks = static_cast<std::size_t>((n_positions + block_size - 1) / block_size);
      keys.resize(n_blocks);
      values.resize(n_blocks);
      for (std::size_t b = 0; b < n_blocks; ++b) {
        const int block = seq.blocks[b];
        keys[b] = cache.key_bytes(layer, block, 0).data() + kv_offset;
        values[b] = cache.value_bytes(layer, block, 0).data() + kv_offset;
      }
      attend(HeadAttention{.queries = queries.data(),
                           .n_queries = n_queries,
                           .head_dim = shape.head_dim,
                           .scale = shape.scale,
                           .kv_type = kv_type,
                           .keys = keys.data(),
                           .values = values.data(),
                           .slot_stride = cache.row_bytes(),
                           .block_size = block_size});
    }
  });
}

}  // namespace flux
