#include "model/tiny_model.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <stdexcept>

#include <fmt/format.h>

#include "kernels/seeded_random.hpp"
#include "tensor/quant.hpp"

namespace flux::testing {
namespace {

// How a tensor's values are drawn. Matrices have std 1/sqrt(cols), so every projection keeps
// activations O(1) and logits come out with std ~1; queries and keys get twice that so attention
// is neither uniform nor one-hot.
struct Distribution {
  float mean = 0.0f;
  float stddev = 1.0f;
  bool uniform_1_to_8 = false;  // rope frequency factors
};

Distribution distribution_for(const std::string& name, std::int64_t cols) {
  const float unit = 1.0f / std::sqrt(static_cast<float>(cols));
  if (name.ends_with("norm.weight")) return {1.0f, 0.2f};
  if (name.ends_with(".bias")) return {0.0f, 0.5f};
  if (name == "rope_freqs.weight") return {0.0f, 0.0f, true};
  if (name == "token_embd.weight") return {0.0f, 1.0f};
  if (name.ends_with("attn_q.weight") || name.ends_with("attn_k.weight")) return {0.0f, 2.0f * unit};
  return {0.0f, unit};
}

class TinyModelWriter {
 public:
  explicit TinyModelWriter(const TinyModelSpec& spec) : spec_(spec) {}

  void add_tensor(const std::string& name, TensorType type, std::vector<std::int64_t> dims) {
    if (std::ranges::find(spec_.omit_tensors, name) != spec_.omit_tensors.end()) return;
    if (auto it = spec_.dims_override.find(name); it != spec_.dims_override.end()) dims = it->second;
    if (auto it = spec_.type_override.find(name); it != spec_.type_override.end()) type = it->second;
    const std::int64_t cols = dims[0];
    std::int64_t rows = 1;
    for (std::size_t i = 1; i < dims.size(); ++i) rows *= dims[i];
    const Distribution dist = distribution_for(name, cols);
    const std::uint32_t seed = seed_from(name, spec_.seed);
    writer_.add_tensor(name, type, std::move(dims), [=](std::span<std::byte> out) {
      if (!can_quantize(type)) return;  // unsupported-type tests only need the bytes to exist
      SeededRandom random(seed);
      std::vector<float> values(static_cast<std::size_t>(cols));
      const std::size_t stride = row_bytes(type, cols);
      for (std::int64_t r = 0; r < rows; ++r) {
        for (float& v : values) v = dist.uniform_1_to_8 ? random.uniform(1.0f, 8.0f) : dist.mean + dist.stddev * random.normal();
        quantize_row(type, values.data(), out.data() + static_cast<std::size_t>(r) * stride, cols);
      }
    });
  }

  void add(const std::string& key, gguf::Value value) {
    if (std::ranges::find(spec_.omit_metadata, key) == spec_.omit_metadata.end()) writer_.add(key, std::move(value));
  }

  void write(const std::filesystem::path& path) const { writer_.write(path); }

