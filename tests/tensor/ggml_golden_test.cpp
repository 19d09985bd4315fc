// Bytes and dot products pinned to llama.cpp's own output.
//
// The hashes and dot-product bits below were produced by ggml itself (ggml-quants.c's
// quantize_row_*_ref and ggml-cpu/quants.c's ggml_vec_dot_*_generic, llama.cpp mirror commit
// d32676d7, built with NDEBUG as release builds are) on the same deterministic inputs. Our
// encoders and dot products matched them bit for bit on these rows and on 4000 random rows per
// type of many shapes and magnitudes; this test keeps them from drifting.

#include <gtest/gtest.h>

#include <bit>
#include <cstdint>
#include <string>
#include <vector>

#include "quant_test_support.hpp"

namespace flux {
namespace {

using testing::fnv1a;
using testing::make_row;
using testing::quantized;
using testing::RowShape;

constexpr std::int64_t kLength = 1024;

// Four super-blocks of different character: normal, shifted away from zero, one outlier per 97
// elements, uniform.
std::vector<float> golden_weights() {
  std::vector<float> w;
  const RowShape shapes[] = {RowShape::Normal, RowShape::Shifted, RowShape::OneOutlier,
                             RowShape::Uniform};
  for (std::uint32_t s = 0; s < 4; ++s) {
    const auto part = make_row(shapes[s], 256, 0.05f, 2024 + s);
    w.insert(w.end(), part.begin(), part.end());
  }
  return w;
}

std::vector<float> golden_activations() { return make_row(RowShape::Normal, kLength, 1.0f, 4048); }

struct GoldenBytes {
  TensorType type;
  std::uint64_t hash;  // FNV-1a of ggml's encoding of golden_weights()
};

struct GoldenDot {
  TensorType type;
  std::uint32_t bits;  // ggml's dot of golden_weights() with golden_activations() in vec_dot_type
};

void PrintTo(const GoldenBytes& g, std::ostream* os) { *os << type_name(g.type); }
void PrintTo(const GoldenDot& g, std::ostream* os) { *os << type_name(g.type); }

class GgmlGoldenBytes : public ::testing::TestWithParam<GoldenBytes> {};
class GgmlGoldenDot : public ::testing::TestWithParam<GoldenDot> {};

TEST_P(GgmlGoldenBytes, EncodingMatchesLlamaCpp) {
  const auto bytes = quantized(GetParam().type, golden_weights());
  EXPECT_EQ(fnv1a(bytes), GetParam().hash);
}

TEST_P(GgmlGoldenDot, DotProductMatchesLlamaCpp) {
  const TensorType type = GetParam().type;
  const auto w = quantized(type, golden_weights());
  const auto x = quantized(vec_dot_type(type), golden_activations());
  const float dot = vec_dot(type, w.data(), x.data(), kLength);
  EXPECT_EQ(std::bit_cast<std::uint32_t>(dot), GetParam().bits) << dot;
}

INSTANTIATE_TEST_SUITE_P(EncodableTypes, GgmlGoldenBytes,
                         ::testing::Values(GoldenBytes{TensorType::Q4_0, 0x693dbc4c56dc8a09ull},
                                           GoldenBytes{TensorType::Q4_1, 0x061332c7315b9678ull},
                                           GoldenBytes{TensorType::Q8_0, 0xc4ad856fb3fba69full},
                                           GoldenBytes{TensorType::Q8_1, 0x560e8e723c180986ull},
                                           GoldenBytes{TensorType::Q4_K, 0xdaa6a539a2edb8d8ull},
                                           GoldenBytes{TensorType::Q5_K, 0xc2ac95c9e78208c8ull},
                                           GoldenBytes{TensorType::Q6_K, 0x6f1237af858382c5ull},
                                           GoldenBytes{TensorType::Q8_K, 0x6980b0e8ea148eceull}),
                         [](const auto& info) { return std::string(type_name(info.param.type)); });

// ggml has no dot products with Q8_1 or Q8_K weights, so those have no golden.
INSTANTIATE_TEST_SUITE_P(WeightTypes, GgmlGoldenDot,
                         ::testing::Values(GoldenDot{TensorType::Q4_0, 0xc0659925u},   // -3.587472
                                           GoldenDot{TensorType::Q4_1, 0xc052a400u},   // -3.291260
                                           GoldenDot{TensorType::Q8_0, 0xc060f396u},   // -3.514867
                                           GoldenDot{TensorType::Q4_K, 0xc05471a2u},   // -3.319436
                                           GoldenDot{TensorType::Q5_K, 0xc05be9c5u},   // -3.436143
                                           GoldenDot{TensorType::Q6_K, 0xc05f4d35u}),  // -3.489087
                         [](const auto& info) { return std::string(type_name(info.param.type)); });

}  // namespace
}  // namespace flux
