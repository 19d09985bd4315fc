// Metadata values: type names, typed conversions and the key/value table.

#include <cstdint>
#include <limits>
#include <optional>
#include <type_traits>

#include <fmt/format.h>

#include "base/error.hpp"
#include "formats/gguf.hpp"

namespace flux::gguf {
namespace {

// Value::type() relies on the variant's alternatives being listed in GGUF type-id order.
using Variant = decltype(Value::data);
template <ValueType id, typename T>
constexpr bool alternative_is =
    std::is_same_v<std::variant_alternative_t<static_cast<std::size_t>(id), Variant>, T>;
static_assert(std::variant_size_v<Variant> == 13);
static_assert(alternative_is<ValueType::UInt8, std::uint8_t> &&
              alternative_is<ValueType::Int8, std::int8_t> &&
              alternative_is<ValueType::UInt16, std::uint16_t> &&
              alternative_is<ValueType::Int16, std::int16_t> &&
              alternative_is<ValueType::UInt32, std::uint32_t> &&
              alternative_is<ValueType::Int32, std::int32_t> &&
              alternative_is<ValueType::Float32, float> && alternative_is<ValueType::Bool, bool> &&
              alternative_is<ValueType::String, std::string> &&
              alternative_is<ValueType::Array, Array> &&
              alternative_is<ValueType::UInt64, std::uint64_t> &&
              alternative_is<ValueType::Int64, std::int64_t> &&
              alternative_is<ValueType::Float64, double>);

template <typename T>
constexpr bool is_integer_alternative = std::is_integral_v<T> && !std::is_same_v<T, bool>;

bool is_integer_type(ValueType type) {
  switch (type) {
    case ValueType::UInt8:
    case ValueType::Int8:
    case ValueType::UInt16:
    case ValueType::Int16:
    case ValueType::UInt32:
    case ValueType::Int32:
    case ValueType::UInt64:
    case ValueType::Int64: return true;
    default: return false;
  }
}

bool is_float_type(ValueType type) {
  return type == ValueType::Float32 || type == ValueType::Float64;
}

std::string describe_type(const Value& value) {
  if (const auto* array = std::get_if<Array>(&value.data)) {
    return fmt::format("array of {}", value_type_name(array->element_type));
  }
  return std::string(value_type_name(value.type()));
}

// A key, or an element of an array under a key; formatted only when an error needs it.
struct KeyName {
  std::string_view key;
  std::optional<std::size_t> index;

