#pragma once
// Picks the next token from a row of logits. One Sampler per sequence: it owns that sequence's
// random state, so a fixed seed reproduces a run exactly.
//
// The chain follows llama.cpp's default sampler order (common/sampling: penalties, top-k, top-p,
// min-p, temperature, dist), leaving out the stages FluxInfer does not offer (DRY, typical, XTC):
//   1. penalties   repetition (CTRL), presence and frequency (OpenAI) over the last
//                  penalty_last_n tokens of history
//   2. top-k       keep the k highest logits
//   3. top-p       keep the smallest prefix, by probability at temperature 1, reaching top_p
//   4. min-p       keep tokens whose probability is at least min_p times the best one's
//   5. temperature divide what is left by the temperature
//   6. dist        draw from the softmax with the sequence's std::mt19937_64
// Top-p and min-p thus look at the untempered distribution, as in llama.cpp. A temperature <= 0
// is greedy: argmax after the penalties (the filters never remove the argmax).
//
// NaN logits count as -inf (that token is never picked); a row with no logit above -inf has
// nothing to pick from and throws InvalidArgument. A +inf logit wins over every finite one, and
// several +inf logits share the probability equally.

#include <cstdint>
#include <random>
#include <span>
#include <utility>
#include <vector>

#include "engine/stop_matcher.hpp"
#include "base/token_id.hpp"
#include "flux/sampling.hpp"

namespace flux {


// Throws InvalidArgument naming the first field that is out of range.
void validate(const SamplingParams& params);

class Sampler {
 public:
  // Throws InvalidArgument naming the field when a parameter is out of range.
  explicit Sampler(const SamplingParams& params);

  // history: the tokens generated so far (and prompt tokens, if penalties should see them).
  // Throws InvalidArgument when logits is empty or has no value above -inf, or when a history
  // token the penalties look at is not an index into logits.
  TokenId sample(std::span<const float> logits, std::span<const TokenId> history);

  const SamplingParams& params() const { return params_; }

 private:
  // A token seen in the penalty window and how often; sorted by token.
  struct SeenToken {
    TokenId token;
    int count;
  };

  bool has_penalties() const;
  void count_seen_tokens(std::span<const TokenId> history, std::size_t vocab_size);
  // Calls visit(token, logit) for every token in order, NaN read as -inf, penalties applied.
  template <typename Visit>
  void visit_penalised(std::span<const float> logits, Visit&& visit) const;
  // Fills candidates_ with every pickable token and its penalised logit, in token order.
  void collect_candidates(std::span<const float> logits);
  TokenId greedy(std::span<const float> logits) const;
  TokenId draw();

  SamplingParams params_;
  std::mt19937_64 rng_;
  std::vector<std::pair<float, TokenId>> candidates_;  // scratch reused across calls
  std::vector<SeenToken> seen_;                        // scratch reused across calls
  std::vector<TokenId> window_;                        // scratch reused across calls
};

// Index of the largest logit, ties to the lowest id; NaN counts as -inf, so a row with nothing
// above -inf gives 0. Throws InvalidArgument when logits is empty.
TokenId argmax(std::span<const float> logits);

}  // namespace flux
