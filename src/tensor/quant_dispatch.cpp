// quant.hpp's entry points: validate the request once, then hand whole rows to the type's codec.

#include <fmt/format.h>

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string_view>

#include "base/error.hpp"
#include "tensor/quant.hpp"
#include "tensor/row_codecs.hpp"

namespace flux {
namespace {

struct RowCodec {
  void (*dequantize)(codecs::ByteRow, codecs::MutableFloatRow);
  void (*quantize)(codecs::FloatRow, codecs::MutableByteRow);  // nullptr: no encoder
  float (*dot)(codecs::ByteRow, codecs::ByteRow);              // weight row x activation row
  TensorType dot_type;                                         // the activation row's type
};

// The one table of what is implemented; the type table's `supported` flags must agree with it
// (a test checks that).
std::optional<RowCodec> find_codec(TensorType type) {
  using namespace codecs;
  using T = TensorType;
  switch (type) {
    case T::F32:
      return RowCodec{dequantize_f32, quantize_f32, dot_f32, T::F32};
    case T::F16:
      return RowCodec{dequantize_f16, quantize_f16, dot_f16, T::F16};
    case T::BF16:
      return RowCodec{dequantize_bf16, quantize_bf16, dot_bf16, T::BF16};
    case T::Q4_0:
      return RowCodec{dequantize_q4_0, quantize_q4_0, dot_q4_0_q8_0, T::Q8_0};
    case T::Q4_1:
      return RowCodec{dequantize_q4_1, quantize_q4_1, dot_q4_1_q8_1, T::Q8_1};
    case T::Q8_0:
      return RowCodec{dequantize_q8_0, quantize_q8_0, dot_q8_0_q8_0, T::Q8_0};
    case T::Q8_1:
      return RowCodec{dequantize_q8_1, quantize_q8_1, dot_q8_1_q8_1, T::Q8_1};
    case T::Q4_K:
      return RowCodec{dequantize_q4_k, quantize_q4_k, dot_q4_k_q8_k, T::Q8_K};
    case T::Q5_K:
      return RowCodec{dequantize_q5_k, quantize_q5_k, dot_q5_k_q8_k, T::Q8_K};
    case T::Q6_K:
      return RowCodec{dequantize_q6_k, quantize_q6_k, dot_q6_k_q8_k, T::Q8_K};
    case T::Q8_K:
      return RowCodec{dequantize_q8_k, quantize_q8_k, dot_q8_k_q8_k, T::Q8_K};
    default:
      return std::nullopt;
  }
}

// The codec of `type`, or UnsupportedError naming the type and the operation.
RowCodec codec_for(TensorType type, std::string_view operation) {
  const auto id = static_cast<std::uint32_t>(type);
  const std::optional<TypeTraits> traits = type_traits(id);
  if (!traits) throw UnsupportedError(fmt::format("{}: unknown tensor type id {}", operation, id));
  std::optional<RowCodec> codec = find_codec(type);
  if (!codec) {
    throw UnsupportedError(
        fmt::format("{}: tensor type {} is not supported", operation, traits->name));
  }
  return *codec;
}

// Validates a row length and the pointers that must cover it; returns the length as a size.
std::size_t checked_length(TensorType type, std::int64_t n, std::string_view operation,
                           std::initializer_list<const void*> pointers) {
  const TypeTraits& t = traits(type);
  if (n < 0) throw InvalidArgument(fmt::format("{}: negative row length {}", operation, n));
  if (static_cast<std::size_t>(n) % t.block_size != 0) {
    throw InvalidArgument(fmt::format("{}: row length {} is not a multiple of {}'s block size {}",
                                      operation, n, t.name, t.block_size));
  }
  if (n > 0) {
    for (const void* p : pointers) {
      if (p == nullptr) throw InvalidArgument(fmt::format("{}: null row pointer", operation));
    }
  }
  return static_cast<std::size_t>(n);
}

codecs::ByteRow bytes_of(const void* p, TensorType type, std::size_t n) {
  return {static_cast<const std::byte*>(p), row_bytes(type, static_cast<std::int64_t>(n))};
}

}  // namespace

void dequantize_row(TensorType type, const void* src, float* dst, std::int64_t n) {
  const RowCodec codec = codec_for(type, "dequantize_row");
  const std::size_t count = checked_length(type, n, "dequantize_row", {src, dst});
  if (count == 0) return;
  codec.dequantize(bytes_of(src, type, count), {dst, count});
}

void quantize_row(TensorType type, const float* src, void* dst, std::int64_t n) {
  const RowCodec codec = codec_for(type, "quantize_row");
  if (codec.quantize == nullptr) {
    throw UnsupportedError(
        fmt::format("quantize_row: cannot quantise to tensor type {}", type_name(type)));
  }
  const std::size_t count = checked_length(type, n, "quantize_row", {src, dst});
  if (count == 0) return;
  codec.quantize({src, count},
                 {static_cast<std::byte*>(dst), row_bytes(type, static_cast<std::int64_t>(count))});
}

bool can_quantize(TensorType type) {
  const std::optional<RowCodec> codec = find_codec(type);
  return codec && codec->quantize != nullptr;
}

TensorType vec_dot_type(TensorType weight_type) {
  return codec_for(weight_type, "vec_dot_type").dot_type;
}

float vec_dot(TensorType type, const void* w, const void* x, std::int64_t n) {
  const RowCodec codec = codec_for(type, "vec_dot");
  const std::size_t count = checked_length(type, n, "vec_dot", {w, x});
  if (count == 0) return 0.0f;
  return codec.dot(bytes_of(w, type, count), bytes_of(x, codec.dot_type, count));
}

}  // namespace flux
