// The engine's forward pass must not depend on how work is cut: a prompt in one batch, in chunks
// or token by token; any KV block size; any thread count; alone or sharing a batch with other
// sequences. Logits are compared with the engine's own, to 1e-5 of the row's largest logit
// (today they agree bit for bit; the slack leaves room for kernels that tile by batch size).

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "kernels/seeded_random.hpp"
#include "model/forward_driver.hpp"
#include "model/model.hpp"
#include "model/tiny_model.hpp"

namespace flux {
namespace {

using testing::DriverOptions;
using testing::ForwardDriver;
using testing::SequenceFeed;
using Rows = std::vector<std::vector<float>>;

constexpr double kRelativeTolerance = 1e-5;

struct ModelCase {
  std::string variant;
  TensorType type;
};

std::vector<TokenId> random_tokens(std::size_t n, std::int64_t n_vocab, std::uint32_t seed) {
  testing::SeededRandom random(seed);
  std::vector<TokenId> tokens(n);
  for (TokenId& t : tokens) t = static_cast<TokenId>(random.below(static_cast<std::uint32_t>(n_vocab)));
  return tokens;
}

std::vector<TokenId> slice(const std::vector<TokenId>& v, std::size_t begin, std::size_t end) {
  return {v.begin() + static_cast<std::ptrdiff_t>(begin), v.begin() + static_cast<std::ptrdiff_t>(end)};
}

void append(Rows& to, Rows rows) { to.insert(to.end(), rows.begin(), rows.end()); }

// Largest |a - b| over a row, relative to the row's largest |b| (at least 1).
double relative_difference(const std::vector<float>& a, const std::vector<float>& b) {
  double diff = 0.0, scale = 1.0;
  for (std::size_t i = 0; i < b.size(); ++i) {
    diff = std::max(diff, static_cast<double>(std::fabs(a[i] - b[i])));
    scale = std::max(scale, static_cast<double>(std::fabs(b[i])));
  }
  return diff / scale;
}

class ForwardConsistency : public ::testing::TestWithParam<ModelCase> {
 protected:
  void SetUp() override {
    spec_ = testing::tiny_model_variant(GetParam().variant, GetParam().type);
    testing::write_tiny_model(spec_, dir_.file("model.gguf"));
    model_ = std::make_unique<Model>(Model::load(dir_.file("model.gguf")));
    prompt_ = random_tokens(13, spec_.n_vocab, 100);
  }

  // Every row of `got` against the same row of `expected`; returns the worst difference.
  double expect_same_rows(const Rows& got, const Rows& expected, const std::string& what) {
    EXPECT_EQ(got.size(), expected.size()) << what;
    double worst = 0.0;
    for (std::size_t r = 0; r < std::min(got.size(), expected.size()); ++r) {
      const double d = relative_difference(got[r], expected[r]);
      worst = std::max(worst, d);
      EXPECT_LE(d, kRelativeTolerance) << what << ", row " << r;
    }
    return worst;
  }

