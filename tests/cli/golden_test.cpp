// llama.cpp's greedy generations for stories260K, reproduced token for token through the CLI.

#include <fstream>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "process.hpp"
#include "test_support.hpp"

namespace flux::testing {
namespace {

TEST(Golden, Stories260KMatchesLlamaCppGreedyTokens) {
  const auto model = shared_dir() / "models" / "stories260K.gguf";
  std::ifstream reference(shared_dir() / "reference" / "stories260K.jsonl");
  ASSERT_TRUE(reference) << "missing reference file under " << shared_dir();
  std::string line;
  int cases = 0;
  while (std::getline(reference, line)) {
    if (line.empty()) continue;
    const auto expected = nlohmann::json::parse(line);
    const std::string prompt = expected["prompt"];
    const int n = expected["n"];
    const ProcessResult r = run_process({flux_cli().string(), "run", "-m", model.string(), "-p", prompt, "-n",
                                         std::to_string(n), "--temp", "0", "-t", "2", "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto actual = nlohmann::json::parse(r.out);
    EXPECT_EQ(actual["prompt_tokens"], expected["prompt_tokens"]) << "prompt: " << prompt;
    EXPECT_EQ(actual["tokens"], expected["tokens"]) << "prompt: " << prompt;
    for (const char* key : {"ttft_ms", "latency_ms", "tokens_per_sec", "prompt_tokens_per_sec"})
      EXPECT_TRUE(actual["metrics"][key].is_number()) << key;
    ++cases;
  }
  EXPECT_GE(cases, 5);
}

TEST(Golden, SingleThreadedEqualsMultiThreaded) {
  const auto model = shared_dir() / "models" / "stories260K.gguf";
  auto run = [&](const char* threads) {
    const ProcessResult r = run_process({flux_cli().string(), "run", "-m", model.string(), "-p", "The little dog",
                                         "-n", "40", "--temp", "0", "-t", threads, "--json"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return nlohmann::json::parse(r.out)["tokens"];
  };
  EXPECT_EQ(run("1"), run("3"));
}

}  // namespace
}  // namespace flux::testing
