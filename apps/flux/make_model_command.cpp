// flux make-model: write a synthetic model with real shapes and random weights.

#include <fmt/format.h>

#include "apps/flux/commands.hpp"
#include "apps/flux/model_loading.hpp"
#include "base/error.hpp"
#include "base/thread_pool.hpp"
#include "model/synthetic_model.hpp"

namespace flux::cli {
namespace {

struct MakeModelOptions {
  std::string preset;
  std::string type = "f16";
  std::string vocab;
  std::uint64_t seed = 42;
  std::string out;
  int threads = 0;
};

void make_model(const MakeModelOptions& o) {
  const auto preset = find_synthetic_preset(o.preset);
  if (!preset) {
    std::string names;
    for (const auto& p : synthetic_presets()) names += (names.empty() ? "" : ", ") + p.name;
    throw InvalidArgument(fmt::format("unknown preset '{}' (choose from: {})", o.preset, names));
  }
  const auto type = parse_type_name(o.type);
  if (!type) throw InvalidArgument(fmt::format("unknown tensor type '{}'", o.type));
  SyntheticModelOptions options{*preset, *type, std::nullopt, o.seed};
  if (!o.vocab.empty()) options.vocab = o.vocab;
  ThreadPool pool(resolve_threads(o.threads));
  write_synthetic_model(options, o.out, pool);
  fmt::print(stderr, "wrote {} ({} {}, {} bytes)\n", o.out, preset->name, type_name(*type),
             std::filesystem::file_size(o.out));
}

}  // namespace

void add_make_model_command(CLI::App& app) {
  auto options = std::make_shared<MakeModelOptions>();
  CLI::App* cmd = app.add_subcommand("make-model", "Write a synthetic model (random weights, real shapes)");
  cmd->add_option("--preset", options->preset, "Shape: tinyllama-1.1b, llama-7b, small, tiny")->required();
  cmd->add_option("--type", options->type, "Weight type: f32, f16, bf16, q8_0, q4_0, q4_1, q4_k")
      ->capture_default_str();
  cmd->add_option("--vocab", options->vocab, "Vocab GGUF whose tokenizer is copied (default: byte vocab)");
  cmd->add_option("--seed", options->seed, "Random seed")->capture_default_str();
  cmd->add_option("-o,--output", options->out, "Output GGUF path")->required();
  cmd->add_option("-t,--threads", options->threads, "Threads (default: all cores)");
  cmd->callback([options] { make_model(*options); });
}

}  // namespace flux::cli
