// Malformed or unsupported models fail to load with a typed error whose message names the
// offending tensor or metadata key; bad batches fail with InvalidArgument before any work.

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "base/error.hpp"
#include "model/forward_driver.hpp"
#include "model/model.hpp"
#include "model/tiny_model.hpp"

namespace flux {
namespace {

using testing::TinyModelSpec;

// Loads a model written from `spec` and expects `Expected` with every fragment in its message.
template <class Expected>
void expect_load_error(const TinyModelSpec& spec, const std::vector<std::string>& fragments) {
  testing::TempDir dir;
  const auto path = dir.file("broken.gguf");
  testing::write_tiny_model(spec, path);
  try {
    (void)Model::load(path);
    ADD_FAILURE() << "the model loaded";
  } catch (const Expected& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find(path.string()), std::string::npos) << "message does not name the file: " << message;
    for (const std::string& f : fragments)
      EXPECT_NE(message.find(f), std::string::npos) << "message does not mention '" << f << "': " << message;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "wrong exception type: " << e.what();
  }
}

TinyModelSpec base_spec() { return testing::tiny_model_variant("llama_gqa", TensorType::F32); }

TEST(ModelErrors, MissingTensorIsNamed) {
  TinyModelSpec spec = base_spec();
  spec.omit_tensors = {"blk.1.ffn_up.weight"};
  expect_load_error<FormatError>(spec, {"blk.1.ffn_up.weight", "missing"});
}

TEST(ModelErrors, MissingOutputNormIsNamed) {
  TinyModelSpec spec = base_spec();
  spec.omit_tensors = {"output_norm.weight"};
  expect_load_error<FormatError>(spec, {"output_norm.weight"});
}

TEST(ModelErrors, WrongShapeIsNamedWithBothShapes) {
  TinyModelSpec spec = base_spec();
  // A K projection sized for full multi-head attention in a GQA model.
  spec.dims_override["blk.0.attn_k.weight"] = {spec.n_embd, spec.n_heads * spec.head_dim()};
  expect_load_error<FormatError>(spec, {"blk.0.attn_k.weight", "[128, 128]", "[128, 32]"});
}

TEST(ModelErrors, TransposedMatrixIsRejected) {
  TinyModelSpec spec = base_spec();
  spec.dims_override["blk.1.ffn_down.weight"] = {spec.n_embd, spec.n_ff};
  expect_load_error<FormatError>(spec, {"blk.1.ffn_down.weight"});
}

TEST(ModelErrors, EmbeddingDisagreeingWithVocabSizeIsNamed) {
  TinyModelSpec spec = base_spec();
  spec.dims_override["token_embd.weight"] = {spec.n_embd, spec.n_vocab + 1};
  expect_load_error<FormatError>(spec, {"token_embd.weight"});
}

TEST(ModelErrors, MissingHyperParameterIsNamed) {
  TinyModelSpec spec = base_spec();
  spec.omit_metadata = {"llama.block_count"};
  expect_load_error<FormatError>(spec, {"llama.block_count"});
}

TEST(ModelErrors, UnknownArchitectureIsNamed) {
  TinyModelSpec spec = base_spec();
  spec.architecture = "gpt-j";
  expect_load_error<UnsupportedError>(spec, {"gpt-j"});
}

TEST(ModelErrors, MixtureOfExpertsIsRefusedNamingTheKey) {
  TinyModelSpec spec = base_spec();
  spec.extra_metadata.emplace_back("llama.expert_count", gguf::Value{std::uint32_t{4}});
  spec.extra_metadata.emplace_back("llama.expert_used_count", gguf::Value{std::uint32_t{2}});
  expect_load_error<UnsupportedError>(spec, {"llama.expert_count"});
}

TEST(ModelErrors, ZeroExpertCountIsADenseModel) {
  TinyModelSpec spec = base_spec();
  spec.extra_metadata.emplace_back("llama.expert_count", gguf::Value{std::uint32_t{0}});
  testing::TempDir dir;
  testing::write_tiny_model(spec, dir.file("dense.gguf"));
  EXPECT_NO_THROW((void)Model::load(dir.file("dense.gguf")));
}

TEST(ModelErrors, HeadCountNotAMultipleOfKvHeadsNamesBothKeys) {
  TinyModelSpec spec = base_spec();
  spec.n_heads = 4;  // head_dim 32
  spec.n_kv_heads = 3;
  expect_load_error<FormatError>(spec, {"llama.attention.head_count", "head_count_kv"});
}

TEST(ModelErrors, Qwen2WithoutBiasNamesTheBias) {
  TinyModelSpec spec = testing::tiny_model_variant("qwen2", TensorType::F32);
  spec.omit_tensors = {"blk.1.attn_v.bias"};
  expect_load_error<FormatError>(spec, {"blk.1.attn_v.bias"});
}

TEST(ModelErrors, RopeFrequencyFactorsOfTheWrongLengthAreNamed) {
  TinyModelSpec spec = testing::tiny_model_variant("llama3_rope", TensorType::F32);
  spec.dims_override["rope_freqs.weight"] = {spec.head_dim()};
  expect_load_error<FormatError>(spec, {"rope_freqs.weight"});
}

TEST(ModelErrors, UnsupportedWeightTypeIsNamed) {
  TinyModelSpec spec = base_spec();
  spec.type_override["blk.0.attn_q.weight"] = TensorType::Q5_0;
  expect_load_error<UnsupportedError>(spec, {"blk.0.attn_q.weight", "q5_0"});
}

TEST(ModelErrors, UnknownRopeScalingIsNamed) {
  TinyModelSpec spec = base_spec();
  spec.extra_metadata.emplace_back("llama.rope.scaling.type", gguf::Value{std::string("yarn")});
  expect_load_error<UnsupportedError>(spec, {"yarn"});
}

TEST(ModelVocabulary, SizeComesFromTheTokenizerWhenTheKeyIsAbsent) {
  TinyModelSpec spec = base_spec();
  spec.vocab_size_key = false;
  spec.tokenizer_tokens = true;
  testing::TempDir dir;
  testing::write_tiny_model(spec, dir.file("model.gguf"));
  EXPECT_EQ(Model::load(dir.file("model.gguf")).config().n_vocab, spec.n_vocab);
}

TEST(ModelErrors, NoVocabularyNamesTheKeysItLookedFor) {
  TinyModelSpec spec = base_spec();
  spec.vocab_size_key = false;
  expect_load_error<FormatError>(spec, {"llama.vocab_size", "tokenizer.ggml.tokens"});
}

class BatchErrors : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::write_tiny_model(base_spec(), dir_.file("model.gguf"));
    model_ = std::make_unique<Model>(Model::load(dir_.file("model.gguf")));
    driver_ = std::make_unique<testing::ForwardDriver>(*model_, testing::DriverOptions{.block_size = 4});
    sequence_ = driver_->new_sequence();
  }

  std::int64_t n_vocab() const { return model_->config().n_vocab; }

  testing::TempDir dir_;
  std::unique_ptr<Model> model_;
  std::unique_ptr<testing::ForwardDriver> driver_;
  int sequence_ = 0;
};

