// Rows of the unquantised element types F32, F16 and BF16, and their dot products.
//
// The dot products follow ggml's scalar fallbacks (ggml_vec_dot_f32/f16/bf16 without SIMD):
// each product is formed in float and the products are summed in double. For F16 and BF16 the
// float product of two halves is exact, so the only rounding is the final one. ggml's SIMD paths
// sum in float lanes instead, so llama.cpp's results on F32 models can differ from this
// reference in the last bits; this one is the more accurate oracle.

#include <cstdint>
#include <cstring>

#include "base/error.hpp"
#include "tensor/quant.hpp"
#include "tensor/row_codecs.hpp"

namespace flux::codecs {
namespace {

// Element i of a row of T stored at any alignment.
template <class T>
T load_element(ByteRow row, std::size_t i) {
  T value;
  std::memcpy(&value, row.data() + i * sizeof(T), sizeof(T));
  return value;
}

template <class T>
void store_element(MutableByteRow row, std::size_t i, T value) {
  std::memcpy(row.data() + i * sizeof(T), &value, sizeof(T));
}

template <class T>
void check_row(std::size_t bytes, std::size_t elements) {
  check(bytes == elements * sizeof(T), "plain row: byte and element counts disagree");
}

// Decodes a row of 16-bit values with `to_float` (f16 or bf16).
template <float (*to_float)(std::uint16_t)>
void dequantize_halves(ByteRow src, MutableFloatRow dst) {
  check_row<std::uint16_t>(src.size(), dst.size());
  for (std::size_t i = 0; i < dst.size(); ++i)
    dst[i] = to_float(load_element<std::uint16_t>(src, i));
}

template <std::uint16_t (*from_float)(float)>
void quantize_halves(FloatRow src, MutableByteRow dst) {
  check_row<std::uint16_t>(dst.size(), src.size());
  for (std::size_t i = 0; i < src.size(); ++i) store_element(dst, i, from_float(src[i]));
}

template <float (*to_float)(std::uint16_t)>
float dot_halves(ByteRow w, ByteRow x) {
  check(w.size() == x.size(), "dot: row sizes disagree");
  double sum = 0.0;
  for (std::size_t i = 0; i < w.size() / sizeof(std::uint16_t); ++i) {
    const float product =
        to_float(load_element<std::uint16_t>(w, i)) * to_float(load_element<std::uint16_t>(x, i));
    sum += static_cast<double>(product);
  }
  return static_cast<float>(sum);
}

}  // namespace

void dequantize_f32(ByteRow src, MutableFloatRow dst) {
  check_row<float>(src.size(), dst.size());
  std::memcpy(dst.data(), src.data(), src.size());
}

void quantize_f32(FloatRow src, MutableByteRow dst) {
  check_row<float>(dst.size(), src.size());
  std::memcpy(dst.data(), src.data(), dst.size());
}

void dequantize_f16(ByteRow src, MutableFloatRow dst) { dequantize_halves<f16_to_f32>(src, dst); }
void quantize_f16(FloatRow src, MutableByteRow dst) { quantize_halves<f32_to_f16>(src, dst); }
void dequantize_bf16(ByteRow src, MutableFloatRow dst) { dequantize_halves<bf16_to_f32>(src, dst); }
void quantize_bf16(FloatRow src, MutableByteRow dst) { quantize_halves<f32_to_bf16>(src, dst); }

float dot_f32(ByteRow w, ByteRow x) {
  check(w.size() == x.size(), "dot: row sizes disagree");
  double sum = 0.0;
  for (std::size_t i = 0; i < w.size() / sizeof(float); ++i) {
    const float product = load_element<float>(w, i) * load_element<float>(x, i);
    sum += static_cast<double>(product);
  }
  return static_cast<float>(sum);
}

float dot_f16(ByteRow w, ByteRow x) { return dot_halves<f16_to_f32>(w, x); }
float dot_bf16(ByteRow w, ByteRow x) { return dot_halves<bf16_to_f32>(w, x); }

}  // namespace flux::codecs
