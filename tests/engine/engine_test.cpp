// The engine's request API on stories260K: validation errors, queue limits, aborts (one, or all
// at once) at every stage with every block returned, polling, n > 1 choices, stop strings and
// logprobs; then a randomised stress run with a background loop and aborts from another thread.

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <algorithm>
#include <cmath>
#include <future>
#include <map>
#include <random>
#include <thread>

#include "engine/engine_models.hpp"
#include "flux/engine.hpp"

namespace flux {
namespace {

using namespace std::chrono_literals;

class EngineTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { model_ = testing::load_stories().release(); }
  static void TearDownTestSuite() {
    delete model_;
    model_ = nullptr;
  }

  static EngineOptions manual(EngineOptions o = {}) {
    o.background = false;
    o.threads = 2;
    return o;
  }

  static Request greedy(std::string prompt, int max_tokens) {
    Request r;
    r.prompt = std::move(prompt);
    r.max_tokens = max_tokens;
    r.sampling.temperature = 0;
    r.ignore_eos = true;
    return r;
  }

  static void expect_no_blocks_in_use(const Engine& engine) {
    const EngineMetrics m = engine.metrics();
    EXPECT_EQ(m.kv_blocks_used, 0);
    EXPECT_EQ(m.kv_blocks_free + m.kv_blocks_cached, m.kv_blocks_total);
    EXPECT_EQ(m.running, 0);
    EXPECT_EQ(m.waiting, 0);
  }

  static inline testing::LoadedTestModel* model_ = nullptr;
};

TEST_F(EngineTest, RejectsBadRequestsWithClearErrors) {
  Engine engine(model_->model, model_->tokenizer, manual());
  auto expect_error = [&](Request r, const std::string& fragment) {
    try {
      engine.add(std::move(r));
      ADD_FAILURE() << "accepted a request that should fail with: " << fragment;
    } catch (const InvalidArgument& e) {
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    }
  };
  Request empty = greedy("", 4);
  empty.add_special = false;
  expect_error(empty, "prompt is empty");
  Request bad_id = greedy("", 4);
  bad_id.prompt_tokens = {1, 5, 100000};
  expect_error(bad_id, "outside the vocabulary");
  Request negative_id = greedy("", 4);
  negative_id.prompt_tokens = {1, -3};
  expect_error(negative_id, "outside the vocabulary");
  expect_error(greedy("Once upon a time", 500), "context holds 128");
  expect_error(greedy("Once", 0), "max_tokens must be at least 1");
  Request zero_n = greedy("Once", 4);
  zero_n.n = 0;
  expect_error(zero_n, "n must be at least 1");
  Request bad_temp = greedy("Once", 4);
  bad_temp.sampling.top_p = 2.0f;
  expect_error(bad_temp, "top_p");
  // Refusals by admission (empty prompt, context, max_tokens) count; malformed fields do not.
  EXPECT_EQ(engine.metrics().requests_rejected, 3u);
  expect_no_blocks_in_use(engine);
}

TEST_F(EngineTest, RequestBeyondThePoolIsRejected) {
  EXPECT_THROW(Engine(model_->model, model_->tokenizer, manual({.kv_mem_bytes = 1})), InvalidArgument)
      << "a budget that holds no block is refused";
  const std::uint64_t block_bytes = 16ull * 5 * 2 * 32 * 2;  // block_size * layers * (K,V) * kv_dim * F16
  Engine engine(model_->model, model_->tokenizer, manual({.block_size = 16, .kv_mem_bytes = 2 * block_bytes}));
  ASSERT_EQ(engine.metrics().kv_blocks_total, 2);
  try {
    engine.add(greedy("Once upon a time", 40));
    ADD_FAILURE() << "a request needing 3 blocks was accepted by a 2-block pool";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("KV blocks but the pool has 2"), std::string::npos) << e.what();
  }
  EXPECT_NO_THROW(engine.generate(greedy("Once upon a time", 8)));
}

TEST_F(EngineTest, QueueFullRefusesWithItsOwnError) {
  Engine engine(model_->model, model_->tokenizer, manual({.max_queue = 2}));
  engine.add(greedy("Once", 2));
  engine.add(greedy("Once upon", 2));
  EXPECT_THROW(engine.add(greedy("Once upon a", 2)), QueueFullError);
  while (engine.step()) {
  }
  EXPECT_NO_THROW(engine.add(greedy("Once upon a", 2)));  // the queue drained
}

