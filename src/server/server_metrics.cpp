#include "server/server_metrics.hpp"

#include <fmt/format.h>

namespace flux::server {

void Histogram::observe(double seconds) {
  std::size_t i = 0;
  while (i < kBounds.size() && seconds > kBounds[i]) ++i;
  ++counts_[i];
  sum_ += seconds;
  ++count_;
}

void Histogram::render(std::string& out, const std::string& name, const std::string& help) const {
  out += fmt::format("# HELP {} {}\n# TYPE {} histogram\n", name, help, name);
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < kBounds.size(); ++i) {
    cumulative += counts_[i];
    out += fmt::format("{}_bucket{{le=\"{}\"}} {}\n", name, kBounds[i], cumulative);
  }
  cumulative += counts_.back();
  out += fmt::format("{}_bucket{{le=\"+Inf\"}} {}\n{}_sum {}\n{}_count {}\n", name, cumulative, name, sum_, name, count_);
}

void ServerMetrics::count_request(const std::string& endpoint, int status) {
  std::lock_guard lock(mutex_);
  ++requests_[{endpoint, status}];
}

void ServerMetrics::observe(const RequestMetrics& m) {
  std::lock_guard lock(mutex_);
  if (m.generated_tokens > 0) ttft_.observe(m.ttft_ms / 1000.0);
  if (m.tpot_ms > 0) tpot_.observe(m.tpot_ms / 1000.0);
  e2e_.observe(m.e2e_ms / 1000.0);
}

std::string ServerMetrics::render(const EngineMetrics& e, const std::string& model) const {
  std::string out;
  if (!model.empty()) {
    // Label values escape backslash, quote and newline (the exposition format's rule).
    std::string label;
    for (char c : model) {
      if (c == '\\' || c == '"') label += '\\';
      if (c == '\n') label += "\\n";
      else label += c;
    }
    out += fmt::format("# HELP flux_model_info The served model\n# TYPE flux_model_info gauge\nflux_model_info{{model=\"{}\"}} 1\n",
                       label);
  }
  auto gauge = [&](const char* name, const char* help, double value) {
    out += fmt::format("# HELP {} {}\n# TYPE {} gauge\n{} {}\n", name, help, name, name, value);
  };
  auto counter = [&](const char* name, const char* help, std::uint64_t value) {
    out += fmt::format("# HELP {} {}\n# TYPE {} counter\n{} {}\n", name, help, name, name, value);
  };
  {
    std::lock_guard lock(mutex_);
    out += "# HELP flux_requests_total HTTP generation requests by endpoint and status\n";
    out += "# TYPE flux_requests_total counter\n";
    for (const auto& [key, n] : requests_)
      out += fmt::format("flux_requests_total{{endpoint=\"{}\",status=\"{}\"}} {}\n", key.first, key.second, n);
    ttft_.render(out, "flux_request_ttft_seconds", "Time to first token");
    tpot_.render(out, "flux_request_tpot_seconds", "Time per output token after the first");
    e2e_.render(out, "flux_request_e2e_seconds", "Request latency from arrival to the last token");
  }
  gauge("flux_requests_running", "Sequences in the running batch", e.running);
  gauge("flux_requests_waiting", "Sequences waiting to be scheduled", e.waiting);
  out += "# HELP flux_kv_blocks KV cache blocks by state\n# TYPE flux_kv_blocks gauge\n";
  out += fmt::format("flux_kv_blocks{{state=\"used\"}} {}\nflux_kv_blocks{{state=\"free\"}} {}\n"
                     "flux_kv_blocks{{state=\"cached\"}} {}\n",
                     e.kv_blocks_used, e.kv_blocks_free, e.kv_blocks_cached);
  gauge("flux_kv_blocks_total", "KV cache blocks in the pool", e.kv_blocks_total);
  gauge("flux_prefix_cache_hit_rate", "Prompt tokens found in the prefix cache / looked up", e.prefix_hit_rate);
  gauge("flux_generation_tokens_per_second", "Generated tokens per second over the last seconds",
        e.generation_tokens_per_sec);
  counter("flux_prompt_tokens_total", "Prompt tokens computed (recomputation included)", e.prompt_tokens);
  counter("flux_generation_tokens_total", "Tokens generated", e.generated_tokens);
  counter("flux_preemptions_total", "Sequences preempted for lack of KV blocks", e.preemptions);
  return out;
}

}  // namespace flux::server
