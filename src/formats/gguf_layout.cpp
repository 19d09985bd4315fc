#include "formats/gguf_layout.hpp"

#include <limits>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace flux::gguf::layout {

std::optional<std::uint64_t> fixed_size(ValueType type) {
  switch (type) {
    case ValueType::UInt8:
    case ValueType::Int8:
    case ValueType::Bool: return 1;
    case ValueType::UInt16:
    case ValueType::Int16: return 2;
    case ValueType::UInt32:
    case ValueType::Int32:
    case ValueType::Float32: return 4;
    case ValueType::UInt64:
    case ValueType::Int64:
    case ValueType::Float64: return 8;
    case ValueType::String:
    case ValueType::Array: return std::nullopt;
  }
  return std::nullopt;
}

std::uint64_t min_encoded_size(ValueType type) {
  if (type == ValueType::String) return kStringHeaderBytes;
  if (type == ValueType::Array) return kArrayHeaderBytes;
  return fixed_size(type).value_or(1);
}

TensorSizeResult tensor_size(std::span<const std::int64_t> dims, TensorType type) {
  TensorSizeResult result;
  if (dims.size() > kMaxDims) {
    result.error =
        fmt::format("has {} dimensions, more than the maximum of {}", dims.size(), kMaxDims);
    return result;
  }
  bool any_zero = false;
  for (std::size_t i = 0; i < dims.size(); ++i) {
    if (dims[i] < 0) {
      result.error = fmt::format("dims[{}] = {} is negative", i, dims[i]);
      return result;
    }
    any_zero = any_zero || dims[i] == 0;
  }

  const TypeTraits& traits = flux::traits(type);
  // A tensor with no dims is a scalar: one row of one element.
  const std::int64_t row_length = dims.empty() ? 1 : dims[0];
  if (static_cast<std::uint64_t>(row_length) % traits.block_size != 0) {
    result.error = fmt::format("dims[0] = {} is not a multiple of the {} block size {}", row_length,
                               traits.name, traits.block_size);
    return result;
  }

  std::int64_t n_elements = 1;
  if (any_zero) {
    n_elements = 0;  // empty, whatever the other dims say
  } else {
    for (const std::int64_t dim : dims) {
      if (__builtin_mul_overflow(n_elements, dim, &n_elements)) {
        result.error =
            fmt::format("element count of shape [{}] overflows int64", fmt::join(dims, ", "));
        return result;
      }
    }
  }

  const std::uint64_t n_blocks = static_cast<std::uint64_t>(n_elements) / traits.block_size;
  std::uint64_t n_bytes = 0;
  if (__builtin_mul_overflow(n_blocks, static_cast<std::uint64_t>(traits.block_bytes), &n_bytes) ||
      n_bytes > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
    result.error = fmt::format("byte size of shape [{}] of type {} overflows int64",
                               fmt::join(dims, ", "), traits.name);
    return result;
  }
  result.size = {static_cast<std::uint64_t>(n_elements), n_bytes};
  return result;
}

std::string printable(std::string_view name) {
  constexpr std::size_t kMaxShown = 96;
  std::string out;
  for (std::size_t i = 0; i < name.size() && i < kMaxShown; ++i) {
    const auto byte = static_cast<unsigned char>(name[i]);
    if (byte >= 0x20 && byte < 0x7f && byte != '\\') {
      out.push_back(static_cast<char>(byte));
    } else {
      out += fmt::format("\\x{:02x}", byte);
    }
  }
  if (name.size() > kMaxShown) out += fmt::format("... ({} bytes)", name.size());
  return out;
}

}  // namespace flux::gguf::layout
