// A sequence's tokens must not depend on the company it keeps: every request below runs once
// alone (one sequence, no prefix cache) and once among 18 others with staggered arrivals, a
// shared prefix, a token budget that chunks prompts and a KV pool small enough to force
// preemption. Greedy and seeded sampled requests, and an n=3 request whose choices fork from one
// prompt, must give exactly the same tokens both ways.

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "engine/engine_models.hpp"
#include "flux/engine.hpp"
#include "kv/kv_cache.hpp"

namespace flux {
namespace {

using testing::LoadedTestModel;

struct Case {
  Request request;
  int arrival_step = 0;
};

std::vector<Case> make_cases(const LoadedTestModel& m, int prefix_len, int max_len) {
  std::mt19937 rng(7);
  const auto n_vocab = static_cast<int>(m.model.config().n_vocab);
  std::uniform_int_distribution<int> token(3, n_vocab - 1);  // no BOS/EOS inside prompts
  const TokenId first = m.tokenizer.bos() >= 0 ? m.tokenizer.bos() : token(rng);
  std::vector<TokenId> prefix{first};
  while (static_cast<int>(prefix.size()) < prefix_len) prefix.push_back(token(rng));

  std::vector<Case> cases;
  for (int i = 0; i < 19; ++i) {
    Case c;
    Request& r = c.request;
    const bool shared = i % 3 != 2;  // two in three share the prefix
    if (shared) r.prompt_tokens = prefix;
    else r.prompt_tokens = {first};
    const int extra = 1 + (i * 7) % 23;
    for (int k = 0; k < extra; ++k) r.prompt_tokens.push_back(token(rng));
    r.max_tokens = std::min(6 + (i * 5) % 19, max_len - static_cast<int>(r.prompt_tokens.size()));
    r.ignore_eos = true;
    r.sampling.temperature = 0;
    if (i % 4 == 3) {  // seeded sampling: per-sequence RNG state must survive preemption too
      r.sampling = SamplingParams{.temperature = 0.9f, .top_k = 20, .top_p = 0.95f, .min_p = 0.0f,
                                  .seed = 1000u + static_cast<unsigned>(i)};
    }
    if (i == 5) {
      r.n = 3;
      r.sampling = SamplingParams{.temperature = 1.0f, .top_k = 0, .top_p = 1.0f, .min_p = 0.0f, .seed = 77};
    }
    c.arrival_step = i / 2;
    cases.push_back(std::move(c));
  }
  return cases;
}

// Each choice's tokens of one request, run by itself. Choice i of an n-request is the 1-choice
// request with seed + i.
std::vector<std::vector<TokenId>> run_alone(const LoadedTestModel& m, const Request& request) {
  Engine engine(m.model, m.tokenizer,
                EngineOptions{.max_seqs = 1, .max_batched_tokens = 4096, .prefix_caching = false, .threads = 2,
                              .background = false});
  std::vector<std::vector<TokenId>> choices;
  for (int i = 0; i < request.n; ++i) {
    Request single = request;
    single.n = 1;
    single.sampling.seed += static_cast<std::uint64_t>(i);
    const RequestOutput out = engine.generate(single);
    choices.push_back(out.choices.at(0).tokens);
  }
  return choices;
}

void expect_batch_invariance(const LoadedTestModel& m, int prefix_len, std::uint64_t kv_bytes_per_position) {
  const int max_len = static_cast<int>(std::min<std::int64_t>(m.model.config().n_ctx_train, 256));
  const std::vector<Case> cases = make_cases(m, prefix_len, max_len);
  std::vector<std::vector<std::vector<TokenId>>> alone;
  for (const Case& c : cases) alone.push_back(run_alone(m, c.request));

  // Room for 3/4 of one full-length sequence: far less than 19 requests need at once, but more
  // than any one of them needs.
  Engine engine(m.model, m.tokenizer,
                EngineOptions{.block_size = 8,
                              .kv_mem_bytes = kv_bytes_per_position * static_cast<std::uint64_t>(max_len) * 3 / 4,
                              .max_seqs = 12,
                              .max_batched_tokens = 24,
                              .prefix_caching = true,
                              .threads = 2,
                              .background = false});
  std::vector<RequestOutput> outputs(cases.size());
  std::vector<bool> done(cases.size(), false);
  std::size_t next = 0;
  int finished = 0;
  for (int step = 0; finished < static_cast<int>(cases.size()); ++step) {
    ASSERT_LT(step, 20000) << "the engine stopped making progress";
    while (next < cases.size() && cases[next].arrival_step <= step) {
      Request r = cases[next].request;
      const std::size_t index = next;
      r.on_output = [&, index](const RequestOutput& out) {
        RequestOutput& all = outputs[index];
        for (const ChoiceOutput& c : out.choices) {
          if (all.choices.size() <= static_cast<std::size_t>(c.index)) all.choices.resize(static_cast<std::size_t>(c.index) + 1);
          auto& tokens = all.choices[static_cast<std::size_t>(c.index)].tokens;
          tokens.insert(tokens.end(), c.tokens.begin(), c.tokens.end());
        }
        if (out.finished) {
          done[index] = true;
          ++finished;
        }
      };
      engine.add(std::move(r));
      ++next;
    }
    engine.step();
  }

  for (std::size_t i = 0; i < cases.size(); ++i) {
    ASSERT_EQ(outputs[i].choices.size(), alone[i].size()) << "request " << i;
    for (std::size_t c = 0; c < alone[i].size(); ++c)
      EXPECT_EQ(outputs[i].choices[c].tokens, alone[i][c]) << "request " << i << " choice " << c;
  }
  const EngineMetrics metrics = engine.metrics();
  EXPECT_GT(metrics.preemptions, 0u) << "the pool was meant to force preemption";
  EXPECT_GT(metrics.prefix_hit_rate, 0.0) << "the shared prefix was meant to hit the cache";
  EXPECT_EQ(metrics.kv_blocks_used, 0) << "blocks leaked";
  EXPECT_EQ(metrics.kv_blocks_free + metrics.kv_blocks_cached, metrics.kv_blocks_total);
}

std::uint64_t kv_bytes_per_position(const Model& model) {
  return KvCache::bytes_per_block(KvLayout{static_cast<int>(model.config().n_layers),
                                           static_cast<int>(model.config().kv_dim()), 1});
}

TEST(BatchInvariance, Stories260KTokensMatchSoloRuns) {
  const auto m = testing::load_stories();
  expect_batch_invariance(*m, 40, kv_bytes_per_position(m->model));
}

TEST(BatchInvariance, TinySyntheticTokensMatchSoloRuns) {
  testing::TempDir dir;
  const auto m = testing::load_tiny_synthetic(dir);
  expect_batch_invariance(*m, 72, kv_bytes_per_position(m->model));
}

}  // namespace
}  // namespace flux
