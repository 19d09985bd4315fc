#pragma once
// The engine's running totals, kept by the loop thread and copied into EngineMetrics after each
// step. Generation throughput is measured over a sliding window of recent steps, so the figure
// follows the load instead of averaging over the engine's whole life.

#include <chrono>
#include <cstdint>
#include <deque>
#include <utility>

#include "flux/engine.hpp"

namespace flux {

class EngineStats {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::chrono::seconds kWindow{5};

  void on_step(std::int64_t batch_tokens, int batch_seqs, int used_blocks);
  void on_request_finished(const RequestMetrics& metrics, bool aborted);
  void fill(EngineMetrics& m);

  std::uint64_t generated_tokens = 0;
  std::uint64_t prompt_tokens = 0;
  std::uint64_t preemptions = 0;

 private:
  std::uint64_t steps_ = 0;
  std::uint64_t batched_tokens_ = 0;
  int last_batch_tokens_ = 0;
  int last_batch_seqs_ = 0;
  int peak_used_blocks_ = 0;
  std::uint64_t finished_ = 0;
  std::uint64_t aborted_ = 0;
  std::uint64_t generated_at_last_step_ = 0;
  std::deque<std::pair<Clock::time_point, std::uint64_t>> recent_;  // (step end, tokens generated)
};

}  // namespace flux
