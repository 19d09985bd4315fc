#include "formats/gguf_metadata_reader.hpp"

#include <string>

#include <fmt/format.h>

#include "formats/gguf_layout.hpp"

namespace flux::gguf {
namespace {

// Reads the value of one key. `field_` names the key in every error ("metadata key 'x'"); the
// cursor adds the byte offset.
class ValueReader {
 public:
  ValueReader(ByteCursor& in, std::string field) : in_(in), field_(std::move(field)) {}

  Value read(ValueType type, int depth) {
    switch (type) {
      case ValueType::UInt8: return Value{in_.read<std::uint8_t>(field_)};
      case ValueType::Int8: return Value{in_.read<std::int8_t>(field_)};
      case ValueType::UInt16: return Value{in_.read<std::uint16_t>(field_)};
      case ValueType::Int16: return Value{in_.read<std::int16_t>(field_)};
      case ValueType::UInt32: return Value{in_.read<std::uint32_t>(field_)};
      case ValueType::Int32: return Value{in_.read<std::int32_t>(field_)};
      case ValueType::Float32: return Value{in_.read<float>(field_)};
      case ValueType::Bool: return Value{read_bool()};
      case ValueType::String: return Value{in_.read_string(field_)};
      case ValueType::Array: return Value{read_array(depth)};
      case ValueType::UInt64: return Value{in_.read<std::uint64_t>(field_)};
      case ValueType::Int64: return Value{in_.read<std::int64_t>(field_)};
      case ValueType::Float64: return Value{in_.read<double>(field_)};
    }
    in_.fail(fmt::format("{}: unknown value type", field_));  // read_type() rules this out
  }

  ValueType read_type() {
    const std::uint64_t at = in_.offset();
    const auto id = in_.read<std::uint32_t>(field_);
    if (id >= layout::kValueTypeCount) {
      in_.fail_at(at, fmt::format("{}: unknown value type {} (GGUF defines 0..{})", field_, id,
                                  layout::kValueTypeCount - 1));
    }
    return static_cast<ValueType>(id);
  }

 private:
  bool read_bool() {
    const std::uint64_t at = in_.offset();
    const auto byte = in_.read<std::uint8_t>(field_);
    if (byte > 1)
      in_.fail_at(at, fmt::format("{}: bool value {} is neither 0 nor 1", field_, byte));
    return byte == 1;
  }

  Array read_array(int depth) {
    const std::uint64_t at = in_.offset();
    if (depth >= layout::kMaxArrayNesting) {
      in_.fail_at(at, fmt::format("{}: arrays nested deeper than {} levels", field_,
                                  layout::kMaxArrayNesting));
    }
    Array array;
    array.element_type = read_type();
    const auto count = in_.read<std::uint64_t>(field_);
    // Checked before reserving, so a forged count cannot drive a huge allocation.
    const std::uint64_t min_size = layout::min_encoded_size(array.element_type);
    if (count > in_.remaining() / min_size) {
      in_.fail_at(at,
                  fmt::format("{}: array of {} {} elements needs at least {} bytes each but only "
                              "{} bytes are left",
                              field_, count, value_type_name(array.element_type), min_size,
                              in_.remaining()));
    }
    array.items.reserve(count);
    for (std::uint64_t i = 0; i < count; ++i) {
      array.items.push_back(read(array.element_type, depth + 1));
    }
    return array;
  }

  ByteCursor& in_;
  std::string field_;
};

}  // namespace

MetadataSection read_metadata(ByteCursor& in, std::uint64_t count) {
  MetadataSection section;
  section.metadata.set_source(std::string(in.source()));
  for (std::uint64_t i = 0; i < count; ++i) {
    const std::uint64_t key_at = in.offset();
    std::string key = in.read_string(fmt::format("metadata key #{}", i));
    if (section.metadata.contains(key)) {
      in.fail_at(key_at, fmt::format("duplicate metadata key '{}'", layout::printable(key)));
    }
    ValueReader reader(in, fmt::format("metadata key '{}'", layout::printable(key)));
    const ValueType type = reader.read_type();
    section.value_offsets.push_back(in.offset());
    section.metadata.add(std::move(key), reader.read(type, 0));
  }
  return section;
}

}  // namespace flux::gguf
