#pragma once
// Hyper-parameters of a decoder-only transformer, read from GGUF metadata ("{arch}.*" keys).

#include <cstdint>
#include <string>

#include "formats/gguf.hpp"

namespace flux {

enum class Architecture { Llama, Qwen2 };

struct ModelConfig {
  Architecture architecture = Architecture::Llama;
  std::string architecture_name;  // general.architecture as written in the file
  std::string name;               // general.name, when present
  std::int64_t n_vocab = 0;
  std::int64_t n_embd = 0;
  std::int64_t n_layers = 0;
  std::int64_t n_heads = 0;
  std::int64_t n_kv_heads = 0;
  std::int64_t head_dim = 0;      // key/value length per head
  std::int64_t n_ff = 0;
  std::int64_t n_ctx_train = 0;
  float rms_eps = 1e-5f;
  int rope_dims = 0;
  float rope_freq_base = 10000.0f;
  float rope_freq_scale = 1.0f;
  bool rope_neox = false;         // qwen2 rotates (i, i + d/2) pairs; llama (2i, 2i+1)
  bool qkv_bias = false;          // qwen2 adds biases to the Q, K and V projections

  std::int64_t q_dim() const { return n_heads * head_dim; }
  std::int64_t kv_dim() const { return n_kv_heads * head_dim; }

  // Throws UnsupportedError for architectures FluxInfer does not run and FormatError for missing
  // or inconsistent hyper-parameters, naming the key.
  static ModelConfig from_metadata(const gguf::Metadata& metadata, std::int64_t n_vocab_tokens);
};

}  // namespace flux
