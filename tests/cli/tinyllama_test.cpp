// The 1.1B-parameter synthetic TinyLlama in every make-model type: it loads, `flux inspect`
// reports ~1.1 B parameters, and it generates. Heavy (gigabytes, minutes): label "heavy".

#include <filesystem>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "process.hpp"
#include "test_support.hpp"

namespace flux::testing {
namespace {

class TinyLlama : public ::testing::TestWithParam<const char*> {};

TEST_P(TinyLlama, LoadsInspectsAndGenerates) {
  const std::string type = GetParam();
  const auto dir = std::filesystem::temp_directory_path() / ("flux_tinyllama_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string path = (dir / ("tinyllama-" + type + ".gguf")).string();
  const std::string vocab = (shared_dir() / "vocab" / "ggml-vocab-llama-spm.gguf").string();

  const ProcessResult made = run_process({flux_cli().string(), "make-model", "--preset", "tinyllama-1.1b", "--type",
                                          type, "--vocab", vocab, "-o", path});
  ASSERT_EQ(made.exit_code, 0) << made.err;

  const ProcessResult inspected = run_process({flux_cli().string(), "inspect", "-m", path, "--json"});
  ASSERT_EQ(inspected.exit_code, 0) << inspected.err;
  const auto info = nlohmann::json::parse(inspected.out);
  // TinyLlama-1.1B: 1,100,048,384 parameters.
  EXPECT_EQ(info["parameters"].get<std::uint64_t>(), 1100048384u);
  EXPECT_EQ(info["hparams"]["n_layers"], 22);
  EXPECT_EQ(info["hparams"]["n_kv_heads"], 4);

  const ProcessResult ran = run_process({flux_cli().string(), "run", "-m", path, "-p", "Hello", "-n", "3", "--temp",
                                         "0", "--ignore-eos", "--json"});
  ASSERT_EQ(ran.exit_code, 0) << ran.err;
  const auto out = nlohmann::json::parse(ran.out);
  EXPECT_EQ(out["tokens"].size(), 3u);
  for (const auto& t : out["tokens"]) EXPECT_LT(t.get<int>(), 32000);
  std::filesystem::remove_all(dir);
}

INSTANTIATE_TEST_SUITE_P(Types, TinyLlama, ::testing::Values("f16", "q8_0", "q4_0", "q4_k"));

}  // namespace
}  // namespace flux::testing