TEST_F(BatchErrors, TokenIdPastTheVocabularyIsInvalidArgumentNamingIt) {
  const auto bad = static_cast<TokenId>(n_vocab());
  try {
    driver_->run(sequence_, {1, 2, bad});
    ADD_FAILURE() << "forward accepted token " << bad;
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find(std::to_string(bad)), std::string::npos) << e.what();
  }
}

TEST_F(BatchErrors, NegativeTokenIdIsInvalidArgument) {
  EXPECT_THROW(driver_->run(sequence_, {-1}), InvalidArgument);
}

TEST_F(BatchErrors, ARejectedBatchLeavesTheSequenceUsable) {
  // A bad token in one step must not corrupt what later steps compute.
  testing::ForwardDriver clean(*model_, {.block_size = 4});
  const auto expected = clean.run(clean.new_sequence(), {3, 4, 5});
  EXPECT_THROW(driver_->run(sequence_, {3, static_cast<TokenId>(n_vocab() + 7)}), InvalidArgument);
  EXPECT_EQ(driver_->length(sequence_), 0);
  EXPECT_EQ(driver_->run(sequence_, {3, 4, 5}), expected);
}

TEST_F(BatchErrors, PositionsBeyondTheBlockTableAreInvalidArgument) {
  BlockTable table;
  KvCache cache(KvLayout{2, static_cast<int>(model_->config().kv_dim()), 4}, 4);
  BlockPool blocks(4);
  ASSERT_TRUE(table.reserve(blocks, 4, 4));
  Batch batch;
  batch.tokens = {1, 2, 3, 4, 5};  // five positions, one block of four
  batch.sequences = {BatchSequence{table.blocks(), 0, 5}};
  batch.logit_rows = {4};
  std::vector<float> logits(static_cast<std::size_t>(n_vocab()));
  ThreadPool pool(1);
  ForwardScratch scratch;
  EXPECT_THROW(forward(*model_, batch, cache, scratch, pool, logits), InvalidArgument);
}

}  // namespace
}  // namespace flux