 private:
  const TinyModelSpec& spec_;
  gguf::Writer writer_;
};

gguf::Value u32(std::int64_t v) { return gguf::Value{static_cast<std::uint32_t>(v)}; }

}  // namespace

TinyModelSpec tiny_model_variant(const std::string& name, TensorType matrix_type) {
  TinyModelSpec spec;
  spec.matrix_type = matrix_type;
  if (name == "llama_gqa") {
    spec.seed = 11;
  } else if (name == "llama3_rope") {
    spec.rope_freqs = true;
    spec.linear_rope_factor = 2.0;
    spec.seed = 12;
  } else if (name == "qwen2") {
    spec.architecture = "qwen2";
    spec.n_kv_heads = 4;
    spec.qkv_bias = true;
    spec.rope_freq_base = 1000000.0f;  // what Qwen2 ships with
    spec.rms_eps = 1e-6f;
    spec.seed = 13;
  } else if (name == "tied_output") {
    spec.n_heads = 4;
    spec.n_kv_heads = 4;
    spec.tied_output = true;
    spec.seed = 14;
  } else if (name == "partial_rope") {
    spec.rope_dims = 8;  // half of each 16-wide head
    spec.seed = 15;
  } else {
    throw std::invalid_argument("unknown tiny model variant " + name);
  }
  return spec;
}

void write_tiny_model(const TinyModelSpec& s, const std::filesystem::path& path) {
  TinyModelWriter w(s);
  const std::string& a = s.architecture;
  w.add("general.architecture", gguf::Value{a});
  w.add("general.name", gguf::Value{std::string("flux oracle test model")});
  if (s.vocab_size_key) w.add(a + ".vocab_size", u32(s.n_vocab));
  if (s.tokenizer_tokens) {
    std::vector<std::string> tokens;
    for (std::int64_t i = 0; i < s.n_vocab; ++i) tokens.push_back(fmt::format("<t{}>", i));
    w.add("tokenizer.ggml.tokens", gguf::make_string_array(tokens));
  }
  w.add(a + ".context_length", u32(256));
  w.add(a + ".embedding_length", u32(s.n_embd));
  w.add(a + ".block_count", u32(s.n_layers));
  w.add(a + ".feed_forward_length", u32(s.n_ff));
  w.add(a + ".attention.head_count", u32(s.n_heads));
  w.add(a + ".attention.head_count_kv", u32(s.n_kv_heads));
  w.add(a + ".attention.layer_norm_rms_epsilon", gguf::Value{s.rms_eps});
  w.add(a + ".rope.freq_base", gguf::Value{s.rope_freq_base});
  const int rope_dims = s.rope_dims > 0 ? s.rope_dims : static_cast<int>(s.head_dim());
  w.add(a + ".rope.dimension_count", u32(rope_dims));
  if (s.linear_rope_factor) {
    w.add(a + ".rope.scaling.type", gguf::Value{std::string("linear")});
    w.add(a + ".rope.scaling.factor", gguf::Value{static_cast<float>(*s.linear_rope_factor)});
  }
  for (const auto& [key, value] : s.extra_metadata) w.add(key, value);

  const std::int64_t q_dim = s.n_heads * s.head_dim();
  const std::int64_t kv_dim = s.n_kv_heads * s.head_dim();
  const TensorType m = s.matrix_type;
  w.add_tensor("token_embd.weight", m, {s.n_embd, s.n_vocab});
  w.add_tensor("output_norm.weight", TensorType::F32, {s.n_embd});
  if (!s.tied_output) w.add_tensor("output.weight", m, {s.n_embd, s.n_vocab});
  if (s.rope_freqs) w.add_tensor("rope_freqs.weight", TensorType::F32, {rope_dims / 2});
  for (std::int64_t i = 0; i < s.n_layers; ++i) {
    const std::string b = fmt::format("blk.{}.", i);
    w.add_tensor(b + "attn_norm.weight", TensorType::F32, {s.n_embd});
    w.add_tensor(b + "attn_q.weight", m, {s.n_embd, q_dim});
    w.add_tensor(b + "attn_k.weight", m, {s.n_embd, kv_dim});
    w.add_tensor(b + "attn_v.weight", m, {s.n_embd, kv_dim});
    if (s.qkv_bias) {
      w.add_tensor(b + "attn_q.bias", TensorType::F32, {q_dim});
      w.add_tensor(b + "attn_k.bias", TensorType::F32, {kv_dim});
      w.add_tensor(b + "attn_v.bias", TensorType::F32, {kv_dim});
    }
    w.add_tensor(b + "attn_output.weight", m, {q_dim, s.n_embd});
    w.add_tensor(b + "ffn_norm.weight", TensorType::F32, {s.n_embd});
    w.add_tensor(b + "ffn_gate.weight", m, {s.n_embd, s.n_ff});
    w.add_tensor(b + "ffn_up.weight", m, {s.n_embd, s.n_ff});
    w.add_tensor(b + "ffn_down.weight", m, {s.n_ff, s.n_embd});
  }
  w.write(path);
}

TempDir::TempDir() {
  static std::atomic<int> counter{0};
  path_ = std::filesystem::temp_directory_path() /
          fmt::format("flux-model-test-{}-{}", static_cast<long>(::getpid()), counter.fetch_add(1));
  std::filesystem::remove_all(path_);
  std::filesystem::create_directories(path_);
}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

}  // namespace flux::testing
