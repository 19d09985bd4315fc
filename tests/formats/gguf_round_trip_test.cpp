// Writer → reader round trips: every value type, nested arrays, every tensor type, alignments, the
// exact bytes of a small file, and the writer's refusals and I/O errors.

#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <stdexcept>
#include <string>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "base/error.hpp"
#include "formats/gguf.hpp"
#include "gguf_test_bytes.hpp"

namespace flux::gguf {
namespace {

using testing::GgufBytes;
using testing::read_whole_file;

// A file path unique to this test and process, removed when the test ends.
class TempPath {
 public:
  TempPath() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = std::filesystem::temp_directory_path() /
            fmt::format("flux_{}_{}_{}.gguf", info->test_suite_name(), info->name(), ::getpid());
  }
  ~TempPath() {
    std::error_code ignored;
    std::filesystem::remove(path_, ignored);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

Writer::Fill fill_pattern(std::uint8_t seed) {
  return [seed](std::span<std::byte> out) {
    for (std::size_t i = 0; i < out.size(); ++i)
      out[i] = std::byte(static_cast<std::uint8_t>(seed + i * 31));
  };
}

bool has_pattern(std::span<const std::byte> data, std::uint8_t seed) {
  for (std::size_t i = 0; i < data.size(); ++i) {
    if (data[i] != std::byte(static_cast<std::uint8_t>(seed + i * 31))) return false;
  }
  return true;
}

// One value of every GGUF type, extremes included, plus nested and empty arrays.
std::vector<std::pair<std::string, Value>> every_value_type() {
  Array nested{
      ValueType::Array,
      {Value{Array{ValueType::Int16, {Value{std::int16_t{-1}}, Value{std::int16_t{2}}}}},
       Value{Array{ValueType::String, {Value{std::string("x")}}}},
       Value{Array{ValueType::Bool, {}}},
       Value{Array{ValueType::Array, {Value{Array{ValueType::Float64, {Value{0.125}}}}}}}}};
  return {
      {"u8", Value{std::numeric_limits<std::uint8_t>::max()}},
      {"i8", Value{std::numeric_limits<std::int8_t>::min()}},
      {"u16", Value{std::numeric_limits<std::uint16_t>::max()}},
      {"i16", Value{std::numeric_limits<std::int16_t>::min()}},
      {"u32", Value{std::numeric_limits<std::uint32_t>::max()}},
      {"i32", Value{std::numeric_limits<std::int32_t>::min()}},
      {"f32", Value{-3.25f}},
      {"bool.true", Value{true}},
      {"bool.false", Value{false}},
      {"string", Value{std::string("h\xc3\xa9llo \xff\x00 end", 13)}},
      {"string.empty", Value{std::string()}},
      {"array.u8",
       Value{Array{ValueType::UInt8, {Value{std::uint8_t{1}}, Value{std::uint8_t{2}}}}}},
      {"array.empty", Value{Array{ValueType::Float32, {}}}},
      {"array.strings", make_string_array({"<s>", "", "\xe2\x96\x81the"})},
      {"array.bools", Value{Array{ValueType::Bool, {Value{true}, Value{false}}}}},
      {"array.nested", Value{nested}},
      {"u64", Value{std::numeric_limits<std::uint64_t>::max()}},
      {"i64", Value{std::numeric_limits<std::int64_t>::min()}},
      {"f64", Value{1e300}},
  };
}

TEST(GgufRoundTrip, EveryValueTypeInInsertionOrder) {
  TempPath file;
  Writer writer;
  const auto values = every_value_type();
  for (const auto& [key, value] : values) writer.add(key, value);
  writer.write(file.path());

  const File read = File::open(file.path());
  EXPECT_EQ(read.version(), 3u);
  EXPECT_EQ(read.alignment(), 32u);
  const auto& entries = read.metadata().entries();
  ASSERT_EQ(entries.size(), values.size());
  for (std::size_t i = 0; i < values.size(); ++i) {
    EXPECT_EQ(entries[i].first, values[i].first);
    EXPECT_EQ(entries[i].second, values[i].second) << values[i].first;
  }
  EXPECT_TRUE(read.tensors().empty());
}

TEST(GgufRoundTrip, EveryTensorType) {
  TempPath file;
  Writer writer;
  std::vector<TensorType> types;
  for (std::uint32_t id = 0; id < 64; ++id) {
    const auto traits = type_traits(id);
    if (!traits) continue;
    const auto type = static_cast<TensorType>(id);
    types.push_back(type);
    const auto row = static_cast<std::int64_t>(traits->block_size * 2);
    writer.add_tensor(fmt::format("t.{}", traits->name), type, {row, 3},
                      fill_pattern(static_cast<std::uint8_t>(id)));
  }
  writer.write(file.path());

  const File read = File::open(file.path());
  ASSERT_EQ(read.tensors().size(), types.size());
  for (std::size_t i = 0; i < types.size(); ++i) {
    const TensorInfo& t = read.tensors()[i];
    const TypeTraits& traits = flux::traits(types[i]);
    SCOPED_TRACE(t.name);
    EXPECT_EQ(t.name, fmt::format("t.{}", traits.name));
    EXPECT_EQ(t.type, types[i]);
    EXPECT_EQ(t.dims,
              (std::vector<std::int64_t>{static_cast<std::int64_t>(traits.block_size * 2), 3}));
    EXPECT_EQ(t.n_elements, traits.block_size * 6);
    EXPECT_EQ(t.n_bytes, traits.block_bytes * 6);
    EXPECT_EQ(t.offset % 32, 0u);
    EXPECT_EQ((read.data_offset() + t.offset) % 32, 0u);
    EXPECT_EQ(t.data.size(), t.n_bytes);
    EXPECT_EQ(t.data.data(), read.bytes().data() + read.data_offset() + t.offset);
    EXPECT_TRUE(has_pattern(t.data, static_cast<std::uint8_t>(types[i])));
    EXPECT_EQ(read.find_tensor(t.name), &t);
  }
  EXPECT_EQ(read.find_tensor("absent"), nullptr);
  // Like llama.cpp, the last tensor is padded too.
  EXPECT_EQ(read.bytes().size() % 32, 0u);
}

TEST(GgufRoundTrip, CustomAlignmentIsWrittenAsTheFirstKey) {
  for (const std::uint64_t alignment : {1u, 8u, 64u, 4096u}) {
    TempPath file;
    Writer writer;
    writer.add("general.architecture", Value{std::string("llama")});
    writer.set_alignment(alignment);
    writer.add_tensor("a", TensorType::F32, {3}, fill_pattern(1));
    writer.add_tensor("b", TensorType::Q8_0, {32, 2}, fill_pattern(2));
    writer.write(file.path());

    const File read = File::open(file.path());
    EXPECT_EQ(read.alignment(), alignment);
    EXPECT_EQ(read.data_offset() % alignment, 0u);
    const auto& entries = read.metadata().entries();
    ASSERT_EQ(entries.size(), 2u);
    EXPECT_EQ(entries[0].first, "general.alignment");
    EXPECT_EQ(entries[0].second, Value{static_cast<std::uint32_t>(alignment)});
    for (const TensorInfo& t : read.tensors()) EXPECT_EQ(t.offset % alignment, 0u) << alignment;
    EXPECT_TRUE(has_pattern(read.tensors()[1].data, 2));
  }
}

TEST(GgufRoundTrip, AlignmentAddedAsAKeyActsLikeSetAlignment) {
  TempPath file;
  Writer writer;
  writer.add("general.alignment", Value{std::uint64_t{16}});
  writer.add_tensor("a", TensorType::F32, {3}, fill_pattern(1));
  writer.write(file.path());
  const File read = File::open(file.path());
  EXPECT_EQ(read.alignment(), 16u);
  EXPECT_EQ(read.metadata().at("general.alignment").type(), ValueType::UInt32);
}

TEST(GgufRoundTrip, BytesMatchTheGgufLayoutExactly) {
  TempPath file;
  Writer writer;
  writer.add("general.architecture", Value{std::string("llama")});
  writer.add("flag", Value{true});
  writer.add("ids", make_int32_array({7, -1}));
  writer.add_tensor("w", TensorType::F32, {2, 1}, [](std::span<std::byte> out) {
    const float values[2] = {1.0f, -2.0f};
    std::memcpy(out.data(), values, sizeof(values));
  });
  writer.write(file.path());

  GgufBytes expected;
  expected.header(3, 1, 3);
  expected.kv_string("general.architecture", "llama");
  expected.kv("flag", ValueType::Bool, std::uint8_t{1});
  expected.str("ids").u32(9).u32(5).u64(2).scalar(std::int32_t{7}).scalar(std::int32_t{-1});
  expected.tensor_info("w", {2, 1}, 0, 0).pad_to(32);
  expected.scalar(1.0f).scalar(-2.0f).pad_to(32);
  const auto actual = read_whole_file(file.path());
  EXPECT_EQ(actual, std::vector<std::byte>(expected.bytes().begin(), expected.bytes().end()));
}

TEST(GgufRoundTrip, FileCopiesKeepTheMappingAlive) {
  TempPath path;
  Writer writer;
  writer.add_tensor("w", TensorType::F16, {8}, fill_pattern(9));
  writer.write(path.path());

  std::optional<File> copy;
  {
    const File original = File::open(path.path());
    copy = original;
  }
  File moved = std::move(*copy);
  copy.reset();
  ASSERT_EQ(moved.tensors().size(), 1u);
  EXPECT_TRUE(has_pattern(moved.tensors()[0].data, 9));
  EXPECT_EQ(moved.name(), path.path().string());
}

TEST(GgufRoundTrip, OpenMissingFileNamesThePath) {
  try {
    File::open("/nonexistent/model.gguf");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/model.gguf"), std::string::npos);
  }
}

TEST(GgufRoundTrip, MalformedFileErrorStartsWithThePath) {
  TempPath path;
  std::ofstream(path.path(), std::ios::binary) << "GGUF\x01";
  try {
    File::open(path.path());
    FAIL();
  } catch (const FormatError& e) {
    EXPECT_EQ(std::string(e.what()).rfind(path.path().string() + ": offset 4:", 0), 0u) << e.what();
  }
}

TEST(GgufWriter, RejectsInvalidTensors) {
  Writer writer;
  writer.add_tensor("ok", TensorType::F32, {4}, fill_pattern(0));
  EXPECT_THROW(writer.add_tensor("ok", TensorType::F32, {4}, fill_pattern(0)), InvalidArgument);
  EXPECT_THROW(writer.add_tensor(std::string(64, 'n'), TensorType::F32, {4}, fill_pattern(0)),
               InvalidArgument);
  EXPECT_THROW(writer.add_tensor("q", TensorType::Q4_0, {33}, fill_pattern(0)), InvalidArgument);
  EXPECT_THROW(writer.add_tensor("neg", TensorType::F32, {4, -1}, fill_pattern(0)),
               InvalidArgument);
  EXPECT_THROW(writer.add_tensor("five", TensorType::F32, {1, 1, 1, 1, 1}, fill_pattern(0)),
               InvalidArgument);
  EXPECT_THROW(writer.add_tensor("none", TensorType::F32, {}, fill_pattern(0)), InvalidArgument);
  EXPECT_THROW(writer.add_tensor("nofill", TensorType::F32, {4}, nullptr), InvalidArgument);
  const std::int64_t big = std::int64_t{1} << 40;
  EXPECT_THROW(writer.add_tensor("huge", TensorType::F32, {big, big}, fill_pattern(0)),
               InvalidArgument);
  writer.add_tensor(std::string(63, 'n'), TensorType::F32, {4}, fill_pattern(0));
}

TEST(GgufWriter, RejectsInvalidMetadata) {
  Writer writer;
  writer.add("a", Value{1.0f});
  EXPECT_THROW(writer.add("a", Value{2.0f}), InvalidArgument);
  EXPECT_THROW(
      writer.add("mixed", Value{Array{ValueType::Int32, {Value{std::int32_t{1}}, Value{1.0f}}}}),
      InvalidArgument);
  Value deep{Array{ValueType::UInt8, {}}};
  for (int i = 0; i < 8; ++i) deep = Value{Array{ValueType::Array, {deep}}};
  EXPECT_THROW(writer.add("deep", deep), InvalidArgument);  // 9 levels
  EXPECT_THROW(writer.set_alignment(24), InvalidArgument);
  EXPECT_THROW(writer.set_alignment(0), InvalidArgument);
  EXPECT_THROW(writer.set_alignment(std::uint64_t{1} << 32), InvalidArgument);
  EXPECT_THROW(writer.add("general.alignment", Value{std::int32_t{-32}}), InvalidArgument);
  EXPECT_THROW(writer.add("general.alignment", Value{std::string("32")}), InvalidArgument);
}

TEST(GgufWriter, DiskFullIsAnErrorNamingThePath) {
  if (!std::filesystem::exists("/dev/full")) GTEST_SKIP() << "no /dev/full";
  Writer writer;
  writer.add_tensor("w", TensorType::F32, {1 << 20}, fill_pattern(0));  // 4 MiB
  try {
    writer.write("/dev/full");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/dev/full"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(std::filesystem::exists("/dev/full"));
}

TEST(GgufWriter, UnwritablePathIsAnErrorNamingThePath) {
  Writer writer;
  try {
    writer.write("/nonexistent-dir/out.gguf");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent-dir/out.gguf"), std::string::npos);
  }
}

TEST(GgufWriter, FailingFillRemovesThePartialFile) {
  TempPath file;
  Writer writer;
  writer.add_tensor("a", TensorType::F32, {4}, fill_pattern(0));
  writer.add_tensor("b", TensorType::F32, {4},
                    [](std::span<std::byte>) { throw std::runtime_error("source went away"); });
  EXPECT_THROW(writer.write(file.path()), std::runtime_error);
  EXPECT_FALSE(std::filesystem::exists(file.path()));
}

}  // namespace
}  // namespace flux::gguf
