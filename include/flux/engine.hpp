#pragma once
// flux::Engine: serves many generation requests at once. Requests are added from any thread;
// a step loop batches every running sequence into one forward pass per step (continuous
// batching over a paged KV cache with prefix caching) and streams each request's tokens and text
// back as they are produced.
//
//   flux::Engine engine(model, tokenizer, {.max_seqs = 8});
//   flux::Request r;
//   r.prompt = "Once upon a time";
//   r.on_output = [](const flux::RequestOutput& out) { ... };  // called on the engine's thread
//   flux::RequestId id = engine.add(std::move(r));
//   engine.abort(id);  // at any time
//   engine.abort_all();  // every request queued or running (shutdown)
//
// A sequence's greedy tokens are the same whether it runs alone or batched with others, with or
// without a prefix-cache hit, chunked or preempted: the kernels reduce in an order that does not
// depend on the batch.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "flux/error.hpp"
#include "flux/sampling.hpp"
#include "flux/token.hpp"

namespace flux {

class Model;
class Tokenizer;

using RequestId = std::uint64_t;

enum class FinishReason {
  None,    // still generating
  Stop,    // an end-of-generation token or a stop string
  Length,  // max_tokens, or the context is full
  Abort,   // abort() or the engine shut down
};
const char* to_string(FinishReason reason);  // "stop", "length", "abort", or "" for None

struct Request {
  std::string prompt;                  // text, tokenized with the model's tokenizer...
  std::vector<TokenId> prompt_tokens;  // ...unless token ids are given here (then used as they are)
  bool add_special = true;             // add BOS/EOS as the model asks when tokenizing `prompt`
  int max_tokens = 128;                // generated tokens at most, per choice
  int n = 1;                           // independent choices sampled from the same prompt
  SamplingParams sampling;             // choice i uses seed + i
  std::vector<std::string> stop;       // stop strings: never part of the text
  bool ignore_eos = false;             // keep going past end-of-generation tokens
  int logprobs = -1;                   // -1: none; k >= 0: each token's log-probability and the top k
  int priority = 0;                    // lower runs first; FCFS among equals
  // Called on the engine's thread for every step that produced something, and once with
  // `finished` set. Keep it short (queue the output elsewhere). Without a callback, outputs are
  // kept for Engine::poll.
  std::function<void(const struct RequestOutput&)> on_output;
};

struct TopLogprob {
  TokenId token = 0;
  float logprob = 0;
};

struct TokenLogprobs {
  TokenId token = 0;              // the generated token
  float logprob = 0;              // its log-probability under the model (before sampling filters)
  std::vector<TopLogprob> top;    // the k most likely tokens, most likely first
};

struct ChoiceOutput {
  int index = 0;                        // which of the request's n choices
  std::vector<TokenId> tokens;          // tokens generated since the previous output
  std::string text;                     // text that became final since the previous output
  std::vector<TokenLogprobs> logprobs;  // one per token, when requested
  FinishReason finish = FinishReason::None;
};

struct RequestMetrics {
  double queue_ms = 0;     // added to first scheduled
  double ttft_ms = 0;      // added to first generated token
  double tpot_ms = 0;      // mean time per output token after the first
  double e2e_ms = 0;       // added to finished
  std::int64_t prompt_tokens = 0;
  std::int64_t cached_prompt_tokens = 0;  // supplied by the prefix cache
  std::int64_t generated_tokens = 0;      // over all choices
  int preemptions = 0;
};

struct RequestOutput {
  RequestId id = 0;
  std::vector<ChoiceOutput> choices;  // the choices with news this step
  bool finished = false;              // every choice has finished; the last output of the request
  std::string error;                  // set when the request failed while running
  RequestMetrics metrics;             // complete when finished
};

enum class KvCacheType {
  F16,   // as llama.cpp stores K/V by default; the golden outputs are measured with it
  Q8_0,  // int8 blocks with a scale: about half the memory, so about twice the cached tokens
};

// Appends `out` to `into`: each choice's tokens, text and logprobs, its finish reason, the error
// and the latest metrics; choices stay in index order. Gathering a request's stream into one
// output (Engine::generate, non-streamed HTTP responses).
void append_output(RequestOutput& into, const RequestOutput& out);

struct EngineOptions {
  int n_ctx = 0;                     // positions per sequence; 0: the model's, at most 4096
  int block_size = 16;               // KV block size in tokens
  KvCacheType kv_type = KvCacheType::F16;
  std::uint64_t kv_mem_bytes = 0;    // KV pool size; 0: see kv_mem_fraction
  double kv_mem_fraction = 0;        // share of available memory; 0: max_seqs full contexts, capped
  int max_seqs = 16;                 // sequences per step at most
  int max_batched_tokens = 512;      // tokens per step at most (long prompts are chunked)
  int max_queue = 0;                 // waiting requests at most before add() refuses; 0: no limit
  bool prefix_caching = true;
  int threads = 0;                   // 0: every core
  bool background = true;            // run the step loop on a thread; false: the caller calls step()
};

struct EngineMetrics {
  int running = 0;
  int waiting = 0;
  int kv_blocks_total = 0;
  int kv_blocks_used = 0;
  int kv_blocks_free = 0;
  int kv_blocks_cached = 0;
  int kv_blocks_peak_used = 0;
  double prefix_hit_rate = 0;             // prompt tokens found cached / looked up
  std::uint64_t steps = 0;
  std::uint64_t batched_tokens = 0;       // tokens through the model, all steps
  int last_batch_tokens = 0;
  int last_batch_seqs = 0;
  std::uint64_t prompt_tokens = 0;        // computed prompt tokens (recomputation included)
  std::uint64_t generated_tokens = 0;
  std::uint64_t preemptions = 0;
  std::uint64_t requests_finished = 0;    // ended by stop or length
  std::uint64_t requests_aborted = 0;
  std::uint64_t requests_rejected = 0;
  double generation_tokens_per_sec = 0;   // over the last few seconds
};

class Engine {
 public:
  // Borrows the model and tokenizer, which must outlive the engine. Throws InvalidArgument for
  // options out of range.
  Engine(const Model& model, const Tokenizer& tokenizer, EngineOptions options = {});
  ~Engine();  // aborts what is still in flight and stops the loop
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Validates and queues a request; thread-safe. Throws InvalidArgument naming the problem
  // (empty prompt, token ids outside the vocabulary, prompt + max_tokens beyond the context or
  // the KV pool, sampling parameters out of range) and QueueFullError when max_queue is reached.
  RequestId add(Request request);
  // Ends a request at its next step with FinishReason::Abort and frees its blocks; thread-safe.
  // False when the id is unknown or already finished.
  bool abort(RequestId id);
  // Ends every request queued or running now, as abort() does each (FinishReason::Abort at the
  // loop's next step, blocks freed); thread-safe, and it does not wait for that step. Requests
  // added afterwards are not affected. Returns how many requests it asked to end: a request
  // whose last token is being computed as this is called may still end with stop or length.
  // For shutdown: `flux serve` calls it when its drain timeout passes.
  int abort_all();

  // Without a callback: the request's next output, waiting up to `timeout`; nullopt on timeout
  // or for an unknown id. After the output with `finished`, the request is forgotten.
  std::optional<RequestOutput> poll(RequestId id, std::chrono::milliseconds timeout);

  // Runs one scheduling step (only when options.background is false); false when idle.
  bool step();

  // Blocks until the request finishes and returns everything it produced as one output (all
  // tokens, text and logprobs per choice). For CLI use and tests.
  RequestOutput generate(Request request);

  EngineMetrics metrics() const;
  int context_length() const;
  const EngineOptions& options() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace flux
