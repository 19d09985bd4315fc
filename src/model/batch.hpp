#pragma once
// One forward pass's input: the new tokens of one or more sequences, flattened.

#include <cstdint>
#include <span>
#include <vector>

#include "base/token_id.hpp"

namespace flux {

struct BatchSequence {
  std::span<const int> blocks;  // the sequence's KV block table (covers first_pos + n_tokens)
  std::int64_t first_pos = 0;   // position of its first new token (= tokens already cached)
  std::int64_t n_tokens = 0;    // how many of Batch::tokens belong to it, in order
};

struct Batch {
  std::vector<TokenId> tokens;             // [rows]: sequence after sequence
  std::vector<BatchSequence> sequences;
  std::vector<std::int64_t> logit_rows;    // rows whose logits are wanted, in output order
};

}  // namespace flux
