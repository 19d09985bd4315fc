#pragma once
// How a sequence picks its next token; the chain and its order are described in
// src/engine/sampler.hpp.

#include <cstdint>

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

}  // namespace flux
