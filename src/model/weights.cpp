#include "model/weights.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "base/error.hpp"
#include "tensor/quant.hpp"

namespace flux {
namespace {

class TensorLoader {
 public:
  explicit TensorLoader(const gguf::File& file) : file_(file) {}

  const gguf::TensorInfo* find(const std::string& name) const { return file_.find_tensor(name); }

  const gguf::TensorInfo& require(const std::string& name, std::vector<std::int64_t> dims) {
    const gguf::TensorInfo* t = file_.find_tensor(name);
    if (t == nullptr) throw FormatError(fmt::format("{}: model is missing tensor '{}'", file_.name(), name));
    std::vector<std::int64_t> actual = t->dims;
    while (actual.size() > dims.size() && actual.back() == 1) actual.pop_back();
    if (actual != dims)
      throw FormatError(fmt::format("{}: tensor '{}' has shape [{}], expected [{}]", file_.name(), name,
                                    fmt::join(t->dims, ", "), fmt::join(dims, ", ")));
    if (!traits(t->type).supported)
      throw UnsupportedError(fmt::format("{}: tensor '{}' has type {}, which FluxInfer cannot compute yet",
                                         file_.name(), name, type_name(t->type)));
    bytes_ += t->n_bytes;
    parameters_ += t->n_elements;
    return *t;
  }

  WeightMatrix matrix(const std::string& name, std::int64_t rows, std::int64_t cols) {
    const auto& t = require(name, {cols, rows});
    return WeightMatrix{t.type, rows, cols, t.data.data()};
  }

  std::vector<float> vector(const std::string& name, std::int64_t n) {
    const auto& t = require(name, {n});
    std::vector<float> out(static_cast<std::size_t>(n));
    dequantize_row(t.type, t.data.data(), out.data(), n);
    return out;
  }

  std::uint64_t bytes() const { return bytes_; }
  std::uint64_t parameters() const { return parameters_; }

 private:
  const gguf::File& file_;
  std::uint64_t bytes_ = 0;
  std::uint64_t parameters_ = 0;
};

}  // namespace

ModelWeights ModelWeights::load(const gguf::File& file, const ModelConfig& c) {
  TensorLoader loader(file);
  ModelWeights w;
  w.token_embedding = loader.matrix("token_embd.weight", c.n_vocab, c.n_embd);
  w.output_norm = loader.vector("output_norm.weight", c.n_embd);
  w.output = loader.find("output.weight") != nullptr ? loader.matrix("output.weight", c.n_vocab, c.n_embd)
                                                     : w.token_embedding;
  if (loader.find("rope_freqs.weight") != nullptr) w.rope_freqs = loader.vector("rope_freqs.weight", c.rope_dims / 2);

  w.layers.resize(static_cast<std::size_t>(c.n_layers));
  for (std::int64_t i = 0; i < c.n_layers; ++i) {
    const std::string p = fmt::format("blk.{}.", i);
    LayerWeights& l = w.layers[static_cast<std::size_t>(i)];
    l.attn_norm = loader.vector(p + "attn_norm.weight", c.n_embd);
    l.wq = loader.matrix(p + "attn_q.weight", c.q_dim(), c.n_embd);
    l.wk = loader.matrix(p + "attn_k.weight", c.kv_dim(), c.n_embd);
    l.wv = loader.matrix(p + "attn_v.weight", c.kv_dim(), c.n_embd);
    l.wo = loader.matrix(p + "attn_output.weight", c.n_embd, c.q_dim());
    if (c.qkv_bias) {
      l.bq = loader.vector(p + "attn_q.bias", c.q_dim());
      l.bk = loader.vector(p + "attn_k.bias", c.kv_dim());
      l.bv = loader.vector(p + "attn_v.bias", c.kv_dim());
    }
    l.ffn_norm = loader.vector(p + "ffn_norm.weight", c.n_embd);
    l.gate = loader.matrix(p + "ffn_gate.weight", c.n_ff, c.n_embd);
    l.up = loader.matrix(p + "ffn_up.weight", c.n_ff, c.n_embd);
    l.down = loader.matrix(p + "ffn_down.weight", c.n_embd, c.n_ff);
  }
  w.total_bytes = loader.bytes();
  w.n_parameters = loader.parameters();
  return w;
}

}  // namespace flux
