// The real stories260K model (trained llama2.c weights in a llama.cpp-written GGUF): the engine's
// logits against the float64 oracle on the reference prompts, and greedy continuations of both
// against llama.cpp's reference tokens.

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "model/forward_driver.hpp"
#include "model/model.hpp"
#include "model/oracle_forward.hpp"
#include "test_support.hpp"

namespace flux {
namespace {

using testing::OracleRounding;

struct ReferenceLine {
  std::vector<TokenId> prompt_tokens;  // with BOS
  std::vector<TokenId> tokens;         // llama.cpp's greedy continuation
};

std::vector<ReferenceLine> read_reference_lines() {
  const auto path = testing::shared_dir() / "reference" / "stories260K.jsonl";
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot open " + path.string());
  std::vector<ReferenceLine> lines;
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    const nlohmann::json record = nlohmann::json::parse(line);
    lines.push_back({record.at("prompt_tokens").get<std::vector<TokenId>>(),
                     record.at("tokens").get<std::vector<TokenId>>()});
  }
  return lines;
}

TokenId argmax(const std::vector<float>& logits) {
  return static_cast<TokenId>(std::ranges::max_element(logits) - logits.begin());
}

class StoriesOracle : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto path = testing::shared_dir() / "models" / "stories260K.gguf";
    ASSERT_TRUE(std::filesystem::exists(path)) << path << " is missing (set FLUX_SHARED_DIR)";
    model_ = std::make_unique<Model>(Model::load(path));
    oracle_ = std::make_unique<testing::OracleModel>(model_->file());
    lines_ = read_reference_lines();
    ASSERT_FALSE(lines_.empty());
  }

  std::unique_ptr<Model> model_;
  std::unique_ptr<testing::OracleModel> oracle_;
  std::vector<ReferenceLine> lines_;
};

TEST_F(StoriesOracle, PromptLogitsAgreeWithTheFloat64Oracle) {
  // Logits here reach ~14. Exact float64 differs from the engine by the F16 rounding of keys,
  // values and queries, which this trained model amplifies (measured 1.9e-2; the oracle with and
  // without those roundings differs as much). With the roundings in the oracle too, what is left
  // is float accumulation plus the odd value that float and double round to neighbouring F16
  // numbers (measured 2.9e-3; perturbing the oracle's q/k/v by 1e-7 relative moves its logits by
  // up to 2.5e-3, so this is the floor of the comparison, not a discrepancy).
  constexpr double kExactTolerance = 5e-2;
  constexpr double kRoundedTolerance = 1e-2;
  double worst_exact = 0.0, worst_rounded = 0.0, max_logit = 0.0;
  for (std::size_t i = 0; i < lines_.size(); ++i) {
    const std::vector<TokenId>& prompt = lines_[i].prompt_tokens;
    testing::ForwardDriver driver(*model_, {.block_size = 16, .n_threads = 2});
    const auto got = driver.run(driver.new_sequence(), prompt);
    const auto exact = oracle_logits(*oracle_, prompt);
    const auto rounded = oracle_logits(*oracle_, prompt, OracleRounding{.f16_attention = true});
    for (std::size_t r = 0; r < prompt.size(); ++r) {
      for (std::size_t v = 0; v < exact[r].size(); ++v) {
        const double e = std::fabs(got[r][v] - exact[r][v]);
        const double e_rounded = std::fabs(got[r][v] - rounded[r][v]);
        worst_exact = std::max(worst_exact, e);
        worst_rounded = std::max(worst_rounded, e_rounded);
        max_logit = std::max(max_logit, std::fabs(exact[r][v]));
        ASSERT_LE(e, kExactTolerance) << "line " << i << " position " << r << " token " << v;
        ASSERT_LE(e_rounded, kRoundedTolerance) << "line " << i << " position " << r << " token " << v;
      }
    }
  }
  RecordProperty("max_abs_error_vs_exact_oracle", fmt::format("{:.3e}", worst_exact));
  RecordProperty("max_abs_error_vs_rounded_oracle", fmt::format("{:.3e}", worst_rounded));
  RecordProperty("max_abs_logit", fmt::format("{:.3f}", max_logit));
}

TEST_F(StoriesOracle, OracleGreedyContinuationIsTheReference) {
  // The references were cut before any near-tie, so exact arithmetic must reproduce all of them.
  for (std::size_t i = 0; i < lines_.size(); ++i) {
    testing::OracleSequence sequence(*oracle_, OracleRounding{});
    std::vector<double> logits;
    for (TokenId t : lines_[i].prompt_tokens) logits = sequence.step(t);
    std::vector<TokenId> generated;
    while (generated.size() < lines_[i].tokens.size()) {
      generated.push_back(testing::argmax(logits));
      logits = sequence.step(generated.back());
    }
    EXPECT_EQ(generated, lines_[i].tokens) << "line " << i;
  }
}

TEST_F(StoriesOracle, EngineGreedyDecodeIsTheReference) {
  for (std::size_t i = 0; i < lines_.size(); ++i) {
    testing::ForwardDriver driver(*model_, {.block_size = 4, .n_threads = 1});
    const int seq = driver.new_sequence();
    std::vector<float> logits = driver.run(seq, lines_[i].prompt_tokens).back();
    std::vector<TokenId> generated;
    while (generated.size() < lines_[i].tokens.size()) {
      generated.push_back(argmax(logits));
      logits = driver.run(seq, {generated.back()}).back();
    }
    EXPECT_EQ(generated, lines_[i].tokens) << "line " << i;
  }
}

}  // namespace
}  // namespace flux
