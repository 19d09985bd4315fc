#pragma once
// What the scheduler knows about one sequence: its tokens, how many of them have keys and values
// in the cache, and its block table. The engine keeps the rest (sampler, detokenizer, stream)
// beside it; scheduler tests drive Sequences directly with made-up model outputs.
//
// A sequence has no separate prefill and decode phases: it has tokens, and a prefix of them that
// is computed. Prefill is "many tokens not yet computed", decode is "one"; preemption sets the
// computed count back to zero and the same rule recomputes everything later.

#include <cstdint>
#include <vector>

#include "base/token_id.hpp"
#include "kv/block_table.hpp"

namespace flux {

enum class SequenceState { Waiting, Running, Finished };

struct Sequence {
  std::uint64_t id = 0;            // unique within an engine
  std::vector<TokenId> tokens;     // prompt, then generated tokens
  std::int64_t n_prompt = 0;
  std::int64_t n_computed = 0;     // leading tokens whose keys and values are in `blocks`
  std::int64_t max_tokens = 1;     // generated tokens at most
  int priority = 0;                // lower runs first; FCFS (arrival) among equals
  std::uint64_t arrival = 0;       // order of admission; a forked sequence shares its parent's
  SequenceState state = SequenceState::Waiting;
  BlockTable blocks;
  int n_preemptions = 0;
  std::int64_t n_cached_prompt = -1;  // prompt tokens the prefix cache supplied at first admission

  std::int64_t n_tokens() const { return static_cast<std::int64_t>(tokens.size()); }
  std::int64_t n_generated() const { return n_tokens() - n_prompt; }
  std::int64_t n_uncomputed() const { return n_tokens() - n_computed; }
};

}  // namespace flux
