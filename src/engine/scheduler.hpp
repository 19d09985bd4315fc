#pragma once
// Iteration-level continuous batching. Each step the scheduler picks which sequences run and how
// many of their tokens, under a token budget and a sequence limit:
//   1. running sequences with one token to compute (decodes), oldest first;
//   2. running sequences in the middle of a chunked prefill;
//   3. waiting sequences (new, or preempted and to be recomputed), by priority then arrival,
//      after reusing what the prefix cache holds of their tokens.
// A prompt longer than the remaining budget is split into chunks that share steps with decodes,
// so a long prompt never stalls the other streams. When the KV pool cannot supply a running
// sequence's blocks, the latest-arrived (lowest-priority) running sequence is preempted: its
// blocks are freed and it goes back to waiting, to be recomputed later. Waiting sequences never
// preempt; they wait for blocks.
//
// Not thread-safe; the engine's step loop owns it. Sequences are owned by the caller and must
// outlive their time in the scheduler (until remove()).

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "engine/sequence.hpp"
#include "kv/kv_manager.hpp"

namespace flux {

struct SchedulerConfig {
  int max_seqs = 16;                      // running sequences at most
  std::int64_t max_batched_tokens = 512;  // tokens per forward pass at most
  std::int64_t max_model_len = 4096;      // positions per sequence (the context length)
  int lookahead = 0;                      // extra slots reserved for each decode (speculation)
};

struct ScheduledChunk {
  Sequence* seq = nullptr;
  std::int64_t first_pos = 0;  // seq->n_computed when scheduled
  std::int64_t n_tokens = 0;   // tokens [first_pos, first_pos + n_tokens) of seq->tokens
  bool samples = false;        // reaches the last token: its logits give the next token
};

struct SchedulerStep {
  std::vector<ScheduledChunk> chunks;  // in batch order
  std::vector<Sequence*> preempted;    // lost their blocks this step; back in the waiting queue
  std::int64_t n_tokens = 0;
  bool empty() const { return chunks.empty(); }
};

class Scheduler {
 public:
  // Throws InvalidArgument when a limit is not positive.
  Scheduler(SchedulerConfig config, KvManager& kv);

  const SchedulerConfig& config() const { return config_; }

  // Why `seq` can never run (empty prompt, prompt + max_tokens beyond the context or beyond the
  // whole KV pool), or nullopt when it can.
  std::optional<std::string> admission_error(const Sequence& seq) const;
  // Queues a sequence. Throws InvalidArgument with admission_error's message when it cannot run.
  void add(Sequence& seq);

  SchedulerStep schedule();
  // After the forward pass of `step`: advances each chunk's computed count and publishes newly
  // full blocks. Sampled tokens are appended by the caller afterwards.
  void complete(const SchedulerStep& step);

  // Starts `child` as a running copy of `parent` that shares its blocks (copy-on-write); for
  // parallel samples of one prompt. `child` gets parent's tokens and computed count.
  void fork(const Sequence& parent, Sequence& child);
  // Takes a sequence out (finished or aborted) wherever it is and frees its blocks.
  void remove(Sequence& seq);

  int n_running() const { return static_cast<int>(running_.size()); }
  int n_waiting() const { return static_cast<int>(waiting_.size()); }
  bool has_work() const { return !running_.empty() || !waiting_.empty(); }

 private:
  struct ByPriority {
    bool operator()(const Sequence* a, const Sequence* b) const;
  };

  // Tries to back `n` more tokens of seq (plus lookahead when it reaches the end), preempting
  // the lowest-priority running sequence while blocks run out. False when seq itself was
  // preempted.
  bool allocate_running(Sequence& seq, std::int64_t n, SchedulerStep& step, std::int64_t& budget);
  void preempt(Sequence& victim, SchedulerStep& step, std::int64_t& budget);
  std::int64_t slots_end(const Sequence& seq, std::int64_t n) const;
  void insert_running(Sequence& seq);

  SchedulerConfig config_;
  KvManager& kv_;
  std::vector<Sequence*> running_;  // in ByPriority order: the back is preempted first
  std::set<Sequence*, ByPriority> waiting_;
};

}  // namespace flux
