#include "engine/serving_bench.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <mutex>
#include <random>

#include <fmt/format.h>

#include "base/error.hpp"

namespace flux {
namespace {

void validate(const ServingBenchOptions& o) {
  if (o.concurrency < 1 || o.requests < 1 || o.n_gen < 1)
    throw InvalidArgument(fmt::format("--concurrency, --requests and -n must be at least 1 (got {}, {}, {})",
                                      o.concurrency, o.requests, o.n_gen));
  if (o.n_prompt < 0 || o.shared_prefix < 0 || o.n_prompt + o.shared_prefix < 1)
    throw InvalidArgument("a prompt needs at least one token (-p and --shared-prefix)");
}

}  // namespace

Percentiles percentiles(std::vector<double> values) {
  if (values.empty()) return {};
  std::sort(values.begin(), values.end());
  auto at = [&](double q) {
    const auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(values.size())));
    return values[std::clamp<std::size_t>(rank, 1, values.size()) - 1];
  };
  return {at(0.50), at(0.90), at(0.99)};
}

ServingBenchResult run_serving_bench(const Model& model, const Tokenizer& tokenizer, const ServingBenchOptions& o) {
  validate(o);
  EngineOptions engine_options = o.engine;
  engine_options.max_seqs = o.concurrency;
  engine_options.background = true;
  Engine engine(model, tokenizer, engine_options);
  const std::int64_t length = static_cast<std::int64_t>(o.shared_prefix) + o.n_prompt + o.n_gen;
  if (length > engine.context_length())
    throw InvalidArgument(fmt::format("--shared-prefix {} + -p {} + -n {} = {} tokens do not fit the context of {}",
                                      o.shared_prefix, o.n_prompt, o.n_gen, length, engine.context_length()));

  std::mt19937_64 rng(o.seed);
  const auto n_vocab = static_cast<TokenId>(model.config().n_vocab);
  auto random_tokens = [&](int count) {
    std::vector<TokenId> tokens(static_cast<std::size_t>(count));
    for (auto& t : tokens) t = static_cast<TokenId>(rng() % static_cast<std::uint64_t>(n_vocab));
    return tokens;
  };
  const std::vector<TokenId> prefix = random_tokens(o.shared_prefix);

  std::mutex mutex;
  std::condition_variable changed;
  int in_flight = 0;
  int completed = 0;
  std::vector<RequestMetrics> metrics;
  std::string failure;

  const auto start = std::chrono::steady_clock::now();
  for (int sent = 0; sent < o.requests; ++sent) {
    {
      std::unique_lock lock(mutex);
      changed.wait(lock, [&] { return in_flight < o.concurrency; });
      ++in_flight;
    }
    Request r;
    r.prompt_tokens = prefix;
    const std::vector<TokenId> own = random_tokens(o.n_prompt);
    r.prompt_tokens.insert(r.prompt_tokens.end(), own.begin(), own.end());
    r.max_tokens = o.n_gen;
    r.ignore_eos = true;
    r.sampling.temperature = 0;
    r.on_output = [&](const RequestOutput& out) {
      if (!out.finished) return;
      std::lock_guard lock(mutex);
      metrics.push_back(out.metrics);
      if (!out.error.empty()) failure = out.error;
      --in_flight;
      ++completed;
      changed.notify_all();
    };
    engine.add(std::move(r));
  }
  {
    std::unique_lock lock(mutex);
    changed.wait(lock, [&] { return completed == o.requests; });
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (!failure.empty()) throw Error("a benchmark request failed: " + failure);

  ServingBenchResult result;
  result.seconds = seconds;
  std::vector<double> ttft, tpot, e2e, ttft_hit, ttft_cold;
  std::int64_t generated = 0;
  for (const RequestMetrics& m : metrics) {
    ttft.push_back(m.ttft_ms);
    tpot.push_back(m.tpot_ms);
    e2e.push_back(m.e2e_ms);
    (m.cached_prompt_tokens > 0 ? ttft_hit : ttft_cold).push_back(m.ttft_ms);
    generated += m.generated_tokens;
  }
  result.output_tokens_per_sec = static_cast<double>(generated) / seconds;
  result.requests_per_sec = static_cast<double>(o.requests) / seconds;
  result.ttft_ms = percentiles(ttft);
  result.tpot_ms = percentiles(tpot);
  result.e2e_ms = percentiles(e2e);
  result.n_prefix_hit = static_cast<int>(ttft_hit.size());
  result.n_cold = static_cast<int>(ttft_cold.size());
  result.ttft_ms_prefix_hit = percentiles(std::move(ttft_hit));
  result.ttft_ms_cold = percentiles(std::move(ttft_cold));
  const EngineMetrics m = engine.metrics();
  result.prefix_hit_rate = m.prefix_hit_rate;
  result.peak_kv_blocks = m.kv_blocks_peak_used;
  result.kv_blocks_total = m.kv_blocks_total;
  result.preemptions = m.preemptions;
  return result;
}

}  // namespace flux
