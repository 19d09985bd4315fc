#include "apps/flux/model_loading.hpp"

#include <fmt/format.h>

#include "base/error.hpp"
#include "base/system_memory.hpp"
#include "base/thread_pool.hpp"

namespace flux::cli {

LoadedModel load_model(const std::filesystem::path& path, const LoadOptions& options) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) throw Error(fmt::format("model file '{}' does not exist", path.string()));
  Model model = Model::load(path, options);
  const std::uint64_t total = read_system_memory().total_bytes;
  if (total != 0 && model.weights().total_bytes > total)
    throw Error(fmt::format("model '{}' needs {:.1f} GiB of weights but this machine has {:.1f} GiB of memory",
                            path.string(), static_cast<double>(model.weights().total_bytes) / (1ull << 30),
                            static_cast<double>(total) / (1ull << 30)));
  Tokenizer tokenizer = Tokenizer::from_gguf(model.file().metadata());
  if (static_cast<std::int64_t>(tokenizer.vocab_size()) > model.config().n_vocab)
    throw FormatError(fmt::format("{}: the tokenizer has {} tokens but the model's output has {}", path.string(),
                                  tokenizer.vocab_size(), model.config().n_vocab));
  return LoadedModel{std::move(model), std::move(tokenizer)};
}

int resolve_threads(int requested) { return requested > 0 ? requested : ThreadPool::default_threads(); }

LoadOptions with_threads(LoadOptions options, int threads) {
  options.threads = resolve_threads(threads);
  return options;
}

}  // namespace flux::cli
