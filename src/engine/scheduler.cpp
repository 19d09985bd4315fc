#include "engine/scheduler.hpp"

#include <algorithm>
#include <tuple>

#include <fmt/format.h>

#include "base/error.hpp"

namespace flux {

bool Scheduler::ByPriority::operator()(const Sequence* a, const Sequence* b) const {
  return std::tie(a->priority, a->arrival, a->id) < std::tie(b->priority, b->arrival, b->id);
}

Scheduler::Scheduler(SchedulerConfig config, KvManager& kv) : config_(config), kv_(kv) {
  if (config.max_seqs < 1) throw InvalidArgument(fmt::format("max_seqs must be at least 1 (got {})", config.max_seqs));
  if (config.max_batched_tokens < 1)
    throw InvalidArgument(fmt::format("max_batched_tokens must be at least 1 (got {})", config.max_batched_tokens));
  if (config.max_model_len < 2)
    throw InvalidArgument(fmt::format("the context length must be at least 2 (got {})", config.max_model_len));
  if (config.lookahead < 0) throw InvalidArgument("the lookahead must not be negative");
}

std::optional<std::string> Scheduler::admission_error(const Sequence& seq) const {
  if (seq.n_prompt <= 0 || seq.n_prompt != seq.n_tokens()) return "the prompt is empty (no tokens to start from)";
  if (seq.max_tokens < 1) return fmt::format("max_tokens must be at least 1 (got {})", seq.max_tokens);
  const std::int64_t needed = seq.n_prompt + seq.max_tokens;
  if (needed > config_.max_model_len)
    return fmt::format("the prompt ({} tokens) plus max_tokens ({}) needs {} positions but the context holds {}",
                       seq.n_prompt, seq.max_tokens, needed, config_.max_model_len);
  const std::int64_t blocks = kv_.blocks_for(std::min(needed + config_.lookahead, config_.max_model_len));
  if (blocks > kv_.n_blocks())
    return fmt::format("the prompt ({} tokens) plus max_tokens ({}) needs {} KV blocks but the pool has {}",
                       seq.n_prompt, seq.max_tokens, blocks, kv_.n_blocks());
  return std::nullopt;
}

void Scheduler::add(Sequence& seq) {
  if (auto error = admission_error(seq)) throw InvalidArgument(*error);
  check(seq.blocks.empty() && seq.n_computed == 0, "a new sequence holds no blocks");
  seq.state = SequenceState::Waiting;
  waiting_.insert(&seq);
}

std::int64_t Scheduler::slots_end(const Sequence& seq, std::int64_t n) const {
  std::int64_t end = seq.n_computed + n;
  if (end == seq.n_tokens()) end += config_.lookahead;
  return std::min(end, config_.max_model_len);
}

void Scheduler::insert_running(Sequence& seq) {
  seq.state = SequenceState::Running;
  running_.insert(std::upper_bound(running_.begin(), running_.end(), &seq, ByPriority{}), &seq);
}

void Scheduler::preempt(Sequence& victim, SchedulerStep& step, std::int64_t& budget) {
  // A victim already scheduled this step gives its chunk (and its budget) back.
  const auto chunk = std::find_if(step.chunks.begin(), step.chunks.end(),
                                  [&](const ScheduledChunk& c) { return c.seq == &victim; });
  if (chunk != step.chunks.end()) {
    budget += chunk->n_tokens;
    step.n_tokens -= chunk->n_tokens;
    step.chunks.erase(chunk);
  }
  running_.erase(std::find(running_.begin(), running_.end(), &victim));
  kv_.free(victim.blocks);
  victim.n_computed = 0;
  ++victim.n_preemptions;
  victim.state = SequenceState::Waiting;
  waiting_.insert(&victim);
  step.preempted.push_back(&victim);
}

bool Scheduler::allocate_running(Sequence& seq, std::int64_t n, SchedulerStep& step, std::int64_t& budget) {
  while (!kv_.allocate_slots(seq.blocks, seq.n_computed, slots_end(seq, n))) {
    Sequence& victim = *running_.back();
    preempt(victim, step, budget);
    if (&victim == &seq) return false;
  }
  return true;
}

SchedulerStep Scheduler::schedule() {
  SchedulerStep step;
  std::int64_t budget = config_.max_batched_tokens;

  // Decodes first, then continuing prefills; a preemption may remove later entries, so walk a
  // snapshot and skip sequences that are no longer running.
  for (const bool decodes : {true, false}) {
    const std::vector<Sequence*> snapshot = running_;
    for (Sequence* seq : snapshot) {
      if (budget <= 0) break;
      if (seq->state != SequenceState::Running || seq->n_uncomputed() <= 0) continue;
      if ((seq->n_uncomputed() == 1) != decodes) continue;
      const std::int64_t n = std::min(seq->n_uncomputed(), budget);
      if (!allocate_running(*seq, n, step, budget)) continue;
      step.chunks.push_back({seq, seq->n_computed, n, seq->n_computed + n == seq->n_tokens()});
      step.n_tokens += n;
      budget -= n;
    }
  }

  // New and preempted sequences, only while nothing had to be preempted this step: blocks are
  // short, and admitting now would only preempt again.
  while (step.preempted.empty() && budget > 0 && !waiting_.empty() &&
         static_cast<int>(running_.size()) < config_.max_seqs) {
    Sequence& seq = **waiting_.begin();
    const std::int64_t hit = kv_.match_prefix(seq.blocks, seq.tokens);
    seq.n_computed = hit;
    const std::int64_t n = std::min(seq.n_uncomputed(), budget);
    if (!kv_.allocate_slots(seq.blocks, seq.n_computed, slots_end(seq, n))) {
      kv_.free(seq.blocks);
      seq.n_computed = 0;
      break;
    }
    kv_.record_prefix_lookup(seq.n_tokens(), hit);
    if (seq.n_cached_prompt < 0) seq.n_cached_prompt = std::min(hit, seq.n_prompt);
    waiting_.erase(waiting_.begin());
    insert_running(seq);
    step.chunks.push_back({&seq, seq.n_computed, n, seq.n_computed + n == seq.n_tokens()});
    step.n_tokens += n;
    budget -= n;
  }
  return step;
}

void Scheduler::complete(const SchedulerStep& step) {
  for (const ScheduledChunk& c : step.chunks) {
    check(c.seq->n_computed == c.first_pos, "a scheduled chunk must start at the computed count");
    c.seq->n_computed += c.n_tokens;
    kv_.commit(c.seq->blocks, c.seq->tokens, c.seq->n_computed);
  }
}

void Scheduler::fork(const Sequence& parent, Sequence& child) {
  check(parent.state == SequenceState::Running, "only a running sequence can be forked");
  child.tokens = parent.tokens;
  child.n_prompt = parent.n_prompt;
  child.n_computed = parent.n_computed;
  child.max_tokens = parent.max_tokens;
  child.priority = parent.priority;
  child.arrival = parent.arrival;
  child.n_cached_prompt = parent.n_cached_prompt;
  child.blocks = kv_.fork(parent.blocks);
  insert_running(child);
}

void Scheduler::remove(Sequence& seq) {
  if (seq.state == SequenceState::Running) running_.erase(std::find(running_.begin(), running_.end(), &seq));
  if (seq.state == SequenceState::Waiting) waiting_.erase(&seq);
  kv_.free(seq.blocks);
  seq.state = SequenceState::Finished;
}

}  // namespace flux
