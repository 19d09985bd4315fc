#pragma once
// Small synthetic llama-family GGUF files for the model tests: random weights of a chosen type,
// the metadata keys llama.cpp writes, and knobs to break them (missing or misshapen tensors,
// extra keys) for the error tests.

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "formats/gguf.hpp"
#include "tensor/dtype.hpp"

namespace flux::testing {

struct TinyModelSpec {
  std::string architecture = "llama";  // general.architecture; hyper-parameters go under it
  std::int64_t n_vocab = 61;
  std::int64_t n_embd = 128;
  std::int64_t n_layers = 2;
  std::int64_t n_heads = 8;
  std::int64_t n_kv_heads = 2;
  std::int64_t n_ff = 96;
  int rope_dims = 0;  // 0: the whole head
  float rope_freq_base = 10000.0f;
  float rms_eps = 1e-5f;
  TensorType matrix_type = TensorType::F32;  // every 2-D weight; norms and biases stay F32
  bool tied_output = false;                  // no output.weight: logits use token_embd
  bool rope_freqs = false;                   // Llama 3 frequency factors (rope_freqs.weight)
  std::optional<double> linear_rope_factor;  // {arch}.rope.scaling.type = "linear"
  bool qkv_bias = false;                     // attn_{q,k,v}.bias, as qwen2 has
  bool vocab_size_key = true;                // {arch}.vocab_size
  bool tokenizer_tokens = false;             // tokenizer.ggml.tokens with n_vocab entries
  std::uint32_t seed = 1;

  // Breakage for the error tests.
  std::vector<std::string> omit_tensors;
  std::map<std::string, std::vector<std::int64_t>> dims_override;  // GGUF order
  std::map<std::string, TensorType> type_override;
  std::vector<std::pair<std::string, gguf::Value>> extra_metadata;
  std::vector<std::string> omit_metadata;

  std::int64_t head_dim() const { return n_embd / n_heads; }
};

// The spec of the named variant the oracle tests sweep: "llama_gqa", "llama3_rope" (frequency
// factors and linear scaling), "qwen2" (biases, NEOX rope), "tied_output", "partial_rope".
TinyModelSpec tiny_model_variant(const std::string& name, TensorType matrix_type);

void write_tiny_model(const TinyModelSpec& spec, const std::filesystem::path& path);

// A fresh directory under the system temp directory, removed with everything in it.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path file(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

}  // namespace flux::testing