TEST_F(EngineTest, AbortWhileWaitingMidPrefillAndMidDecodeFreesEverything) {
  Engine engine(model_->model, model_->tokenizer, manual({.max_seqs = 1, .max_batched_tokens = 4}));
  std::vector<RequestOutput> outputs;
  auto collect = [&](Request r) {
    r.on_output = [&](const RequestOutput& out) { outputs.push_back(out); };
    return engine.add(std::move(r));
  };
  const RequestId decoding = collect(greedy("Once upon a time there was", 50));
  const RequestId waiting = collect(greedy("Once upon a time", 50));
  for (int i = 0; i < 6; ++i) engine.step();  // 4-token chunks: the first is decoding by now
  EXPECT_TRUE(engine.abort(waiting));
  EXPECT_TRUE(engine.abort(decoding));
  engine.step();
  EXPECT_FALSE(engine.abort(decoding)) << "finished requests are forgotten";
  int finished = 0;
  for (const RequestOutput& out : outputs) {
    if (!out.finished) continue;
    ++finished;
    EXPECT_EQ(out.choices.back().finish, FinishReason::Abort);
  }
  EXPECT_EQ(finished, 2);
  expect_no_blocks_in_use(engine);

  const RequestId prefilling = collect(greedy("Once upon a time there was a little girl", 5));
  engine.step();  // first chunk of a 10-token prompt
  EXPECT_TRUE(engine.abort(prefilling));
  engine.step();
  EXPECT_TRUE(outputs.back().finished);
  EXPECT_EQ(outputs.back().choices.at(0).finish, FinishReason::Abort);
  EXPECT_TRUE(outputs.back().choices.at(0).tokens.empty());
  expect_no_blocks_in_use(engine);
  EXPECT_EQ(engine.metrics().requests_aborted, 3u);
}

// Shutdown's abort: every request, whatever its stage (still in the inbox, waiting, prefilling,
// decoding, n > 1 not yet forked), ends once with Abort at the next step, and every block is back.
TEST_F(EngineTest, AbortAllEndsEveryRequestAtAnyStage) {
  Engine engine(model_->model, model_->tokenizer, manual({.max_seqs = 2, .max_batched_tokens = 4}));
  std::map<RequestId, std::vector<RequestOutput>> outputs;
  auto collect = [&](Request r) {
    r.on_output = [&](const RequestOutput& out) { outputs[out.id].push_back(out); };
    return engine.add(std::move(r));
  };
  collect(greedy("Once upon a time there was", 50));  // decoding by the time of the abort
  Request forking = greedy("Once upon a time there was a little girl", 50);
  forking.n = 3;
  collect(forking);                                   // mid-prefill: its choices not forked yet
  collect(greedy("Once upon a time", 50));            // waiting for a sequence slot
  for (int i = 0; i < 4; ++i) engine.step();
  ASSERT_GT(engine.metrics().kv_blocks_used, 0);
  collect(greedy("Once", 50));                        // added, never stepped: still in the inbox
  EXPECT_EQ(engine.abort_all(), 4);
  engine.step();

  ASSERT_EQ(outputs.size(), 4u);
  for (const auto& [id, outs] : outputs) {
    const auto finished = std::count_if(outs.begin(), outs.end(), [](const RequestOutput& o) { return o.finished; });
    EXPECT_EQ(finished, 1) << "request " << id << " ends exactly once";
    RequestOutput all;
    for (const RequestOutput& o : outs) append_output(all, o);
    ASSERT_FALSE(all.choices.empty());
    for (const ChoiceOutput& c : all.choices) EXPECT_EQ(c.finish, FinishReason::Abort) << "request " << id;
    EXPECT_TRUE(all.error.empty());
  }
  expect_no_blocks_in_use(engine);
  EXPECT_EQ(engine.metrics().requests_aborted, 4u);
  EXPECT_EQ(engine.abort_all(), 0) << "nothing left to abort";
  EXPECT_FALSE(engine.step()) << "the engine is idle";

  // The engine serves on afterwards: abort_all is not a shutdown by itself.
  const RequestOutput after = engine.generate(greedy("Once upon a time", 6));
  EXPECT_EQ(after.choices.at(0).finish, FinishReason::Length);
  EXPECT_EQ(after.choices.at(0).tokens.size(), 6u);
}

