#pragma once
// A loaded model: the mapped file, its hyper-parameters and views of its weights. Immutable after
// load and shared by every request.

#include <filesystem>

#include "formats/gguf.hpp"
#include "model/model_config.hpp"
#include "model/weights.hpp"

namespace flux {

class Model {
 public:
  // Throws flux::Error subclasses naming the file and the problem.
  static Model load(const std::filesystem::path& path);
  static Model from_file(gguf::File file);

  const gguf::File& file() const { return file_; }
  const ModelConfig& config() const { return config_; }
  const ModelWeights& weights() const { return weights_; }

 private:
  Model(gguf::File file, ModelConfig config, ModelWeights weights)
      : file_(std::move(file)), config_(std::move(config)), weights_(std::move(weights)) {}

  gguf::File file_;  // owns the mapping the weights point into
  ModelConfig config_;
  ModelWeights weights_;
};

}  // namespace flux
