#pragma once
// The engine's per-request bookkeeping: each choice's sequence with its sampler, detokenizer and
// stop matcher, the request's timings, and the output gathered during a step. Lives on the
// engine's loop thread only.

#include <chrono>
#include <memory>
#include <span>
#include <vector>

#include "engine/sampler.hpp"
#include "engine/sequence.hpp"
#include "engine/stop_matcher.hpp"
#include "flux/engine.hpp"
#include "tokenizer/tokenizer.hpp"

namespace flux {

using EngineClock = std::chrono::steady_clock;

struct RequestState;

// One choice of a request: a sequence and what turns its tokens into text.
struct ChoiceRun {
  ChoiceRun(RequestState& request, int index, const Tokenizer& tokenizer, std::uint64_t sequence_id);

  RequestState& request;
  int index;
  Sequence seq;
  Sampler sampler;
  StreamDecoder decoder;
  StopMatcher stops;
  FinishReason finish = FinishReason::None;
};

struct RequestState {
  RequestId id = 0;
  Request request;                              // prompt fields cleared once tokenized
  std::vector<TokenId> prompt;
  std::vector<std::unique_ptr<ChoiceRun>> choices;  // choice 0 first; the others once forked
  int n_finished = 0;
  EngineClock::time_point added;
  EngineClock::time_point first_scheduled;
  EngineClock::time_point first_token;
  EngineClock::time_point last_token;
  bool scheduled = false;
  bool has_token = false;
  RequestOutput pending;                        // news of the current step

  bool forked() const { return static_cast<int>(choices.size()) == request.n; }
  bool finished() const { return n_finished == request.n; }
  ChoiceOutput& news(int index);                // the pending output of one choice
  RequestMetrics metrics(EngineClock::time_point now) const;
};

// Appends `token` to the choice, turns it into text and checks every end condition (EOS, stop
// strings, max_tokens, the context length). On an end, sets `finish`; the caller frees the
// sequence.
void accept_token(ChoiceRun& choice, TokenId token, std::span<const float> logits, const Tokenizer& tokenizer,
                  std::int64_t max_model_len);

// Ends a choice early (abort, failure): records the reason in the pending output.
void end_choice(ChoiceRun& choice, FinishReason reason);

// Each token's log-probability and the top k alternatives from one row of raw logits.
TokenLogprobs token_logprobs(std::span<const float> logits, TokenId token, int top_k);

}  // namespace flux
