// flux run: generate text from a prompt.

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <random>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "apps/flux/commands.hpp"
#include "apps/flux/engine_flags.hpp"
#include "apps/flux/model_loading.hpp"
#include "base/error.hpp"
#include "flux/engine.hpp"

namespace flux::cli {
namespace {

struct RunOptions {
  LoadOptions load;
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
  KvCacheType kv_type = KvCacheType::F16;
};

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(fmt::format("cannot read prompt file '{}'", path));
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void run(const RunOptions& o) {
  if (!o.prompt.empty() && !o.prompt_file.empty()) throw InvalidArgument("give either -p or -f, not both");
  const std::string prompt = o.prompt_file.empty() ? o.prompt : read_file(o.prompt_file);
  LoadedModel loaded = load_model(o.model, with_threads(o.load, o.threads));
  // One request: a one-sequence engine stepped on this thread, the same path the server takes.
  Engine engine(loaded.model, loaded.tokenizer,
                EngineOptions{.n_ctx = o.n_ctx,
                              .kv_type = o.kv_type,
                              .max_seqs = 1,
                              .max_batched_tokens = o.n_batch,
                              .threads = resolve_threads(o.threads),
                              .background = false});

  Request request;
  request.prompt_tokens = loaded.tokenizer.encode(prompt, /*add_special=*/true, /*parse_special=*/true);
  if (request.prompt_tokens.empty()) throw InvalidArgument("the prompt is empty and the model adds no BOS token");
  const std::vector<TokenId> prompt_tokens = request.prompt_tokens;
  const auto room = engine.context_length() - static_cast<int>(prompt_tokens.size());
  if (room <= 0)
    throw InvalidArgument(fmt::format("the prompt has {} tokens but the context holds {}", prompt_tokens.size(),
                                      engine.context_length()));
  // Like llama.cpp's CLI, generation stops when the context is full (finish reason "length").
  request.max_tokens = o.n_predict < 0 ? room : std::min(o.n_predict, room);
  request.sampling = o.sampling;
  request.sampling.seed = o.seed >= 0 ? static_cast<std::uint64_t>(o.seed) : std::random_device{}();
  request.stop = o.stop;
  request.ignore_eos = o.ignore_eos;
  if (!o.json) {
    request.on_output = [](const RequestOutput& out) {
      for (const ChoiceOutput& choice : out.choices) std::fwrite(choice.text.data(), 1, choice.text.size(), stdout);
      std::fflush(stdout);
    };
  }
  const std::uint64_t seed = request.sampling.seed;

  RequestOutput r;
  if (o.n_predict == 0) {
    ChoiceOutput nothing;  // no tokens asked for
    nothing.finish = FinishReason::Length;
    r.choices.push_back(std::move(nothing));
  } else {
    r = engine.generate(std::move(request));
  }
  if (!r.error.empty()) throw Error(r.error);
  const ChoiceOutput& choice = r.choices.at(0);
  const double prompt_s = r.metrics.ttft_ms / 1000.0;
  const double prompt_tokens_per_sec = prompt_s > 0 ? static_cast<double>(prompt_tokens.size()) / prompt_s : 0;
  const double tokens_per_sec = r.metrics.tpot_ms > 0 ? 1000.0 / r.metrics.tpot_ms : 0;
  if (o.json) {
    nlohmann::json out;
    out["prompt_tokens"] = prompt_tokens;
    out["tokens"] = choice.tokens;
    out["text"] = choice.text;
    out["finish_reason"] = to_string(choice.finish);
    out["seed"] = seed;
    out["metrics"] = {{"ttft_ms", r.metrics.ttft_ms},
                      {"latency_ms", r.metrics.e2e_ms},
                      {"tokens_per_sec", tokens_per_sec},
                      {"prompt_tokens_per_sec", prompt_tokens_per_sec},
                      {"prompt_ms", r.metrics.ttft_ms},
                      {"threads", resolve_threads(o.threads)}};
    std::puts(out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
    return;
  }
  std::fputc('\n', stdout);
  std::fprintf(stderr,
               "\nprompt: %zu tokens, first token after %.1f ms (%.1f tok/s) | generated: %zu tokens (%.1f tok/s) | "
               "%d threads\n",
               prompt_tokens.size(), r.metrics.ttft_ms, prompt_tokens_per_sec, choice.tokens.size(), tokens_per_sec,
               resolve_threads(o.threads));
}

}  // namespace

void add_run_command(CLI::App& app) {
  auto options = std::make_shared<RunOptions>();
  CLI::App* cmd = app.add_subcommand("run", "Generate text from a prompt");
  // A repeated flag overrides the earlier one (scripts append user flags to their defaults).
  cmd->option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  cmd->add_option("-m,--model", options->model, "GGUF model file")->required();
  add_load_options(*cmd, options->load);
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
  add_kv_type_option(*cmd, options->kv_type);
  cmd->callback([options] {
    if (options->prompt.empty() && options->prompt_file.empty()) throw InvalidArgument("give a prompt with -p or -f");
    run(*options);
  });
}

}  // namespace flux::cli
