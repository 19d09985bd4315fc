#include "model/model_config.hpp"

#include <fmt/format.h>

#include "base/error.hpp"

namespace flux {
namespace {

std::int64_t positive(const gguf::Metadata& md, const std::string& key) {
  const std::uint64_t v = md.get_uint(key);
  if (v == 0 || v >= (1ull << 31)) throw FormatError(fmt::format("metadata key '{}' has implausible value {}", key, v));
  return static_cast<std::int64_t>(v);
}

}  // namespace

ModelConfig ModelConfig::from_metadata(const gguf::Metadata& md, std::int64_t n_vocab_tokens) {
  ModelConfig c;
  c.architecture_name = md.get_string("general.architecture");
  if (c.architecture_name == "llama") {
    c.architecture = Architecture::Llama;
  } else if (c.architecture_name == "qwen2") {
    c.architecture = Architecture::Qwen2;
    c.rope_neox = true;
    c.qkv_bias = true;
  } else {
    throw UnsupportedError(fmt::format(
        "architecture '{}' is not supported (supported: llama, qwen2)", c.architecture_name));
  }
  c.name = md.optional_string("general.name").value_or("");
  const std::string& a = c.architecture_name;

  if (md.contains(a + ".expert_count") && md.get_uint(a + ".expert_count") > 0)
    throw UnsupportedError(fmt::format("mixture-of-experts models ({}.expert_count = {}) are not supported yet",
                                       a, md.get_uint(a + ".expert_count")));

  c.n_embd = positive(md, a + ".embedding_length");
  c.n_layers = positive(md, a + ".block_count");
  c.n_heads = positive(md, a + ".attention.head_count");
  c.n_kv_heads = md.contains(a + ".attention.head_count_kv") ? positive(md, a + ".attention.head_count_kv") : c.n_heads;
  c.n_ff = positive(md, a + ".feed_forward_length");
  c.n_ctx_train = positive(md, a + ".context_length");
  c.head_dim = md.contains(a + ".attention.key_length") ? positive(md, a + ".attention.key_length")
                                                       : c.n_embd / c.n_heads;
  if (md.contains(a + ".attention.value_length") && positive(md, a + ".attention.value_length") != c.head_dim)
    throw UnsupportedError(fmt::format("{}.attention.value_length differs from key_length", a));
  if (c.n_heads % c.n_kv_heads != 0)
    throw FormatError(fmt::format("{}.attention.head_count ({}) is not a multiple of head_count_kv ({})", a,
                                  c.n_heads, c.n_kv_heads));
  if (!md.contains(a + ".attention.key_length") && c.n_embd % c.n_heads != 0)
    throw FormatError(fmt::format("{}.embedding_length ({}) is not a multiple of head_count ({})", a, c.n_embd,
                                  c.n_heads));
  c.rms_eps = static_cast<float>(md.optional_float(a + ".attention.layer_norm_rms_epsilon").value_or(1e-5));
  c.rope_freq_base = static_cast<float>(md.optional_float(a + ".rope.freq_base").value_or(10000.0));
  c.rope_dims = static_cast<int>(md.optional_uint(a + ".rope.dimension_count").value_or(static_cast<std::uint64_t>(c.head_dim)));
  if (c.rope_dims <= 0 || c.rope_dims > c.head_dim || c.rope_dims % 2 != 0)
    throw FormatError(fmt::format("{}.rope.dimension_count ({}) must be even and at most the head size ({})", a,
                                  c.rope_dims, c.head_dim));

  const std::string scaling = md.optional_string(a + ".rope.scaling.type").value_or("none");
  if (scaling == "linear") {
    const double factor = md.optional_float(a + ".rope.scaling.factor").value_or(1.0);
    if (!(factor > 0.0)) throw FormatError(fmt::format("{}.rope.scaling.factor must be positive", a));
    c.rope_freq_scale = static_cast<float>(1.0 / factor);
  } else if (scaling != "none" && scaling != "") {
    throw UnsupportedError(fmt::format("rope scaling type '{}' is not supported (supported: none, linear, "
                                       "and Llama 3 frequency factors)", scaling));
  }
  if (auto scale = md.optional_float(a + ".rope.scale_linear")) c.rope_freq_scale = static_cast<float>(1.0 / *scale);

  c.n_vocab = md.contains(a + ".vocab_size") ? positive(md, a + ".vocab_size") : n_vocab_tokens;
  if (c.n_vocab <= 0)
    throw FormatError(fmt::format("model has no vocabulary size: neither {}.vocab_size nor tokenizer.ggml.tokens is present", a));
  return c;
}

}  // namespace flux
