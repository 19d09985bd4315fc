// Bad input to the CLI: one clear line on stderr and a non-zero exit, never a crash.

#include <string>

#include <gtest/gtest.h>

#include "process.hpp"
#include "test_support.hpp"

namespace flux::testing {
namespace {

std::string stories() { return (shared_dir() / "models" / "stories260K.gguf").string(); }

void expect_clean_failure(const ProcessResult& r, const std::string& mentions) {
  EXPECT_NE(r.exit_code, 0);
  EXPECT_LT(r.exit_code, 128) << "killed by a signal: " << r.err;
  EXPECT_NE(r.err.find(mentions), std::string::npos) << "stderr: " << r.err;
}

TEST(CliErrors, MissingModelFile) {
  expect_clean_failure(run_process({flux_cli().string(), "run", "-m", "/nonexistent/model.gguf", "-p", "hi"}),
                       "/nonexistent/model.gguf");
}

TEST(CliErrors, NotAGgufFile) {
  expect_clean_failure(run_process({flux_cli().string(), "inspect", "-m", "/etc/hostname"}), "/etc/hostname");
}

TEST(CliErrors, UnknownFlag) {
  expect_clean_failure(run_process({flux_cli().string(), "run", "-m", stories(), "--no-such-flag"}), "no-such-flag");
}

TEST(CliErrors, PromptLongerThanContext) {
  std::string prompt;
  for (int i = 0; i < 200; ++i) prompt += "Once upon a time ";
  expect_clean_failure(run_process({flux_cli().string(), "run", "-m", stories(), "-p", prompt, "-n", "4"}),
                       "context");
}

TEST(CliErrors, InvalidSamplingParameter) {
  expect_clean_failure(
      run_process({flux_cli().string(), "run", "-m", stories(), "-p", "hi", "--top-p", "1.5", "-n", "2"}), "top_p");
}

TEST(CliErrors, UnknownPreset) {
  expect_clean_failure(run_process({flux_cli().string(), "make-model", "--preset", "gpt-9", "-o", "/tmp/x.gguf"}),
                       "gpt-9");
}

TEST(CliErrors, MissingPromptFile) {
  expect_clean_failure(run_process({flux_cli().string(), "run", "-m", stories(), "-f", "/nonexistent/prompt.txt"}),
                       "/nonexistent/prompt.txt");
}

}  // namespace
}  // namespace flux::testing
