#include "model/forward_driver.hpp"

#include <stdexcept>

#include "kernels/seeded_random.hpp"

namespace flux::testing {
namespace {

int block_count(const DriverOptions& o) { return o.n_blocks > 0 ? o.n_blocks : 4 * (64 + o.block_size - 1) / o.block_size; }

KvCache make_cache(const Model& model, const DriverOptions& o) {
  const ModelConfig& c = model.config();
  return KvCache(KvLayout{static_cast<int>(c.n_layers), static_cast<int>(c.kv_dim()), o.block_size}, block_count(o));
}

// Take every block, then give them back in a shuffled order: later allocations come out of the
// free list in that order, so a sequence's blocks are scattered.
BlockPool make_shuffled_pool(const DriverOptions& o) {
  BlockPool pool(block_count(o));
  std::vector<int> blocks;
  while (auto b = pool.allocate()) blocks.push_back(*b);
  SeededRandom(o.shuffle_seed).shuffle(std::span<int>(blocks));
  for (int b : blocks) pool.release(b);
  return pool;
}

}  // namespace

ForwardDriver::ForwardDriver(const Model& model, DriverOptions options)
    : model_(model), cache_(make_cache(model, options)), blocks_(make_shuffled_pool(options)), pool_(options.n_threads) {}

int ForwardDriver::new_sequence() {
  tables_.emplace_back();
  lengths_.push_back(0);
  return static_cast<int>(tables_.size()) - 1;
}

std::vector<std::vector<float>> ForwardDriver::run(const std::vector<SequenceFeed>& feeds) {
  Batch batch;
  for (const SequenceFeed& f : feeds) {
    const auto s = static_cast<std::size_t>(f.sequence);
    const auto n = static_cast<std::int64_t>(f.tokens.size());
    if (!tables_[s].reserve(blocks_, cache_.layout().block_size, lengths_[s] + n)) throw std::runtime_error("test KV cache is too small");
    batch.sequences.push_back(BatchSequence{tables_[s].blocks(), lengths_[s], n});
    batch.tokens.insert(batch.tokens.end(), f.tokens.begin(), f.tokens.end());
  }
  for (std::size_t r = 0; r < batch.tokens.size(); ++r) batch.logit_rows.push_back(static_cast<std::int64_t>(r));

  const auto n_vocab = static_cast<std::size_t>(model_.config().n_vocab);
  std::vector<float> flat(batch.tokens.size() * n_vocab);
  forward_batch(batch, flat);
  for (const SequenceFeed& f : feeds) lengths_[static_cast<std::size_t>(f.sequence)] += static_cast<std::int64_t>(f.tokens.size());

  std::vector<std::vector<float>> rows;
  for (std::size_t r = 0; r < batch.tokens.size(); ++r)
    rows.emplace_back(flat.begin() + static_cast<std::ptrdiff_t>(r * n_vocab),
                      flat.begin() + static_cast<std::ptrdiff_t>((r + 1) * n_vocab));
  return rows;
}

void ForwardDriver::forward_batch(const Batch& batch, std::span<float> logits) {
  forward(model_, batch, cache_, scratch_, pool_, logits);
}

}  // namespace flux::testing
