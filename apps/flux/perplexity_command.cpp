// flux perplexity: how well a model predicts a text, as llama.cpp's perplexity tool reports it.

#include <cstdio>
#include <fstream>
#include <iterator>

#include <fmt/format.h>

#include "apps/flux/commands.hpp"
#include "apps/flux/engine_flags.hpp"
#include "apps/flux/model_loading.hpp"
#include "base/error.hpp"
#include "base/thread_pool.hpp"
#include "engine/perplexity.hpp"

namespace flux::cli {
namespace {

struct PerplexityOptions {
  LoadOptions load;
  std::string model;
  std::string file;
  int n_ctx = 512;
  int threads = 0;
};

void run_perplexity(const PerplexityOptions& o) {
  std::ifstream in(o.file, std::ios::binary);
  if (!in) throw Error(fmt::format("cannot read '{}'", o.file));
  const std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  LoadedModel loaded = load_model(o.model, with_threads(o.load, o.threads));
  if (o.n_ctx > loaded.model.config().n_ctx_train)
    fmt::print(stderr, "warning: context {} is longer than the model was trained for ({})\n", o.n_ctx,
               loaded.model.config().n_ctx_train);
  ThreadPool pool(resolve_threads(o.threads));
  // As llama.cpp's tool: BOS when the model wants one, never a trailing EOS.
  std::vector<TokenId> tokens;
  if (loaded.tokenizer.add_bos() && loaded.tokenizer.bos() >= 0) tokens.push_back(loaded.tokenizer.bos());
  const std::vector<TokenId> text_tokens = loaded.tokenizer.encode(text, /*add_special=*/false, /*parse_special=*/false);
  tokens.insert(tokens.end(), text_tokens.begin(), text_tokens.end());
  fmt::print(stderr, "perplexity: {} tokens, {} windows of {}\n", tokens.size(),
             tokens.size() / static_cast<std::size_t>(std::max(1, o.n_ctx)), o.n_ctx);
  const PerplexityResult r = perplexity(loaded.model, loaded.tokenizer, pool, tokens, o.n_ctx, [](int w, double ppl) {
    fmt::print("[{}]{:.4f},", w + 1, ppl);
    std::fflush(stdout);
  });
  fmt::print("\nFinal estimate: PPL = {:.4f} +/- {:.5f}\n", r.ppl, r.ppl_error);
}

}  // namespace

void add_perplexity_command(CLI::App& app) {
  auto options = std::make_shared<PerplexityOptions>();
  CLI::App* cmd = app.add_subcommand("perplexity", "Perplexity of a model over a text file");
  cmd->add_option("-m,--model", options->model, "GGUF model file")->required();
  add_load_options(*cmd, options->load);
  cmd->add_option("-f,--file", options->file, "Text file")->required();
  cmd->add_option("-c,--ctx-size", options->n_ctx, "Window length in tokens")->capture_default_str();
  cmd->add_option("-t,--threads", options->threads, "Threads (default: all cores)");
  cmd->callback([options] { run_perplexity(*options); });
}

}  // namespace flux::cli
