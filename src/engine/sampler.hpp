#pragma once
// Picks the next token from a row of logits. One Sampler per sequence: it owns that sequence's
// random state, so a fixed seed reproduces a run exactly.

#include <cstdint>
#include <random>
#include <span>
#include <vector>

#include "tokenizer/tokenizer.hpp"

namespace flux {

struct SamplingParams {
  float temperature = 0.8f;         // <= 0 means greedy (argmax, ties to the lowest id)
  int top_k = 40;                   // keep the k most likely; <= 0 keeps all
  float top_p = 0.95f;              // nucleus: smallest set whose probability reaches p; 1 = off
  float min_p = 0.05f;              // drop tokens below min_p * p(best); 0 = off
  float repetition_penalty = 1.0f;  // divide positive logits (multiply negative) of seen tokens
  float presence_penalty = 0.0f;    // subtract once from every seen token (OpenAI semantics)
  float frequency_penalty = 0.0f;   // subtract per occurrence of a seen token
  int penalty_last_n = 64;          // how many recent tokens the penalties look at; -1 = all
  std::uint64_t seed = 0xF1A5F1A5u; // random state of the sequence
};

class Sampler {
 public:
  // Throws InvalidArgument naming the field when a parameter is out of range.
  explicit Sampler(const SamplingParams& params);

  // history: the tokens generated so far (and prompt tokens, if penalties should see them).
  TokenId sample(std::span<const float> logits, std::span<const TokenId> history);

  const SamplingParams& params() const { return params_; }

 private:
  SamplingParams params_;
  std::mt19937_64 rng_;
  std::vector<std::pair<float, TokenId>> candidates_;  // scratch reused across calls
};

TokenId argmax(std::span<const float> logits);

// Watches generated text for stop sequences. Text that might be the start of a stop sequence is
// held back until it is known not to be, so a stop string never reaches the caller.
class StopMatcher {
 public:
  explicit StopMatcher(std::vector<std::string> stops);
  // Feeds new text; returns the text that is safe to emit now. After a match, stopped() is true
  // and the returned text ends right before the stop sequence.
  std::string push(std::string_view text);
  std::string flush();  // the held-back tail at the end of generation
  bool stopped() const { return stopped_; }

 private:
  std::vector<std::string> stops_;
  std::string held_;
  bool stopped_ = false;
};

}  // namespace flux
