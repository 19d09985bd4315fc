#include "engine/sampler.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>

#include <fmt/format.h>

#include "base/error.hpp"

namespace flux {
namespace {

using Candidate = std::pair<float, TokenId>;

constexpr float kMinusInfinity = -std::numeric_limits<float>::infinity();

// Higher logit first, ties to the lower id: a strict total order, so every selection below
// leaves the same candidates in the same places whatever algorithm the library uses, and a seed
// reproduces a run exactly.
struct BestFirst {
  bool operator()(const Candidate& a, const Candidate& b) const {
    return a.first > b.first || (a.first == b.first && a.second < b.second);
  }
};

float max_logit(const std::vector<Candidate>& candidates) {
  float best = kMinusInfinity;
  for (const auto& [logit, token] : candidates) best = std::max(best, logit);
  return best;
}

std::vector<Candidate>::iterator at(std::vector<Candidate>& candidates, std::size_t i) {
  return candidates.begin() + static_cast<std::ptrdiff_t>(i);
}

// Never a sort of the whole vocabulary. For the usual small k, partial_sort's heap rejects
// almost every candidate with one comparison (measured ~10x faster than nth_element on a 128k
// vocabulary with k = 40); for a k near the vocabulary size, nth_element's linear selection
// wins. Later stages need the k best in no particular order.
void keep_top_k(std::vector<Candidate>& candidates, int top_k) {
  if (top_k <= 0 || static_cast<std::size_t>(top_k) >= candidates.size()) return;
  const auto k = static_cast<std::size_t>(top_k);
  constexpr std::size_t kHeapSelectRatio = 16;
  if (k * kHeapSelectRatio < candidates.size()) {
    std::partial_sort(candidates.begin(), at(candidates, k), candidates.end(), BestFirst{});
  } else {
    std::nth_element(candidates.begin(), at(candidates, k), candidates.end(), BestFirst{});
  }
  candidates.resize(k);
}

// Keeps the smallest best-first prefix whose probability (at temperature 1) reaches top_p; the
// token that crosses the line stays, as in llama.cpp. A nucleus over a large vocabulary can
// hold thousands of tokens, so instead of sorting, bisect on the rank with nth_element: O(n)
// expected. BestFirst is a total order, so the kept set is exactly the sorted prefix.
void keep_top_p(std::vector<Candidate>& candidates, float top_p) {
  if (top_p >= 1.0f || candidates.size() <= 1) return;
  const float best = max_logit(candidates);
  auto mass = [&](std::size_t begin, std::size_t end) {
    double sum = 0.0;
    for (std::size_t i = begin; i < end; ++i) sum += std::exp(candidates[i].first - best);
    return sum;
  };
  const double target = static_cast<double>(top_p) * mass(0, candidates.size());
  // Invariant: [0, lo) holds the lo best candidates, of mass `kept` < target, and [lo, hi) the
  // next ones; the nucleus is the n best for some lo < n <= hi. (If rounding leaves the whole
  // mass a hair below the target, the nucleus is everything.)
  std::size_t lo = 0;
  std::size_t hi = candidates.size();
  double kept = 0.0;
  while (hi - lo > 1) {
    const std::size_t mid = lo + (hi - lo) / 2;
    std::nth_element(at(candidates, lo), at(candidates, mid), at(candidates, hi), BestFirst{});
    const double upper = mass(lo, mid);
    if (kept + upper >= target) {
      hi = mid;
    } else {
      kept += upper;
      lo = mid;
    }
  }
  candidates.resize(hi);
}

// p_i >= min_p * p_best is logit_i - logit_best >= log(min_p); comparing the difference keeps
// the test exact when logits are large and log(min_p) would vanish in their rounding.
void keep_min_p(std::vector<Candidate>& candidates, float min_p) {
  if (min_p <= 0.0f || candidates.size() <= 1) return;
  const float best = max_logit(candidates);
  const float log_min_p = std::log(min_p);
  std::erase_if(candidates, [&](const Candidate& c) { return c.first - best < log_min_p; });
}

float penalised(float logit, int count, const SamplingParams& params) {
  // CTRL / llama.cpp: move the logit toward "less likely" whatever its sign.
  logit = logit <= 0.0f ? logit * params.repetition_penalty : logit / params.repetition_penalty;
  return logit - (params.frequency_penalty * static_cast<float>(count) + params.presence_penalty);
}

}  // namespace

void validate(const SamplingParams& params) {
  if (!std::isfinite(params.temperature))
    throw InvalidArgument(
        fmt::format("temperature must be a finite number, got {}", params.temperature));
  if (!(params.top_p > 0.0f && params.top_p <= 1.0f))
    throw InvalidArgument(fmt::format("top_p must be in (0, 1], got {}", params.top_p));
  if (!(params.min_p >= 0.0f && params.min_p <= 1.0f))
    throw InvalidArgument(fmt::format("min_p must be in [0, 1], got {}", params.min_p));
  if (!(std::isfinite(params.repetition_penalty) && params.repetition_penalty > 0.0f))
    throw InvalidArgument(fmt::format("repetition_penalty must be a finite number > 0, got {}",
                                      params.repetition_penalty));
  // Infinite penalties are refused too: inf - inf on a +inf logit would make a NaN.
  if (!std::isfinite(params.presence_penalty))
    throw InvalidArgument(fmt::format("presence_penalty must be a finite number, got {}",
                                      params.presence_penalty));
  if (!std::isfinite(params.frequency_penalty))
    throw InvalidArgument(fmt::format("frequency_penalty must be a finite number, got {}",
                                      params.frequency_penalty));
  if (params.penalty_last_n < -1)
    throw InvalidArgument(
        fmt::format("penalty_last_n must be -1 (all), 0 (none) or positive, got {}",
                    params.penalty_last_n));
}

Sampler::Sampler(const SamplingParams& params) : params_(params), rng_(params.seed) {
  validate(params_);
}

TokenId Sampler::sample(std::span<const float> logits, std::span<const TokenId> history) {
  if (logits.empty()) throw InvalidArgument("logits: the row is empty, nothing to sample from");
  if (logits.size() > static_cast<std::size_t>(std::numeric_limits<TokenId>::max()))
    throw InvalidArgument(fmt::format("logits: {} entries do not fit a token id", logits.size()));
  count_seen_tokens(history, logits.size());

  if (params_.temperature <= 0.0f) return greedy(logits);

  collect_candidates(logits);
  if (candidates_.empty())
    throw InvalidArgument("logits: every value is NaN or -inf, nothing to sample from");
  keep_top_k(candidates_, params_.top_k);
  keep_top_p(candidates_, params_.top_p);
  keep_min_p(candidates_, params_.min_p);
  return draw();
}

bool Sampler::has_penalties() const {
  return params_.repetition_penalty != 1.0f || params_.presence_penalty != 0.0f ||
         params_.frequency_penalty != 0.0f;
}

void Sampler::count_seen_tokens(std::span<const TokenId> history, std::size_t vocab_size) {
  seen_.clear();
  if (!has_penalties() || params_.penalty_last_n == 0) return;
  const std::size_t window = params_.penalty_last_n < 0
                                 ? history.size()
                                 : std::min(history.size(),
                                            static_cast<std::size_t>(params_.penalty_last_n));
  const auto recent = history.last(window);
  window_.assign(recent.begin(), recent.end());
  std::sort(window_.begin(), window_.end());
  for (std::size_t i = 0; i < window_.size();) {
    const TokenId token = window_[i];
    if (token < 0 || static_cast<std::size_t>(token) >= vocab_size)
      throw InvalidArgument(fmt::format(
          "history: token {} is outside the vocabulary of {} logits", token, vocab_size));
    std::size_t run_end = i;
    while (run_end < window_.size() && window_[run_end] == token) ++run_end;
    seen_.push_back({token, static_cast<int>(run_end - i)});
    i = run_end;
  }
}

template <typename Visit>
void Sampler::visit_penalised(std::span<const float> logits, Visit&& visit) const {
  // seen_ is sorted by token, so one forward walk finds each penalised token. A NaN stays NaN
  // through the penalties; the callers treat it as -inf by comparing with `>`.
  auto next_seen = seen_.begin();
  for (std::size_t i = 0; i < logits.size(); ++i) {
    const auto token = static_cast<TokenId>(i);
    float logit = logits[i];
    if (next_seen != seen_.end() && next_seen->token == token) {
      logit = penalised(logit, next_seen->count, params_);
      ++next_seen;
    }
    visit(token, logit);
  }
}

TokenId Sampler::greedy(std::span<const float> logits) const {
  float best = kMinusInfinity;
  TokenId best_token = -1;
  if (seen_.empty()) {
    best_token = argmax(logits);  // the plain loop, which the compiler keeps tight
    best = logits[static_cast<std::size_t>(best_token)];
  } else {
    visit_penalised(logits, [&](TokenId token, float logit) {
      if (logit > best) {  // strict: ties keep the lowest id, NaN never wins
        best = logit;
        best_token = token;
      }
    });
  }
  if (!(best > kMinusInfinity))
    throw InvalidArgument("logits: every value is NaN or -inf, nothing to sample from");
  return best_token;
}

void Sampler::collect_candidates(std::span<const float> logits) {
  candidates_.clear();
  candidates_.reserve(logits.size());
  visit_penalised(logits, [&](TokenId token, float logit) {
    if (!(logit > kMinusInfinity)) return;  // -inf or NaN: can never be drawn
    // +inf would turn the softmax's (logit - max) into NaN; the largest float keeps its meaning
    // (it beats every finite logit, and several of them share the mass).
    candidates_.emplace_back(std::min(logit, std::numeric_limits<float>::max()), token);
  });
}

TokenId Sampler::draw() {
  const float best = max_logit(candidates_);
  const float temperature = params_.temperature;
  double total = 0.0;
  for (auto& [weight, token] : candidates_) {
    weight = std::exp((weight - best) / temperature);  // the logit slot now holds the weight
    total += weight;
  }
  // 53 random bits as a double in [0, 1): the same numbers on every standard library, which
  // std::uniform_real_distribution does not promise.
  const double u = static_cast<double>(rng_() >> 11) * 0x1.0p-53 * total;
  double cumulative = 0.0;
  for (const auto& [weight, token] : candidates_) {
    cumulative += weight;
    if (u < cumulative) return token;
  }
  // Rounding can leave u just past the last partial sum: the last token with weight takes it.
  for (auto it = candidates_.rbegin(); it != candidates_.rend(); ++it)
    if (it->first > 0.0f) return it->second;
  return candidates_.front().second;  // unreachable: the best candidate has weight 1
}

TokenId argmax(std::span<const float> logits) {
  if (logits.empty()) throw InvalidArgument("logits: the row is empty, nothing to sample from");
  float best = kMinusInfinity;
  TokenId best_token = 0;
  for (std::size_t i = 0; i < logits.size(); ++i) {
    if (logits[i] > best) {  // NaN compares false, so it never wins; ties keep the lowest id
      best = logits[i];
      best_token = static_cast<TokenId>(i);
    }
  }
  return best_token;
}

}  // namespace flux
