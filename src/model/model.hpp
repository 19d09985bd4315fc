#pragma once
// A loaded model: the mapped file, its hyper-parameters and views of its weights. Immutable after
// load and shared by every request.

#include <filesystem>

#include "formats/gguf.hpp"
#include "model/model_config.hpp"
#include "model/weight_packing.hpp"
#include "model/weights.hpp"

namespace flux {

class Model {
 public:
  // Throws flux::Error subclasses naming the file and the problem. Weights are repacked for the
  // active kernel level unless `options` says not to (weight_packing.hpp).
  static Model load(const std::filesystem::path& path, const LoadOptions& options = {});
  static Model from_file(gguf::File file, const LoadOptions& options = {});

  const gguf::File& file() const { return file_; }
  const ModelConfig& config() const { return config_; }
  const ModelWeights& weights() const { return weights_; }
  const WeightPacking& packing() const { return packed_.report(); }

 private:
  Model(gguf::File file, ModelConfig config, ModelWeights weights, PackedWeights packed)
      : file_(std::move(file)), config_(std::move(config)), weights_(std::move(weights)), packed_(std::move(packed)) {}

  gguf::File file_;       // owns the mapping the weights point into
  ModelConfig config_;
  ModelWeights weights_;  // views into file_ or packed_
  PackedWeights packed_;  // repacked copies of some matrices
};

}  // namespace flux
