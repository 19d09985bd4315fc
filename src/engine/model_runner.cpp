#include "engine/model_runner.hpp"

namespace flux {

std::span<const float> ModelRunner::run(const SchedulerStep& step, KvCache& cache) {
  batch_.tokens.clear();
  batch_.sequences.clear();
  batch_.logit_rows.clear();
  for (const ScheduledChunk& chunk : step.chunks) {
    const auto first = chunk.seq->tokens.begin() + static_cast<std::ptrdiff_t>(chunk.first_pos);
    batch_.tokens.insert(batch_.tokens.end(), first, first + static_cast<std::ptrdiff_t>(chunk.n_tokens));
    batch_.sequences.push_back({chunk.seq->blocks.blocks(), chunk.first_pos, chunk.n_tokens});
    if (chunk.samples) batch_.logit_rows.push_back(static_cast<std::int64_t>(batch_.tokens.size()) - 1);
  }
  logits_.resize(batch_.logit_rows.size() * static_cast<std::size_t>(model_.config().n_vocab));
  forward(model_, batch_, cache, scratch_, pool_, logits_);
  return logits_;
}

}  // namespace flux
