#include "engine/bench.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <random>
#include <span>

#include <fmt/format.h>

#include "base/error.hpp"
#include "base/system_memory.hpp"
#include "kv/kv_cache.hpp"
#include "model/forward.hpp"

namespace flux {
namespace {

using Clock = std::chrono::steady_clock;

// What one test needs between forward passes: a KV cache large enough for the test and the
// scratch memory, both reused across repetitions so that only the forward passes are timed.
class BenchSession {
 public:
  BenchSession(const Model& model, ThreadPool& pool, const BenchOptions& options, int max_positions)
      : model_(model),
        pool_(pool),
        options_(options),
        kv_(KvLayout{static_cast<int>(model.config().n_layers), static_cast<int>(model.config().kv_dim()),
                     options.block_size},
            (max_positions + options.block_size - 1) / options.block_size, /*prefix_caching=*/false),
        logits_(static_cast<std::size_t>(model.config().n_vocab)) {}

  // One forward pass over `tokens` at positions [first_pos, first_pos + size), keeping the last
  // row's logits as generation would.
  void forward_chunk(std::span<const TokenId> tokens, std::int64_t first_pos) {
    forward_last_token(model_, tokens, first_pos, table_, kv_, scratch_, pool_, logits_);
  }

  // Seconds for the whole prompt, from an empty cache.
  double prompt_seconds(std::span<const TokenId> prompt) {
    kv_.free(table_);
    const auto start = Clock::now();
    for (std::size_t begin = 0; begin < prompt.size(); begin += static_cast<std::size_t>(options_.n_batch)) {
      const std::size_t len = std::min(prompt.size() - begin, static_cast<std::size_t>(options_.n_batch));
      forward_chunk(prompt.subspan(begin, len), static_cast<std::int64_t>(begin));
    }
    return std::chrono::duration<double>(Clock::now() - start).count();
  }

  // Seconds for one single-token step per token, from an empty cache.
  double generation_seconds(std::span<const TokenId> tokens) {
    kv_.free(table_);
    const auto start = Clock::now();
    for (std::size_t i = 0; i < tokens.size(); ++i) forward_chunk(tokens.subspan(i, 1), static_cast<std::int64_t>(i));
    return std::chrono::duration<double>(Clock::now() - start).count();
  }

  std::uint64_t kv_bytes() const { return kv_.cache().bytes(); }

  ~BenchSession() { kv_.free(table_); }
  BenchSession(const BenchSession&) = delete;
  BenchSession& operator=(const BenchSession&) = delete;

 private:
  const Model& model_;
  ThreadPool& pool_;
  const BenchOptions& options_;
  KvManager kv_;
  BlockTable table_;
  ForwardScratch scratch_;
  std::vector<float> logits_;
};

std::vector<TokenId> random_tokens(int count, std::int64_t n_vocab, std::mt19937_64& rng) {
  std::uniform_int_distribution<std::int64_t> pick(0, n_vocab - 1);
  std::vector<TokenId> tokens(static_cast<std::size_t>(count));
  for (auto& t : tokens) t = static_cast<TokenId>(pick(rng));
  return tokens;
}

// Runs `seconds_for()` once to warm up (caches, page faults of the mapped weights, the pool's
// threads), then `reps` times, as tokens per second.
template <typename SecondsFor>
Throughput measure(int n_tokens, int reps, SecondsFor seconds_for) {
  if (n_tokens == 0) return {};
  seconds_for();
  std::vector<double> samples;
  for (int rep = 0; rep < reps; ++rep) {
    const double seconds = seconds_for();
    samples.push_back(seconds > 0 ? n_tokens / seconds : 0);
  }
  return summarize(std::move(samples));
}

}  // namespace

void validate(const BenchOptions& o, const Model& model) {
  if (o.n_prompt < 0 || o.n_gen < 0)
    throw InvalidArgument(fmt::format("-p and -n must not be negative (got {} and {})", o.n_prompt, o.n_gen));
  if (o.n_prompt == 0 && o.n_gen == 0) throw InvalidArgument("-p and -n are both 0: nothing to measure");
  if (o.reps < 1) throw InvalidArgument(fmt::format("-r must be at least 1 (got {})", o.reps));
  if (o.n_batch < 1) throw InvalidArgument(fmt::format("the batch size must be at least 1 (got {})", o.n_batch));
  if (o.block_size < 1) throw InvalidArgument(fmt::format("the KV block size must be at least 1 (got {})", o.block_size));
  // pp and tg each start from an empty cache, but llama-bench sizes its context for both
  // (n_ctx = p + n); asking the same keeps every position inside what the model was trained on.
  const std::int64_t context = model.config().n_ctx_train;
  if (static_cast<std::int64_t>(o.n_prompt) + o.n_gen > context)
    throw InvalidArgument(fmt::format("-p {} + -n {} = {} tokens do not fit the model's context of {} tokens",
                                      o.n_prompt, o.n_gen, static_cast<std::int64_t>(o.n_prompt) + o.n_gen,
                                      context));
}

BenchResult run_bench(const Model& model, ThreadPool& pool, const BenchOptions& options) {
  validate(options, model);
  std::mt19937_64 rng(options.seed);
  const std::int64_t n_vocab = model.config().n_vocab;
  const std::vector<TokenId> prompt = random_tokens(options.n_prompt, n_vocab, rng);
  const std::vector<TokenId> generated = random_tokens(options.n_gen, n_vocab, rng);

  BenchSession session(model, pool, options, std::max(options.n_prompt, options.n_gen));
  BenchResult result;
  result.pp = measure(options.n_prompt, options.reps, [&] { return session.prompt_seconds(prompt); });
  result.tg = measure(options.n_gen, options.reps, [&] { return session.generation_seconds(generated); });
  result.kv_bytes = session.kv_bytes();
  result.resident_bytes = resident_bytes();  // weights, KV and scratch, all still held
  return result;
}

Throughput summarize(std::vector<double> samples) {
  Throughput t;
  t.samples = std::move(samples);
  if (t.samples.empty()) return t;
  double sum = 0;
  for (double s : t.samples) sum += s;
  t.mean = sum / static_cast<double>(t.samples.size());
  if (t.samples.size() > 1) {
    double squares = 0;
    for (double s : t.samples) squares += (s - t.mean) * (s - t.mean);
    t.sd = std::sqrt(squares / static_cast<double>(t.samples.size() - 1));
  }
  return t;
}

double bandwidth_fraction(std::uint64_t model_bytes, double tokens_per_sec, double bandwidth_gb_per_sec) {
  if (bandwidth_gb_per_sec <= 0) return 0;
  return static_cast<double>(model_bytes) * tokens_per_sec / (bandwidth_gb_per_sec * 1e9);
}

}  // namespace flux
