#pragma once
// Perplexity of a model over a token stream, computed the way llama.cpp's perplexity tool does:
// non-overlapping windows of n_ctx tokens, each starting with BOS, scoring only the second half
// of every window so that each scored token sees at least n_ctx / 2 tokens of context.

#include <functional>
#include <span>
#include <vector>

#include "base/thread_pool.hpp"
#include "model/model.hpp"
#include "tokenizer/tokenizer.hpp"

namespace flux {

struct PerplexityResult {
  std::vector<double> running_ppl;  // estimate after each window, as llama.cpp prints "[i]ppl"
  double ppl = 0;
  double ppl_error = 0;             // standard error of the estimate
  std::int64_t n_scored = 0;        // tokens scored
  int n_ctx = 0;
};

// Throws InvalidArgument when the text is shorter than two windows.
PerplexityResult perplexity(const Model& model, const Tokenizer& tokenizer, ThreadPool& pool,
                            std::span<const TokenId> tokens, int n_ctx,
                            const std::function<void(int window, double running_ppl)>& on_window = {});

}  // namespace flux
