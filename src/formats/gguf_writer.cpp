// GGUF v3 writer, laid out as llama.cpp's gguf writer does: header, metadata, tensor infos, zero
// padding to the alignment, then each tensor's data padded to the alignment (the last one too).

#include <limits>

#include <fmt/format.h>

#include "base/error.hpp"
#include "formats/file_sink.hpp"
#include "formats/gguf.hpp"
#include "formats/gguf_layout.hpp"

namespace flux::gguf {
namespace {

template <typename T>
void put(FileSink& out, const T& value) {
  out.write(std::as_bytes(std::span(&value, 1)));
}

void put_string(FileSink& out, std::string_view text) {
  put(out, static_cast<std::uint64_t>(text.size()));
  out.write(std::as_bytes(std::span(text.data(), text.size())));
}

// Writes a value's payload; the type tag (and an array's element type) are written by callers.
void put_payload(FileSink& out, const Value& value) {
  std::visit(
      [&](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, bool>) {
          put(out, static_cast<std::uint8_t>(v ? 1 : 0));
        } else if constexpr (std::is_same_v<T, std::string>) {
          put_string(out, v);
        } else if constexpr (std::is_same_v<T, Array>) {
          put(out, static_cast<std::uint32_t>(v.element_type));
          put(out, static_cast<std::uint64_t>(v.items.size()));
          for (const Value& item : v.items) put_payload(out, item);
        } else {
          put(out, v);
        }
      },
      value.data);
}

// Rejects values the reader would reject, naming the key and the path into nested arrays.
void validate_value(const Value& value, const std::string& path, int depth) {
  const auto* array = std::get_if<Array>(&value.data);
  if (array == nullptr) return;
  if (depth >= layout::kMaxArrayNesting) {
    throw InvalidArgument(fmt::format("metadata key '{}': arrays nested deeper than {} levels",
                                      path, layout::kMaxArrayNesting));
  }
  if (static_cast<std::uint32_t>(array->element_type) >= layout::kValueTypeCount) {
    throw InvalidArgument(fmt::format("metadata key '{}': unknown array element type {}", path,
                                      static_cast<std::uint32_t>(array->element_type)));
  }
  for (std::size_t i = 0; i < array->items.size(); ++i) {
    const Value& item = array->items[i];
    if (item.type() != array->element_type) {
      throw InvalidArgument(fmt::format("metadata key '{}[{}]' has type {} in an array of {}", path,
                                        i, value_type_name(item.type()),
                                        value_type_name(array->element_type)));
    }
    if (item.type() == ValueType::Array) {
      validate_value(item, fmt::format("{}[{}]", path, i), depth + 1);
    }
  }
}

std::uint64_t padding_to(std::uint64_t offset, std::uint64_t alignment) {
  return *layout::align_up(offset, alignment) - offset;
}

}  // namespace

void Writer::set_alignment(std::uint64_t alignment) {
  if (!layout::is_power_of_two(alignment) ||
      alignment > std::numeric_limits<std::uint32_t>::max()) {
    throw InvalidArgument(
        fmt::format("GGUF alignment {} must be a power of two that fits uint32", alignment));
  }
  alignment_ = alignment;
}

void Writer::add(std::string key, Value value) {
  if (key == layout::kAlignmentKey) {
    if (!value.is_integer()) {
      throw InvalidArgument(fmt::format("metadata key '{}' has type {}, expected an integer", key,
                                        value_type_name(value.type())));
    }
    // A negative alignment is reported as invalid, like zero.
    const bool negative = value.type() != ValueType::UInt64 && value.as_int(key) < 0;
    set_alignment(negative ? 0 : value.as_uint(key));
    return;
  }
  if (metadata_.contains(key)) {
    throw InvalidArgument(fmt::format("duplicate metadata key '{}'", key));
  }
  validate_value(value, key, 0);
  metadata_.add(std::move(key), std::move(value));
}

void Writer::add_tensor(std::string name, TensorType type, std::vector<std::int64_t> dims,
                        Fill fill) {
  if (name.size() > layout::kMaxTensorNameLength) {
    throw InvalidArgument(
        fmt::format("tensor name '{}' is {} bytes, more than llama.cpp's limit "
                    "of {}",
                    name, name.size(), layout::kMaxTensorNameLength));
  }
  if (tensor_index_.contains(name)) {
    throw InvalidArgument(fmt::format("duplicate tensor name '{}'", name));
  }
  if (dims.empty()) {
    throw InvalidArgument(fmt::format("tensor '{}' needs at least one dimension", name));
  }
  const layout::TensorSizeResult size = layout::tensor_size(dims, type);
  if (!size.ok()) throw InvalidArgument(fmt::format("tensor '{}': {}", name, size.error));
  if (!fill) throw InvalidArgument(fmt::format("tensor '{}' has no fill callback", name));
  tensor_index_.emplace(name, tensors_.size());
  tensors_.push_back({std::move(name), type, std::move(dims), std::move(fill)});
}

void Writer::write(const std::filesystem::path& path) const {
  // Offsets first, so each tensor info can name where its data will go.
  std::vector<std::uint64_t> offsets;
  std::vector<std::uint64_t> sizes;
  std::uint64_t data_size = 0;
  for (const PendingTensor& tensor : tensors_) {
    const std::uint64_t n_bytes = layout::tensor_size(tensor.dims, tensor.type).size.n_bytes;
    const auto padded = layout::align_up(n_bytes, alignment_);
    if (!padded || *padded > std::numeric_limits<std::uint64_t>::max() - data_size) {
      throw InvalidArgument(fmt::format("'{}': the tensor data exceeds 2^64 bytes", path.string()));
    }
    offsets.push_back(data_size);
    sizes.push_back(n_bytes);
    data_size += *padded;
  }

  const bool write_alignment = alignment_ != layout::kDefaultAlignment;
  FileSink out(path);
  out.write(std::as_bytes(std::span(layout::kMagic)));
  put(out, layout::kWrittenVersion);
  put(out, static_cast<std::uint64_t>(tensors_.size()));
  put(out, static_cast<std::uint64_t>(metadata_.size() + (write_alignment ? 1 : 0)));

  if (write_alignment) {
    put_string(out, layout::kAlignmentKey);
    put(out, static_cast<std::uint32_t>(ValueType::UInt32));
    put(out, static_cast<std::uint32_t>(alignment_));
  }
  for (const auto& [key, value] : metadata_.entries()) {
    put_string(out, key);
    put(out, static_cast<std::uint32_t>(value.type()));
    put_payload(out, value);
  }

  for (std::size_t i = 0; i < tensors_.size(); ++i) {
    const PendingTensor& tensor = tensors_[i];
    put_string(out, tensor.name);
    put(out, static_cast<std::uint32_t>(tensor.dims.size()));
    for (const std::int64_t dim : tensor.dims) put(out, dim);
    put(out, static_cast<std::uint32_t>(tensor.type));
    put(out, offsets[i]);
  }
  out.write_zeros(padding_to(out.offset(), alignment_));

  // One tensor's bytes at a time; the buffer is reused, so peak memory is the largest tensor.
  std::vector<std::byte> buffer;
  for (std::size_t i = 0; i < tensors_.size(); ++i) {
    buffer.assign(sizes[i], std::byte{0});
    tensors_[i].fill(std::span(buffer));
    out.write(buffer);
    out.write_zeros(padding_to(sizes[i], alignment_));
  }
  out.finish();
}

}  // namespace flux::gguf