// With the background loop, abort_all() from another thread ends a generation at the loop's next
// step. The first output's callback holds the loop until abort_all() was called, so the request
// cannot finish on its own in between.
TEST_F(EngineTest, AbortAllFromAnotherThreadEndsAGenerationAtTheNextStep) {
  Engine engine(model_->model, model_->tokenizer, EngineOptions{.threads = 1});
  std::promise<void> started, released;
  std::promise<RequestOutput> last;
  std::shared_future<void> release = released.get_future().share();
  int outputs = 0;  // the loop thread's alone
  std::size_t tokens = 0;
  Request r = greedy("Once upon a time", 100);
  r.on_output = [&](const RequestOutput& out) {
    for (const ChoiceOutput& c : out.choices) tokens += c.tokens.size();
    if (++outputs == 1) {
      started.set_value();
      release.wait();
    }
    if (out.finished) last.set_value(out);
  };
  engine.add(std::move(r));
  ASSERT_EQ(started.get_future().wait_for(10s), std::future_status::ready);
  EXPECT_EQ(engine.abort_all(), 1);
  released.set_value();
  auto done = last.get_future();
  ASSERT_EQ(done.wait_for(10s), std::future_status::ready);
  EXPECT_EQ(done.get().choices.at(0).finish, FinishReason::Abort);
  EXPECT_EQ(outputs, 2) << "the first token, then the abort";
  EXPECT_EQ(tokens, 1u);
  std::this_thread::sleep_for(50ms);  // the loop publishes metrics after delivering
  expect_no_blocks_in_use(engine);
}

TEST_F(EngineTest, PollDeliversOutputsInOrderWithoutACallback) {
  Engine engine(model_->model, model_->tokenizer, EngineOptions{.threads = 2});
  const RequestId id = engine.add(greedy("Once upon a time", 12));
  std::vector<TokenId> tokens;
  std::string text;
  for (;;) {
    auto out = engine.poll(id, 10s);
    ASSERT_TRUE(out.has_value()) << "no output within 10 s";
    for (const auto& c : out->choices) {
      tokens.insert(tokens.end(), c.tokens.begin(), c.tokens.end());
      text += c.text;
    }
    if (out->finished) {
      EXPECT_EQ(out->choices.back().finish, FinishReason::Length);
      EXPECT_EQ(out->metrics.generated_tokens, 12);
      EXPECT_GT(out->metrics.prompt_tokens, 0);
      EXPECT_GE(out->metrics.e2e_ms, out->metrics.ttft_ms);
      break;
    }
  }
  EXPECT_EQ(tokens.size(), 12u);
  EXPECT_FALSE(engine.poll(id, 1ms).has_value()) << "a finished request is forgotten";
  const RequestOutput again = engine.generate(greedy("Once upon a time", 12));
  EXPECT_EQ(again.choices.at(0).tokens, tokens);
  EXPECT_EQ(again.choices.at(0).text, text);
  EXPECT_GT(again.metrics.cached_prompt_tokens, 0) << "the same prompt again should hit the prefix cache";
}

TEST_F(EngineTest, ChoicesOfOneRequestDifferAndEachMatchesItsSeed) {
  Engine engine(model_->model, model_->tokenizer, manual());
  Request r = greedy("Once upon a time", 16);
  r.n = 4;
  r.sampling = SamplingParams{.temperature = 1.0f, .top_k = 0, .top_p = 1.0f, .min_p = 0.0f, .seed = 5};
  const RequestOutput out = engine.generate(r);
  ASSERT_EQ(out.choices.size(), 4u);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(out.choices[static_cast<std::size_t>(i)].index, i);
    Request single = r;
    single.n = 1;
    single.sampling.seed = 5u + static_cast<unsigned>(i);
    EXPECT_EQ(engine.generate(single).choices.at(0).tokens, out.choices[static_cast<std::size_t>(i)].tokens);
  }
  EXPECT_NE(out.choices[0].tokens, out.choices[1].tokens);
  EXPECT_EQ(out.metrics.generated_tokens, 64);
  expect_no_blocks_in_use(engine);
}

TEST_F(EngineTest, StopStringEndsTheChoiceAndNeverAppears) {
  Engine engine(model_->model, model_->tokenizer, manual());
  const RequestOutput full = engine.generate(greedy("Once upon a time", 40));
  const std::string& text = full.choices.at(0).text;
  ASSERT_GT(text.size(), 6u);
  const std::string stop = text.substr(text.size() / 2, 3);
  Request r = greedy("Once upon a time", 40);
  r.stop = {stop};
  const RequestOutput stopped = engine.generate(r);
  EXPECT_EQ(stopped.choices.at(0).finish, FinishReason::Stop);
  EXPECT_EQ(stopped.choices.at(0).text, text.substr(0, text.find(stop)));
}

