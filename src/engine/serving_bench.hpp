#pragma once
// Serving throughput measured on the engine itself (no HTTP): `concurrency` clients each keep
// one request in flight until `requests` have been sent. Every prompt is a shared prefix followed
// by tokens of its own (random, seeded, valid ids); generation is greedy with EOS ignored, so
// every request produces exactly n_gen tokens and every run does the same work.

#include <cstdint>

#include "flux/engine.hpp"
#include "model/model.hpp"
#include "tokenizer/tokenizer.hpp"

namespace flux {

struct ServingBenchOptions {
  int concurrency = 1;        // requests in flight (also the engine's max_seqs)
  int requests = 16;          // requests in all
  int n_prompt = 64;          // prompt tokens after the shared prefix
  int n_gen = 64;             // generated tokens per request
  int shared_prefix = 0;      // leading prompt tokens every request shares
  EngineOptions engine;       // max_seqs is set from concurrency
  std::uint64_t seed = 1234;
};

struct Percentiles {
  double p50 = 0;
  double p90 = 0;
  double p99 = 0;
};

struct ServingBenchResult {
  double seconds = 0;
  double output_tokens_per_sec = 0;
  double requests_per_sec = 0;
  Percentiles ttft_ms;
  Percentiles tpot_ms;
  Percentiles e2e_ms;
  Percentiles ttft_ms_prefix_hit;  // requests that found part of their prompt cached
  Percentiles ttft_ms_cold;        // requests that found nothing cached
  int n_prefix_hit = 0;
  int n_cold = 0;
  double prefix_hit_rate = 0;      // prompt tokens found cached / looked up
  int peak_kv_blocks = 0;
  int kv_blocks_total = 0;
  std::uint64_t preemptions = 0;
};

// Throws InvalidArgument for counts below 1 (n_prompt and shared_prefix may be 0, not both) or a
// prompt + generation longer than the engine's context.
ServingBenchResult run_serving_bench(const Model& model, const Tokenizer& tokenizer, const ServingBenchOptions& options);

// Nearest-rank percentiles of `values` (empty: zeros).
Percentiles percentiles(std::vector<double> values);

}  // namespace flux
