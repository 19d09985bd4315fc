#include "model/model.hpp"

#include <fmt/format.h>

#include "base/error.hpp"
#include "kernels/dot_kernels.hpp"

namespace flux {

Model Model::load(const std::filesystem::path& path, const LoadOptions& options) {
  return from_file(gguf::File::open(path), options);
}

Model Model::from_file(gguf::File file, const LoadOptions& options) {
  std::int64_t n_tokens = 0;
  if (const gguf::Value* tokens = file.metadata().find("tokenizer.ggml.tokens"))
    n_tokens = static_cast<std::int64_t>(tokens->as_array("tokenizer.ggml.tokens").items.size());
  ModelConfig config;
  ModelWeights weights;
  try {
    config = ModelConfig::from_metadata(file.metadata(), n_tokens);
    weights = ModelWeights::load(file, config);
  } catch (const FormatError& e) {
    const std::string what = e.what();
    if (what.rfind(file.name(), 0) == 0) throw;
    throw FormatError(fmt::format("{}: {}", file.name(), what));
  } catch (const UnsupportedError& e) {
    const std::string what = e.what();
    if (what.rfind(file.name(), 0) == 0) throw;
    throw UnsupportedError(fmt::format("{}: {}", file.name(), what));
  }
  PackedWeights packed = PackedWeights::repack(weights, active_kernels(), options, file.mapped());
  return Model(std::move(file), std::move(config), std::move(weights), std::move(packed));
}

}  // namespace flux
