// flux bench-serve end to end against the mock server: the JSON shape, the table, and errors.

#include <algorithm>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "mock_openai_server.hpp"
#include "process.hpp"
#include "test_support.hpp"

namespace flux::testing {
namespace {

ProcessResult bench_serve(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {flux_cli().string(), "bench-serve"};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_process(argv);
}

void expect_percentiles(const nlohmann::json& p, const char* what) {
  ASSERT_TRUE(p.is_object()) << what;
  const double p50 = p.at("p50").get<double>();
  const double p90 = p.at("p90").get<double>();
  const double p99 = p.at("p99").get<double>();
  EXPECT_GE(p50, 0.0) << what;
  EXPECT_LE(p50, p90) << what;
  EXPECT_LE(p90, p99) << what;
}

TEST(CliBenchServe, JsonHasEveryField) {
  MockOpenAiServer server({.delay_ms = 2, .content_chunks = 3, .fail_every = 3});
  const ProcessResult r = bench_serve({"--url", server.url(), "--concurrency", "2", "--requests", "6",
                                       "--prompt-tokens", "8", "--max-tokens", "5", "--stream", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  for (const char* key : {"url", "concurrency", "requests", "ok", "failed", "seconds", "requests_per_sec",
                          "output_tokens_per_sec", "ttft_ms", "itl_ms", "e2e_ms", "mean_prompt_tokens"})
    EXPECT_TRUE(j.contains(key)) << key;
  EXPECT_EQ(j.at("url"), server.url());
  EXPECT_EQ(j.at("concurrency"), 2);
  EXPECT_EQ(j.at("requests"), 6);
  EXPECT_EQ(j.at("ok"), 4);
  EXPECT_EQ(j.at("failed"), 2);
  EXPECT_GT(j.at("seconds").get<double>(), 0.0);
  EXPECT_GT(j.at("requests_per_sec").get<double>(), 0.0);
  EXPECT_NEAR(j.at("output_tokens_per_sec").get<double>(), 4 * 5 / j.at("seconds").get<double>(), 1e-6);
  expect_percentiles(j.at("ttft_ms"), "ttft");
  expect_percentiles(j.at("itl_ms"), "itl");
  expect_percentiles(j.at("e2e_ms"), "e2e");
  EXPECT_DOUBLE_EQ(j.at("mean_prompt_tokens").get<double>(), 9.0);
  EXPECT_EQ(j.at("status_counts"), nlohmann::json({{"200", 4}, {"503", 2}}));
  EXPECT_EQ(j.at("errors"), nlohmann::json::parse(R"([{"status":503,"message":"server busy","count":2}])"));
  EXPECT_EQ(j.at("endpoint"), "/v1/completions");
  EXPECT_EQ(server.received(), 6);
}

TEST(CliBenchServe, NotStreamedHasNoInterTokenLatency) {
  MockOpenAiServer server({.send_usage = false});
  const ProcessResult r = bench_serve({"--url", server.url(), "--requests", "2", "--chat", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j.at("ok"), 2);
  EXPECT_TRUE(j.at("itl_ms").at("p50").is_null());
  EXPECT_TRUE(j.at("mean_prompt_tokens").is_null());
  EXPECT_EQ(j.at("endpoint"), "/v1/chat/completions");
}

TEST(CliBenchServe, PrintsATable) {
  MockOpenAiServer server({.delay_ms = 1, .fail_every = 4});
  const ProcessResult r =
      bench_serve({"--url", server.url(), "--concurrency", "2", "--requests", "4", "--stream", "--max-tokens", "8"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* text : {"3 ok, 1 failed", "HTTP 200 x3, HTTP 503 x1", "| ttft ms", "| itl ms", "| e2e ms",
                           "mean prompt tokens", "HTTP 503 x1: server busy"})
    EXPECT_NE(r.out.find(text), std::string::npos) << text << "\n" << r.out;
}

TEST(CliBenchServe, DefaultRequestsAreFourPerSlot) {
  MockOpenAiServer server({});
  const ProcessResult r = bench_serve({"--url", server.url(), "--concurrency", "3", "--max-tokens", "2", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out).at("requests"), 12);
}

TEST(CliBenchServe, ErrorsAreOneLine) {
  ProcessResult r = bench_serve({"--url", "https://api.example.com"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(r.out.empty()) << r.out;
  EXPECT_EQ(r.err.rfind("flux: error: ", 0), 0u) << r.err;
  EXPECT_NE(r.err.find("https is not supported"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;

  r = bench_serve({"--url", "http://127.0.0.1:1", "--concurrency", "0"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("--concurrency must be at least 1"), std::string::npos) << r.err;

  // Nothing listening: every request fails, the report still comes out, and the exit code says so.
  r = bench_serve({"--url", "http://127.0.0.1:1", "--requests", "2", "--json"});
  EXPECT_EQ(r.exit_code, 1);
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j.at("failed"), 2);
  EXPECT_EQ(j.at("status_counts"), nlohmann::json({{"0", 2}}));
  EXPECT_NE(r.err.find("flux: error: all 2 requests failed (no response: could not connect)"), std::string::npos)
      << r.err;
}

}  // namespace
}  // namespace flux::testing
