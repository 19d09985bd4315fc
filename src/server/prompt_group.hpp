#pragma once
// The engine requests behind one HTTP request. A completion may carry several prompts (OpenAI's
// `prompt: ["a", "b"]`); each becomes its own engine request, so they batch with every other
// request, and the group reads them back as one response: choices indexed prompt-major (prompt i,
// choice j has index i * n + j), usage summed, all admitted or none, aborted together.

#include <chrono>
#include <memory>
#include <optional>
#include <vector>

#include "flux/engine.hpp"
#include "server/openai_request.hpp"
#include "server/output_channel.hpp"
#include "tokenizer/tokenizer.hpp"

namespace flux::server {

// One engine request per prompt of `parsed`, tokenized and checked against the vocabulary and the
// context (ApiError 400 naming the prompt). A chat request without max_tokens gets the rest of the
// context. Nothing reaches the engine here: a bad prompt refuses the whole request up front.
std::vector<Request> engine_requests(const ParsedRequest& parsed, const Tokenizer& tokenizer, int context_length);

class PromptGroup {
 public:
  // `n`: choices per prompt, for the prompt-major index.
  PromptGroup(Engine& engine, int n);

  // Adds the requests in order (their on_output is replaced). When the engine refuses one (queue
  // full, KV pool too small), the ones already added are aborted before the error propagates, so
  // a refused HTTP request leaves nothing running.
  void add(std::vector<Request> requests);

  // The next output of any prompt, its choices re-indexed prompt-major; its `finished` means that
  // prompt has finished. nullopt after `timeout`. An output with an error aborts the other
  // prompts: the response is one failure, as the choices of one request fail together.
  std::optional<RequestOutput> pop(std::chrono::milliseconds timeout);

  // Every prompt has delivered its last output.
  bool finished() const { return unfinished_ == 0; }
  // Token counts summed over the prompts finished so far (all of them once finished()).
  const RequestMetrics& totals() const { return totals_; }
  int choices() const { return static_cast<int>(ids_.size()) * n_; }

  // Aborts every prompt still running (a client that left, a failed sibling). Like every other
  // method, called by the one HTTP thread that serves the request.
  void abort();

 private:
  Engine& engine_;
  int n_;
  std::shared_ptr<OutputChannel> channel_ = std::make_shared<OutputChannel>();
  std::vector<RequestId> ids_;
  int unfinished_ = 0;
  RequestMetrics totals_;
};

}  // namespace flux::server