TEST_F(EngineTest, LogprobsDescribeTheModelsDistribution) {
  Engine engine(model_->model, model_->tokenizer, manual());
  Request r = greedy("Once upon a time", 8);
  r.logprobs = 5;
  const RequestOutput out = engine.generate(r);
  const ChoiceOutput& c = out.choices.at(0);
  ASSERT_EQ(c.logprobs.size(), c.tokens.size());
  for (std::size_t i = 0; i < c.tokens.size(); ++i) {
    const TokenLogprobs& lp = c.logprobs[i];
    EXPECT_EQ(lp.token, c.tokens[i]);
    ASSERT_EQ(lp.top.size(), 5u);
    EXPECT_EQ(lp.top[0].token, lp.token) << "greedy picks the most likely token";
    EXPECT_FLOAT_EQ(lp.top[0].logprob, lp.logprob);
    double mass = 0;
    for (std::size_t k = 0; k < lp.top.size(); ++k) {
      EXPECT_LE(lp.top[k].logprob, 0.0f);
      if (k > 0) {
        EXPECT_LE(lp.top[k].logprob, lp.top[k - 1].logprob);
      }
      mass += std::exp(lp.top[k].logprob);
    }
    EXPECT_LE(mass, 1.0 + 1e-5);
  }
}

// A few thousand short requests with shared prefixes against a small pool, a background loop and
// random aborts from this thread: every request ends exactly once, and no block leaks.
TEST_F(EngineTest, StressWithRandomAbortsLeaksNoBlock) {
  Engine engine(model_->model, model_->tokenizer,
                EngineOptions{.block_size = 4,
                              .kv_mem_bytes = 0,
                              .max_seqs = 8,
                              .max_batched_tokens = 32,
                              .threads = 1});
  std::mt19937 rng(11);
  const int n_requests = 2000;
  std::atomic<int> finished{0};
  std::atomic<int> aborted{0};
  std::atomic<int> duplicate_ends{0};
  std::vector<std::atomic<bool>> ended(n_requests);
  std::vector<RequestId> ids;
  int rejected = 0;
  const std::vector<TokenId> shared{1, 50, 60, 70, 80, 90, 100, 110};
  for (int i = 0; i < n_requests; ++i) {
    Request r;
    std::uniform_int_distribution<int> len(1, 24);
    r.prompt_tokens = i % 2 == 0 ? shared : std::vector<TokenId>{1};
    for (int k = len(rng); k > 0; --k) r.prompt_tokens.push_back(3 + static_cast<TokenId>(rng() % 500));
    r.max_tokens = 1 + static_cast<int>(rng() % 6);
    if (i % 97 == 0) r.max_tokens = 200;  // beyond the context: rejected up front
    r.sampling.temperature = i % 3 == 0 ? 0.0f : 0.8f;
    r.sampling.seed = static_cast<std::uint64_t>(i);
    r.n = i % 10 == 0 ? 2 : 1;
    r.on_output = [&, i](const RequestOutput& out) {
      if (!out.finished) return;
      if (ended[static_cast<std::size_t>(i)].exchange(true)) ++duplicate_ends;
      ++finished;
      for (const auto& c : out.choices)
        if (c.finish == FinishReason::Abort) {
          ++aborted;
          break;
        }
    };
    try {
      ids.push_back(engine.add(std::move(r)));
    } catch (const InvalidArgument&) {
      ++rejected;
      ended[static_cast<std::size_t>(i)] = true;
      ++finished;
    }
    if (rng() % 4 == 0 && !ids.empty()) engine.abort(ids[rng() % ids.size()]);
    if (i % 50 == 0) std::this_thread::sleep_for(1ms);
  }
  const auto deadline = std::chrono::steady_clock::now() + 120s;
  while (finished < n_requests && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(5ms);
  ASSERT_EQ(finished.load(), n_requests);
  EXPECT_EQ(duplicate_ends.load(), 0);
  EXPECT_GT(rejected, 0);
  EXPECT_GT(aborted.load(), 0);
  // The loop publishes metrics after delivering; give it a moment to go idle.
  std::this_thread::sleep_for(50ms);
  expect_no_blocks_in_use(engine);
  const EngineMetrics m = engine.metrics();
  EXPECT_GT(m.prefix_hit_rate, 0.0);
  EXPECT_EQ(m.requests_finished + m.requests_aborted, static_cast<std::uint64_t>(n_requests - rejected));
}

}  // namespace
}  // namespace flux
