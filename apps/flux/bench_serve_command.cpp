// flux bench-serve: load an OpenAI-compatible HTTP server (flux serve, llama-server, vLLM, ...)
// with `--concurrency` requests in flight until `--requests` have been sent, and report
// throughput and TTFT / inter-token / end-to-end latency percentiles.

#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "apps/flux/commands.hpp"
#include "base/error.hpp"
#include "loadgen/load_generator.hpp"

namespace flux::cli {
namespace {

struct BenchServeOptions {
  loadgen::LoadOptions load;
  bool requests_given = false;
  bool json = false;
};

// p50/p90/p99, or nulls when nothing was measured (no successful request, or no stream for ITL).
nlohmann::json percentiles_json(const Percentiles& p, bool measured) {
  if (!measured) return {{"p50", nullptr}, {"p90", nullptr}, {"p99", nullptr}};
  return {{"p50", p.p50}, {"p90", p.p90}, {"p99", p.p99}};
}

std::string status_name(int status) { return status == 0 ? "no response" : fmt::format("HTTP {}", status); }

void print_json(const loadgen::LoadOptions& o, const std::string& path, const loadgen::LoadResult& r) {
  nlohmann::json out;
  out["url"] = o.url;
  out["endpoint"] = path;
  out["stream"] = o.stream;
  out["chat"] = o.chat;
  out["concurrency"] = o.concurrency;
  out["requests"] = r.requests;
  out["prompt_tokens"] = o.prompt_tokens;
  out["max_tokens"] = o.max_tokens;
  out["ok"] = r.ok;
  out["failed"] = r.failed;
  out["seconds"] = r.seconds;
  out["requests_per_sec"] = r.requests_per_sec;
  out["output_tokens_per_sec"] = r.output_tokens_per_sec;
  out["output_tokens"] = r.output_tokens;
  out["mean_output_tokens"] = r.mean_output_tokens;
  out["ttft_ms"] = percentiles_json(r.ttft_ms, r.ok > 0);
  out["itl_ms"] = percentiles_json(r.itl_ms, r.n_itl > 0);
  out["e2e_ms"] = percentiles_json(r.e2e_ms, r.ok > 0);
  out["mean_prompt_tokens"] = r.mean_prompt_tokens ? nlohmann::json(*r.mean_prompt_tokens) : nlohmann::json(nullptr);
  nlohmann::json statuses = nlohmann::json::object();
  for (const auto& [status, count] : r.status_counts) statuses[std::to_string(status)] = count;
  out["status_counts"] = statuses;
  nlohmann::json errors = nlohmann::json::array();
  for (std::size_t i = 0; i < std::min<std::size_t>(r.errors.size(), 20); ++i)
    errors.push_back({{"status", r.errors[i].status}, {"message", r.errors[i].message}, {"count", r.errors[i].count}});
  out["errors"] = errors;
  std::puts(out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
}

void print_table(const loadgen::LoadOptions& o, const std::string& path, const loadgen::LoadResult& r) {
  fmt::print("{} {} ({}): {} requests, concurrency {}, ~{} prompt tokens, {} max tokens\n", o.url, path,
             o.stream ? "streamed" : "not streamed", r.requests, o.concurrency, o.prompt_tokens, o.max_tokens);
  std::string statuses;
  for (const auto& [status, count] : r.status_counts)
    statuses += fmt::format("{}{} x{}", statuses.empty() ? "" : ", ", status_name(status), count);
  fmt::print("requests: {} ok, {} failed in {:.2f} s ({})\n", r.ok, r.failed, r.seconds, statuses);
  fmt::print("throughput: {:.2f} req/s | {:.2f} output tok/s | mean output tokens {:.1f}", r.requests_per_sec,
             r.output_tokens_per_sec, r.mean_output_tokens);
  if (r.mean_prompt_tokens)
    fmt::print(" | mean prompt tokens {:.1f} (server usage)", *r.mean_prompt_tokens);
  else
    fmt::print(" | prompt tokens not reported by the server");
  fmt::print("\n\n");
  fmt::print("| {:<8} | {:>10} | {:>10} | {:>10} |\n", "metric", "p50", "p90", "p99");
  fmt::print("| {:-<8} | {:->10} | {:->10} | {:->10} |\n", ":", ":", ":", ":");
  auto row = [](const char* name, const Percentiles& p, bool measured) {
    if (!measured) {
      fmt::print("| {:<8} | {:>10} | {:>10} | {:>10} |\n", name, "-", "-", "-");
      return;
    }
    fmt::print("| {:<8} | {:>10.2f} | {:>10.2f} | {:>10.2f} |\n", name, p.p50, p.p90, p.p99);
  };
  row("ttft ms", r.ttft_ms, r.ok > 0);
  row("itl ms", r.itl_ms, r.n_itl > 0);
  row("e2e ms", r.e2e_ms, r.ok > 0);
  if (!r.errors.empty()) {
    fmt::print("\nfailures (most frequent first):\n");
    constexpr std::size_t kShown = 5;
    for (std::size_t i = 0; i < std::min(r.errors.size(), kShown); ++i)
      fmt::print("  {} x{}: {}\n", status_name(r.errors[i].status), r.errors[i].count, r.errors[i].message);
    if (r.errors.size() > kShown) fmt::print("  ... and {} other kinds\n", r.errors.size() - kShown);
  }
  std::fflush(stdout);
}

void bench_serve(BenchServeOptions& options) {
  loadgen::LoadOptions& o = options.load;
  if (!options.requests_given) o.requests = 4 * std::max(o.concurrency, 1);
  loadgen::validate(o);
  const std::string path = loadgen::endpoint_path(loadgen::parse_server_url(o.url), o.chat);
  const loadgen::LoadResult r = loadgen::run_load(o);
  if (options.json)
    print_json(o, path, r);
  else
    print_table(o, path, r);
  std::fflush(stdout);
  // The report is out either way; a run where nothing got through is an error for scripts.
  if (r.ok == 0) {
    const loadgen::ErrorCount& e = r.errors.front();
    throw Error(fmt::format("all {} requests failed ({}: {})", r.requests, status_name(e.status), e.message));
  }
}

}  // namespace

void add_bench_serve_command(CLI::App& app) {
  auto options = std::make_shared<BenchServeOptions>();
  loadgen::LoadOptions& o = options->load;
  CLI::App* cmd = app.add_subcommand(
      "bench-serve", "Load an OpenAI-compatible server (flux serve, llama-server, ...) and report latency percentiles");
  cmd->add_option("--url", o.url, "Server base URL, http://host[:port][/prefix]")->required();
  cmd->add_option("--concurrency", o.concurrency, "Requests kept in flight")->capture_default_str();
  CLI::Option* requests = cmd->add_option("--requests", o.requests, "Requests in all (default: 4 x concurrency)");
  cmd->add_option("-p,--prompt-tokens", o.prompt_tokens,
                  "Prompt length: random common words, about one token each (the server's count is reported)")
      ->capture_default_str();
  cmd->add_option("-n,--max-tokens", o.max_tokens, "max_tokens of every request (sent with ignore_eos)")
      ->capture_default_str();
  cmd->add_flag("--stream", o.stream, "Stream (SSE): measures time to first token and inter-token latency");
  cmd->add_flag("--chat", o.chat, "Use /v1/chat/completions instead of /v1/completions");
  cmd->add_option("--model", o.model, "The request's \"model\" field (default: left out)");
  cmd->add_option("--api-key", o.api_key, "Sent as 'Authorization: Bearer KEY'");
  cmd->add_option("--timeout-s", o.timeout_s, "Per-request timeout in seconds")->capture_default_str();
  cmd->add_option("--seed", o.seed, "Seed of the random prompts")->capture_default_str();
  cmd->add_flag("--json", options->json, "Print one JSON object instead of the table");
  cmd->callback([options, requests] {
    options->requests_given = requests->count() > 0;
    bench_serve(*options);
  });
}

}  // namespace flux::cli
