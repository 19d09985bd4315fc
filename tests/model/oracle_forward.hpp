#pragma once
// An independent float64 forward pass of the llama family (llama, qwen2), written from the
// architecture's definition with plain loops: the oracle the engine's forward is checked against.
// It reads hyper-parameters and weights straight from the GGUF file (sharing nothing with
// src/model or src/kernels; src/tensor only decodes the weights) and processes one token at a
// time, keeping every past key and value, so a prompt of n tokens costs n steps.

#include <cstdint>
#include <string>
#include <vector>

#include "base/token_id.hpp"
#include "formats/gguf.hpp"
#include "tensor/dtype.hpp"

namespace flux::testing {

// Roundings the engine performs on purpose, to tighten comparisons. With both off the oracle is
// exact float64 arithmetic on the decoded weights.
struct OracleRounding {
  bool f16_attention = false;       // queries, keys and values rounded to F16 (llama.cpp's KV cache)
  bool activations_as_dot_type = false;  // matmul inputs converted to vec_dot_type(weight type)
};

struct OracleMatrix {
  TensorType type = TensorType::F32;
  std::int64_t rows = 0, cols = 0;
  std::vector<double> values;  // [rows, cols], decoded
};

struct OracleLayer {
  std::vector<double> attn_norm, ffn_norm;
  std::vector<double> bq, bk, bv;  // empty without biases
  OracleMatrix wq, wk, wv, wo, gate, up, down;
};

class OracleModel {
 public:
  explicit OracleModel(const gguf::File& file);

  std::int64_t n_vocab() const { return embedding_.rows; }

 private:
  friend class OracleSequence;

  std::int64_t n_embd_ = 0, n_heads_ = 0, n_kv_heads_ = 0, head_dim_ = 0;
  int rope_dims_ = 0;
  double rope_base_ = 10000.0, rope_scale_ = 1.0, rms_eps_ = 1e-5;
  bool neox_ = false;
  std::vector<double> rope_factors_;
  OracleMatrix embedding_, output_;
  std::vector<double> output_norm_;
  std::vector<OracleLayer> layers_;
};

// One sequence fed token by token; keeps its own keys and values.
class OracleSequence {
 public:
  OracleSequence(const OracleModel& model, OracleRounding rounding) : model_(model), rounding_(rounding) {
    keys_.resize(model.layers_.size());
    values_.resize(model.layers_.size());
  }

  // Logits of the next token after `token` at the next position.
  std::vector<double> step(TokenId token);

 private:
  std::vector<double> project(const OracleMatrix& w, const std::vector<double>& x) const;
  void rope(std::vector<double>& x, std::int64_t n_heads, std::int64_t pos) const;

  const OracleModel& model_;
  OracleRounding rounding_;
  std::int64_t pos_ = 0;
  std::vector<std::vector<double>> keys_, values_;  // per layer: [pos, kv_dim]
};

// Logits of every position of `tokens`, each [n_vocab].
std::vector<std::vector<double>> oracle_logits(const OracleModel& model, const std::vector<TokenId>& tokens,
                                               OracleRounding rounding = {});

TokenId argmax(const std::vector<double>& logits);

}  // namespace flux::testing
