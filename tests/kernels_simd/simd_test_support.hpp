#pragma once
// Inputs for the SIMD kernel tests: rows of any type built from seeded random floats, copied to
// deliberately misaligned addresses, and the error bound the fast kernels must meet.

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kernels/cpu_features.hpp"
#include "tensor/dtype.hpp"
#include "tensor/quant.hpp"

namespace flux::testing {

// Uniform floats in [-1, 1) from a fixed-seed mt19937 (plain arithmetic, no <random>
// distributions, so the inputs are the same on every standard library).
inline std::vector<float> random_floats(std::mt19937& rng, std::size_t n, float scale = 1.0f) {
  std::vector<float> out(n);
  for (float& v : out) v = (static_cast<float>(rng() >> 8) * 0x1p-23f - 1.0f) * scale;
  return out;
}

// A byte buffer whose payload starts `misalignment` bytes past a 64-byte boundary, so kernels
// see pointers that no vector load may assume aligned.
class MisalignedBytes {
 public:
  MisalignedBytes(std::size_t size, std::size_t misalignment)
      : storage_(size + 64 + misalignment), size_(size) {
    const auto address = reinterpret_cast<std::uintptr_t>(storage_.data());
    offset_ = (64 - address % 64) % 64 + misalignment;
  }
  std::byte* data() { return storage_.data() + offset_; }
  const std::byte* data() const { return storage_.data() + offset_; }
  std::size_t size() const { return size_; }

 private:
  std::vector<std::byte> storage_;
  std::size_t size_;
  std::size_t offset_ = 0;
};

// Sum over the row of |w_i * x_i| from the dequantised values, in double: the scale of the
// rounding error any summation order can make.
inline double absolute_product_sum(TensorType type, const std::byte* w, const std::byte* x,
                                   std::int64_t n) {
  std::vector<float> wf(static_cast<std::size_t>(n));
  std::vector<float> xf(static_cast<std::size_t>(n));
  dequantize_row(type, w, wf.data(), n);
  dequantize_row(vec_dot_type(type), x, xf.data(), n);
  double sum = 0.0;
  for (std::size_t i = 0; i < wf.size(); ++i) sum += std::fabs(double(wf[i]) * double(xf[i]));
  return sum;
}

// The bound fast kernels must meet against the scalar reference: |fast - ref| <= 1e-5 of the sum
// of |w_i * x_i|. Integer block sums are exact in every kernel, so the difference comes only from
// the order float terms are added in (one rounding of 2^-24 per addition, growing like the
// square root of the number of terms in practice); the exact-arithmetic tests check indexing
// bit for bit.
constexpr double kRelativeTolerance = 1e-5;

inline std::string level_test_name(IsaLevel level) { return std::string(isa_level_name(level)); }

}  // namespace flux::testing
