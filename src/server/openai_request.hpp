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
  int max_prompts = 64;         // prompts in one completion request (each is an engine request)
  int max_choices = 128;        // prompts × n: each choice is a sequence the engine runs
};

// Renders chat messages (already validated: an array of {role, content} objects) into a prompt.
// Throws ApiError (400) when the template refuses them (raise_exception).
using ChatRenderer = std::function<std::string(const nlohmann::json& messages, bool add_generation_prompt)>;

// One prompt as the client sent it: text (the server tokenizes it) or token ids (used as they are).
struct Prompt {
  std::string text;
  std::vector<TokenId> tokens;
};

struct ParsedRequest {
  Request engine;                 // sampling, stops, n, logprobs: shared by every prompt; no prompt
  std::vector<Prompt> prompts;    // completions: 1 to max_prompts; chat: the rendered messages
  Endpoint endpoint = Endpoint::Completions;
  bool stream = false;
  bool include_usage = false;     // stream_options.include_usage
  bool echo = false;              // completions: the prompt text precedes the completion
  int top_logprobs = 0;           // alternatives per token in the response
  bool logprobs = false;          // per-token log-probabilities in the response
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
