#include "engine/perplexity.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "base/error.hpp"
#include "kv/kv_manager.hpp"
#include "model/forward.hpp"

namespace flux {
namespace {

// -log softmax(logits)[target], in double.
double negative_log_likelihood(std::span<const float> logits, TokenId target) {
  const float max = *std::max_element(logits.begin(), logits.end());
  double sum = 0.0;
  for (float l : logits) sum += std::exp(static_cast<double>(l) - max);
  return -(static_cast<double>(logits[static_cast<std::size_t>(target)]) - max - std::log(sum));
}

}  // namespace

PerplexityResult perplexity(const Model& model, const Tokenizer& tokenizer, ThreadPool& pool,
                            std::span<const TokenId> tokens, int n_ctx,
                            const std::function<void(int, double)>& on_window) {
  if (n_ctx < 4) throw InvalidArgument(fmt::format("perplexity needs a context of at least 4 tokens (got {})", n_ctx));
  const auto n_windows = static_cast<int>(tokens.size() / static_cast<std::size_t>(n_ctx));
  if (tokens.size() < 2 * static_cast<std::size_t>(n_ctx))
    throw InvalidArgument(fmt::format("the text has {} tokens; perplexity with a context of {} needs at least {}",
                                      tokens.size(), n_ctx, 2 * static_cast<std::size_t>(n_ctx)));
  const ModelConfig& c = model.config();
  const int block_size = 16;
  KvManager kv(KvLayout{static_cast<int>(c.n_layers), static_cast<int>(c.kv_dim()), block_size},
               (n_ctx + block_size - 1) / block_size, /*prefix_caching=*/false);
  ForwardScratch scratch;
  const int first = n_ctx / 2;
  const int n_scored_rows = n_ctx - 1 - first;  // rows [first, n_ctx - 1) predict a known next token
  std::vector<float> logits(static_cast<std::size_t>(n_scored_rows) * static_cast<std::size_t>(c.n_vocab));

  PerplexityResult result;
  result.n_ctx = n_ctx;
  double nll = 0.0;
  double nll_squared = 0.0;
  for (int w = 0; w < n_windows; ++w) {
    const auto start = static_cast<std::size_t>(w) * static_cast<std::size_t>(n_ctx);
    BlockTable table;
    check(kv.allocate_slots(table, 0, n_ctx), "perplexity cache sized for one window");
    Batch batch;
    batch.tokens.assign(tokens.begin() + static_cast<std::ptrdiff_t>(start),
                        tokens.begin() + static_cast<std::ptrdiff_t>(start) + n_ctx);
    if (tokenizer.add_bos() && tokenizer.bos() >= 0) batch.tokens[0] = tokenizer.bos();
    batch.sequences.push_back({table.blocks(), 0, n_ctx});
    for (int r = first; r < n_ctx - 1; ++r) batch.logit_rows.push_back(r);
    forward(model, batch, kv.cache(), scratch, pool, logits);
    kv.free(table);

    for (int j = first; j < n_ctx - 1; ++j) {
      const std::span<const float> row(logits.data() + static_cast<std::size_t>(j - first) * static_cast<std::size_t>(c.n_vocab),
                                       static_cast<std::size_t>(c.n_vocab));
      const double v = negative_log_likelihood(row, tokens[start + static_cast<std::size_t>(j) + 1]);
      nll += v;
      nll_squared += v * v;
      ++result.n_scored;
    }
    const double running = std::exp(nll / static_cast<double>(result.n_scored));
    result.running_ppl.push_back(running);
    if (on_window) on_window(w, running);
  }
  const auto n = static_cast<double>(result.n_scored);
  const double mean = nll / n;
  result.ppl = std::exp(mean);
  const double variance = nll_squared / n - mean * mean;
  result.ppl_error = n > 1 && variance > 0 ? std::sqrt(variance / (n - 1)) * result.ppl : 0.0;
  return result;
}

}  // namespace flux
