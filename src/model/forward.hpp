#pragma once
// The model forward pass over a batch: writes K/V of the new tokens into the cache and returns
// logits for the requested rows.

#include <span>
#include <vector>

#include "base/thread_pool.hpp"
#include "kernels/matmul.hpp"
#include "kv/kv_cache.hpp"
#include "kv/kv_manager.hpp"
#include "model/batch.hpp"
#include "model/model.hpp"

namespace flux {

// Per-step working memory, grown on demand and reused: a warm forward pass allocates nothing.
struct ForwardScratch {
  std::vector<float> x, q, k, v, attn, proj, gate, up, logits_in;
  MatmulScratch matmul;
};

// logits: [batch.logit_rows.size(), n_vocab]. Throws InvalidArgument for token ids outside the
// vocabulary or positions beyond the block tables.
void forward(const Model& model, const Batch& batch, KvCache& cache, ForwardScratch& scratch,
             ThreadPool& pool, std::span<float> logits);

// One sequence's step: grows `table` to cover positions [first_pos, first_pos + tokens.size()),
// runs the tokens there and writes the last token's logits ([n_vocab]). Throws flux::Error when
// the cache has no free block left.
void forward_last_token(const Model& model, std::span<const TokenId> tokens, std::int64_t first_pos,
                        BlockTable& table, KvManager& kv, ForwardScratch& scratch, ThreadPool& pool,
                        std::span<float> logits);

}  // namespace flux
