#include "engine/sampler.hpp"

#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "base/error.hpp"

namespace flux {
namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

// Every filter off and no penalties: the draw is the plain softmax at `temperature`.
SamplingParams plain(float temperature, std::uint64_t seed = 42) {
  SamplingParams params;
  params.temperature = temperature;
  params.top_k = 0;
  params.top_p = 1.0f;
  params.min_p = 0.0f;
  params.seed = seed;
  return params;
}

std::vector<float> log_of(const std::vector<double>& probs) {
  std::vector<float> logits;
  for (double p : probs) logits.push_back(static_cast<float>(std::log(p)));
  return logits;
}

std::vector<double> softmax(const std::vector<float>& logits, double temperature) {
  double max = logits[0];
  for (float l : logits) max = std::max<double>(max, l);
  std::vector<double> probs;
  double total = 0.0;
  for (float l : logits) total += probs.emplace_back(std::exp((l - max) / temperature));
  for (double& p : probs) p /= total;
  return probs;
}

std::vector<int> histogram(Sampler& sampler, const std::vector<float>& logits, int draws,
                           const std::vector<TokenId>& history = {}) {
  std::vector<int> counts(logits.size());
  for (int i = 0; i < draws; ++i) {
    counts.at(static_cast<std::size_t>(sampler.sample(logits, history)))++;
  }
  return counts;
}

// Pearson's statistic against `expected`; a token with probability 0 must never be drawn.
// `critical` is the chi-square quantile at p = 0.001 for (tokens with probability > 0) - 1
// degrees of freedom; seeds are fixed, so a pass is deterministic, not lucky.
void expect_distribution(const std::vector<int>& counts, const std::vector<double>& expected,
                         double critical) {
  ASSERT_EQ(counts.size(), expected.size());
  int draws = 0;
  for (int c : counts) draws += c;
  double chi_square = 0.0;
  for (std::size_t i = 0; i < counts.size(); ++i) {
    if (expected[i] == 0.0) {
      EXPECT_EQ(counts[i], 0) << "token " << i << " should have been filtered out";
      continue;
    }
    const double e = expected[i] * draws;
    chi_square += (counts[i] - e) * (counts[i] - e) / e;
  }
  EXPECT_LT(chi_square, critical);
}

void expect_invalid(const SamplingParams& params, const std::string& field) {
  try {
    Sampler sampler(params);
    ADD_FAILURE() << "no exception for " << field;
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find(field), std::string::npos) << e.what();
  }
}

TEST(Sampler, GreedyIsArgmaxWithTiesToLowestId) {
  const std::vector<float> logits{1.0f, 3.0f, -2.0f, 3.0f, 2.5f};
  EXPECT_EQ(argmax(logits), 1);
  for (float temperature : {0.0f, -1.0f, -0.0f}) {
    Sampler sampler(plain(temperature));
    EXPECT_EQ(sampler.sample(logits, {}), 1) << temperature;
  }
}

TEST(Sampler, TopKOneIsGreedyAtAnyTemperature) {
  std::mt19937 gen(7);
  std::normal_distribution<float> normal(0.0f, 3.0f);
  std::vector<float> logits(1000);
  for (float temperature : {0.05f, 1.0f, 5.0f, 1000.0f}) {
    SamplingParams params = plain(temperature);
    params.top_k = 1;
    Sampler sampler(params);
    for (int row = 0; row < 50; ++row) {
      for (float& l : logits) l = normal(gen);
      if (row % 5 == 0) logits[999] = logits[static_cast<std::size_t>(argmax(logits))];  // a tie
      ASSERT_EQ(sampler.sample(logits, {}), argmax(logits)) << temperature << " " << row;
    }
  }
}

TEST(Sampler, SameSeedSameSequenceOtherSeedOtherSequence) {
  const std::vector<float> logits(50, 0.0f);  // uniform: every draw is a coin with 50 sides
  auto run = [&](std::uint64_t seed) {
    Sampler sampler(plain(1.0f, seed));
    std::vector<TokenId> drawn;
    for (int i = 0; i < 100; ++i) drawn.push_back(sampler.sample(logits, drawn));
    return drawn;
  };
  EXPECT_EQ(run(1), run(1));
  EXPECT_NE(run(1), run(2));
}

