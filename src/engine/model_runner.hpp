#pragma once
// Turns one scheduler step into one forward pass: the chunks of every scheduled sequence become
// the flat rows of a Batch, attention reads each sequence's own blocks, and only the rows that
// will be sampled pay for the output projection.

#include <span>
#include <vector>

#include "base/thread_pool.hpp"
#include "engine/scheduler.hpp"
#include "kv/kv_cache.hpp"
#include "model/forward.hpp"
#include "model/model.hpp"

namespace flux {

class ModelRunner {
 public:
  ModelRunner(const Model& model, ThreadPool& pool) : model_(model), pool_(pool) {}

  // Logits for the step's sampling chunks, one [n_vocab] row each, in chunk order. Valid until
  // the next call.
  std::span<const float> run(const SchedulerStep& step, KvCache& cache);

 private:
  const Model& model_;
  ThreadPool& pool_;
  Batch batch_;
  ForwardScratch scratch_;
  std::vector<float> logits_;
};

}  // namespace flux
