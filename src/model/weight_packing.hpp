#pragma once
// Load-time repacking of weight matrices into the layout the active kernels stream fastest
// (tensor/interleaved.hpp): a choice made once per model, recorded in a WeightPacking report and
// shown by `flux inspect` and `flux bench`. The mapped file is never written: repacked matrices
// are copies in memory owned by the model, and the file pages they were copied from are handed
// back to the kernel so that resident memory holds the weights once, not twice.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kernels/dot_kernels.hpp"
#include "model/weights.hpp"

namespace flux {

struct LoadOptions {
  // Repack matrices for the interleaved kernels when the active kernel level has them for their
  // type (`--no-repack` turns it off; the scalar level never repacks).
  bool repack_weights = true;
  // Threads that repack (0: every core). Repacking reads and writes the whole model once.
  int threads = 0;
};

// What repacking did to one model.
struct WeightPacking {
  bool requested = false;
  std::string kernel_level;  // the kernel level the choice was made for
  int matrices = 0;          // matrices repacked
  int kept = 0;              // matrices left in the file's layout (no interleaved kernel for their type)
  std::uint64_t bytes = 0;   // bytes repacked

  // One line for logs and `flux inspect`, e.g. "interleaved 8-row layout for 155
  // matrices (590.4 MiB, avx512vnni kernels); 2 kept as in the file".
  std::string describe() const;
};

// What PackedWeights::repack would do with these weights at this kernel level, without doing it.
WeightPacking plan_packing(const ModelWeights& weights, const DotKernels& kernels, const LoadOptions& options);

// Owns the repacked copies; the matrices in ModelWeights point into them.
class PackedWeights {
 public:
  PackedWeights() = default;
  PackedWeights(PackedWeights&&) noexcept = default;
  PackedWeights& operator=(PackedWeights&&) noexcept = default;

  // Repacks every matrix of `weights` that `kernels` has an interleaved kernel for, in place.
  // With `source_is_mapped` (the weights point into a read-only file mapping), the pages each
  // copy came from are handed back; borrowed bytes are never touched.
  static PackedWeights repack(ModelWeights& weights, const DotKernels& kernels, const LoadOptions& options,
                              bool source_is_mapped);

  const WeightPacking& report() const { return report_; }

 private:
  struct Free {
    void operator()(std::byte* p) const noexcept;
  };
  std::unique_ptr<std::byte[], Free> arena_;  // every repacked matrix, 64-byte aligned
  WeightPacking report_;
};

}  // namespace flux
