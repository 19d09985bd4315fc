#pragma once
// Facts about the GGUF byte layout shared by the reader and the writer: constants, the size of each
// value type on disk, and the checked size arithmetic of a tensor shape. Internal to src/formats.

#include <array>
#include <bit>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "formats/gguf.hpp"

namespace flux::gguf::layout {

static_assert(std::endian::native == std::endian::little,
              "GGUF is read and written by copying little-endian scalars");

inline constexpr std::array<char, 4> kMagic = {'G', 'G', 'U', 'F'};
inline constexpr std::uint32_t kWrittenVersion = 3;
inline constexpr std::uint64_t kDefaultAlignment = 32;
inline constexpr std::string_view kAlignmentKey = "general.alignment";
inline constexpr std::uint32_t kMaxDims = 4;             // GGML_MAX_DIMS
inline constexpr std::size_t kMaxTensorNameLength = 63;  // GGML_MAX_NAME - 1: llama.cpp's limit
// Nested arrays recurse; the limit keeps a hostile file from exhausting the stack.
inline constexpr int kMaxArrayNesting = 8;
inline constexpr std::uint32_t kValueTypeCount = 13;

// Smallest possible on-disk encodings, used to reject counts the remaining bytes cannot hold
// before anything is allocated for them.
inline constexpr std::uint64_t kStringHeaderBytes = 8;  // u64 length
inline constexpr std::uint64_t kArrayHeaderBytes = 12;  // u32 element type + u64 count
inline constexpr std::uint64_t kMinKeyValueBytes = kStringHeaderBytes + 4 + 1;
inline constexpr std::uint64_t kMinTensorInfoBytes = kStringHeaderBytes + 4 + 4 + 8;

// Bytes one value of `type` occupies at least (exactly, for fixed-size types).
std::uint64_t min_encoded_size(ValueType type);
// Bytes of a fixed-size scalar type; nullopt for string and array.
std::optional<std::uint64_t> fixed_size(ValueType type);

constexpr bool is_power_of_two(std::uint64_t x) { return x != 0 && (x & (x - 1)) == 0; }

// Rounds up to a multiple of a power-of-two alignment; nullopt on overflow.
constexpr std::optional<std::uint64_t> align_up(std::uint64_t offset, std::uint64_t alignment) {
  const std::uint64_t mask = alignment - 1;
  if (offset > UINT64_MAX - mask) return std::nullopt;
  return (offset + mask) & ~mask;
}

struct TensorSize {
  std::uint64_t n_elements = 0;
  std::uint64_t n_bytes = 0;
};

// Sizes of a tensor of `type` with `dims` (GGUF order), or why the shape is invalid: too many
// dims, a negative dim, a row not a multiple of the block size, or a count that overflows int64.
struct TensorSizeResult {
  TensorSize size;
  std::string error;  // empty when the shape is valid
  bool ok() const { return error.empty(); }
};
TensorSizeResult tensor_size(std::span<const std::int64_t> dims, TensorType type);

// A key or tensor name as it should appear in an error message: control and non-ASCII bytes
// escaped as \xNN and long names cut, since names in a malformed file are arbitrary bytes.
std::string printable(std::string_view name);

}  // namespace flux::gguf::layout
