#include "engine/request_state.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace flux {
namespace {

SamplingParams choice_sampling(const SamplingParams& params, int index) {
  SamplingParams p = params;
  p.seed += static_cast<std::uint64_t>(index);  // n choices of one prompt must differ
  return p;
}

double ms_between(EngineClock::time_point from, EngineClock::time_point to) {
  return std::chrono::duration<double, std::milli>(to - from).count();
}

}  // namespace

const char* to_string(FinishReason reason) {
  switch (reason) {
    case FinishReason::Stop: return "stop";
    case FinishReason::Length: return "length";
    case FinishReason::Abort: return "abort";
    case FinishReason::None: break;
  }
  return "";
}

void append_output(RequestOutput& into, const RequestOutput& out) {
  for (const ChoiceOutput& c : out.choices) {
    auto it = std::lower_bound(into.choices.begin(), into.choices.end(), c.index,
                               [](const ChoiceOutput& have, int index) { return have.index < index; });
    if (it == into.choices.end() || it->index != c.index) {
      ChoiceOutput fresh;
      fresh.index = c.index;
      it = into.choices.insert(it, std::move(fresh));
    }
    it->tokens.insert(it->tokens.end(), c.tokens.begin(), c.tokens.end());
    it->text += c.text;
    it->logprobs.insert(it->logprobs.end(), c.logprobs.begin(), c.logprobs.end());
    if (c.finish != FinishReason::None) it->finish = c.finish;
  }
  into.id = out.id;
  if (!out.error.empty()) into.error = out.error;
  into.metrics = out.metrics;
  into.finished = into.finished || out.finished;
}

ChoiceRun::ChoiceRun(RequestState& request_state, int choice_index, const Tokenizer& tokenizer,
                     std::uint64_t sequence_id)
    : request(request_state),
      index(choice_index),
      sampler(choice_sampling(request_state.request.sampling, choice_index)),
      // Completions continue the prompt: the first piece keeps its leading space.
      decoder(StreamDecoder::after_prompt(tokenizer)),
      stops(request_state.request.stop) {
  seq.id = sequence_id;
}

ChoiceOutput& RequestState::news(int index) {
  for (ChoiceOutput& c : pending.choices)
    if (c.index == index) return c;
  pending.choices.push_back(ChoiceOutput{.index = index});
  return pending.choices.back();
}

RequestMetrics RequestState::metrics(EngineClock::time_point now) const {
  RequestMetrics m;
  m.queue_ms = scheduled ? ms_between(added, first_scheduled) : ms_between(added, now);
  m.ttft_ms = has_token ? ms_between(added, first_token) : 0;
  m.e2e_ms = ms_between(added, now);
  m.prompt_tokens = static_cast<std::int64_t>(prompt.size());
  std::int64_t longest = 0;
  for (const auto& c : choices) {
    m.generated_tokens += c->seq.n_generated();
    m.preemptions += c->seq.n_preemptions;
    longest = std::max(longest, c->seq.n_generated());
  }
  if (!choices.empty()) m.cached_prompt_tokens = std::max<std::int64_t>(choices.front()->seq.n_cached_prompt, 0);
  m.tpot_ms = longest > 1 ? ms_between(first_token, last_token) / static_cast<double>(longest - 1) : 0;
  return m;
}

void end_choice(ChoiceRun& choice, FinishReason reason) {
  if (choice.finish != FinishReason::None) return;
  choice.finish = reason;
  choice.request.news(choice.index).finish = reason;
  ++choice.request.n_finished;
}

void accept_token(ChoiceRun& choice, TokenId token, std::span<const float> logits, const Tokenizer& tokenizer,
                  std::int64_t max_model_len) {
  RequestState& request = choice.request;
  const Request& r = request.request;
  choice.seq.tokens.push_back(token);
  ChoiceOutput& out = request.news(choice.index);
  out.tokens.push_back(token);
  if (r.logprobs >= 0) out.logprobs.push_back(token_logprobs(logits, token, r.logprobs));

  // An end-of-generation token ends the choice without becoming text.
  if (!r.ignore_eos && tokenizer.is_end_of_generation(token)) {
    out.text += choice.stops.push(choice.decoder.flush()) + choice.stops.flush();
    end_choice(choice, FinishReason::Stop);
    return;
  }
  out.text += choice.stops.push(choice.decoder.push(token));
  if (choice.stops.stopped()) {
    end_choice(choice, FinishReason::Stop);
    return;
  }
  if (choice.seq.n_generated() >= choice.seq.max_tokens || choice.seq.n_tokens() >= max_model_len) {
    out.text += choice.stops.push(choice.decoder.flush());
    if (!choice.stops.stopped()) out.text += choice.stops.flush();
    end_choice(choice, choice.stops.stopped() ? FinishReason::Stop : FinishReason::Length);
  }
}

TokenLogprobs token_logprobs(std::span<const float> logits, TokenId token, int top_k) {
  // log p(i) = logit(i) - max - log(sum exp(logit - max)); NaN counts as -inf, as in the sampler.
  auto value = [](float x) { return std::isnan(x) ? -std::numeric_limits<float>::infinity() : x; };
  float max = -std::numeric_limits<float>::infinity();
  for (float x : logits) max = std::max(max, value(x));
  double sum = 0;
  for (float x : logits) sum += std::exp(static_cast<double>(value(x)) - max);
  const double log_norm = static_cast<double>(max) + std::log(sum);
  auto logprob = [&](TokenId t) {
    return static_cast<float>(static_cast<double>(value(logits[static_cast<std::size_t>(t)])) - log_norm);
  };

  TokenLogprobs result;
  result.token = token;
  result.logprob = logprob(token);
  const auto k = static_cast<std::size_t>(std::min<std::int64_t>(top_k, static_cast<std::int64_t>(logits.size())));
  if (k == 0) return result;
  std::vector<TokenId> ids(logits.size());
  for (std::size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<TokenId>(i);
  std::partial_sort(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(k), ids.end(), [&](TokenId a, TokenId b) {
    const float va = value(logits[static_cast<std::size_t>(a)]);
    const float vb = value(logits[static_cast<std::size_t>(b)]);
    return va > vb || (va == vb && a < b);
  });
  for (std::size_t i = 0; i < k; ++i) result.top.push_back({ids[i], logprob(ids[i])});
  return result;
}

}  // namespace flux
