// Several prompts in one HTTP request, on stories260K: each prompt becomes its own engine request
// (checked before any is added), the outputs come back indexed prompt-major with usage summed and
// every choice equal to its prompt run alone, and a refusal part-way through leaves nothing
// running.

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "engine/engine_models.hpp"
#include "server/prompt_group.hpp"

namespace flux::server {
namespace {

using namespace std::chrono_literals;

class PromptGroupTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { model_ = testing::load_stories().release(); }
  static void TearDownTestSuite() {
    delete model_;
    model_ = nullptr;
  }

  // Greedy completions of `prompts`, n choices each, as the request parser would give them.
  static ParsedRequest completions(std::vector<Prompt> prompts, int n, int max_tokens) {
    ParsedRequest r;
    r.prompts = std::move(prompts);
    r.engine.n = n;
    r.engine.max_tokens = max_tokens;
    r.engine.sampling.temperature = 0;
    r.engine.ignore_eos = true;
    return r;
  }

  static ApiError refusal(const ParsedRequest& r, int context_length = 128) {
    try {
      engine_requests(r, model_->tokenizer, context_length);
    } catch (const ApiError& e) {
      return e;
    }
    ADD_FAILURE() << "accepted";
    return ApiError(0, "", "");
  }

  static inline testing::LoadedTestModel* model_ = nullptr;
};

TEST_F(PromptGroupTest, EachPromptBecomesARequest) {
  const std::vector<TokenId> ids = model_->tokenizer.encode("Once upon", true, true);
  const auto requests = engine_requests(completions({{"Once upon a time", {}}, {"", ids}}, 2, 5), model_->tokenizer, 128);
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].prompt_tokens, model_->tokenizer.encode("Once upon a time", true, true));
  EXPECT_EQ(requests[1].prompt_tokens, ids);
  for (const Request& r : requests) {
    EXPECT_EQ(r.n, 2);
    EXPECT_EQ(r.max_tokens, 5);
  }
  ParsedRequest chat = completions({{"a chat", {}}}, 1, 0);
  chat.endpoint = Endpoint::ChatCompletions;
  const auto unlimited = engine_requests(chat, model_->tokenizer, 128);
  EXPECT_EQ(unlimited.at(0).max_tokens, 128 - static_cast<int>(unlimited.at(0).prompt_tokens.size()))
      << "chat without max_tokens runs to the end of the context";
}

TEST_F(PromptGroupTest, ABadPromptRefusesTheRequestNamingIt) {
  const ApiError vocab = refusal(completions({{"fine", {}}, {"", {1, 99999}}}, 1, 4));
  EXPECT_EQ(vocab.status(), 400);
  EXPECT_EQ(vocab.to_json()["error"]["param"], "prompt");
  EXPECT_NE(std::string(vocab.what()).find("token 1 (id 99999) of prompt 1 is outside the vocabulary"),
            std::string::npos)
      << vocab.what();
  std::string story;  // far over the 128 tokens of the context
  for (int i = 0; i < 12; ++i) story += "the cat sat on the mat and looked at the dog ";
  const ApiError context = refusal(completions({{"fine", {}}, {"fine", {}}, {story, {}}}, 1, 4));
  EXPECT_EQ(context.to_json()["error"]["code"], "context_length_exceeded");
  EXPECT_NE(std::string(context.what()).find("prompt 2 has"), std::string::npos) << context.what();
  const ApiError single = refusal(completions({{story, {}}}, 1, 4));
  EXPECT_NE(std::string(single.what()).find("the prompt has"), std::string::npos) << single.what();
}

// Prompt i, choice j has index i * n + j; every choice equals its prompt run alone (greedy, so
// the n choices of a prompt agree too); usage sums over the prompts.
TEST_F(PromptGroupTest, ChoicesArePromptMajorAndMatchEachPromptAlone) {
  Engine engine(model_->model, model_->tokenizer, EngineOptions{.max_seqs = 8, .threads = 2});
  const std::vector<std::string> texts = {"Once upon a time", "The little dog", "Lily and Ben went"};
  std::vector<Prompt> prompts;
  for (const std::string& t : texts) prompts.push_back({t, {}});
  const ParsedRequest parsed = completions(prompts, 2, 12);
  PromptGroup group(engine, 2);
  group.add(engine_requests(parsed, model_->tokenizer, engine.context_length()));
  EXPECT_EQ(group.choices(), 6);
  RequestOutput all;
  int finished_outputs = 0;
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (!group.finished() && std::chrono::steady_clock::now() < deadline)
    if (auto out = group.pop(100ms)) {
      finished_outputs += out->finished ? 1 : 0;
      append_output(all, *out);
    }
  ASSERT_TRUE(group.finished());
  EXPECT_EQ(finished_outputs, 3) << "one last output per prompt";
  ASSERT_EQ(all.choices.size(), 6u);
  std::int64_t prompt_tokens = 0;
  for (std::size_t p = 0; p < texts.size(); ++p) {
    Request alone = parsed.engine;
    alone.prompt = texts[p];
    alone.n = 1;
    const RequestOutput expected = engine.generate(alone);
    prompt_tokens += expected.metrics.prompt_tokens;
    for (std::size_t j = 0; j < 2; ++j) {
      const ChoiceOutput& c = all.choices[p * 2 + j];
      EXPECT_EQ(c.index, static_cast<int>(p * 2 + j));
      EXPECT_EQ(c.text, expected.choices.at(0).text) << "prompt " << p << ", choice " << j;
      EXPECT_EQ(c.finish, FinishReason::Length);
    }
  }
  EXPECT_EQ(group.totals().prompt_tokens, prompt_tokens);
  EXPECT_EQ(group.totals().generated_tokens, 6 * 12);
}

// The engine refuses the third prompt (queue full): the two already added are aborted, so the
// refused HTTP request leaves nothing queued or running.
TEST_F(PromptGroupTest, ARefusalPartWayAbortsThePromptsAlreadyAdded) {
  Engine engine(model_->model, model_->tokenizer, EngineOptions{.max_queue = 2, .threads = 2, .background = false});
  const ParsedRequest parsed = completions({{"Once", {}}, {"Once upon", {}}, {"Once upon a", {}}}, 1, 8);
  PromptGroup group(engine, 1);
  EXPECT_THROW(group.add(engine_requests(parsed, model_->tokenizer, engine.context_length())), QueueFullError);
  while (engine.step()) {
  }
  const EngineMetrics m = engine.metrics();
  EXPECT_EQ(m.requests_aborted, 2u);
  EXPECT_EQ(m.requests_finished, 0u);
  EXPECT_EQ(m.running + m.waiting, 0);
  EXPECT_EQ(m.kv_blocks_used, 0);
}

}  // namespace
}  // namespace flux::server
