// Every kind of malformed GGUF file becomes a FormatError naming the file, the field or tensor,
// and the byte offset where the problem is.

#include <cstdint>
#include <limits>

#include <gtest/gtest.h>

#include "formats/gguf.hpp"
#include "gguf_test_bytes.hpp"

namespace flux::gguf {
namespace {

using testing::expect_format_error;
using testing::GgufBytes;
using testing::parse_error;

constexpr std::uint32_t kF32 = 0;
constexpr std::uint32_t kQ4_0 = 2;
// Offsets in the expected messages count from the start of the file: the header (magic, version,
// tensor count, key/value count) takes 24 bytes, a string 8 + its length.

std::uint32_t type_id(ValueType type) { return static_cast<std::uint32_t>(type); }

// A file with one tensor info and `data_bytes` of (aligned) data after it.
GgufBytes one_tensor(std::initializer_list<std::int64_t> dims, std::uint32_t type,
                     std::uint64_t offset, std::size_t data_bytes = 64) {
  GgufBytes bytes;
  bytes.header(3, 1, 0).tensor_info("t", dims, type, offset).pad_to(32).zeros(data_bytes);
  return bytes;
}

TEST(GgufMalformed, EmptyFileIsTruncatedAtTheMagic) {
  expect_format_error(GgufBytes{}, {"truncated file", "magic", "offset 0"});
}

TEST(GgufMalformed, BadMagic) {
  GgufBytes bytes;
  bytes.raw("GGML").u32(3).u64(0).u64(0);
  expect_format_error(bytes, {"bad magic 'GGML'", "offset 0"});
}

TEST(GgufMalformed, VersionOneIsUnsupported) {
  GgufBytes bytes;
  bytes.header(1, 0, 0);
  expect_format_error(bytes, {"GGUF version 1 is not supported", "offset 4"});
}

TEST(GgufMalformed, FutureVersionIsUnsupported) {
  GgufBytes bytes;
  bytes.header(4, 0, 0);
  expect_format_error(bytes, {"unsupported GGUF version 4", "offset 4"});
}

TEST(GgufMalformed, VersionZeroIsUnsupported) {
  GgufBytes bytes;
  bytes.header(0, 0, 0);
  expect_format_error(bytes, {"unsupported GGUF version 0", "offset 4"});
}

TEST(GgufMalformed, BigEndianFileIsNamedAsSuch) {
  GgufBytes bytes;
  bytes.header(0x03000000u, 0, 0);
  expect_format_error(bytes, {"byte-swapped", "big-endian", "offset 4"});
}

TEST(GgufMalformed, TruncatedHeader) {
  GgufBytes bytes;
  bytes.raw("GGUF").u32(3).u32(0);
  expect_format_error(bytes, {"truncated file", "tensor count", "offset 8"});
}

TEST(GgufMalformed, KeyValueCountBeyondTheFile) {
  GgufBytes bytes;
  bytes.header(3, 0, 1'000'000).zeros(100);
  expect_format_error(bytes, {"metadata key/value count 1000000", "offset 16"});
}

TEST(GgufMalformed, TensorCountBeyondTheFile) {
  GgufBytes bytes;
  bytes.header(3, std::uint64_t{1} << 40, 0).zeros(100);
  expect_format_error(bytes, {"tensor count 1099511627776", "offset 8"});
}

TEST(GgufMalformed, KeyLengthBeyondTheFile) {
  GgufBytes bytes;
  bytes.header(3, 0, 1).u64(1000).raw("abcdefghijklm");
  expect_format_error(bytes, {"metadata key #0", "string length 1000", "offset 24"});
}

TEST(GgufMalformed, HugeStringLengthDoesNotAllocate) {
  GgufBytes bytes;
  bytes.header(3, 0, 1).str("name").u32(type_id(ValueType::String));
  bytes.u64(std::numeric_limits<std::uint64_t>::max()).raw("xyz");
  expect_format_error(bytes,
                      {"metadata key 'name'", "string length 18446744073709551615", "offset 40"});
}

TEST(GgufMalformed, UnknownValueType) {
  GgufBytes bytes;
  bytes.header(3, 0, 1).str("k").u32(13).zeros(8);
  expect_format_error(bytes, {"metadata key 'k'", "unknown value type 13", "offset 33"});
}

TEST(GgufMalformed, UnknownArrayElementType) {
  GgufBytes bytes;
  bytes.header(3, 0, 1).str("k").u32(type_id(ValueType::Array)).u32(99).u64(1).zeros(8);
  expect_format_error(bytes, {"metadata key 'k'", "unknown value type 99", "offset 37"});
}

TEST(GgufMalformed, ArrayCountBeyondTheFileIsRejectedBeforeAllocating) {
  GgufBytes bytes;
  bytes.header(3, 0, 1).str("arr").u32(type_id(ValueType::Array));
  bytes.u32(type_id(ValueType::UInt32)).u64(std::uint64_t{1} << 60).zeros(16);
  expect_format_error(bytes,
                      {"metadata key 'arr'", "array of 1152921504606846976 uint32", "offset 39"});
}

TEST(GgufMalformed, ArrayOfStringsCountsTheLengthPrefixes) {
  // 100 strings need at least 800 bytes of length prefixes; 40 bytes are there.
  GgufBytes bytes;
  bytes.header(3, 0, 1).str("tokens").u32(type_id(ValueType::Array));
  bytes.u32(type_id(ValueType::String)).u64(100).zeros(40);
  expect_format_error(bytes, {"metadata key 'tokens'", "array of 100 string", "offset 42"});
}

TEST(GgufMalformed, StringInsideAnArrayBeyondTheFile) {
  GgufBytes bytes;
  bytes.header(3, 0, 1).str("tokens").u32(type_id(ValueType::Array));
  bytes.u32(type_id(ValueType::String)).u64(2).str("ok").u64(500).zeros(8);
  expect_format_error(bytes, {"metadata key 'tokens'", "string length 500", "offset 64"});
}

// `levels` arrays nested inside each other, the innermost empty.
GgufBytes nested_arrays(int levels) {
  GgufBytes bytes;
  bytes.header(3, 0, 1).str("deep").u32(type_id(ValueType::Array));
  for (int i = 0; i < levels - 1; ++i) bytes.u32(type_id(ValueType::Array)).u64(1);
  bytes.u32(type_id(ValueType::UInt8)).u64(0);
  return bytes;
}

TEST(GgufMalformed, ArraysNestedTooDeep) {
  EXPECT_EQ(parse_error(nested_arrays(8).bytes()), "");
  expect_format_error(nested_arrays(9),
                      {"metadata key 'deep'", "nested deeper than 8", "offset 136"});
  expect_format_error(nested_arrays(100000), {"metadata key 'deep'", "nested deeper than 8"});
}

TEST(GgufMalformed, BoolOtherThanZeroOrOne) {
  GgufBytes bytes;
  bytes.header(3, 0, 1).kv("flag", ValueType::Bool, std::uint8_t{2});
  expect_format_error(bytes, {"metadata key 'flag'", "bool value 2", "offset 40"});
}

TEST(GgufMalformed, DuplicateMetadataKey) {
  GgufBytes bytes;
  bytes.header(3, 0, 2).kv("a", ValueType::UInt32, 1u).kv("a", ValueType::UInt32, 2u);
  expect_format_error(bytes, {"duplicate metadata key 'a'", "offset 41"});
}

TEST(GgufMalformed, AlignmentMustBeAPowerOfTwo) {
  for (const std::uint32_t alignment : {0u, 24u, 33u}) {
    GgufBytes bytes;
    bytes.header(3, 0, 1).kv("general.alignment", ValueType::UInt32, alignment);
    expect_format_error(bytes,
                        {"metadata key 'general.alignment'", "is not a power of two", "offset 53"});
  }
}

TEST(GgufMalformed, AlignmentOfTheWrongType) {
  GgufBytes strings;
  strings.header(3, 0, 1).kv_string("general.alignment", "32");
  expect_format_error(strings,
                      {"metadata key 'general.alignment'", "has type string", "offset 53"});

  GgufBytes negative;
  negative.header(3, 0, 1).kv("general.alignment", ValueType::Int32, std::int32_t{-8});
  expect_format_error(negative, {"metadata key 'general.alignment'", "negative", "offset 53"});
}

TEST(GgufMalformed, TooManyDims) {
  expect_format_error(one_tensor({1, 1, 1, 1, 1}, kF32, 0),
                      {"tensor 't'", "n_dims 5 is more than the maximum of 4", "offset 33"});
}

TEST(GgufMalformed, NegativeDim) {
  expect_format_error(one_tensor({4, -1}, kF32, 0),
                      {"tensor 't'", "dims[1] = -1 is negative", "offset 33"});
}

TEST(GgufMalformed, ElementCountOverflowsInt64) {
  const std::int64_t big = std::int64_t{1} << 32;
  expect_format_error(one_tensor({big, big}, kF32, 0),
                      {"tensor 't'", "element count", "overflows int64", "offset 33"});
}

TEST(GgufMalformed, ByteSizeOverflows) {
  expect_format_error(one_tensor({std::int64_t{1} << 62}, kF32, 0),
                      {"tensor 't'", "byte size", "overflows", "offset 33"});
}

TEST(GgufMalformed, UnknownTensorType) {
  // 4 was Q4_2, removed from GGML long ago.
  expect_format_error(one_tensor({32}, 4, 0),
                      {"tensor 't'", "unknown tensor type id 4", "offset 45"});
  expect_format_error(one_tensor({32}, 0xFFFFFFFFu, 0),
                      {"tensor 't'", "unknown tensor type id 4294967295"});
}

TEST(GgufMalformed, RowNotAMultipleOfTheBlockSize) {
  expect_format_error(
      one_tensor({33, 2}, kQ4_0, 0),
      {"tensor 't'", "dims[0] = 33 is not a multiple of the q4_0 block size 32", "offset 33"});
}

TEST(GgufMalformed, TensorDataOutsideTheFile) {
  expect_format_error(
      one_tensor({16}, kF32, 0, 32),
      {"tensor 't'", "64 bytes of data at data offset 0", "outside the file", "offset 49"});
  // An offset near 2^64 must not wrap around into the file.
  expect_format_error(one_tensor({16}, kF32, std::numeric_limits<std::uint64_t>::max() - 31),
                      {"tensor 't'", "outside the file", "offset 49"});
}

TEST(GgufMalformed, MisalignedTensorOffset) {
  expect_format_error(
      one_tensor({4}, kF32, 4),
      {"tensor 't'", "data offset 4", "not a multiple of the alignment 32", "offset 49"});
}

TEST(GgufMalformed, DuplicateTensorName) {
  GgufBytes bytes;
  bytes.header(3, 2, 0).tensor_info("t", {4}, kF32, 0).tensor_info("t", {4}, kF32, 32);
  bytes.pad_to(32).zeros(64);
  expect_format_error(bytes, {"duplicate tensor name 't'", "offset 57"});
}

TEST(GgufMalformed, OverlappingTensors) {
  GgufBytes bytes;
  bytes.header(3, 2, 0).tensor_info("a", {16}, kF32, 32).tensor_info("b", {16}, kF32, 0);
  bytes.pad_to(32).zeros(128);
  expect_format_error(
      bytes, {"tensor 'a'", "data [32, 96) overlaps tensor 'b' data [0, 64)", "offset 49"});
}

TEST(GgufMalformed, TruncatedTensorInfo) {
  GgufBytes bytes;
  bytes.header(3, 1, 0).str("t").u32(2).i64(4).u32(0);  // the second dim is cut short
  expect_format_error(bytes, {"truncated file", "tensor 't' dims", "offset 45"});
}

TEST(GgufMalformed, NamesWithControlBytesAreEscapedInMessages) {
  GgufBytes bytes;
  bytes.header(3, 0, 2).kv("a\nb", ValueType::UInt8, std::uint8_t{1});
  bytes.kv("a\nb", ValueType::UInt8, std::uint8_t{1});
  expect_format_error(bytes, {"duplicate metadata key 'a\\x0ab'"});
}

TEST(GgufWellFormed, InvalidUtf8AndNulBytesInStringsAreKept) {
  const std::string odd("\xff\xfe\x00zz\xc3", 6);
  GgufBytes bytes;
  bytes.header(3, 0, 1).kv_string("odd", odd);
  const File file = File::parse(bytes.bytes(), "odd.gguf");
  EXPECT_EQ(file.metadata().get_string("odd"), odd);
}

TEST(GgufWellFormed, VersionTwoParses) {
  GgufBytes bytes;
  bytes.header(2, 1, 1).kv("n", ValueType::UInt32, 7u).tensor_info("t", {4}, kF32, 0);
  bytes.pad_to(32).zeros(16);
  const File file = File::parse(bytes.bytes(), "v2.gguf");
  EXPECT_EQ(file.version(), 2u);
  EXPECT_EQ(file.metadata().get_uint("n"), 7u);
  ASSERT_EQ(file.tensors().size(), 1u);
  EXPECT_EQ(file.tensors()[0].n_bytes, 16u);
}

TEST(GgufWellFormed, EmptyAndScalarTensors) {
  GgufBytes bytes;
  bytes.header(3, 3, 0)
      .tensor_info("empty", {0, 4}, kQ4_0, 0)
      .tensor_info("scalar", {}, kF32, 0)
      .tensor_info("also_empty", {8, 0}, kF32, 32);
  bytes.pad_to(32).zeros(32);
  const File file = File::parse(bytes.bytes(), "shapes.gguf");
  ASSERT_EQ(file.tensors().size(), 3u);
  EXPECT_EQ(file.tensors()[0].n_elements, 0u);
  EXPECT_EQ(file.tensors()[0].n_bytes, 0u);
  EXPECT_EQ(file.tensors()[1].n_elements, 1u);
  EXPECT_EQ(file.tensors()[1].n_bytes, 4u);
  EXPECT_EQ(file.tensors()[2].data.size(), 0u);
}

TEST(GgufWellFormed, NoTensorsNeedNoPaddedDataSection) {
  // llama.cpp's vocab-only files end right after the metadata.
  GgufBytes bytes;
  bytes.header(3, 0, 1).kv("n", ValueType::UInt8, std::uint8_t{1});
  const File file = File::parse(bytes.bytes(), "vocab.gguf");
  EXPECT_TRUE(file.tensors().empty());
  EXPECT_EQ(file.data_offset() % 32, 0u);
}

TEST(GgufWellFormed, AlignmentOfOneAndOfAnyIntegerType) {
  GgufBytes bytes;
  bytes.header(3, 1, 1).kv("general.alignment", ValueType::UInt64, std::uint64_t{1});
  bytes.tensor_info("t", {3}, 24 /* i8 */, 0).zeros(3);
  const File file = File::parse(bytes.bytes(), "packed.gguf");
  EXPECT_EQ(file.alignment(), 1u);
  EXPECT_EQ(file.data_offset(), bytes.size() - 3);
  EXPECT_EQ(file.tensors()[0].data.data(), bytes.bytes().data() + file.data_offset());
}

}  // namespace
}  // namespace flux::gguf
