#pragma once
// Models for the engine tests: stories260K from ../shared (real trained weights) and a tiny
// synthetic llama with a byte vocabulary, written once per test binary.

#include <filesystem>
#include <memory>

#include "model/model.hpp"
#include "model/synthetic_model.hpp"
#include "model/tiny_model.hpp"
#include "test_support.hpp"
#include "tokenizer/tokenizer.hpp"

namespace flux::testing {

struct LoadedTestModel {
  Model model;
  Tokenizer tokenizer;
};

inline std::unique_ptr<LoadedTestModel> load_test_model(const std::filesystem::path& path) {
  Model model = Model::load(path);
  Tokenizer tokenizer = Tokenizer::from_gguf(model.file().metadata());
  return std::make_unique<LoadedTestModel>(LoadedTestModel{std::move(model), std::move(tokenizer)});
}

inline std::unique_ptr<LoadedTestModel> load_stories() {
  return load_test_model(shared_dir() / "models" / "stories260K.gguf");
}

// The "tiny" preset (256 wide, 2 layers, context 256) in Q8_0 with a byte vocabulary.
inline std::unique_ptr<LoadedTestModel> load_tiny_synthetic(const TempDir& dir) {
  ThreadPool pool(1);
  SyntheticModelOptions options;
  options.preset = *find_synthetic_preset("tiny");
  options.type = TensorType::Q8_0;
  const auto path = dir.file("tiny-q8_0.gguf");
  write_synthetic_model(options, path, pool);
  return load_test_model(path);
}

}  // namespace flux::testing