TEST(Sampler, DrawsFollowTheSoftmax) {
  const std::vector<float> logits{0.0f, 1.0f, 2.0f, -1.0f, 0.5f, 3.0f};
  Sampler sampler(plain(1.0f));
  expect_distribution(histogram(sampler, logits, 20000), softmax(logits, 1.0), 20.52);  // 5 dof
}

TEST(Sampler, TemperatureScalesLogits) {
  const std::vector<float> logits{0.0f, 1.0f, 2.0f, -1.0f};
  for (double temperature : {0.5, 2.0}) {
    Sampler sampler(plain(static_cast<float>(temperature), 3));
    expect_distribution(histogram(sampler, logits, 20000), softmax(logits, temperature),
                        16.27);  // 3 dof
  }
}

TEST(Sampler, TopPKeepsTheSmallestNucleus) {
  // Ids out of probability order, so the nucleus must come from sorting, not from the ids.
  const std::vector<float> logits = log_of({0.30, 0.05, 0.15, 0.50});
  struct Case {
    float top_p;
    std::vector<double> expected;
  };
  for (const Case& c : {Case{0.4f, {0, 0, 0, 1}},                 // 0.5 alone reaches 0.4
                        Case{0.7f, {0.375, 0, 0, 0.625}},         // 0.5 + 0.3 = 0.8
                        Case{0.9f, {0.3 / 0.95, 0, 0.15 / 0.95, 0.5 / 0.95}},
                        Case{1.0f, {0.30, 0.05, 0.15, 0.50}}}) {
    SamplingParams params = plain(1.0f);
    params.top_p = c.top_p;
    Sampler sampler(params);
    expect_distribution(histogram(sampler, logits, 20000), c.expected, 16.27);
  }
}

TEST(Sampler, TopPOverALargeVocabularyKeepsExactlyTheNucleus) {
  // 1000 equal logits: the nucleus for 0.4995 is 500 tokens, the lowest ids by the tie rule.
  const std::vector<float> logits(1000, 1.0f);
  SamplingParams params = plain(1.0f);
  params.top_p = 0.4995f;
  Sampler sampler(params);
  const std::vector<int> counts = histogram(sampler, logits, 5000);
  int highest_drawn = 0;
  for (int token = 0; token < 1000; ++token) {
    if (counts[static_cast<std::size_t>(token)] > 0) highest_drawn = token;
  }
  EXPECT_EQ(highest_drawn, 499);
}

TEST(Sampler, TopPAppliesAfterTopK) {
  // top-k 2 leaves {0.5, 0.3}, renormalised {0.625, 0.375}; top-p 0.6 then keeps the first.
  const std::vector<float> logits = log_of({0.30, 0.05, 0.15, 0.50});
  SamplingParams params = plain(1.0f);
  params.top_k = 2;
  params.top_p = 0.6f;
  Sampler sampler(params);
  expect_distribution(histogram(sampler, logits, 2000), {0, 0, 0, 1}, 10.83);
}

TEST(Sampler, MinPDropsTokensBelowAFractionOfTheBest) {
  const std::vector<float> logits = log_of({0.30, 0.05, 0.15, 0.50});
  struct Case {
    float min_p;
    std::vector<double> expected;
  };
  for (const Case& c : {Case{0.2f, {0.30 / 0.95, 0, 0.15 / 0.95, 0.50 / 0.95}},  // cut at 0.1
                        Case{0.5f, {0.375, 0, 0, 0.625}},                       // cut at 0.25
                        Case{1.0f, {0, 0, 0, 1}}}) {
    SamplingParams params = plain(1.0f);
    params.min_p = c.min_p;
    Sampler sampler(params);
    expect_distribution(histogram(sampler, logits, 20000), c.expected, 16.27);
  }
}

TEST(Sampler, MinPIsExactForLargeLogits) {
  // log(0.1) = -2.3 would vanish in the rounding of 1e6 + log(0.1); the gap must still count.
  const std::vector<float> logits{1e6f, 1e6f - 1.0f, 1e6f - 10.0f};
  SamplingParams params = plain(1.0f);
  params.min_p = 0.1f;
  Sampler sampler(params);
  const std::vector<int> counts = histogram(sampler, logits, 2000);
  EXPECT_GT(counts[0], 0);
  EXPECT_GT(counts[1], 0);
  EXPECT_EQ(counts[2], 0);
}

// Greedy decisions on logits placed either side of a hand-computed penalised value.
TokenId greedy_with(const SamplingParams& penalties, const std::vector<float>& logits,
                    const std::vector<TokenId>& history) {
  SamplingParams params = penalties;
  params.temperature = 0.0f;
  return Sampler(params).sample(logits, history);
}

