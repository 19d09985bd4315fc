#include "engine/engine_stats.hpp"

#include <algorithm>

namespace flux {

void EngineStats::on_step(std::int64_t batch_tokens, int batch_seqs, int used_blocks) {
  const auto now = Clock::now();
  peak_used_blocks_ = std::max(peak_used_blocks_, used_blocks);
  if (batch_tokens > 0) {
    ++steps_;
    batched_tokens_ += static_cast<std::uint64_t>(batch_tokens);
    last_batch_tokens_ = static_cast<int>(batch_tokens);
    last_batch_seqs_ = batch_seqs;
  }
  recent_.emplace_back(now, generated_tokens - generated_at_last_step_);
  generated_at_last_step_ = generated_tokens;
  while (!recent_.empty() && now - recent_.front().first > kWindow) recent_.pop_front();
}

void EngineStats::on_request_finished(const RequestMetrics&, bool aborted) {
  if (aborted) ++aborted_;
  else ++finished_;
}

void EngineStats::fill(EngineMetrics& m) {
  m.steps = steps_;
  m.batched_tokens = batched_tokens_;
  m.last_batch_tokens = last_batch_tokens_;
  m.last_batch_seqs = last_batch_seqs_;
  m.kv_blocks_peak_used = peak_used_blocks_;
  m.prompt_tokens = prompt_tokens;
  m.generated_tokens = generated_tokens;
  m.preemptions = preemptions;
  m.requests_finished = finished_;
  m.requests_aborted = aborted_;
  std::uint64_t tokens = 0;
  for (const auto& [time, n] : recent_) tokens += n;
  const double span = recent_.size() > 1
                          ? std::chrono::duration<double>(recent_.back().first - recent_.front().first).count()
                          : 0.0;
  m.generation_tokens_per_sec = span > 0 ? static_cast<double>(tokens - recent_.front().second) / span : 0.0;
}

}  // namespace flux
