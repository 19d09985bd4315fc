#pragma once
// OpenAI response bodies: whole responses for non-streamed requests and the chunks of a stream,
// for completions and chat completions, with usage and logprobs in OpenAI's field names.

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "flux/engine.hpp"
#include "server/openai_request.hpp"
#include "tokenizer/tokenizer.hpp"

namespace flux::server {

struct ResponseIdentity {
  std::string id;      // "cmpl-…" or "chatcmpl-…"
  std::int64_t created = 0;
  std::string model;
};

struct Usage {
  std::int64_t prompt_tokens = 0;
  std::int64_t completion_tokens = 0;
  std::int64_t cached_tokens = 0;
};

nlohmann::json usage_json(const Usage& usage);

// One choice's accumulated or incremental content.
struct ChoiceContent {
  int index = 0;
  std::string text;
  std::vector<TokenLogprobs> logprobs;
  FinishReason finish = FinishReason::None;
  // Completions' logprobs.text_offset of the first token: where `text` starts in the choice's
  // whole text (after an echoed prompt, after earlier chunks of a stream).
  std::size_t text_offset = 0;
};

// What a choice's text follows in the response: with echo, the text of its prompt (choices run
// prompt-major: choice i of n belongs to prompt i / n); otherwise nothing.
const std::string& echo_text(const ParsedRequest& request, int choice_index);

// The complete response of a non-streamed request.
nlohmann::json full_response(const ParsedRequest& request, const ResponseIdentity& identity,
                             const std::vector<ChoiceContent>& choices, const Usage& usage, const Tokenizer& tokenizer);

// One stream chunk carrying `choice` (text delta, logprobs, finish reason); `first` adds the
// assistant role to a chat delta.
nlohmann::json stream_chunk(const ParsedRequest& request, const ResponseIdentity& identity, const ChoiceContent& choice,
                            bool first, const Tokenizer& tokenizer);

// The final usage chunk of a stream with include_usage: no choices, only usage.
nlohmann::json usage_chunk(const ParsedRequest& request, const ResponseIdentity& identity, const Usage& usage);

// "stop" / "length", or null while running. An aborted choice would report "stop", but the server
// answers an abort with an error instead (http_server.cpp says why).
nlohmann::json finish_json(FinishReason reason);

}  // namespace flux::server
