#pragma once
// GGUF v2/v3 reader (memory-mapped, zero-copy) and writer.
// Every malformed file becomes a flux::FormatError that names the file, the field or tensor and
// the byte offset; the reader never reads outside the bytes it was given.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

#include "base/mapped_file.hpp"
#include "tensor/dtype.hpp"

namespace flux::gguf {

enum class ValueType : std::uint32_t {
  UInt8 = 0, Int8 = 1, UInt16 = 2, Int16 = 3, UInt32 = 4, Int32 = 5, Float32 = 6, Bool = 7,
  String = 8, Array = 9, UInt64 = 10, Int64 = 11, Float64 = 12,
};
std::string_view value_type_name(ValueType type);

struct Value;

// A homogeneous array; element_type may itself be Array (nested arrays).
struct Array {
  ValueType element_type = ValueType::UInt8;
  std::vector<Value> items;

  friend bool operator==(const Array&, const Array&) = default;
};

struct Value {
  std::variant<std::uint8_t, std::int8_t, std::uint16_t, std::int16_t, std::uint32_t, std::int32_t,
               float, bool, std::string, Array, std::uint64_t, std::int64_t, double>
      data;

  ValueType type() const;  // the variant index is the GGUF type id
  bool is_integer() const;
  bool is_float() const;
  // Conversions that throw FormatError naming `key` when the value has another type or does not
  // fit (negative into unsigned, out of range).
  std::uint64_t as_uint(std::string_view key) const;
  std::int64_t as_int(std::string_view key) const;
  double as_float(std::string_view key) const;  // accepts float and integer values
  bool as_bool(std::string_view key) const;
  const std::string& as_string(std::string_view key) const;
  const Array& as_array(std::string_view key) const;

  // Same type and same contents (so a NaN is unequal to itself, as with float ==).
  friend bool operator==(const Value&, const Value&) = default;
};

// Key/value metadata in file order, with lookup by key.
class Metadata {
 public:
  void add(std::string key, Value value);  // throws FormatError on a duplicate key
  const Value* find(std::string_view key) const;
  bool contains(std::string_view key) const { return find(key) != nullptr; }
  const Value& at(std::string_view key) const;  // throws FormatError "missing metadata key"

  // Typed getters: throw FormatError when missing or mistyped; the optional_* forms return
  // nullopt when missing and still throw when mistyped.
  std::uint64_t get_uint(std::string_view key) const;
  double get_float(std::string_view key) const;
  bool get_bool(std::string_view key) const;
  const std::string& get_string(std::string_view key) const;
  std::optional<std::uint64_t> optional_uint(std::string_view key) const;
  std::optional<double> optional_float(std::string_view key) const;
  std::optional<bool> optional_bool(std::string_view key) const;
  std::optional<std::string> optional_string(std::string_view key) const;
  // Arrays of one element type, converted; throw FormatError on a mistyped element.
  std::vector<std::string> get_string_array(std::string_view key) const;
  std::vector<float> get_float_array(std::string_view key) const;
  std::vector<std::int64_t> get_int_array(std::string_view key) const;

  const std::vector<std::pair<std::string, Value>>& entries() const { return entries_; }
  std::size_t size() const { return entries_.size(); }

  // Name of the file the metadata came from; when set, it prefixes the getters' error messages.
  void set_source(std::string source) { source_ = std::move(source); }
  const std::string& source() const { return source_; }

 private:
  std::string source_;
  std::vector<std::pair<std::string, Value>> entries_;
  std::unordered_map<std::string, std::size_t> index_;
};

struct TensorInfo {
  std::string name;
  std::vector<std::int64_t> dims;  // GGUF order: dims[0] is the contiguous (row) dimension
  TensorType type = TensorType::F32;
  std::uint64_t offset = 0;        // relative to the start of the data section
  std::uint64_t n_elements = 0;
  std::uint64_t n_bytes = 0;
  std::span<const std::byte> data; // view into the file's bytes
};

class File {
 public:
  // Maps and parses a file. Throws flux::Error when it cannot be opened, FormatError when it is
  // malformed (the message starts with the path).
  static File open(const std::filesystem::path& path);
  // Parses bytes the caller keeps alive (fuzzing, tests); `name` prefixes error messages.
  static File parse(std::span<const std::byte> bytes, std::string name);

  std::uint32_t version() const { return version_; }
  std::uint64_t alignment() const { return alignment_; }
  // Start of the tensor data section (aligned); past the end of a file with no tensors, such as
  // llama.cpp's vocab-only files, which end right after the metadata.
  std::uint64_t data_offset() const { return data_offset_; }
  const std::string& name() const { return name_; }
  const Metadata& metadata() const { return metadata_; }
  std::span<const TensorInfo> tensors() const { return tensors_; }
  const TensorInfo* find_tensor(std::string_view name) const;
  std::span<const std::byte> bytes() const { return bytes_; }
  // Whether the bytes are a read-only file mapping this File owns (open), not borrowed (parse).
  bool mapped() const { return mapping_ != nullptr; }

 private:
  std::shared_ptr<const MappedFile> mapping_;  // null when parsing borrowed bytes
  std::span<const std::byte> bytes_;
  std::string name_;
  std::uint32_t version_ = 0;
  std::uint64_t alignment_ = 32;
  std::uint64_t data_offset_ = 0;
  Metadata metadata_;
  std::vector<TensorInfo> tensors_;
  std::unordered_map<std::string, std::size_t> tensor_index_;
};

// Writes GGUF v3. Tensor data is produced one tensor at a time by a fill callback while writing,
// so a multi-gigabyte model never has to be held in memory at once.
class Writer {
 public:
  using Fill = std::function<void(std::span<std::byte> out)>;

  // A power of two that fits uint32; also writes general.alignment (as uint32, the first key)
  // when not 32.
  void set_alignment(std::uint64_t alignment);
  // Metadata in insertion order. Adding general.alignment is the same as set_alignment(). Throws
  // flux::InvalidArgument on a duplicate key, an array whose items do not all have its element
  // type, or arrays nested deeper than the reader accepts (8 levels). Note that llama.cpp's reader
  // rejects nested arrays, so files meant for it should not contain any.
  void add(std::string key, Value value);
  // dims in GGUF order (1 to 4 of them, none negative); dims[0] must be a multiple of the type's
  // block size; names are unique and at most 63 bytes (llama.cpp's limit). Throws
  // flux::InvalidArgument otherwise. The fill callback receives a zeroed span of exactly the
  // tensor's byte size.
  void add_tensor(std::string name, TensorType type, std::vector<std::int64_t> dims, Fill fill);
  // Writes the file; throws flux::Error on I/O failure (and removes the partial file). Exceptions
  // from a fill callback propagate after the same clean-up.
  void write(const std::filesystem::path& path) const;

 private:
  struct PendingTensor {
    std::string name;
    TensorType type;
    std::vector<std::int64_t> dims;
    Fill fill;
  };
  std::uint64_t alignment_ = 32;
  Metadata metadata_;
  std::vector<PendingTensor> tensors_;
  std::unordered_map<std::string, std::size_t> tensor_index_;  // rejects duplicate names
};

// Helpers for building metadata values.
Value make_string_array(const std::vector<std::string>& items);
Value make_float_array(const std::vector<float>& items);
Value make_int32_array(const std::vector<std::int32_t>& items);

}  // namespace flux::gguf
