#pragma once
// Throughput measurement in the manner of llama-bench, so that `flux bench` numbers can be put
// beside llama.cpp's: pp = one forward pass over a prompt of n_prompt tokens (in batches of at
// most n_batch), tg = n_gen sequential single-token decode steps; each starts from an empty KV
// cache, runs once unmeasured to warm up, then `reps` measured times. Token ids are random but
// valid and seeded, so every run (and every engine) does the same work.

#include <cstdint>
#include <vector>

#include "base/thread_pool.hpp"
#include "model/model.hpp"

namespace flux {

struct BenchOptions {
  int n_prompt = 512;           // tokens of the pp test; 0 skips it
  int n_gen = 128;              // tokens of the tg test; 0 skips it
  int reps = 5;                 // measured repetitions of each test (llama-bench's default)
  int n_batch = 512;            // prompt tokens per forward pass (llama-bench's default)
  int block_size = 16;          // KV cache block size in tokens
  std::uint64_t seed = 1234;    // for the random token ids
};

// Tokens per second over the repetitions of one test.
struct Throughput {
  std::vector<double> samples;  // one per measured repetition
  double mean = 0;
  double sd = 0;                // sample standard deviation (n - 1); 0 with one sample
};

struct BenchResult {
  Throughput pp;                // empty samples when n_prompt is 0
  Throughput tg;                // empty samples when n_gen is 0
  std::uint64_t kv_bytes = 0;        // the KV cache the tests ran with
  std::uint64_t resident_bytes = 0;  // the process's resident set at the end of the last test
};

// Throws InvalidArgument when n_prompt or n_gen is negative or both are 0, reps or n_batch is
// below 1, or n_prompt + n_gen exceeds the model's training context (llama-bench's
// context size for the pair).
void validate(const BenchOptions& options, const Model& model);

// Validates, then runs the tests on `pool`. Takes about (reps + 1) times the two tests' run time.
BenchResult run_bench(const Model& model, ThreadPool& pool, const BenchOptions& options);

// Mean and sample standard deviation of `samples`.
Throughput summarize(std::vector<double> samples);

// The share of the memory read bandwidth that decoding reaches: each generated token reads every
// weight once, so tg streams model_bytes * tokens_per_sec bytes per second. 0 when unknown.
double bandwidth_fraction(std::uint64_t model_bytes, double tokens_per_sec, double bandwidth_gb_per_sec);

}  // namespace flux
