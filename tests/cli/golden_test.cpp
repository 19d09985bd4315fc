// llama.cpp's greedy generations for stories260K, reproduced token for token through the CLI, at
// every kernel level this machine supports (FLUX_ISA is inherited by the child process).

#include <cstdlib>
#include <fstream>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "kernels/cpu_features.hpp"
#include "process.hpp"
#include "test_support.hpp"

namespace flux::testing {
namespace {

// Runs the body with FLUX_ISA set to the test's level, and unsets it afterwards.
class GoldenAtLevel : public ::testing::TestWithParam<IsaLevel> {
 protected:
  void SetUp() override { setenv("FLUX_ISA", std::string(isa_level_name(GetParam())).c_str(), 1); }
  void TearDown() override { unsetenv("FLUX_ISA"); }
};

TEST_P(GoldenAtLevel, Stories260KMatchesLlamaCppGreedyTokens) {
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

INSTANTIATE_TEST_SUITE_P(SupportedLevels, GoldenAtLevel, ::testing::ValuesIn(supported_isa_levels()),
                         [](const auto& info) { return std::string(isa_level_name(info.param)); });

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