TEST(Sampler, RepetitionPenaltyDividesPositiveAndMultipliesNegativeLogits) {
  SamplingParams params;
  params.repetition_penalty = 1.5f;
  EXPECT_EQ(greedy_with(params, {2.0f, 1.5f}, {0}), 1);    // 2 / 1.5 = 1.33 < 1.5
  EXPECT_EQ(greedy_with(params, {-1.0f, -1.2f}, {0}), 1);  // -1 * 1.5 = -1.5 < -1.2
  params.repetition_penalty = 1.25f;
  EXPECT_EQ(greedy_with(params, {2.0f, 1.5f}, {0}), 0);  // 1.6 > 1.5
  params.repetition_penalty = 1.1f;
  EXPECT_EQ(greedy_with(params, {-1.0f, -1.2f}, {0}), 0);  // -1.1 > -1.2
  params.repetition_penalty = 0.5f;                        // below 1 rewards repetition
  EXPECT_EQ(greedy_with(params, {1.0f, 1.5f}, {0}), 0);    // 1 / 0.5 = 2 > 1.5
}

TEST(Sampler, PresencePenaltyCountsOnceFrequencyPenaltyPerOccurrence) {
  SamplingParams presence;
  presence.presence_penalty = 0.4f;
  EXPECT_EQ(greedy_with(presence, {3.0f, 2.5f}, {0, 0, 0}), 0);  // 3 - 0.4 = 2.6
  presence.presence_penalty = 0.6f;
  EXPECT_EQ(greedy_with(presence, {3.0f, 2.5f}, {0, 0, 0}), 1);  // 3 - 0.6 = 2.4

  SamplingParams frequency;
  frequency.frequency_penalty = 0.3f;
  EXPECT_EQ(greedy_with(frequency, {3.0f, 2.0f}, {0, 1, 0, 0}), 0);  // 3 - 0.9 = 2.1 vs 1.7
  frequency.frequency_penalty = 0.34f;
  EXPECT_EQ(greedy_with(frequency, {3.0f, 2.0f}, {0, 0, 0}), 1);  // 3 - 1.02 = 1.98
  frequency.frequency_penalty = -0.5f;                            // negative encourages
  EXPECT_EQ(greedy_with(frequency, {1.0f, 1.9f}, {0, 0}), 0);    // 1 + 1 = 2 > 1.9
}

TEST(Sampler, RepetitionPenaltyComesBeforeTheSubtractions) {
  SamplingParams params;
  params.repetition_penalty = 2.0f;
  params.presence_penalty = 0.5f;
  // 3 / 2 - 0.5 = 1.0 < 1.2; the other order, (3 - 0.5) / 2 = 1.25, would keep token 0.
  EXPECT_EQ(greedy_with(params, {3.0f, 1.2f}, {0}), 1);
}

TEST(Sampler, PenaltiesLookOnlyAtTheLastNTokens) {
  SamplingParams params;
  params.repetition_penalty = 1.5f;  // token 0: 2.0 -> 1.33 when seen, below token 2's 1.9
  const std::vector<float> logits{2.0f, 1.0f, 1.9f};
  const std::vector<TokenId> history{0, 1, 1};
  params.penalty_last_n = 2;
  EXPECT_EQ(greedy_with(params, logits, history), 0);
  params.penalty_last_n = 3;
  EXPECT_EQ(greedy_with(params, logits, history), 2);
  params.penalty_last_n = 100;
  EXPECT_EQ(greedy_with(params, logits, history), 2);
  params.penalty_last_n = -1;
  EXPECT_EQ(greedy_with(params, logits, history), 2);
  params.penalty_last_n = 0;
  EXPECT_EQ(greedy_with(params, logits, history), 0);
}

TEST(Sampler, PenaltiesApplyWhenSampling) {
  SamplingParams params = plain(1.0f);
  params.presence_penalty = 30.0f;
  Sampler sampler(params);
  expect_distribution(histogram(sampler, {10.0f, 0.0f}, 500, {0}), {0, 1}, 10.83);
}

TEST(Sampler, HistoryOutsideTheVocabularyThrows) {
  SamplingParams params;
  params.presence_penalty = 1.0f;
  Sampler sampler(params);
  EXPECT_THROW(sampler.sample(std::vector<float>{1.0f, 2.0f}, std::vector<TokenId>{2}),
               InvalidArgument);
  EXPECT_THROW(sampler.sample(std::vector<float>{1.0f, 2.0f}, std::vector<TokenId>{-1}),
               InvalidArgument);
}

