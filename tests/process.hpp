#pragma once
// Runs a program with arguments (no shell) and captures its exit code, stdout and stderr.

#include <string>
#include <vector>

namespace flux::testing {

struct ProcessResult {
  int exit_code = -1;  // 128 + signal number when killed by a signal
  std::string out;
  std::string err;
};

ProcessResult run_process(const std::vector<std::string>& argv);

}  // namespace flux::testing
