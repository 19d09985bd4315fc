#pragma once
// Shared helpers for tests: where the shared data lives, where the built binaries are.

#include <cstdlib>
#include <filesystem>
#include <string>

namespace flux::testing {

// ../shared by default; FLUX_SHARED_DIR overrides it.
inline std::filesystem::path shared_dir() {
  if (const char* env = std::getenv("FLUX_SHARED_DIR"); env != nullptr && *env != '\0') return env;
  return FLUX_DEFAULT_SHARED_DIR;
}

inline std::filesystem::path binary_dir() { return FLUX_BINARY_DIR; }

// The flux CLI built beside the tests.
inline std::filesystem::path flux_cli() { return binary_dir() / "apps" / "flux" / "flux"; }

}  // namespace flux::testing
