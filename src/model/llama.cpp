// The llama-family forward pass (llama, qwen2): pre-norm attention with rotary embeddings and
// grouped-query heads, then a SwiGLU feed-forward, each added back to the residual stream.

#include <array>
#include <cmath>

#include <fmt/format.h>

#include "base/error.hpp"
#include "kernels/attention.hpp"
#include "kernels/attention_kernels.hpp"
#include "kernels/ops.hpp"
#include "model/forward.hpp"
#include "tensor/quant.hpp"

namespace flux {
namespace {

std::span<float> row(std::vector<float>& m, std::int64_t r, std::int64_t width) {
  return {m.data() + static_cast<std::size_t>(r * width), static_cast<std::size_t>(width)};
}

enum class Rotate : bool { No, Yes };
enum class CacheStore : std::uint8_t { None, Keys, Values };

// What happens to the Q, K and V projections' outputs once computed: bias, rotary embedding,
// storing into the KV cache (in the cache's type). epilogue() hands it to matmul_many, which runs
// it per thread on whole heads; per element it is the same arithmetic as after the product.
struct ProjectionFinish {
  const ModelConfig& c;
  const std::vector<std::int64_t>& positions;        // per batch row
  const std::vector<std::span<const int>>& blocks;  // per batch row: its sequence's block table
  const RopeParams& rope;
  KvCache& cache;
  int layer;

  OutputEpilogue epilogue(std::vector<float>& out, const std::vector<float>& bias, Rotate rotate,
                          CacheStore store) const {
    return {static_cast<std::size_t>(c.head_dim),
            [this, &out, &bias, rotate, store](std::size_t begin, std::size_t end) {
              apply(out, bias, rotate, store, begin, end);
            }};
  }

