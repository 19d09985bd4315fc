#pragma once
// Deterministic test inputs for the kernel and model oracle tests.
//
// std::mt19937's output sequence is fixed by the standard, and the conversion to floats below
// uses plain IEEE arithmetic only (no <random> distributions, whose algorithms vary between
// standard libraries), so a seed gives the same inputs on every platform.

#include <cstdint>
#include <random>
#include <span>
#include <string_view>
#include <vector>

namespace flux::testing {

class SeededRandom {
 public:
  explicit SeededRandom(std::uint32_t seed) : engine_(seed) {}

  // Uniform in [0, 1) with 24 random bits.
  float uniform() { return static_cast<float>(engine_() >> 8) * 0x1p-24f; }
  float uniform(float lo, float hi) { return lo + (hi - lo) * uniform(); }
  // Roughly standard normal: an Irwin-Hall sum of four uniforms rescaled to variance 1.
  float normal() {
    const float sum = uniform() + uniform() + uniform() + uniform();
    return (sum - 2.0f) * 1.7320508f;
  }
  // Uniform integer in [0, n).
  std::uint32_t below(std::uint32_t n) { return static_cast<std::uint32_t>(engine_() % n); }

  std::vector<float> normals(std::size_t n, float stddev) {
    std::vector<float> out(n);
    for (float& v : out) v = normal() * stddev;
    return out;
  }

  // Fisher-Yates with this generator (std::shuffle's algorithm is unspecified).
  template <class T>
  void shuffle(std::span<T> items) {
    for (std::size_t i = items.size(); i > 1; --i) std::swap(items[i - 1], items[below(static_cast<std::uint32_t>(i))]);
  }

 private:
  std::mt19937 engine_;
};

// A seed derived from a name (FNV-1a), so every tensor of a synthetic model gets its own stream.
inline std::uint32_t seed_from(std::string_view name, std::uint32_t base_seed) {
  std::uint32_t h = 2166136261u ^ base_seed;
  for (char c : name) h = (h ^ static_cast<std::uint8_t>(c)) * 16777619u;
  return h;
}

}  // namespace flux::testing
