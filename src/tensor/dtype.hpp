#pragma once
// Tensor element types with GGUF's numbering and bit layouts, so files written by llama.cpp load
// here and files written here load in llama.cpp. Quantised types store fixed-size blocks.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace flux {

// Values are GGML's type ids as they appear in a GGUF tensor info.
enum class TensorType : std::uint32_t {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  Q5_0 = 6,
  Q5_1 = 7,
  Q8_0 = 8,
  Q8_1 = 9,
  Q2_K = 10,
  Q3_K = 11,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  Q8_K = 15,
  I8 = 24,
  I16 = 25,
  I32 = 26,
  I64 = 27,
  F64 = 28,
  BF16 = 30,
};

struct TypeTraits {
  std::string_view name;     // as llama.cpp prints it: "f32", "q4_0", "q4_K", ...
  std::size_t block_size;    // elements per block (1 for plain types)
  std::size_t block_bytes;   // bytes per block
  bool quantized;
  bool supported;            // dequantise and dot product are implemented here
};

// Traits of a GGUF type id; nullopt for ids GGUF does not define.
std::optional<TypeTraits> type_traits(std::uint32_t type_id);
const TypeTraits& traits(TensorType type);
std::string_view type_name(TensorType type);
// Parses "f16", "q4_0", "q4_k" (case-insensitive); nullopt when unknown.
std::optional<TensorType> parse_type_name(std::string_view name);

// Bytes of a row of n elements; n must be a multiple of the block size.
std::size_t row_bytes(TensorType type, std::int64_t n);

}  // namespace flux
