// flux bench: prompt-processing and generation throughput, in llama-bench's terms (pp512, tg128,
// mean ± sd over repetitions), plus the memory bandwidth ceiling that generation runs against.

#include <cstdio>
#include <filesystem>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "apps/flux/engine_flags.hpp"
#include "apps/flux/commands.hpp"
#include "apps/flux/model_loading.hpp"
#include "base/error.hpp"
#include "base/memory_bandwidth.hpp"
#include "base/thread_pool.hpp"
#include "engine/bench.hpp"
#include "engine/serving_bench.hpp"

namespace flux::cli {
namespace {

struct BenchCommandOptions {
  LoadOptions load;
  std::string model;
  BenchOptions bench;
  int threads = 0;
  int bandwidth_mib = 1024;
  bool json = false;
  // Serving mode (--concurrency): requests through the engine instead of pp/tg.
  int concurrency = 0;
  int requests = 0;
  int shared_prefix = 0;
  std::string kv_mem;
  int max_batched_tokens = 512;
  KvCacheType kv_type = KvCacheType::F16;
};

std::string human_bytes(std::uint64_t bytes) {
  const auto b = static_cast<double>(bytes);
  if (bytes >= (std::uint64_t{1} << 30)) return fmt::format("{:.2f} GiB", b / (1ull << 30));
  return fmt::format("{:.2f} MiB", b / (1ull << 20));
}

std::string human_count(std::uint64_t n) {
  const auto c = static_cast<double>(n);
  if (n >= 1'000'000'000) return fmt::format("{:.2f} B", c / 1e9);
  return fmt::format("{:.2f} M", c / 1e6);
}

nlohmann::json throughput_json(const Throughput& t) {
  if (t.samples.empty()) return nullptr;  // the test was skipped (-p 0 or -n 0)
  return {{"mean", t.mean}, {"sd", t.sd}, {"samples", t.samples}};
}

void print_table(const BenchCommandOptions& o, const Model& model, int threads, const BenchResult& r) {
  const std::string name = std::filesystem::path(o.model).filename().string();
  const std::string size = human_bytes(model.weights().total_bytes);
  const std::string params = human_count(model.weights().n_parameters);
  // fmt pads by code points, so the "±" below keeps the columns aligned (printf counts bytes).
  fmt::print("| {:<30} | {:>12} | {:>10} | {:>7} | {:>8} | {:>20} |\n", "model", "size", "params", "threads", "test",
             "t/s");
  fmt::print("| {:-<30} | {:->12} | {:->10} | {:->7} | {:->8} | {:->20} |\n", "", ":", ":", ":", ":", ":");
  auto row = [&](const std::string& test, const Throughput& t) {
    if (t.samples.empty()) return;
    fmt::print("| {:<30} | {:>12} | {:>10} | {:>7} | {:>8} | {:>20} |\n", name, size, params, threads, test,
               fmt::format("{:.2f} ± {:.2f}", t.mean, t.sd));
  };
  row(fmt::format("pp{}", o.bench.n_prompt), r.pp);
  row(fmt::format("tg{}", o.bench.n_gen), r.tg);
}

nlohmann::json percentiles_json(const Percentiles& p) { return {{"p50", p.p50}, {"p90", p.p90}, {"p99", p.p99}}; }

void serving_bench(const BenchCommandOptions& o) {
  LoadedModel loaded = load_model(o.model, with_threads(o.load, o.threads));
  ServingBenchOptions s;
  s.concurrency = o.concurrency;
  s.requests = o.requests > 0 ? o.requests : 4 * o.concurrency;
  s.n_prompt = o.bench.n_prompt;
  s.n_gen = o.bench.n_gen;
  s.shared_prefix = o.shared_prefix;
  s.engine.threads = resolve_threads(o.threads);
  if (!o.kv_mem.empty()) s.engine.kv_mem_bytes = parse_byte_size(o.kv_mem, "--kv-mem");
  s.engine.max_batched_tokens = o.max_batched_tokens;
  s.engine.kv_type = o.kv_type;
  const ServingBenchResult r = run_serving_bench(loaded.model, loaded.tokenizer, s);
  if (o.json) {
    nlohmann::json out;
    out["model"] = std::filesystem::path(o.model).filename().string();
    out["model_path"] = o.model;
    out["threads"] = s.engine.threads;
    out["concurrency"] = s.concurrency;
    out["requests"] = s.requests;
    out["n_prompt"] = s.n_prompt;
    out["n_gen"] = s.n_gen;
    out["shared_prefix"] = s.shared_prefix;
    out["seconds"] = r.seconds;
    out["output_tokens_per_sec"] = r.output_tokens_per_sec;
    out["requests_per_sec"] = r.requests_per_sec;
    out["ttft_ms"] = percentiles_json(r.ttft_ms);
    out["tpot_ms"] = percentiles_json(r.tpot_ms);
    out["e2e_ms"] = percentiles_json(r.e2e_ms);
    out["ttft_ms_prefix_hit"] = percentiles_json(r.ttft_ms_prefix_hit);
    out["ttft_ms_cold"] = percentiles_json(r.ttft_ms_cold);
    out["n_prefix_hit"] = r.n_prefix_hit;
    out["n_cold"] = r.n_cold;
    out["prefix_hit_rate"] = r.prefix_hit_rate;
    out["peak_kv_blocks"] = r.peak_kv_blocks;
    out["kv_blocks_total"] = r.kv_blocks_total;
    out["preemptions"] = r.preemptions;
    std::puts(out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
    return;
  }
  fmt::print("{} requests, concurrency {}, prompt {} (+{} shared) + {} generated tokens, {} threads: {:.2f} s\n",
             s.requests, s.concurrency, s.n_prompt, s.shared_prefix, s.n_gen, s.engine.threads, r.seconds);
  fmt::print("output {:.2f} tok/s | {:.3f} req/s | prefix hit rate {:.1f}% | peak KV {} of {} blocks | {} preemptions\n",
             r.output_tokens_per_sec, r.requests_per_sec, 100.0 * r.prefix_hit_rate, r.peak_kv_blocks,
             r.kv_blocks_total, r.preemptions);
  auto row = [](const char* name, const Percentiles& p) {
    fmt::print("{:<22} p50 {:9.2f}  p90 {:9.2f}  p99 {:9.2f}\n", name, p.p50, p.p90, p.p99);
  };
  row("ttft ms", r.ttft_ms);
  row("tpot ms", r.tpot_ms);
  row("e2e ms", r.e2e_ms);
  if (r.n_prefix_hit > 0) row(fmt::format("ttft ms (hit, {})", r.n_prefix_hit).c_str(), r.ttft_ms_prefix_hit);
  if (r.n_cold > 0) row(fmt::format("ttft ms (cold, {})", r.n_cold).c_str(), r.ttft_ms_cold);
}

void bench(const BenchCommandOptions& o) {
  if (o.concurrency > 0) return serving_bench(o);
  if (o.requests > 0 || o.shared_prefix > 0)
    throw InvalidArgument("--requests and --shared-prefix need --concurrency");
  if (o.bandwidth_mib < 1) throw InvalidArgument(fmt::format("--bandwidth-mib must be at least 1 (got {})", o.bandwidth_mib));
  LoadedModel loaded = load_model(o.model, with_threads(o.load, o.threads));
  validate(o.bench, loaded.model);  // before the bandwidth measurement, so bad flags fail at once
  ThreadPool pool(resolve_threads(o.threads));

  // Measured first: its gigabyte of reads would otherwise evict the weights the tests just warmed.
  const BandwidthResult bandwidth =
      measure_read_bandwidth(pool, {.buffer_bytes = static_cast<std::size_t>(o.bandwidth_mib) << 20});
  const BenchResult r = run_bench(loaded.model, pool, o.bench);
  const std::uint64_t model_bytes = loaded.model.weights().total_bytes;
  const double fraction = bandwidth_fraction(model_bytes, r.tg.mean, bandwidth.gb_per_sec);

  if (o.json) {
    nlohmann::json out;
    out["model"] = std::filesystem::path(o.model).filename().string();
    out["model_path"] = o.model;
    out["model_bytes"] = model_bytes;
    out["n_parameters"] = loaded.model.weights().n_parameters;
    out["threads"] = pool.size();
    out["n_prompt"] = o.bench.n_prompt;
    out["n_gen"] = o.bench.n_gen;
    out["n_batch"] = o.bench.n_batch;
    out["reps"] = o.bench.reps;
    out["pp_tokens_per_sec"] = throughput_json(r.pp);
    out["tg_tokens_per_sec"] = throughput_json(r.tg);
    out["bandwidth_gbps"] = bandwidth.gb_per_sec;
    out["tg_bandwidth_fraction"] = fraction;
    out["weight_layout"] = loaded.model.packing().describe();
    out["kv_bytes"] = r.kv_bytes;
    out["resident_bytes"] = r.resident_bytes;
    std::puts(out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
    return;
  }
  print_table(o, loaded.model, pool.size(), r);
  fmt::print("\nmemory read bandwidth: {:.1f} GB/s with {} threads", bandwidth.gb_per_sec, pool.size());
  if (!r.tg.samples.empty())
    fmt::print("; tg{} streams the weights at {:.2f} GB/s = {:.1f}% of it", o.bench.n_gen,
               static_cast<double>(model_bytes) * r.tg.mean / 1e9, 100.0 * fraction);
  constexpr double kMiB = 1 << 20;
  fmt::print("\nresident memory at the end: {:.1f} MiB = weights {:.1f} MiB + KV {:.1f} MiB + {:.1f}%\n",
             static_cast<double>(r.resident_bytes) / kMiB, static_cast<double>(model_bytes) / kMiB,
             static_cast<double>(r.kv_bytes) / kMiB,
             100.0 * (static_cast<double>(r.resident_bytes) / static_cast<double>(model_bytes + r.kv_bytes) - 1.0));
  fmt::print("weights: {}\n", loaded.model.packing().describe());
}

}  // namespace

void add_bench_command(CLI::App& app) {
  auto options = std::make_shared<BenchCommandOptions>();
  CLI::App* cmd = app.add_subcommand("bench", "Measure prompt (pp) and generation (tg) throughput, like llama-bench");
  cmd->add_option("-m,--model", options->model, "GGUF model file")->required();
  add_load_options(*cmd, options->load);
  cmd->add_option("-p,--n-prompt", options->bench.n_prompt, "Prompt tokens of the pp test (0: skip it)")
      ->capture_default_str();
  cmd->add_option("-n,--n-gen", options->bench.n_gen, "Generated tokens of the tg test (0: skip it)")
      ->capture_default_str();
  cmd->add_option("-t,--threads", options->threads, "Threads (default: all cores)");
  cmd->add_option("-r,--repetitions", options->bench.reps, "Measured repetitions of each test")->capture_default_str();
  cmd->add_option("-b,--batch-size", options->bench.n_batch, "Prompt tokens per forward pass")->capture_default_str();
  cmd->add_option("--bandwidth-mib", options->bandwidth_mib, "Buffer read to measure memory bandwidth, in MiB")
      ->capture_default_str();
  cmd->add_flag("--json", options->json, "Print one JSON object instead of the table");
  cmd->add_option("--concurrency", options->concurrency,
                  "Serving mode: requests kept in flight through the engine (instead of pp/tg)");
  cmd->add_option("--requests", options->requests, "Serving mode: requests in all (default: 4 x concurrency)");
  cmd->add_option("--shared-prefix", options->shared_prefix,
                  "Serving mode: prompt tokens every request shares before its own -p tokens")
      ->capture_default_str();
  cmd->add_option("--kv-mem", options->kv_mem, "Serving mode: KV cache size, e.g. 512M (default: enough for all)");
  cmd->add_option("--max-batched-tokens", options->max_batched_tokens, "Serving mode: tokens per step at most")
      ->capture_default_str();
  add_kv_type_option(*cmd, options->kv_type);
  cmd->callback([options] { bench(*options); });
}

}  // namespace flux::cli