  void apply(std::vector<float>& out, const std::vector<float>& bias, Rotate rotate, CacheStore store,
             std::size_t begin, std::size_t end) const {
    const auto n = static_cast<std::int64_t>(positions.size());
    const std::int64_t width = static_cast<std::int64_t>(out.size()) / n;
    const std::size_t count = end - begin;
    const int heads = static_cast<int>(count / static_cast<std::size_t>(c.head_dim));
    const TensorType kv_type = cache.layout().type;
    const int block_size = cache.layout().block_size;
    std::array<float, kMaxAttentionHeadDim> cos_sin;  // rope dims <= head_dim, checked by forward()
    for (std::int64_t r = 0; r < n; ++r) {
      const std::span<float> part = row(out, r, width).subspan(begin, count);
      if (!bias.empty()) add_in_place(part, std::span(bias).subspan(begin, count));
      const std::int64_t pos = positions[static_cast<std::size_t>(r)];
      if (rotate == Rotate::Yes) apply_rope(part, heads, static_cast<int>(c.head_dim), pos, rope, std::span<float>(cos_sin));
      if (store == CacheStore::None) continue;
      const int block = blocks[static_cast<std::size_t>(r)][static_cast<std::size_t>(pos / block_size)];
      const int slot = static_cast<int>(pos % block_size);
      const std::span<std::byte> slot_bytes =
          store == CacheStore::Keys ? cache.key_bytes(layer, block, slot) : cache.value_bytes(layer, block, slot);
      encode_row(kv_type, part, slot_bytes.data() + row_bytes(kv_type, static_cast<std::int64_t>(begin)));
    }
  }
};

void validate(const ModelConfig& c, const Batch& batch, const KvCache& cache) {
  std::int64_t rows = 0;
  for (const auto& s : batch.sequences) {
    const std::int64_t end = s.first_pos + s.n_tokens;
    if (s.first_pos < 0 || s.n_tokens <= 0 ||
        end > static_cast<std::int64_t>(s.blocks.size()) * cache.layout().block_size)
      throw InvalidArgument(fmt::format("batch sequence positions [{}, {}) are not covered by its KV blocks",
                                        s.first_pos, end));
    rows += s.n_tokens;
  }
  if (rows != static_cast<std::int64_t>(batch.tokens.size()))
    throw InvalidArgument("batch sequences do not cover its tokens");
  for (TokenId t : batch.tokens)
    if (t < 0 || t >= c.n_vocab)
      throw InvalidArgument(fmt::format("token id {} is outside the vocabulary (size {})", t, c.n_vocab));
  for (std::int64_t r : batch.logit_rows)
    if (r < 0 || r >= rows) throw InvalidArgument(fmt::format("logit row {} outside the batch", r));
  if (c.head_dim > kMaxAttentionHeadDim)
    throw UnsupportedError(fmt::format("attention head size {} is larger than the supported {}", c.head_dim,
                                       kMaxAttentionHeadDim));
}

}  // namespace

void forward(const Model& model, const Batch& batch, KvCache& cache, ForwardScratch& s,
             ThreadPool& pool, std::span<float> logits) {
  const ModelConfig& c = model.config();
  const ModelWeights& w = model.weights();
  validate(c, batch, cache);
  check(logits.size() == batch.logit_rows.size() * static_cast<std::size_t>(c.n_vocab), "logits size");

  const auto n = static_cast<std::int64_t>(batch.tokens.size());
  const auto un = static_cast<std::size_t>(n);
  s.x.resize(un * static_cast<std::size_t>(c.n_embd));
  s.proj.resize(s.x.size());
  s.q.resize(un * static_cast<std::size_t>(c.q_dim()));
  s.attn.resize(s.q.size());
  s.k.resize(un * static_cast<std::size_t>(c.kv_dim()));
  s.v.resize(s.k.size());
  s.gate.resize(un * static_cast<std::size_t>(c.n_ff));
  s.up.resize(s.gate.size());

  // Positions and attention spans of every row.
  std::vector<std::int64_t> positions(un);
  std::vector<std::span<const int>> row_blocks(un);
  std::vector<AttentionSequence> spans;
  std::int64_t first_row = 0;
  for (const auto& seq : batch.sequences) {
    for (std::int64_t i = 0; i < seq.n_tokens; ++i) {
      positions[static_cast<std::size_t>(first_row + i)] = seq.first_pos + i;
      row_blocks[static_cast<std::size_t>(first_row + i)] = seq.blocks;
    }
    spans.push_back({seq.blocks, first_row, seq.n_tokens, seq.first_pos});
    first_row += seq.n_tokens;
  }

  for (std::int64_t r = 0; r < n; ++r)  // x: [n, n_embd]
    dequantize_weight_row(w.token_embedding, batch.tokens[static_cast<std::size_t>(r)], row(s.x, r, c.n_embd));

  const RopeParams rope{c.rope_dims, c.rope_freq_base, c.rope_freq_scale, c.rope_neox, w.rope_freqs};
  const AttentionShape shape{static_cast<int>(c.n_heads), static_cast<int>(c.n_kv_heads),
                             static_cast<int>(c.head_dim), 1.0f / std::sqrt(static_cast<float>(c.head_dim))};

  // The residual additions, fused into the output and down projections: each thread adds the
  // columns it computed.
  const OutputEpilogue add_to_residual{1, [&](std::size_t begin, std::size_t end) {
    for (std::int64_t r = 0; r < n; ++r)
      add_in_place(row(s.x, r, c.n_embd).subspan(begin, end - begin), row(s.proj, r, c.n_embd).subspan(begin, end - begin));
  }};

  for (std::int64_t li = 0; li < c.n_layers; ++li) {
    const LayerWeights& l = w.layers[static_cast<std::size_t>(li)];
    const int layer = static_cast<int>(li);

    // Attention block. q: [n, n_heads * head_dim]; k, v: [n, n_kv_heads * head_dim], in one
    // pass over x, normalised row by row as it is encoded.
    // Bias, rotary embedding and the store of each token's key and value into its cache slot
    // are fused into the projections: done per thread, whole heads at a time, as they come out.
    const InputNorm attn_norm{l.attn_norm, c.rms_eps};
    const ProjectionFinish finish{c, positions, row_blocks, rope, cache, layer};
    const OutputEpilogue q_done = finish.epilogue(s.q, l.bq, Rotate::Yes, CacheStore::None);
    const OutputEpilogue k_done = finish.epilogue(s.k, l.bk, Rotate::Yes, CacheStore::Keys);
    const OutputEpilogue v_done = finish.epilogue(s.v, l.bv, Rotate::No, CacheStore::Values);
    const MatmulTarget qkv[] = {{&l.wq, s.q, &q_done}, {&l.wk, s.k, &k_done}, {&l.wv, s.v, &v_done}};
    matmul_many(qkv, s.x, n, s.matmul, pool, &attn_norm);
    paged_attention(s.q, s.attn, spans, cache, layer, shape, pool);  // attn: [n, q_dim]
    const MatmulTarget out_projection[] = {{&l.wo, s.proj, &add_to_residual}};
    matmul_many(out_projection, s.attn, n, s.matmul, pool);  // proj: [n, n_embd], added to x

    // Feed-forward block: gate: [n, n_ff] = SiLU(gate . norm(x)) * (up . norm(x)).
    const InputNorm ffn_norm{l.ffn_norm, c.rms_eps};
    matmul_gated_silu(l.gate, l.up, s.x, s.gate, s.up, n, s.matmul, pool, &ffn_norm);
    const MatmulTarget down_projection[] = {{&l.down, s.proj, &add_to_residual}};
    matmul_many(down_projection, s.gate, n, s.matmul, pool);  // proj: [n, n_embd], added to x
  }

  // Only the rows that will be sampled pay for the output projection.
  const auto n_out = static_cast<std::int64_t>(batch.logit_rows.size());
  if (n_out == 0) return;
  s.logits_in.resize(static_cast<std::size_t>(n_out * c.n_embd));
  for (std::int64_t i = 0; i < n_out; ++i)
    rms_norm(row(s.x, batch.logit_rows[static_cast<std::size_t>(i)], c.n_embd), w.output_norm, c.rms_eps,
             row(s.logits_in, i, c.n_embd));
  matmul(w.output, s.logits_in, logits, n_out, s.matmul, pool);  // logits: [n_out, n_vocab]
}

}  // namespace flux