  testing::TinyModelSpec spec_;
  testing::TempDir dir_;
  std::unique_ptr<Model> model_;
  std::vector<TokenId> prompt_;
};

TEST_P(ForwardConsistency, WholePromptChunksAndTokenByTokenAgreeForEveryBlockSizeAndThreadCount) {
  ForwardDriver reference_driver(*model_, {.block_size = 16, .n_threads = 1});
  const Rows reference = reference_driver.run(reference_driver.new_sequence(), prompt_);

  double worst = 0.0;
  for (int block_size : {1, 4, 16}) {
    for (int threads : {1, 2, 3}) {
      const DriverOptions options{.block_size = block_size, .n_threads = threads,
                                  .shuffle_seed = static_cast<std::uint32_t>(block_size * 10 + threads)};
      const std::string where = fmt::format("block size {}, {} threads", block_size, threads);

      ForwardDriver whole(*model_, options);
      worst = std::max(worst, expect_same_rows(whole.run(whole.new_sequence(), prompt_), reference, "whole, " + where));

      // Chunks of 5, 1 and 7 tokens: chunk edges fall inside and across blocks.
      ForwardDriver chunked(*model_, options);
      const int seq = chunked.new_sequence();
      Rows chunk_rows = chunked.run(seq, slice(prompt_, 0, 5));
      append(chunk_rows, chunked.run(seq, slice(prompt_, 5, 6)));
      append(chunk_rows, chunked.run(seq, slice(prompt_, 6, prompt_.size())));
      worst = std::max(worst, expect_same_rows(chunk_rows, reference, "chunks, " + where));

      ForwardDriver decode(*model_, options);
      const int one = decode.new_sequence();
      Rows decode_rows;
      for (TokenId t : prompt_) append(decode_rows, decode.run(one, {t}));
      worst = std::max(worst, expect_same_rows(decode_rows, reference, "token by token, " + where));
    }
  }
  RecordProperty("worst_relative_difference", fmt::format("{:.3e}", worst));
}

TEST_P(ForwardConsistency, SequencesSharingABatchGetTheLogitsTheyGetAlone) {
  const std::vector<TokenId> a = prompt_;
  const std::vector<TokenId> b = random_tokens(9, spec_.n_vocab, 200);
  const std::vector<TokenId> a_next = random_tokens(1, spec_.n_vocab, 300);

  // Alone: A's prompt then one decode step; B's prompt in two chunks.
  ForwardDriver alone(*model_, {.block_size = 4, .n_threads = 2});
  const int sa = alone.new_sequence(), sb = alone.new_sequence();
  Rows a_alone = alone.run(sa, a);
  append(a_alone, alone.run(sa, a_next));
  Rows b_alone = alone.run(sb, slice(b, 0, 4));
  append(b_alone, alone.run(sb, slice(b, 4, b.size())));

  // Together: A's prefill beside B's first chunk; then B's second chunk before A's decode step.
  // A third sequence with A's prompt shares the first batch and must match A row for row.
  ForwardDriver together(*model_, {.block_size = 4, .n_threads = 3, .shuffle_seed = 9});
  const int ta = together.new_sequence(), tb = together.new_sequence(), tc = together.new_sequence();
  const Rows first = together.run({SequenceFeed{ta, a}, SequenceFeed{tb, slice(b, 0, 4)}, SequenceFeed{tc, a}});
  const Rows second = together.run({SequenceFeed{tb, slice(b, 4, b.size())}, SequenceFeed{ta, a_next}});

  const auto rows = [](const Rows& all, std::size_t begin, std::size_t end) {
    return Rows(all.begin() + static_cast<std::ptrdiff_t>(begin), all.begin() + static_cast<std::ptrdiff_t>(end));
  };
  Rows a_together = rows(first, 0, a.size());
  append(a_together, rows(second, b.size() - 4, second.size()));
  Rows b_together = rows(first, a.size(), a.size() + 4);
  append(b_together, rows(second, 0, b.size() - 4));
  const Rows c_together = rows(first, a.size() + 4, first.size());

  expect_same_rows(a_together, a_alone, "sequence A");
  expect_same_rows(b_together, b_alone, "sequence B");
  expect_same_rows(c_together, rows(a_alone, 0, a.size()), "sequence C (A's prompt)");
}

TEST_P(ForwardConsistency, LogitRowsSelectRowsInTheOrderAsked) {
  ForwardDriver all_rows(*model_, {.block_size = 4});
  const Rows everything = all_rows.run(all_rows.new_sequence(), prompt_);

  BlockTable table;
  KvCache cache(KvLayout{static_cast<int>(spec_.n_layers), static_cast<int>(model_->config().kv_dim()), 4}, 8);
  BlockPool blocks(8);
  ASSERT_TRUE(table.reserve(blocks, 4, static_cast<std::int64_t>(prompt_.size())));
  Batch batch;
  batch.tokens = prompt_;
  batch.sequences = {BatchSequence{table.blocks(), 0, static_cast<std::int64_t>(prompt_.size())}};
  batch.logit_rows = {12, 0, 7};
  const auto n_vocab = static_cast<std::size_t>(spec_.n_vocab);
  std::vector<float> logits(3 * n_vocab);
  ThreadPool pool(1);
  ForwardScratch scratch;
  forward(*model_, batch, cache, scratch, pool, logits);
  for (std::size_t i = 0; i < 3; ++i) {
    const std::vector<float> row(logits.begin() + static_cast<std::ptrdiff_t>(i * n_vocab),
                                 logits.begin() + static_cast<std::ptrdiff_t>((i + 1) * n_vocab));
    expect_same_rows({row}, {everything[static_cast<std::size_t>(batch.logit_rows[i])]}, fmt::format("logit row {}", i));
  }
}

INSTANTIATE_TEST_SUITE_P(Models, ForwardConsistency,
                         ::testing::Values(ModelCase{"llama_gqa", TensorType::F16}, ModelCase{"qwen2", TensorType::Q8_0}),
                         [](const ::testing::TestParamInfo<ModelCase>& info) {
                           return info.param.variant + "_" + std::string(type_name(info.param.type));
                         });

}  // namespace
}  // namespace flux
