#include "server/prompt_group.hpp"

#include <fmt/format.h>

namespace flux::server {

std::vector<Request> engine_requests(const ParsedRequest& parsed, const Tokenizer& tokenizer, int context_length) {
  const bool several = parsed.prompts.size() > 1;
  const char* param = parsed.endpoint == Endpoint::Completions ? "prompt" : "messages";
  const auto n_vocab = static_cast<std::int64_t>(tokenizer.vocab_size());
  std::vector<Request> requests;
  requests.reserve(parsed.prompts.size());
  for (std::size_t p = 0; p < parsed.prompts.size(); ++p) {
    const Prompt& prompt = parsed.prompts[p];
    const std::string which = several ? fmt::format("prompt {}", p) : "the prompt";
    Request r = parsed.engine;
    r.prompt_tokens = prompt.tokens;
    for (std::size_t i = 0; i < r.prompt_tokens.size(); ++i)
      if (r.prompt_tokens[i] < 0 || r.prompt_tokens[i] >= n_vocab)
        throw ApiError::invalid(fmt::format("token {} (id {}) of {} is outside the vocabulary of {} tokens", i,
                                            r.prompt_tokens[i], which, n_vocab),
                                param);
    if (r.prompt_tokens.empty()) {
      r.prompt_tokens = tokenizer.encode(prompt.text, r.add_special, /*parse_special=*/true);
      if (r.prompt_tokens.empty()) throw ApiError::invalid(fmt::format("{} is empty", which), param);
    }
    const auto n_prompt = static_cast<int>(r.prompt_tokens.size());
    if (n_prompt >= context_length)
      throw ApiError::invalid(fmt::format("{} has {} tokens but the context holds {}", which, n_prompt, context_length),
                              param, "context_length_exceeded");
    if (r.max_tokens == 0) r.max_tokens = context_length - n_prompt;  // chat without a limit
    requests.push_back(std::move(r));
  }
  return requests;
}

PromptGroup::PromptGroup(Engine& engine, int n) : engine_(engine), n_(n) {}

void PromptGroup::add(std::vector<Request> requests) {
  try {
    for (std::size_t p = 0; p < requests.size(); ++p) {
      const int offset = static_cast<int>(p) * n_;
      // Re-indexed on the engine's thread: a copy it makes anyway for the channel.
      requests[p].on_output = [channel = channel_, offset](const RequestOutput& out) {
        RequestOutput copy = out;
        for (ChoiceOutput& c : copy.choices) c.index += offset;
        channel->push(std::move(copy));
      };
      ids_.push_back(engine_.add(std::move(requests[p])));
      ++unfinished_;
    }
  } catch (...) {
    abort();
    throw;
  }
}

std::optional<RequestOutput> PromptGroup::pop(std::chrono::milliseconds timeout) {
  auto out = channel_->pop(timeout);
  if (!out) return out;
  if (!out->error.empty()) abort();
  if (out->finished) {
    --unfinished_;
    totals_.prompt_tokens += out->metrics.prompt_tokens;
    totals_.cached_prompt_tokens += out->metrics.cached_prompt_tokens;
    totals_.generated_tokens += out->metrics.generated_tokens;
  }
  return out;
}

void PromptGroup::abort() {
  for (RequestId id : ids_) engine_.abort(id);
}

}  // namespace flux::server
