#include "model/synthetic_model.hpp"

#include <cmath>
#include <cstring>
#include <numbers>

#include <fmt/format.h>

#include "base/error.hpp"
#include "formats/gguf.hpp"
#include "tensor/quant.hpp"

namespace flux {
namespace {

// splitmix64: seeds an independent stream per (tensor, row), so the weights do not depend on the
// thread count.
std::uint64_t mix(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

class NormalStream {
 public:
  explicit NormalStream(std::uint64_t seed) : state_(seed) {}
  // Box-Muller on two uniform draws from (0, 1].
  void fill(std::span<float> out, float stddev) {
    for (std::size_t i = 0; i < out.size(); i += 2) {
      const double u1 = (static_cast<double>(next() >> 11) + 1.0) * 0x1.0p-53;
      const double u2 = static_cast<double>(next() >> 11) * 0x1.0p-53;
      const double r = std::sqrt(-2.0 * std::log(u1)) * stddev;
      out[i] = static_cast<float>(r * std::cos(2 * std::numbers::pi * u2));
      if (i + 1 < out.size()) out[i + 1] = static_cast<float>(r * std::sin(2 * std::numbers::pi * u2));
    }
  }

 private:
  std::uint64_t next() { return mix(state_++); }
  std::uint64_t state_;
};

std::uint32_t llama_file_type(TensorType type) {
  switch (type) {
    case TensorType::F32: return 0;
    case TensorType::F16: return 1;
    case TensorType::Q4_0: return 2;
    case TensorType::Q4_1: return 3;
    case TensorType::Q8_0: return 7;
    case TensorType::Q4_K: return 14;  // every matrix in q4_K: llama.cpp's Q4_K_S family
    case TensorType::Q5_K: return 16;  // Q5_K_S family
    case TensorType::Q6_K: return 18;
    case TensorType::BF16: return 32;
    default: throw InvalidArgument(fmt::format("make-model cannot write type {}", type_name(type)));
  }
}

// A minimal SentencePiece vocabulary: <unk>, <s>, </s> and the 256 byte tokens, so any text
// tokenizes through byte fallback when no real vocabulary is given.
void add_byte_vocab(gguf::Writer& w) {
  std::vector<std::string> tokens = {"<unk>", "<s>", "</s>"};
  std::vector<float> scores = {0, 0, 0};
  std::vector<std::int32_t> types = {2, 3, 3};
  for (int b = 0; b < 256; ++b) {
    tokens.push_back(fmt::format("<0x{:02X}>", b));
    scores.push_back(0);
    types.push_back(6);
  }
  w.add("tokenizer.ggml.model", gguf::Value{std::string("llama")});
  w.add("tokenizer.ggml.tokens", gguf::make_string_array(tokens));
  w.add("tokenizer.ggml.scores", gguf::make_float_array(scores));
  w.add("tokenizer.ggml.token_type", gguf::make_int32_array(types));
  w.add("tokenizer.ggml.bos_token_id", gguf::Value{std::uint32_t{1}});
  w.add("tokenizer.ggml.eos_token_id", gguf::Value{std::uint32_t{2}});
  w.add("tokenizer.ggml.unknown_token_id", gguf::Value{std::uint32_t{0}});
  w.add("tokenizer.ggml.add_bos_token", gguf::Value{true});
}

// Copies tokenizer.* from a vocab GGUF; returns the vocabulary size.
std::int64_t copy_vocab(gguf::Writer& w, const std::filesystem::path& vocab_path) {
  const gguf::File vocab = gguf::File::open(vocab_path);
  std::int64_t n_vocab = 0;
  for (const auto& [key, value] : vocab.metadata().entries()) {
    if (key.rfind("tokenizer.", 0) != 0) continue;
    if (key == "tokenizer.ggml.tokens") n_vocab = static_cast<std::int64_t>(value.as_array(key).items.size());
    w.add(key, value);
  }
  if (n_vocab == 0) throw FormatError(fmt::format("{}: no tokenizer.ggml.tokens to copy", vocab_path.string()));
  return n_vocab;
}

}  // namespace

const std::vector<SyntheticPreset>& synthetic_presets() {
  static const std::vector<SyntheticPreset> presets = {
      {"tinyllama-1.1b", 2048, 22, 32, 4, 5632, 2048},
      {"llama-7b", 4096, 32, 32, 32, 11008, 4096},
      {"small", 512, 4, 8, 4, 1536, 1024},
      {"tiny", 256, 2, 4, 2, 512, 256},
  };
  return presets;
}

std::optional<SyntheticPreset> find_synthetic_preset(const std::string& name) {
  for (const auto& p : synthetic_presets())
    if (p.name == name) return p;
  return std::nullopt;
}

void write_synthetic_model(const SyntheticModelOptions& o, const std::filesystem::path& out, ThreadPool& pool) {
  const SyntheticPreset& p = o.preset;
  if (!can_quantize(o.type)) throw InvalidArgument(fmt::format("make-model cannot write type {}", type_name(o.type)));
  const std::int64_t block = static_cast<std::int64_t>(traits(o.type).block_size);
  if (p.n_embd % block != 0 || p.n_ff % block != 0)
    throw InvalidArgument(fmt::format("preset '{}' widths ({}, {}) are not multiples of {}'s block size {}", p.name,
                                      p.n_embd, p.n_ff, type_name(o.type), block));

  gguf::Writer w;
  w.add("general.architecture", gguf::Value{std::string("llama")});
  w.add("general.name", gguf::Value{fmt::format("flux synthetic {} {}", p.name, type_name(o.type))});
  w.add("general.file_type", gguf::Value{llama_file_type(o.type)});
  w.add("llama.context_length", gguf::Value{static_cast<std::uint32_t>(p.n_ctx)});
  w.add("llama.embedding_length", gguf::Value{static_cast<std::uint32_t>(p.n_embd)});
  w.add("llama.block_count", gguf::Value{static_cast<std::uint32_t>(p.n_layers)});
  w.add("llama.feed_forward_length", gguf::Value{static_cast<std::uint32_t>(p.n_ff)});
  w.add("llama.rope.dimension_count", gguf::Value{static_cast<std::uint32_t>(p.n_embd / p.n_heads)});
  w.add("llama.attention.head_count", gguf::Value{static_cast<std::uint32_t>(p.n_heads)});
  w.add("llama.attention.head_count_kv", gguf::Value{static_cast<std::uint32_t>(p.n_kv_heads)});
  w.add("llama.attention.layer_norm_rms_epsilon", gguf::Value{1e-5f});
  w.add("llama.rope.freq_base", gguf::Value{10000.0f});
  std::int64_t n_vocab = 0;
  if (o.vocab) {
    n_vocab = copy_vocab(w, *o.vocab);
  } else {
    add_byte_vocab(w);
    n_vocab = 3 + 256;
  }
  w.add("llama.vocab_size", gguf::Value{static_cast<std::uint32_t>(n_vocab)});

  std::uint64_t tensor_index = 0;
  auto add_matrix = [&](std::string name, std::int64_t rows, std::int64_t cols) {
    const std::uint64_t stream = mix(o.seed ^ mix(++tensor_index));
    const TensorType type = o.type;
    w.add_tensor(std::move(name), type, {cols, rows}, [&pool, stream, rows, cols, type](std::span<std::byte> data) {
      const std::size_t stride = row_bytes(type, cols);
      pool.parallel_for(static_cast<std::size_t>(rows), [&](std::size_t begin, std::size_t end) {
        std::vector<float> values(static_cast<std::size_t>(cols));
        for (std::size_t r = begin; r < end; ++r) {
          NormalStream(mix(stream + r)).fill(values, 0.02f);
          quantize_row(type, values.data(), data.data() + r * stride, cols);
        }
      });
    });
  };
  auto add_norm = [&](std::string name, std::int64_t n) {
    w.add_tensor(std::move(name), TensorType::F32, {n}, [n](std::span<std::byte> data) {
      const std::vector<float> ones(static_cast<std::size_t>(n), 1.0f);
      std::memcpy(data.data(), ones.data(), data.size());
    });
  };

  const std::int64_t head_dim = p.n_embd / p.n_heads;
  add_matrix("token_embd.weight", n_vocab, p.n_embd);
  add_norm("output_norm.weight", p.n_embd);
  add_matrix("output.weight", n_vocab, p.n_embd);
  for (std::int64_t i = 0; i < p.n_layers; ++i) {
    const std::string b = fmt::format("blk.{}.", i);
    add_norm(b + "attn_norm.weight", p.n_embd);
    add_matrix(b + "attn_q.weight", p.n_heads * head_dim, p.n_embd);
    add_matrix(b + "attn_k.weight", p.n_kv_heads * head_dim, p.n_embd);
    add_matrix(b + "attn_v.weight", p.n_kv_heads * head_dim, p.n_embd);
    add_matrix(b + "attn_output.weight", p.n_embd, p.n_heads * head_dim);
    add_norm(b + "ffn_norm.weight", p.n_embd);
    add_matrix(b + "ffn_gate.weight", p.n_ff, p.n_embd);
    add_matrix(b + "ffn_up.weight", p.n_ff, p.n_embd);
    add_matrix(b + "ffn_down.weight", p.n_embd, p.n_ff);
  }
  w.write(out);
}

}  // namespace flux
