#include "model/oracle_forward.hpp"

#include <cmath>
#include <stdexcept>

#include <fmt/format.h>

#include "tensor/quant.hpp"

namespace flux::testing {
namespace {

const gguf::TensorInfo& tensor(const gguf::File& file, const std::string& name) {
  const gguf::TensorInfo* t = file.find_tensor(name);
  if (t == nullptr) throw std::runtime_error("oracle: missing tensor " + name);
  return *t;
}

std::vector<double> decode(const gguf::TensorInfo& t) {
  std::vector<float> floats(static_cast<std::size_t>(t.n_elements));
  const std::int64_t cols = t.dims[0];
  const std::size_t stride = row_bytes(t.type, cols);
  for (std::uint64_t r = 0; r < t.n_elements / static_cast<std::uint64_t>(cols); ++r)
    dequantize_row(t.type, t.data.data() + r * stride, floats.data() + r * static_cast<std::uint64_t>(cols), cols);
  return {floats.begin(), floats.end()};
}

OracleMatrix matrix(const gguf::File& file, const std::string& name) {
  const gguf::TensorInfo& t = tensor(file, name);
  return OracleMatrix{t.type, t.dims.size() > 1 ? t.dims[1] : 1, t.dims[0], decode(t)};
}

std::vector<double> vector_of(const gguf::File& file, const std::string& name) { return decode(tensor(file, name)); }

double round_to_f16(double v) { return f16_to_f32(f32_to_f16(static_cast<float>(v))); }

// y = x / sqrt(mean(x^2) + eps) * w
std::vector<double> rms_norm(const std::vector<double>& x, const std::vector<double>& w, double eps) {
  double sum_squares = 0.0;
  for (double v : x) sum_squares += v * v;
  const double scale = 1.0 / std::sqrt(sum_squares / static_cast<double>(x.size()) + eps);
  std::vector<double> y(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) y[i] = x[i] * scale * w[i];
  return y;
}

void add(std::vector<double>& x, const std::vector<double>& y) {
  for (std::size_t i = 0; i < y.size(); ++i) x[i] += y[i];
}

}  // namespace

OracleModel::OracleModel(const gguf::File& file) {
  const gguf::Metadata& md = file.metadata();
  const std::string arch = md.get_string("general.architecture");
  if (arch != "llama" && arch != "qwen2") throw std::runtime_error("oracle: no forward for " + arch);
  neox_ = arch == "qwen2";
  const std::string a = arch + ".";
  n_embd_ = static_cast<std::int64_t>(md.get_uint(a + "embedding_length"));
  n_heads_ = static_cast<std::int64_t>(md.get_uint(a + "attention.head_count"));
  n_kv_heads_ = static_cast<std::int64_t>(md.optional_uint(a + "attention.head_count_kv").value_or(n_heads_));
  head_dim_ = n_embd_ / n_heads_;
  rope_dims_ = static_cast<int>(md.optional_uint(a + "rope.dimension_count").value_or(head_dim_));
  rope_base_ = md.optional_float(a + "rope.freq_base").value_or(10000.0);
  rms_eps_ = md.optional_float(a + "attention.layer_norm_rms_epsilon").value_or(1e-5);
  if (md.optional_string(a + "rope.scaling.type") == "linear") rope_scale_ = 1.0 / md.get_float(a + "rope.scaling.factor");

  embedding_ = matrix(file, "token_embd.weight");
  output_ = file.find_tensor("output.weight") != nullptr ? matrix(file, "output.weight") : embedding_;
  output_norm_ = vector_of(file, "output_norm.weight");
  if (file.find_tensor("rope_freqs.weight") != nullptr) rope_factors_ = vector_of(file, "rope_freqs.weight");
  const auto n_layers = static_cast<std::int64_t>(md.get_uint(a + "block_count"));
  for (std::int64_t i = 0; i < n_layers; ++i) {
    const std::string b = fmt::format("blk.{}.", i);
    OracleLayer l;
    l.attn_norm = vector_of(file, b + "attn_norm.weight");
    l.wq = matrix(file, b + "attn_q.weight");
    l.wk = matrix(file, b + "attn_k.weight");
    l.wv = matrix(file, b + "attn_v.weight");
    if (file.find_tensor(b + "attn_q.bias") != nullptr) {
      l.bq = vector_of(file, b + "attn_q.bias");
      l.bk = vector_of(file, b + "attn_k.bias");
      l.bv = vector_of(file, b + "attn_v.bias");
    }
    l.wo = matrix(file, b + "attn_output.weight");
    l.ffn_norm = vector_of(file, b + "ffn_norm.weight");
    l.gate = matrix(file, b + "ffn_gate.weight");
    l.up = matrix(file, b + "ffn_up.weight");
    l.down = matrix(file, b + "ffn_down.weight");
    layers_.push_back(std::move(l));
  }
}

std::vector<double> OracleSequence::project(const OracleMatrix& w, const std::vector<double>& x_in) const {
  std::vector<double> x = x_in;
  if (rounding_.activations_as_dot_type) {
    // What the engine's matmul multiplies with: the input encoded as the weight's dot type.
    const TensorType act = vec_dot_type(w.type);
    std::vector<float> floats(x.begin(), x.end());
    std::vector<std::byte> encoded(row_bytes(act, w.cols));
    quantize_row(act, floats.data(), encoded.data(), w.cols);
    dequantize_row(act, encoded.data(), floats.data(), w.cols);
    x.assign(floats.begin(), floats.end());
  }
  std::vector<double> y(static_cast<std::size_t>(w.rows), 0.0);
  for (std::int64_t r = 0; r < w.rows; ++r)
    for (std::int64_t c = 0; c < w.cols; ++c)
      y[static_cast<std::size_t>(r)] += w.values[static_cast<std::size_t>(r * w.cols + c)] * x[static_cast<std::size_t>(c)];
  return y;
}

// Rotates pairs of each head by pos * scale * base^(-2i / rope_dims) / factor_i: pairs (2i, 2i+1)
// for llama, (i, i + rope_dims/2) for NEOX models; dimensions past rope_dims stay as they are.
void OracleSequence::rope(std::vector<double>& x, std::int64_t n_heads, std::int64_t pos) const {
  const OracleModel& m = model_;
  const int half = m.rope_dims_ / 2;
  for (std::int64_t h = 0; h < n_heads; ++h) {
    double* head = x.data() + h * m.head_dim_;
    for (int i = 0; i < half; ++i) {
      const double factor = m.rope_factors_.empty() ? 1.0 : m.rope_factors_[static_cast<std::size_t>(i)];
      const double theta = static_cast<double>(pos) * m.rope_scale_ * std::pow(m.rope_base_, -2.0 * i / m.rope_dims_) / factor;
      const int a = m.neox_ ? i : 2 * i;
      const int b = m.neox_ ? i + half : 2 * i + 1;
      const double x0 = head[a], x1 = head[b];
      head[a] = x0 * std::cos(theta) - x1 * std::sin(theta);
      head[b] = x0 * std::sin(theta) + x1 * std::cos(theta);
    }
  }
}

std::vector<double> OracleSequence::step(TokenId token) {
  const OracleModel& m = model_;
  const std::int64_t d = m.head_dim_;
  const std::int64_t kv_dim = m.n_kv_heads_ * d;
  const std::int64_t group = m.n_heads_ / m.n_kv_heads_;
  std::vector<double> x(m.embedding_.values.begin() + token * m.n_embd_,
                        m.embedding_.values.begin() + (token + 1) * m.n_embd_);

  for (std::size_t li = 0; li < m.layers_.size(); ++li) {
    const OracleLayer& l = m.layers_[li];
    const std::vector<double> xn = rms_norm(x, l.attn_norm, m.rms_eps_);
    std::vector<double> q = project(l.wq, xn), k = project(l.wk, xn), v = project(l.wv, xn);
    if (!l.bq.empty()) {
      add(q, l.bq);
      add(k, l.bk);
      add(v, l.bv);
    }
    rope(q, m.n_heads_, pos_);
    rope(k, m.n_kv_heads_, pos_);
    if (rounding_.f16_attention)
      for (auto* vec : {&q, &k, &v})
        for (double& e : *vec) e = round_to_f16(e);
    keys_[li].insert(keys_[li].end(), k.begin(), k.end());
    values_[li].insert(values_[li].end(), v.begin(), v.end());

    // Causal attention: this position sees positions 0..pos_, query head h reads KV head h / group.
    std::vector<double> attn(q.size(), 0.0);
    const std::int64_t n_pos = pos_ + 1;
    for (std::int64_t h = 0; h < m.n_heads_; ++h) {
      const std::int64_t kv_at = (h / group) * d;
      std::vector<double> weights(static_cast<std::size_t>(n_pos));
      double max = -1e300;
      for (std::int64_t t = 0; t < n_pos; ++t) {
        double s = 0.0;
        for (std::int64_t i = 0; i < d; ++i) s += q[static_cast<std::size_t>(h * d + i)] * keys_[li][static_cast<std::size_t>(t * kv_dim + kv_at + i)];
        weights[static_cast<std::size_t>(t)] = s / std::sqrt(static_cast<double>(d));
        max = std::max(max, weights[static_cast<std::size_t>(t)]);
      }
      double sum = 0.0;
      for (double& wt : weights) sum += (wt = std::exp(wt - max));
      for (std::int64_t t = 0; t < n_pos; ++t)
        for (std::int64_t i = 0; i < d; ++i)
          attn[static_cast<std::size_t>(h * d + i)] +=
              weights[static_cast<std::size_t>(t)] / sum * values_[li][static_cast<std::size_t>(t * kv_dim + kv_at + i)];
    }
    add(x, project(l.wo, attn));

    // SwiGLU feed-forward.
    const std::vector<double> xf = rms_norm(x, l.ffn_norm, m.rms_eps_);
    std::vector<double> gate = project(l.gate, xf);
    const std::vector<double> up = project(l.up, xf);
    for (std::size_t i = 0; i < gate.size(); ++i) gate[i] = gate[i] / (1.0 + std::exp(-gate[i])) * up[i];
    add(x, project(l.down, gate));
  }
  ++pos_;
  return project(m.output_, rms_norm(x, m.output_norm_, m.rms_eps_));
}

std::vector<std::vector<double>> oracle_logits(const OracleModel& model, const std::vector<TokenId>& tokens,
                                               OracleRounding rounding) {
  OracleSequence sequence(model, rounding);
  std::vector<std::vector<double>> logits;
  for (TokenId t : tokens) logits.push_back(sequence.step(t));
  return logits;
}

TokenId argmax(const std::vector<double>& logits) {
  std::size_t best = 0;
  for (std::size_t i = 1; i < logits.size(); ++i)
    if (logits[i] > logits[best]) best = i;
  return static_cast<TokenId>(best);
}

}  // namespace flux::testing
