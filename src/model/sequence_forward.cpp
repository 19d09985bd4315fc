#include "base/error.hpp"
#include "model/forward.hpp"

namespace flux {

void forward_last_token(const Model& model, std::span<const TokenId> tokens, std::int64_t first_pos,
                        BlockTable& table, KvManager& kv, ForwardScratch& scratch, ThreadPool& pool,
                        std::span<float> logits) {
  const auto n = static_cast<std::int64_t>(tokens.size());
  if (!kv.allocate_slots(table, first_pos, first_pos + n)) throw Error("the KV cache is full");
  Batch batch;
  batch.tokens.assign(tokens.begin(), tokens.end());
  batch.sequences.push_back({table.blocks(), first_pos, n});
  batch.logit_rows.push_back(n - 1);
  forward(model, batch, kv.cache(), scratch, pool, logits);
}

}  // namespace flux
