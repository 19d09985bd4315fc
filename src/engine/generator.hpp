#pragma once
// Generates text for one sequence: prompt processing in chunks, then token-by-token decoding with
// a sampler, stop sequences and end-of-generation tokens, streaming UTF-8-safe text as it goes.
// The serving engine (continuous batching over many sequences) builds on the same pieces.

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "base/thread_pool.hpp"
#include "engine/sampler.hpp"
#include "kv/kv_cache.hpp"
#include "model/forward.hpp"
#include "model/model.hpp"
#include "tokenizer/tokenizer.hpp"

namespace flux {

struct GenerationRequest {
  std::vector<TokenId> prompt;        // already tokenized, with BOS if the model wants one
  int max_tokens = 128;               // generated tokens at most
  SamplingParams sampling;
  std::vector<std::string> stop;      // stop sequences (not included in the output)
  bool ignore_eos = false;            // keep going past end-of-generation tokens
};

struct GenerationMetrics {
  double ttft_ms = 0;                 // request start to first generated token
  double latency_ms = 0;              // request start to the end
  double prompt_ms = 0;               // prompt processing time
  double tokens_per_sec = 0;          // generated tokens / decode time (after the first token)
  double prompt_tokens_per_sec = 0;
};

struct GenerationResult {
  std::vector<TokenId> tokens;        // generated ids (an end-of-generation token is included)
  std::string text;
  std::string finish_reason;          // "stop" (EOS or stop sequence), "length", or "cancelled" (on_text said stop)
  GenerationMetrics metrics;
};

struct GeneratorOptions {
  int n_ctx = 0;                      // context length; 0 = the model's training context, at most 4096
  int n_batch = 512;                  // prompt tokens per forward pass
  int block_size = 16;                // KV cache block size in tokens
};

class Generator {
 public:
  // Throws InvalidArgument when the options are out of range.
  Generator(const Model& model, const Tokenizer& tokenizer, ThreadPool& pool, GeneratorOptions options = {});

  // on_text receives each piece of text as it becomes final; returning false stops generation.
  // Throws InvalidArgument when the prompt is empty or does not fit the context.
  GenerationResult generate(const GenerationRequest& request,
                            const std::function<bool(std::string_view)>& on_text = {});

  int context_length() const { return n_ctx_; }

 private:
  const Model& model_;
  const Tokenizer& tokenizer_;
  ThreadPool& pool_;
  GeneratorOptions options_;
  int n_ctx_;
  KvManager kv_;
  ForwardScratch scratch_;
};

}  // namespace flux
