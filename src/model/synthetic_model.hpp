#pragma once
// Synthetic models: real llama shapes with random weights (normal, std 0.02; norms 1) and a real
// tokenizer copied from a vocab GGUF, for benchmarks and tests of models we cannot download.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "base/thread_pool.hpp"
#include "tensor/dtype.hpp"

namespace flux {

struct SyntheticPreset {
  std::string name;
  std::int64_t n_embd;
  std::int64_t n_layers;
  std::int64_t n_heads;
  std::int64_t n_kv_heads;
  std::int64_t n_ff;
  std::int64_t n_ctx;
};

const std::vector<SyntheticPreset>& synthetic_presets();
std::optional<SyntheticPreset> find_synthetic_preset(const std::string& name);

struct SyntheticModelOptions {
  SyntheticPreset preset;
  TensorType type = TensorType::F16;        // type of every weight matrix (norms stay F32)
  std::optional<std::filesystem::path> vocab;  // copy tokenizer.* from here; else a byte vocab
  std::uint64_t seed = 42;
};

// Writes a GGUF file that loads in FluxInfer and in llama.cpp. Throws InvalidArgument when the type
// cannot be written or the preset's widths are not multiples of its block size.
void write_synthetic_model(const SyntheticModelOptions& options, const std::filesystem::path& out,
                           ThreadPool& pool);

}  // namespace flux