  std::string str() const { return index ? fmt::format("{}[{}]", key, *index) : std::string(key); }
};

std::string prefix(std::string_view source) {
  return source.empty() ? std::string() : fmt::format("{}: ", source);
}

[[noreturn]] void wrong_type(std::string_view source, KeyName key, const Value& value,
                             std::string_view expected) {
  throw FormatError(fmt::format("{}metadata key '{}' has type {}, expected {}", prefix(source),
                                key.str(), describe_type(value), expected));
}

// The conversions below are shared by Value (no file name known) and Metadata (which knows it).
std::uint64_t to_uint(const Value& value, std::string_view source, KeyName key) {
  return std::visit(
      [&](const auto& v) -> std::uint64_t {
        using T = std::decay_t<decltype(v)>;
        if constexpr (is_integer_alternative<T>) {
          if constexpr (std::is_signed_v<T>) {
            if (v < 0) {
              throw FormatError(
                  fmt::format("{}metadata key '{}' = {} is negative, expected an unsigned integer",
                              prefix(source), key.str(), v));
            }
          }
          return static_cast<std::uint64_t>(v);
        } else {
          wrong_type(source, key, value, "an integer");
        }
      },
      value.data);
}

std::int64_t to_int(const Value& value, std::string_view source, KeyName key) {
  return std::visit(
      [&](const auto& v) -> std::int64_t {
        using T = std::decay_t<decltype(v)>;
        if constexpr (is_integer_alternative<T>) {
          if constexpr (std::is_same_v<T, std::uint64_t>) {
            if (v > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
              throw FormatError(fmt::format("{}metadata key '{}' = {} does not fit int64",
                                            prefix(source), key.str(), v));
            }
          }
          return static_cast<std::int64_t>(v);
        } else {
          wrong_type(source, key, value, "an integer");
        }
      },
      value.data);
}

double to_float(const Value& value, std::string_view source, KeyName key) {
  return std::visit(
      [&](const auto& v) -> double {
        using T = std::decay_t<decltype(v)>;
        if constexpr (is_integer_alternative<T> || std::is_floating_point_v<T>) {
          return static_cast<double>(v);
        } else {
          wrong_type(source, key, value, "a number");
        }
      },
      value.data);
}

bool to_bool(const Value& value, std::string_view source, KeyName key) {
  if (const auto* v = std::get_if<bool>(&value.data)) return *v;
  wrong_type(source, key, value, "bool");
}

const std::string& to_string(const Value& value, std::string_view source, KeyName key) {
  if (const auto* v = std::get_if<std::string>(&value.data)) return *v;
  wrong_type(source, key, value, "string");
}

const Array& to_array(const Value& value, std::string_view source, KeyName key) {
  if (const auto* v = std::get_if<Array>(&value.data)) return *v;
  wrong_type(source, key, value, "an array");
}

// Converts every element of an array value; a failing element is named key[i].
template <typename Out, typename Convert>
std::vector<Out> convert_array(const Value& value, std::string_view source, std::string_view key,
                               bool (*element_type_ok)(ValueType), std::string_view expected,
                               Convert convert) {
  const Array& array = to_array(value, source, {key, {}});
  if (!element_type_ok(array.element_type)) wrong_type(source, {key, {}}, value, expected);
  std::vector<Out> out;
  out.reserve(array.items.size());
  for (std::size_t i = 0; i < array.items.size(); ++i) {
    out.push_back(convert(array.items[i], KeyName{key, i}));
  }
  return out;
}

}  // namespace

std::string_view value_type_name(ValueType type) {
  switch (type) {
    case ValueType::UInt8: return "uint8";
    case ValueType::Int8: return "int8";
    case ValueType::UInt16: return "uint16";
    case ValueType::Int16: return "int16";
    case ValueType::UInt32: return "uint32";
    case ValueType::Int32: return "int32";
    case ValueType::Float32: return "float32";
    case ValueType::Bool: return "bool";
    case ValueType::String: return "string";
    case ValueType::Array: return "array";
    case ValueType::UInt64: return "uint64";
    case ValueType::Int64: return "int64";
    case ValueType::Float64: return "float64";
  }
  return "unknown";
}

ValueType Value::type() const { return static_cast<ValueType>(data.index()); }
bool Value::is_integer() const { return is_integer_type(type()); }
bool Value::is_float() const { return is_float_type(type()); }
std::uint64_t Value::as_uint(std::string_view key) const { return to_uint(*this, {}, {key, {}}); }
std::int64_t Value::as_int(std::string_view key) const { return to_int(*this, {}, {key, {}}); }
double Value::as_float(std::string_view key) const { return to_float(*this, {}, {key, {}}); }
bool Value::as_bool(std::string_view key) const { return to_bool(*this, {}, {key, {}}); }
const std::string& Value::as_string(std::string_view key) const {
  return to_string(*this, {}, {key, {}});
}
const Array& Value::as_array(std::string_view key) const { return to_array(*this, {}, {key, {}}); }

void Metadata::add(std::string key, Value value) {
  if (contains(key)) {
    throw FormatError(fmt::format("{}duplicate metadata key '{}'", prefix(source_), key));
  }
  index_.emplace(key, entries_.size());
  entries_.emplace_back(std::move(key), std::move(value));
}

const Value* Metadata::find(std::string_view key) const {
  const auto it = index_.find(std::string(key));
  return it == index_.end() ? nullptr : &entries_[it->second].second;
}

const Value& Metadata::at(std::string_view key) const {
  if (const Value* value = find(key)) return *value;
  throw FormatError(fmt::format("{}missing metadata key '{}'", prefix(source_), key));
}

std::uint64_t Metadata::get_uint(std::string_view key) const {
  return to_uint(at(key), source_, {key, {}});
}
double Metadata::get_float(std::string_view key) const {
  return to_float(at(key), source_, {key, {}});
}
bool Metadata::get_bool(std::string_view key) const { return to_bool(at(key), source_, {key, {}}); }
const std::string& Metadata::get_string(std::string_view key) const {
  return to_string(at(key), source_, {key, {}});
}

std::optional<std::uint64_t> Metadata::optional_uint(std::string_view key) const {
  const Value* value = find(key);
  return value ? std::optional(to_uint(*value, source_, {key, {}})) : std::nullopt;
}
std::optional<double> Metadata::optional_float(std::string_view key) const {
  const Value* value = find(key);
  return value ? std::optional(to_float(*value, source_, {key, {}})) : std::nullopt;
}
std::optional<bool> Metadata::optional_bool(std::string_view key) const {
  const Value* value = find(key);
  return value ? std::optional(to_bool(*value, source_, {key, {}})) : std::nullopt;
}
std::optional<std::string> Metadata::optional_string(std::string_view key) const {
  const Value* value = find(key);
  return value ? std::optional(to_string(*value, source_, {key, {}})) : std::nullopt;
}

std::vector<std::string> Metadata::get_string_array(std::string_view key) const {
  return convert_array<std::string>(
      at(key), source_, key, [](ValueType t) { return t == ValueType::String; },
      "an array of string",
      [&](const Value& item, KeyName name) { return to_string(item, source_, name); });
}

std::vector<float> Metadata::get_float_array(std::string_view key) const {
  return convert_array<float>(
      at(key), source_, key, [](ValueType t) { return is_float_type(t) || is_integer_type(t); },
      "an array of numbers",
      [&](const Value& item, KeyName name) {
        return static_cast<float>(to_float(item, source_, name));
      });
}

std::vector<std::int64_t> Metadata::get_int_array(std::string_view key) const {
  return convert_array<std::int64_t>(
      at(key), source_, key, is_integer_type, "an array of integers",
      [&](const Value& item, KeyName name) { return to_int(item, source_, name); });
}

Value make_string_array(const std::vector<std::string>& items) {
  Array array{ValueType::String, {}};
  array.items.reserve(items.size());
  for (const auto& item : items) array.items.push_back(Value{item});
  return Value{std::move(array)};
}

Value make_float_array(const std::vector<float>& items) {
  Array array{ValueType::Float32, {}};
  array.items.reserve(items.size());
  for (const float item : items) array.items.push_back(Value{item});
  return Value{std::move(array)};
}

Value make_int32_array(const std::vector<std::int32_t>& items) {
  Array array{ValueType::Int32, {}};
  array.items.reserve(items.size());
  for (const std::int32_t item : items) array.items.push_back(Value{item});
  return Value{std::move(array)};
}

}  // namespace flux::gguf
