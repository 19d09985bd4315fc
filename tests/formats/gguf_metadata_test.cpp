// Metadata values: GGUF type ids, typed getters and their error messages.

#include <cstdint>
#include <limits>
#include <string>

#include <gtest/gtest.h>

#include "base/error.hpp"
#include "formats/gguf.hpp"

namespace flux::gguf {
namespace {

// The message of the FormatError `f` throws; fails the test when it throws nothing.
template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const FormatError& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected a FormatError";
  return {};
}

Metadata sample() {
  Metadata m;
  m.set_source("model.gguf");
  m.add("u8", Value{std::uint8_t{200}});
  m.add("i8", Value{std::int8_t{-5}});
  m.add("u32", Value{std::uint32_t{7}});
  m.add("i64", Value{std::int64_t{-3}});
  m.add("u64.big", Value{std::numeric_limits<std::uint64_t>::max()});
  m.add("f32", Value{1.5f});
  m.add("yes", Value{true});
  m.add("name", Value{std::string("llama")});
  m.add("tokens", make_string_array({"a", "b"}));
  m.add("scores", make_float_array({0.5f, -1.0f}));
  m.add("types", make_int32_array({1, 2, 3}));
  return m;
}

TEST(GgufValue, TypeIsTheGgufTypeId) {
  EXPECT_EQ(Value{std::uint8_t{}}.type(), ValueType::UInt8);
  EXPECT_EQ(Value{std::int8_t{}}.type(), ValueType::Int8);
  EXPECT_EQ(Value{std::uint16_t{}}.type(), ValueType::UInt16);
  EXPECT_EQ(Value{std::int16_t{}}.type(), ValueType::Int16);
  EXPECT_EQ(Value{std::uint32_t{}}.type(), ValueType::UInt32);
  EXPECT_EQ(Value{std::int32_t{}}.type(), ValueType::Int32);
  EXPECT_EQ(Value{0.0f}.type(), ValueType::Float32);
  EXPECT_EQ(Value{false}.type(), ValueType::Bool);
  EXPECT_EQ(Value{std::string()}.type(), ValueType::String);
  EXPECT_EQ(Value{Array{}}.type(), ValueType::Array);
  EXPECT_EQ(Value{std::uint64_t{}}.type(), ValueType::UInt64);
  EXPECT_EQ(Value{std::int64_t{}}.type(), ValueType::Int64);
  EXPECT_EQ(Value{0.0}.type(), ValueType::Float64);
  EXPECT_EQ(static_cast<int>(ValueType::Float64), 12);
}

TEST(GgufValue, TypeNames) {
  EXPECT_EQ(value_type_name(ValueType::UInt8), "uint8");
  EXPECT_EQ(value_type_name(ValueType::Float32), "float32");
  EXPECT_EQ(value_type_name(ValueType::String), "string");
  EXPECT_EQ(value_type_name(ValueType::Array), "array");
  EXPECT_EQ(value_type_name(ValueType::Float64), "float64");
}

TEST(GgufValue, IntegerAndFloatClassification) {
  EXPECT_TRUE(Value{std::int16_t{1}}.is_integer());
  EXPECT_TRUE(Value{std::uint64_t{1}}.is_integer());
  EXPECT_FALSE(Value{true}.is_integer());
  EXPECT_FALSE(Value{1.0f}.is_integer());
  EXPECT_TRUE(Value{1.0f}.is_float());
  EXPECT_TRUE(Value{1.0}.is_float());
  EXPECT_FALSE(Value{std::string("1")}.is_float());
}

TEST(GgufValue, Conversions) {
  EXPECT_EQ(Value{std::uint16_t{65535}}.as_uint("k"), 65535u);
  EXPECT_EQ(Value{std::int32_t{-2}}.as_int("k"), -2);
  EXPECT_EQ(Value{std::uint32_t{3}}.as_float("k"), 3.0);
  EXPECT_EQ(Value{0.25}.as_float("k"), 0.25);
  EXPECT_EQ(error_of([] { Value{std::int8_t{-1}}.as_uint("k"); }),
            "metadata key 'k' = -1 is negative, expected an unsigned integer");
  EXPECT_EQ(error_of([] { Value{std::numeric_limits<std::uint64_t>::max()}.as_int("k"); }),
            "metadata key 'k' = 18446744073709551615 does not fit int64");
  EXPECT_EQ(error_of([] { Value{1.0f}.as_uint("k"); }),
            "metadata key 'k' has type float32, expected an integer");
  EXPECT_EQ(error_of([] { Value{true}.as_string("k"); }),
            "metadata key 'k' has type bool, expected string");
}

TEST(GgufMetadata, GettersConvert) {
  const Metadata m = sample();
  EXPECT_EQ(m.size(), 11u);
  EXPECT_EQ(m.get_uint("u8"), 200u);
  EXPECT_EQ(m.get_uint("u32"), 7u);
  EXPECT_EQ(m.get_float("f32"), 1.5);
  EXPECT_EQ(m.get_float("u32"), 7.0);
  EXPECT_TRUE(m.get_bool("yes"));
  EXPECT_EQ(m.get_string("name"), "llama");
  EXPECT_EQ(m.get_string_array("tokens"), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(m.get_float_array("scores"), (std::vector<float>{0.5f, -1.0f}));
  EXPECT_EQ(m.get_float_array("types"), (std::vector<float>{1, 2, 3}));
  EXPECT_EQ(m.get_int_array("types"), (std::vector<std::int64_t>{1, 2, 3}));
  EXPECT_EQ(m.entries().front().first, "u8");
  EXPECT_EQ(m.entries().back().first, "types");
}

TEST(GgufMetadata, OptionalGetters) {
  const Metadata m = sample();
  EXPECT_EQ(m.optional_uint("absent"), std::nullopt);
  EXPECT_EQ(m.optional_float("absent"), std::nullopt);
  EXPECT_EQ(m.optional_bool("absent"), std::nullopt);
  EXPECT_EQ(m.optional_string("absent"), std::nullopt);
  EXPECT_EQ(m.optional_uint("u32"), 7u);
  EXPECT_EQ(m.optional_string("name"), "llama");
  EXPECT_EQ(m.optional_bool("yes"), true);
  EXPECT_EQ(m.optional_float("f32"), 1.5);
  // Present but mistyped is still an error.
  EXPECT_EQ(error_of([&] { m.optional_uint("name"); }),
            "model.gguf: metadata key 'name' has type string, expected an integer");
}

TEST(GgufMetadata, ErrorMessagesNameTheFileAndKey) {
  const Metadata m = sample();
  EXPECT_EQ(error_of([&] { m.get_uint("llama.block_count"); }),
            "model.gguf: missing metadata key 'llama.block_count'");
  EXPECT_EQ(error_of([&] { m.get_uint("name"); }),
            "model.gguf: metadata key 'name' has type string, expected an integer");
  EXPECT_EQ(error_of([&] { m.get_uint("i64"); }),
            "model.gguf: metadata key 'i64' = -3 is negative, expected an unsigned integer");
  EXPECT_EQ(error_of([&] { m.get_bool("u8"); }),
            "model.gguf: metadata key 'u8' has type uint8, expected bool");
  EXPECT_EQ(error_of([&] { m.get_string("tokens"); }),
            "model.gguf: metadata key 'tokens' has type array of string, expected string");
  EXPECT_EQ(error_of([&] { m.get_float("name"); }),
            "model.gguf: metadata key 'name' has type string, expected a number");
  EXPECT_EQ(error_of([&] { m.get_string_array("scores"); }),
            "model.gguf: metadata key 'scores' has type array of float32, expected an array of "
            "string");
  EXPECT_EQ(error_of([&] { m.get_int_array("scores"); }),
            "model.gguf: metadata key 'scores' has type array of float32, expected an array of "
            "integers");
  EXPECT_EQ(error_of([&] { m.get_float_array("name"); }),
            "model.gguf: metadata key 'name' has type string, expected an array");
}

TEST(GgufMetadata, MistypedArrayElementIsNamedByIndex) {
  Metadata m;
  Array mixed{ValueType::UInt64,
              {Value{std::uint64_t{1}}, Value{std::numeric_limits<std::uint64_t>::max()}}};
  m.add("ids", Value{mixed});
  EXPECT_EQ(error_of([&] { m.get_int_array("ids"); }),
            "metadata key 'ids[1]' = 18446744073709551615 does not fit int64");
}

TEST(GgufMetadata, DuplicateKeyIsRejected) {
  Metadata m = sample();
  EXPECT_EQ(error_of([&] { m.add("u8", Value{std::uint8_t{1}}); }),
            "model.gguf: duplicate metadata key 'u8'");
}

TEST(GgufMetadata, ValuesCompareDeeply) {
  Array inner{ValueType::Int8, {Value{std::int8_t{1}}}};
  const Value a{Array{ValueType::Array, {Value{inner}}}};
  Value b = a;
  EXPECT_EQ(a, b);
  std::get<Array>(std::get<Array>(b.data).items[0].data).items[0] = Value{std::int8_t{2}};
  EXPECT_NE(a, b);
  EXPECT_NE(Value{std::uint32_t{1}}, Value{std::int32_t{1}});
}

}  // namespace
}  // namespace flux::gguf
