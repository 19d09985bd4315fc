#pragma once
// The weights of a llama-family model: non-owning views into the mapped GGUF file for matrices,
// small float copies for norms and biases.

#include <cstdint>
#include <vector>

#include "formats/gguf.hpp"
#include "kernels/matmul.hpp"
#include "model/model_config.hpp"

namespace flux {

struct LayerWeights {
  std::vector<float> attn_norm;  // [n_embd]
  WeightMatrix wq;               // [q_dim rows, n_embd cols]
  WeightMatrix wk;               // [kv_dim, n_embd]
  WeightMatrix wv;               // [kv_dim, n_embd]
  WeightMatrix wo;               // [n_embd, q_dim]
  std::vector<float> bq, bk, bv; // [q_dim], [kv_dim], [kv_dim]; empty without biases
  std::vector<float> ffn_norm;   // [n_embd]
  WeightMatrix gate;             // [n_ff, n_embd]
  WeightMatrix up;               // [n_ff, n_embd]
  WeightMatrix down;             // [n_embd, n_ff]
};

struct ModelWeights {
  WeightMatrix token_embedding;   // [n_vocab, n_embd]
  std::vector<float> output_norm; // [n_embd]
  WeightMatrix output;            // [n_vocab, n_embd]; the embedding itself when tied
  std::vector<float> rope_freqs;  // [rope_dims / 2] Llama 3 frequency factors, or empty
  std::vector<LayerWeights> layers;
  std::uint64_t total_bytes = 0;  // bytes of every tensor the model reads
  std::uint64_t n_parameters = 0;

  // Throws FormatError naming the tensor when one is missing or misshapen, UnsupportedError when
  // its type cannot be computed.
  static ModelWeights load(const gguf::File& file, const ModelConfig& config);
};

}  // namespace flux
