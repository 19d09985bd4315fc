// Reading a real llama.cpp-written file: stories260K.gguf from ../shared/models.

#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "formats/gguf.hpp"
#include "gguf_test_bytes.hpp"
#include "test_support.hpp"

namespace flux::gguf {
namespace {

std::filesystem::path stories_path() {
  return flux::testing::shared_dir() / "models" / "stories260K.gguf";
}

class Stories260K : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(stories_path())) GTEST_SKIP() << "missing " << stories_path();
  }
};

TEST_F(Stories260K, Metadata) {
  const File file = File::open(stories_path());
  const Metadata& m = file.metadata();
  EXPECT_EQ(file.version(), 3u);
  EXPECT_EQ(file.alignment(), 32u);
  EXPECT_EQ(m.get_string("general.architecture"), "llama");
  EXPECT_EQ(m.get_uint("llama.block_count"), 5u);
  EXPECT_EQ(m.get_uint("llama.embedding_length"), 64u);
  EXPECT_EQ(m.get_uint("llama.feed_forward_length"), 172u);
  EXPECT_EQ(m.get_uint("llama.attention.head_count"), 8u);
  EXPECT_EQ(m.get_uint("llama.attention.head_count_kv"), 4u);
  EXPECT_EQ(m.get_uint("llama.context_length"), 128u);
  EXPECT_NEAR(m.get_float("llama.attention.layer_norm_rms_epsilon"), 1e-5, 1e-9);
  EXPECT_EQ(m.get_string("tokenizer.ggml.model"), "llama");
  EXPECT_EQ(m.get_uint("tokenizer.ggml.bos_token_id"), 1u);
  EXPECT_EQ(m.get_uint("tokenizer.ggml.eos_token_id"), 2u);

  const auto tokens = m.get_string_array("tokenizer.ggml.tokens");
  ASSERT_EQ(tokens.size(), 512u);
  EXPECT_EQ(tokens[0], "<unk>");
  EXPECT_EQ(m.get_float_array("tokenizer.ggml.scores").size(), 512u);
  EXPECT_EQ(m.get_int_array("tokenizer.ggml.token_type").size(), 512u);
}

TEST_F(Stories260K, Tensors) {
  const File file = File::open(stories_path());
  const auto tensors = file.tensors();
  ASSERT_EQ(tensors.size(), 3u + 5u * 9u);
  EXPECT_EQ(tensors[0].name, "token_embd.weight");
  EXPECT_EQ(tensors[0].dims, (std::vector<std::int64_t>{64, 512}));
  EXPECT_EQ(tensors[1].name, "output_norm.weight");
  EXPECT_EQ(tensors[1].dims, (std::vector<std::int64_t>{64}));

  for (int layer = 0; layer < 5; ++layer) {
    const auto name = [&](const char* suffix) { return fmt::format("blk.{}.{}", layer, suffix); };
    const TensorInfo* q = file.find_tensor(name("attn_q.weight"));
    const TensorInfo* k = file.find_tensor(name("attn_k.weight"));
    const TensorInfo* down = file.find_tensor(name("ffn_down.weight"));
    ASSERT_TRUE(q && k && down) << layer;
    EXPECT_EQ(q->dims, (std::vector<std::int64_t>{64, 64}));
    EXPECT_EQ(k->dims, (std::vector<std::int64_t>{64, 32}));
    EXPECT_EQ(down->dims, (std::vector<std::int64_t>{172, 64}));
  }

  std::uint64_t total = 0;
  for (const TensorInfo& t : tensors) {
    EXPECT_EQ(t.type, TensorType::F32) << t.name;
    EXPECT_EQ(t.n_bytes, t.n_elements * 4) << t.name;
    EXPECT_EQ(t.offset % file.alignment(), 0u) << t.name;
    EXPECT_EQ(t.data.data(), file.bytes().data() + file.data_offset() + t.offset) << t.name;
    total += t.n_elements;
  }
  EXPECT_GT(total, 250'000u);  // "260K" parameters

  // The norm weights of a trained model are not all zero.
  const TensorInfo* norm = file.find_tensor("output_norm.weight");
  float first = 0;
  std::memcpy(&first, norm->data.data(), sizeof(first));
  EXPECT_NE(first, 0.0f);
}

TEST_F(Stories260K, RewritingItReproducesTheFileByteForByte) {
  // The file was written by llama.cpp's gguf writer; ours must lay it out identically.
  const File original = File::open(stories_path());
  Writer writer;
  for (const auto& [key, value] : original.metadata().entries()) writer.add(key, value);
  for (const TensorInfo& t : original.tensors()) {
    writer.add_tensor(t.name, t.type, t.dims, [data = t.data](std::span<std::byte> out) {
      std::memcpy(out.data(), data.data(), data.size());
    });
  }
  const auto path = std::filesystem::temp_directory_path() /
                    fmt::format("flux_stories_rewrite_{}.gguf", ::getpid());
  writer.write(path);
  const auto rewritten = testing::read_whole_file(path);
  std::filesystem::remove(path);
  ASSERT_EQ(rewritten.size(), original.bytes().size());
  EXPECT_TRUE(std::equal(rewritten.begin(), rewritten.end(), original.bytes().begin()));
}

}  // namespace
}  // namespace flux::gguf