TEST(Sampler, InvalidParametersThrowNamingTheField) {
  auto with = [](auto set) {
    SamplingParams params;
    set(params);
    return params;
  };
  for (float t : {kNaN, kInf, -kInf})
    expect_invalid(with([&](SamplingParams& p) { p.temperature = t; }), "temperature");
  for (float v : {0.0f, -0.1f, 1.01f, kNaN})
    expect_invalid(with([&](SamplingParams& p) { p.top_p = v; }), "top_p");
  for (float v : {-0.01f, 1.01f, kNaN})
    expect_invalid(with([&](SamplingParams& p) { p.min_p = v; }), "min_p");
  for (float v : {0.0f, -1.0f, kNaN, kInf})
    expect_invalid(with([&](SamplingParams& p) { p.repetition_penalty = v; }),
                   "repetition_penalty");
  for (float v : {kNaN, kInf})
    expect_invalid(with([&](SamplingParams& p) { p.presence_penalty = v; }), "presence_penalty");
  for (float v : {kNaN, -kInf})
    expect_invalid(with([&](SamplingParams& p) { p.frequency_penalty = v; }),
                   "frequency_penalty");
  expect_invalid(with([](SamplingParams& p) { p.penalty_last_n = -2; }), "penalty_last_n");

  // The edges of every range are valid.
  EXPECT_NO_THROW(Sampler(with([](SamplingParams& p) {
    p.temperature = -1.0f;
    p.top_p = 1.0f;
    p.min_p = 1.0f;
    p.penalty_last_n = -1;
    p.top_k = -5;
  })));
  EXPECT_NO_THROW(Sampler(with([](SamplingParams& p) { p.min_p = 0.0f; })));
}

TEST(Sampler, EmptyLogitsThrow) {
  Sampler sampler(SamplingParams{});
  EXPECT_THROW(sampler.sample(std::vector<float>{}, {}), InvalidArgument);
  EXPECT_THROW(argmax(std::vector<float>{}), InvalidArgument);
}

TEST(Sampler, NaNLogitsCountAsMinusInfinity) {
  const std::vector<float> logits{kNaN, 1.0f, kNaN, 0.5f};
  EXPECT_EQ(argmax(logits), 1);
  EXPECT_EQ(argmax(std::vector<float>{kNaN, kNaN}), 0);
  EXPECT_EQ(Sampler(plain(0.0f)).sample(logits, {}), 1);
  Sampler sampler(plain(1.0f));
  expect_distribution(histogram(sampler, logits, 5000), {0, 0.6225, 0, 0.3775}, 10.83);
  SamplingParams penalised = plain(1.0f);
  penalised.repetition_penalty = 1.3f;
  penalised.presence_penalty = 0.5f;
  Sampler penalised_sampler(penalised);
  const std::vector<int> counts = histogram(penalised_sampler, logits, 1000, {0, 2});
  EXPECT_EQ(counts[0] + counts[2], 0);
}

TEST(Sampler, NothingToPickThrows) {
  for (float temperature : {0.0f, 1.0f}) {
    Sampler sampler(plain(temperature));
    EXPECT_THROW(sampler.sample(std::vector<float>{kNaN, -kInf}, {}), InvalidArgument);
  }
}

TEST(Sampler, InfiniteLogitsShareTheMass) {
  const std::vector<float> logits{1.0f, kInf, 2.0f, kInf};
  EXPECT_EQ(Sampler(plain(0.0f)).sample(logits, {}), 1);
  for (float temperature : {0.3f, 1.0f, 50.0f}) {
    Sampler sampler(plain(temperature));
    expect_distribution(histogram(sampler, logits, 4000), {0, 0.5, 0, 0.5}, 10.83);
  }
}

TEST(Sampler, ScratchAdaptsToEachRow) {
  Sampler sampler(SamplingParams{});
  for (std::size_t vocab : {1000u, 3u, 1u, 64u, 65u, 129u}) {
    std::vector<float> logits(vocab, 0.0f);
    const TokenId token = sampler.sample(logits, {});
    EXPECT_GE(token, 0);
    EXPECT_LT(static_cast<std::size_t>(token), vocab);
  }
}

}  // namespace
}  // namespace flux
