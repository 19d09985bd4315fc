#pragma once
// Loading a model and its tokenizer for a command, with the checks a user needs before waiting on
// a multi-gigabyte mapping: the file exists, and it fits in this machine's memory.

#include <filesystem>
#include <memory>

#include "model/model.hpp"
#include "tokenizer/tokenizer.hpp"

namespace flux::cli {

struct LoadedModel {
  Model model;
  Tokenizer tokenizer;
};

// Throws flux::Error with a one-line reason.
LoadedModel load_model(const std::filesystem::path& path, const LoadOptions& options = {});

// Threads to use: the flag when given (> 0), else every core.
int resolve_threads(int requested);

// `options` with repacking spread over the command's threads (the -t flag; 0 for every core).
LoadOptions with_threads(LoadOptions options, int threads);

}  // namespace flux::cli
