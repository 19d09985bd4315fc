#pragma once
// The server's Prometheus metrics: request counts by endpoint and status, latency histograms
// (time to first token, time per output token, end to end), and the engine's gauges, rendered in
// the text exposition format for GET /metrics (and read by the dashboard at GET /).

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>

#include "flux/engine.hpp"

namespace flux::server {

class Histogram {
 public:
  static constexpr std::array<double, 13> kBounds = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                                     1,     2.5,  5,     10,   30,  60};
  void observe(double seconds);
  void render(std::string& out, const std::string& name, const std::string& help) const;

 private:
  std::array<std::uint64_t, kBounds.size() + 1> counts_{};  // the last one is +Inf
  double sum_ = 0;
  std::uint64_t count_ = 0;
};

class ServerMetrics {
 public:
  void count_request(const std::string& endpoint, int status);
  void observe(const RequestMetrics& metrics);
  // The text exposition, with the engine's gauges as of now.
  // `model` names the served model (flux_model_info), empty while loading.
  std::string render(const EngineMetrics& engine, const std::string& model) const;

 private:
  mutable std::mutex mutex_;
  std::map<std::pair<std::string, int>, std::uint64_t> requests_;
  Histogram ttft_, tpot_, e2e_;
};

}  // namespace flux::server
