#pragma once
// OpenAI request bodies (POST /v1/completions and /v1/chat/completions) into engine requests.
// Every field is checked for type and range before anything runs, and every refusal is an
// ApiError naming the parameter: a malformed body can never reach the engine. This is the path
// the request fuzzer drives (fuzz/openai_request_fuzzer.cpp).

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "flux/engine.hpp"
#include "server/api_error.hpp"

namespace flux::server {

enum class Endpoint { Completions, ChatCompletions };

// What a server accepts at most; beyond these a request is refused with 400, not honoured.
struct RequestLimits {
  int max_n = 16;
  int max_tokens = 0;           // 0: up to the context
  int max_top_logprobs = 20;
  int max_stop = 16;            // stop strings per request
  int max_stop_bytes = 256;     // bytes per stop string
  int max_messages = 1024;
  int max_prompt_tokens = 0;    // 0: up to the context (always checked against it by the engine)
};

// Renders chat messages (already validated: an array of {role, content} objects) into a prompt.
// Throws ApiError (400) when the template refuses them (raise_exception).
using ChatRenderer = std::function<std::string(const nlohmann::json& messages, bool add_generation_prompt)>;

struct ParsedRequest {
  Request engine;                 // prompt text or ids, sampling, stops, n, logprobs
  Endpoint endpoint = Endpoint::Completions;
  bool stream = false;
  bool include_usage = false;     // stream_options.include_usage
  bool echo = false;              // completions: the prompt text precedes the completion
  int top_logprobs = 0;           // alternatives per token in the response
  bool logprobs = false;          // per-token log-probabilities in the response
  std::string prompt_text;        // for echo
};

struct RequestContext {
  std::string_view served_model;  // requests naming another model get 404
  int context_length = 0;         // positions per sequence
  RequestLimits limits;
  ChatRenderer render_chat;       // required for chat completions
};

// Parses a body. Throws ApiError: 400 for malformed JSON, wrong types, out-of-range values and
// unsupported options; 404 for an unknown model.
ParsedRequest parse_request(std::string_view body, Endpoint endpoint, const RequestContext& context);

}  // namespace flux::server
