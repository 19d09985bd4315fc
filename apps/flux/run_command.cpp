// flux run: generate text from a prompt.

#include <cstdio>
#include <fstream>
#include <iterator>
#include <random>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "apps/flux/commands.hpp"
#include "apps/flux/model_loading.hpp"
#include "base/error.hpp"
#include "base/thread_pool.hpp"
#include "engine/generator.hpp"

namespace flux::cli {
namespace {

struct RunOptions {
  std::string model;
  std::string prompt;
  std::string prompt_file;
  int n_predict = 128;
  SamplingParams sampling;
  std::int64_t seed = -1;
  std::vector<std::string> stop;
  int threads = 0;
  int n_ctx = 0;
  int n_batch = 512;
  bool ignore_eos = false;
  bool json = false;
};

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(fmt::format("cannot read prompt file '{}'", path));
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void run(const RunOptions& o) {
  if (!o.prompt.empty() && !o.prompt_file.empty()) throw InvalidArgument("give either -p or -f, not both");
  const std::string prompt = o.prompt_file.empty() ? o.prompt : read_file(o.prompt_file);
  LoadedModel loaded = load_model(o.model);
  ThreadPool pool(resolve_threads(o.threads));
  Generator generator(loaded.model, loaded.tokenizer, pool,
                      GeneratorOptions{.n_ctx = o.n_ctx, .n_batch = o.n_batch, .block_size = 16});

  GenerationRequest request;
  request.prompt = loaded.tokenizer.encode(prompt, /*add_special=*/true, /*parse_special=*/true);
  if (request.prompt.empty()) throw InvalidArgument("the prompt is empty and the model adds no BOS token");
  const auto room = generator.context_length() - static_cast<int>(request.prompt.size());
  if (room <= 0)
    throw InvalidArgument(fmt::format("the prompt has {} tokens but the context holds {}", request.prompt.size(),
                                      generator.context_length()));
  request.max_tokens = o.n_predict < 0 ? room : o.n_predict;
  request.sampling = o.sampling;
  request.sampling.seed = o.seed >= 0 ? static_cast<std::uint64_t>(o.seed) : std::random_device{}();
  request.stop = o.stop;
  request.ignore_eos = o.ignore_eos;

  if (o.json) {
    const GenerationResult r = generator.generate(request);
    nlohmann::json out;
    out["prompt_tokens"] = request.prompt;
    out["tokens"] = r.tokens;
    out["text"] = r.text;
    out["finish_reason"] = r.finish_reason;
    out["seed"] = request.sampling.seed;
    out["metrics"] = {{"ttft_ms", r.metrics.ttft_ms},
                      {"latency_ms", r.metrics.latency_ms},
                      {"tokens_per_sec", r.metrics.tokens_per_sec},
                      {"prompt_tokens_per_sec", r.metrics.prompt_tokens_per_sec},
                      {"prompt_ms", r.metrics.prompt_ms},
                      {"threads", pool.size()}};
    std::puts(out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
    return;
  }
  const GenerationResult r = generator.generate(request, [](std::string_view text) {
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
    return true;
  });
  std::fputc('\n', stdout);
  std::fprintf(stderr,
               "\nprompt: %zu tokens in %.1f ms (%.1f tok/s) | generated: %zu tokens (%.1f tok/s) | ttft %.1f ms | "
               "%d threads\n",
               request.prompt.size(), r.metrics.prompt_ms, r.metrics.prompt_tokens_per_sec, r.tokens.size(),
               r.metrics.tokens_per_sec, r.metrics.ttft_ms, pool.size());
}

}  // namespace

void add_run_command(CLI::App& app) {
  auto options = std::make_shared<RunOptions>();
  CLI::App* cmd = app.add_subcommand("run", "Generate text from a prompt");
  // A repeated flag overrides the earlier one (scripts append user flags to their defaults).
  cmd->option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  cmd->add_option("-m,--model", options->model, "GGUF model file")->required();
  cmd->add_option("-p,--prompt", options->prompt, "Prompt text");
  cmd->add_option("-f,--file", options->prompt_file, "Read the prompt from a file");
  cmd->add_option("-n,--n-predict", options->n_predict, "Tokens to generate (-1: until the context is full)")
      ->capture_default_str();
  cmd->add_option("--temp", options->sampling.temperature, "Temperature (0: greedy)")->capture_default_str();
  cmd->add_option("--top-k", options->sampling.top_k, "Top-k (0: off)")->capture_default_str();
  cmd->add_option("--top-p", options->sampling.top_p, "Top-p (1: off)")->capture_default_str();
  cmd->add_option("--min-p", options->sampling.min_p, "Min-p (0: off)")->capture_default_str();
  cmd->add_option("--repeat-penalty", options->sampling.repetition_penalty, "Repetition penalty (1: off)")
      ->capture_default_str();
  cmd->add_option("--presence-penalty", options->sampling.presence_penalty, "Presence penalty")->capture_default_str();
  cmd->add_option("--frequency-penalty", options->sampling.frequency_penalty, "Frequency penalty")
      ->capture_default_str();
  cmd->add_option("--repeat-last-n", options->sampling.penalty_last_n, "Tokens the penalties look at (-1: all)")
      ->capture_default_str();
  cmd->add_option("-s,--seed", options->seed, "Random seed (-1: random)")->capture_default_str();
  cmd->add_option("--stop", options->stop, "Stop sequence (repeatable)")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  cmd->add_option("-t,--threads", options->threads, "Threads (default: all cores)");
  cmd->add_option("-c,--ctx-size", options->n_ctx, "Context length (0: the model's)")->capture_default_str();
  cmd->add_option("-b,--batch-size", options->n_batch, "Prompt tokens per forward pass")->capture_default_str();
  cmd->add_flag("--ignore-eos", options->ignore_eos, "Keep generating past end-of-generation tokens");
  cmd->add_flag("--json", options->json, "Print one JSON object with ids, text and metrics");
  cmd->callback([options] {
    if (options->prompt.empty() && options->prompt_file.empty()) throw InvalidArgument("give a prompt with -p or -f");
    run(*options);
  });
}

}  // namespace flux::cli
