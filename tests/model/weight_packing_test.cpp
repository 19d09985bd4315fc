// Load-time repacking (model/weight_packing.hpp): what the report says, that turning it off keeps
// the file's layout, and that weights parsed from borrowed bytes are copied but never released
// (madvise(MADV_DONTNEED) on heap memory would zero it under its owner).

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <vector>

#include "formats/gguf.hpp"
#include "kernels/dot_kernels.hpp"
#include "kernels/matmul.hpp"
#include "model/model.hpp"
#include "model/tiny_model.hpp"

namespace flux {
namespace {

testing::TinyModelSpec q8_0_spec() {
  testing::TinyModelSpec spec;
  spec.matrix_type = TensorType::Q8_0;
  spec.n_vocab = 512;  // output.weight spans many pages: 512 rows of 136 bytes
  return spec;
}

bool level_repacks(TensorType type) { return active_kernels().dot_groups_for(type) != nullptr; }

TEST(WeightPacking, ReportsWhatWasRepacked) {
  testing::TempDir dir;
  testing::write_tiny_model(q8_0_spec(), dir.file("model.gguf"));
  const Model model = Model::load(dir.file("model.gguf"));
  const WeightPacking& p = model.packing();
  EXPECT_TRUE(p.requested);
  if (!level_repacks(TensorType::Q8_0)) {
    EXPECT_EQ(p.matrices, 0);
    GTEST_SKIP() << "the active kernel level keeps the file's layout";
  }
  const auto per_layer = 7;
  EXPECT_EQ(p.matrices, 1 + per_layer * static_cast<int>(model.config().n_layers));
  EXPECT_EQ(model.weights().output.layout, WeightLayout::Interleaved);
  EXPECT_NE(p.describe().find("interleaved"), std::string::npos) << p.describe();
}

TEST(WeightPacking, NoRepackKeepsTheFileLayout) {
  testing::TempDir dir;
  testing::write_tiny_model(q8_0_spec(), dir.file("model.gguf"));
  const Model model = Model::load(dir.file("model.gguf"), LoadOptions{.repack_weights = false});
  EXPECT_EQ(model.packing().matrices, 0);
  EXPECT_EQ(model.weights().output.layout, WeightLayout::Rows);
  EXPECT_NE(model.packing().describe().find("turned off"), std::string::npos);
}

std::vector<const WeightMatrix*> matrices_of(const Model& model) {
  std::vector<const WeightMatrix*> all{&model.weights().output};
  for (const auto& l : model.weights().layers)
    for (const WeightMatrix* m : {&l.wq, &l.wk, &l.wv, &l.wo, &l.gate, &l.up, &l.down}) all.push_back(m);
  return all;
}

// Matrices are repacked by several threads into one arena: every thread count gives the same
// bytes, and every repacked row reads back as the file's row.
TEST(WeightPacking, EveryThreadCountRepacksTheSameBytes) {
  testing::TempDir dir;
  testing::write_tiny_model(q8_0_spec(), dir.file("model.gguf"));
  const Model plain = Model::load(dir.file("model.gguf"), LoadOptions{.repack_weights = false});
  const Model one = Model::load(dir.file("model.gguf"), LoadOptions{.threads = 1});
  const std::vector<const WeightMatrix*> plain_matrices = matrices_of(plain);
  const std::vector<const WeightMatrix*> one_matrices = matrices_of(one);
  for (int threads : {2, 3, 64}) {
    const Model many = Model::load(dir.file("model.gguf"), LoadOptions{.threads = threads});
    const std::vector<const WeightMatrix*> many_matrices = matrices_of(many);
    ASSERT_EQ(many_matrices.size(), one_matrices.size());
    for (std::size_t i = 0; i < one_matrices.size(); ++i) {
      const WeightMatrix& a = *one_matrices[i];
      const WeightMatrix& b = *many_matrices[i];
      ASSERT_EQ(a.layout, b.layout);
      const std::size_t size = a.row_stride() * static_cast<std::size_t>(a.rows);
      EXPECT_EQ(std::memcmp(a.data, b.data, size), 0) << "matrix " << i << " with " << threads << " threads";
      EXPECT_EQ(reinterpret_cast<std::uintptr_t>(b.data) % 64, 0u) << "matrix " << i;
    }
  }
  std::vector<float> expected;
  std::vector<float> actual;
  for (std::size_t i = 0; i < one_matrices.size(); ++i) {
    const WeightMatrix& p = *plain_matrices[i];
    const WeightMatrix& r = *one_matrices[i];
    expected.resize(static_cast<std::size_t>(p.cols));
    actual.resize(static_cast<std::size_t>(r.cols));
    for (std::int64_t row = 0; row < p.rows; ++row) {
      dequantize_weight_row(p, row, expected);
      dequantize_weight_row(r, row, actual);
      ASSERT_EQ(expected, actual) << "matrix " << i << " row " << row;
    }
  }
}

TEST(WeightPacking, BorrowedBytesAreLeftIntact) {
  testing::TempDir dir;
  testing::write_tiny_model(q8_0_spec(), dir.file("model.gguf"));
  std::ifstream in(dir.file("model.gguf"), std::ios::binary);
  std::vector<char> chars((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::byte> bytes(chars.size());
  std::memcpy(bytes.data(), chars.data(), chars.size());
  const std::vector<std::byte> original = bytes;
  {
    const Model model = Model::from_file(gguf::File::parse(bytes, "borrowed.gguf"));
    if (level_repacks(TensorType::Q8_0)) {
      EXPECT_GT(model.packing().matrices, 0);
    }
  }
  EXPECT_TRUE(bytes == original) << "repacking changed the bytes it borrowed";
}

}  // namespace
}  // namespace flux
