// Load-time repacking (model/weight_packing.hpp): what the report says, that turning it off keeps
// the file's layout, and that weights parsed from borrowed bytes are copied but never released
// (madvise(MADV_DONTNEED) on heap memory would zero it under its owner).

#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <iterator>
#include <vector>

#include "formats/gguf.hpp"
#include "kernels/dot_kernels.hpp"
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
