#pragma once
// Inputs and error measures shared by the tensor-type tests.
//
// Rows come from std::mt19937 (whose output sequence the standard fixes) turned into floats with
// plain IEEE arithmetic only, no <random> distributions and no libm, so the same seed gives the
// same bits on every platform: the golden tests compare hashes of rows quantised by llama.cpp.

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "tensor/dtype.hpp"
#include "tensor/quant.hpp"

namespace flux::testing {

// Deterministic floats from a seed.
class RowSource {
 public:
  explicit RowSource(std::uint32_t seed) : engine_(seed) {}

  // Uniform in [0, 1) with 24 random bits.
  float uniform() { return static_cast<float>(engine_() >> 8) * 0x1p-24f; }
  // Roughly standard normal (Irwin-Hall sum of four uniforms, variance rescaled to 1).
  float normal() {
    const float sum = uniform() + uniform() + uniform() + uniform();
    return (sum - 2.0f) * 1.7320508f;
  }
  std::uint32_t bits() { return static_cast<std::uint32_t>(engine_()); }

 private:
  std::mt19937 engine_;
};

// Shapes of input rows: the usual case plus the ones quantisers get wrong.
enum class RowShape {
  Normal,    // N(0, 1) * scale
  Uniform,   // U(-1, 1) * scale
  Positive,  // |N(0, 1)| * scale, so a min of 0 helps the affine types
  Shifted,   // N(0, 1) * scale + 3 * scale: far from zero
  Zeros,
  Constant,    // every element = scale
  OneOutlier,  // N(0, 0.01) with one element at 100 * scale per 97
};

inline const char* shape_name(RowShape shape) {
  switch (shape) {
    case RowShape::Normal:
      return "normal";
    case RowShape::Uniform:
      return "uniform";
    case RowShape::Positive:
      return "positive";
    case RowShape::Shifted:
      return "shifted";
    case RowShape::Zeros:
      return "zeros";
    case RowShape::Constant:
      return "constant";
    case RowShape::OneOutlier:
      return "outlier";
  }
  return "?";
}

inline std::vector<float> make_row(RowShape shape, std::size_t n, float scale, std::uint32_t seed) {
  RowSource source(seed);
  std::vector<float> row(n);
  for (std::size_t i = 0; i < n; ++i) {
    switch (shape) {
      case RowShape::Normal:
        row[i] = source.normal() * scale;
        break;
      case RowShape::Uniform:
        row[i] = (2.0f * source.uniform() - 1.0f) * scale;
        break;
      case RowShape::Positive:
        row[i] = std::fabs(source.normal()) * scale;
        break;
      case RowShape::Shifted:
        row[i] = source.normal() * scale + 3.0f * scale;
        break;
      case RowShape::Zeros:
        row[i] = 0.0f;
        break;
      case RowShape::Constant:
        row[i] = scale;
        break;
      case RowShape::OneOutlier:
        row[i] = i % 97 == 13 ? 100.0f * scale : source.normal() * 0.01f * scale;
        break;
    }
  }
  return row;
}

inline std::vector<std::byte> quantized(TensorType type, std::span<const float> row) {
  std::vector<std::byte> bytes(row_bytes(type, static_cast<std::int64_t>(row.size())));
  quantize_row(type, row.data(), bytes.data(), static_cast<std::int64_t>(row.size()));
  return bytes;
}

inline std::vector<float> dequantized(TensorType type, std::span<const std::byte> bytes,
                                      std::size_t n) {
  std::vector<float> row(n);
  dequantize_row(type, bytes.data(), row.data(), static_cast<std::int64_t>(n));
  return row;
}

inline double norm(std::span<const float> v) {
  double sum = 0;
  for (float x : v) sum += static_cast<double>(x) * x;
  return std::sqrt(sum);
}

// ||approx - exact|| / ||exact||; 0 when both are zero.
inline double rms_relative_error(std::span<const float> exact, std::span<const float> approx) {
  double error = 0;
  for (std::size_t i = 0; i < exact.size(); ++i) {
    const double d = static_cast<double>(approx[i]) - exact[i];
    error += d * d;
  }
  const double reference = norm(exact);
  if (reference == 0) return std::sqrt(error) == 0 ? 0.0 : std::numeric_limits<double>::infinity();
  return std::sqrt(error) / reference;
}

inline double dot64(std::span<const float> a, std::span<const float> b) {
  double sum = 0;
  for (std::size_t i = 0; i < a.size(); ++i) sum += static_cast<double>(a[i]) * b[i];
  return sum;
}

inline double abs_dot64(std::span<const float> a, std::span<const float> b) {
  double sum = 0;
  for (std::size_t i = 0; i < a.size(); ++i) sum += std::fabs(static_cast<double>(a[i]) * b[i]);
  return sum;
}

// FNV-1a, to pin quantised bytes in golden tests.
inline std::uint64_t fnv1a(std::span<const std::byte> bytes) {
  std::uint64_t hash = 0xcbf29ce484222325ull;
  for (std::byte b : bytes) {
    hash ^= static_cast<std::uint8_t>(b);
    hash *= 0x100000001b3ull;
  }
  return hash;
}

}  // namespace flux::testing
