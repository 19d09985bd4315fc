// flux bench end to end on stories260K: the JSON fields bench/compare.sh reads, the table, and
// the flag checks. Nothing here asserts a speed: the machine is shared and noisy.

#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "process.hpp"
#include "test_support.hpp"

namespace flux::testing {
namespace {

std::string stories() { return (shared_dir() / "models" / "stories260K.gguf").string(); }

// A small bandwidth buffer keeps the test quick (and light under AddressSanitizer).
ProcessResult flux_bench(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {flux_cli().string(), "bench", "-m", stories(), "--bandwidth-mib", "16"};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_process(argv);
}

void expect_throughput(const nlohmann::json& t, std::size_t reps, const char* what) {
  ASSERT_TRUE(t.is_object()) << what << ": " << t;
  EXPECT_GT(t.at("mean").get<double>(), 0.0) << what;
  EXPECT_GE(t.at("sd").get<double>(), 0.0) << what;
  EXPECT_EQ(t.at("samples").size(), reps) << what;
}

TEST(CliBench, JsonHasEveryField) {
  const ProcessResult r = flux_bench({"--json", "-p", "16", "-n", "8", "-r", "2", "-t", "2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  expect_throughput(j.at("pp_tokens_per_sec"), 2, "pp");
  expect_throughput(j.at("tg_tokens_per_sec"), 2, "tg");
  EXPECT_EQ(j.at("threads").get<int>(), 2);
  EXPECT_EQ(j.at("n_prompt").get<int>(), 16);
  EXPECT_EQ(j.at("n_gen").get<int>(), 8);
  EXPECT_EQ(j.at("reps").get<int>(), 2);
  EXPECT_EQ(j.at("model").get<std::string>(), "stories260K.gguf");
  EXPECT_GT(j.at("model_bytes").get<std::uint64_t>(), 0u);
  EXPECT_GT(j.at("bandwidth_gbps").get<double>(), 0.0);
  // Only that it is a consistent number: model_bytes * tg / bandwidth.
  const double fraction = j.at("tg_bandwidth_fraction").get<double>();
  const double expected = j.at("model_bytes").get<double>() * j.at("tg_tokens_per_sec").at("mean").get<double>() /
                          (j.at("bandwidth_gbps").get<double>() * 1e9);
  EXPECT_NEAR(fraction, expected, 1e-9 + 1e-6 * expected);
}

TEST(CliBench, SkippedTestIsNull) {
  const ProcessResult r = flux_bench({"--json", "-p", "0", "-n", "4", "-r", "1", "-t", "1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_TRUE(j.at("pp_tokens_per_sec").is_null());
  expect_throughput(j.at("tg_tokens_per_sec"), 1, "tg");
}

TEST(CliBench, ServingModeJsonHasEveryField) {
  const ProcessResult r = run_process({flux_cli().string(), "bench", "-m", stories(), "--json", "--concurrency", "4",
                                       "--requests", "12", "-p", "8", "-n", "6", "--shared-prefix", "48", "-t", "2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_GT(j.at("output_tokens_per_sec").get<double>(), 0.0);
  EXPECT_GT(j.at("requests_per_sec").get<double>(), 0.0);
  for (const char* key : {"ttft_ms", "tpot_ms", "e2e_ms"}) {
    const auto& p = j.at(key);
    EXPECT_LE(p.at("p50").get<double>(), p.at("p90").get<double>()) << key;
    EXPECT_LE(p.at("p90").get<double>(), p.at("p99").get<double>()) << key;
  }
  EXPECT_GT(j.at("ttft_ms").at("p50").get<double>(), 0.0);
  // 48 shared tokens are 3 full blocks: every request after the first wave reuses them.
  EXPECT_GT(j.at("prefix_hit_rate").get<double>(), 0.0);
  EXPECT_GT(j.at("n_prefix_hit").get<int>(), 0);
  EXPECT_GT(j.at("peak_kv_blocks").get<int>(), 0);
  EXPECT_EQ(j.at("n_prefix_hit").get<int>() + j.at("n_cold").get<int>(), 12);
}

TEST(CliBench, ServingModeFlagsAreChecked) {
  const ProcessResult r = flux_bench({"--requests", "4"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("--concurrency"), std::string::npos) << r.err;
  const ProcessResult too_long = run_process({flux_cli().string(), "bench", "-m", stories(), "--concurrency", "2",
                                              "-p", "100", "-n", "100"});
  EXPECT_EQ(too_long.exit_code, 1);
  EXPECT_NE(too_long.err.find("do not fit the context"), std::string::npos) << too_long.err;
}

TEST(CliBench, TableLooksLikeLlamaBench) {
  const ProcessResult r = flux_bench({"-p", "8", "-n", "4", "-r", "1", "-t", "1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("| model"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("pp8"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("tg4"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("±"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("GB/s"), std::string::npos) << r.out;
}

TEST(CliBench, RejectsBadFlagsWithAClearMessage) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"-p", "0", "-n", "0"}, "nothing to measure"},
      {{"-p", "-1"}, "must not be negative"},
      {{"-n", "-5"}, "must not be negative"},
      {{"-r", "0"}, "-r must be at least 1"},
      {{"-p", "100000"}, "context"},
      {{"-p", "100", "-n", "100"}, "do not fit the model's context of 128"},  // each fits, the pair does not
  };
  for (const auto& [args, message] : cases) {
    const ProcessResult r = flux_bench(args);
    EXPECT_EQ(r.exit_code, 1) << args[0] << " " << args[1];
    EXPECT_NE(r.err.find(message), std::string::npos) << r.err;
  }
}

}  // namespace
}  // namespace flux::testing
