#include "kernels/attention.hpp"

#include <cmath>
#include <limits>
#include <vector>

#include "base/error.hpp"
#include "tensor/quant.hpp"

namespace flux {
namespace {

struct HeadTask {
  const AttentionSequence* seq;
  std::int64_t row;
  int head;
};

void attend_one_head(const float* q_head, float* out_head, const HeadTask& task,
                     const KvCache& cache, int layer, const AttentionShape& shape,
                     std::vector<float>& q_rounded, std::vector<float>& acc) {
  const int head_dim = shape.head_dim;
  const int group = shape.n_heads / shape.n_kv_heads;
  const std::size_t kv_offset = static_cast<std::size_t>(task.head / group) * static_cast<std::size_t>(head_dim);
  const int block_size = cache.layout().block_size;
  const std::int64_t pos = task.seq->first_pos + (task.row - task.seq->first_row);

  // llama.cpp multiplies queries with F16 keys in F16, so queries are rounded the same way.
  for (int d = 0; d < head_dim; ++d) q_rounded[static_cast<std::size_t>(d)] = f16_to_f32(f32_to_f16(q_head[d]));
  std::fill(acc.begin(), acc.end(), 0.0f);
  float running_max = -std::numeric_limits<float>::infinity();
  float running_sum = 0.0f;

  for (std::int64_t p = 0; p <= pos; ++p) {
    const int block = task.seq->blocks[static_cast<std::size_t>(p / block_size)];
    const int slot = static_cast<int>(p % block_size);
    const std::uint16_t* k = cache.key(layer, block, slot).data() + kv_offset;
    const std::uint16_t* v = cache.value(layer, block, slot).data() + kv_offset;
    float score = 0.0f;
    for (int d = 0; d < head_dim; ++d) score += q_rounded[static_cast<std::size_t>(d)] * f16_to_f32(k[d]);
    score *= shape.scale;
    if (score > running_max) {
      const float correction = std::exp(running_max - score);
      for (float& a : acc) a *= correction;
      running_sum *= correction;
      running_max = score;
    }
    const float weight = std::exp(score - running_max);
    running_sum += weight;
    for (int d = 0; d < head_dim; ++d) acc[static_cast<std::size_t>(d)] += weight * f16_to_f32(v[d]);
  }
  const float inv = 1.0f / running_sum;
  for (int d = 0; d < head_dim; ++d) out_head[d] = acc[static_cast<std::size_t>(d)] * inv;
}

}  // namespace

void paged_attention(std::span<const float> q, std::span<float> out,
                     std::span<const AttentionSequence> sequences, const KvCache& cache, int layer,
                     const AttentionShape& shape, ThreadPool& pool) {
  check(shape.n_kv_heads > 0 && shape.n_heads % shape.n_kv_heads == 0, "GQA head counts");
  check(shape.n_kv_heads * shape.head_dim == cache.layout().kv_dim, "KV width matches cache");
  const std::size_t q_width = static_cast<std::size_t>(shape.n_heads) * static_cast<std::size_t>(shape.head_dim);

  std::vector<HeadTask> tasks;
  for (const auto& seq : sequences)
    for (std::int64_t r = seq.first_row; r < seq.first_row + seq.n_rows; ++r)
      for (int h = 0; h < shape.n_heads; ++h) tasks.push_back({&seq, r, h});

  pool.parallel_for(tasks.size(), [&](std::size_t begin, std::size_t end) {
    std::vector<float> q_rounded(static_cast<std::size_t>(shape.head_dim));
    std::vector<float> acc(static_cast<std::size_t>(shape.head_dim));
    for (std::size_t t = begin; t < end; ++t) {
      const HeadTask& task = tasks[t];
      const std::size_t at = static_cast<std::size_t>(task.row) * q_width +
                             static_cast<std::size_t>(task.head) * static_cast<std::size_t>(shape.head_dim);
      check(at + static_cast<std::size_t>(shape.head_dim) <= q.size(), "attention row in range");
      attend_one_head(q.data() + at, out.data() + at, task, cache, layer, shape, q_rounded, acc);
    }
  });
}

}  // namespace flux
