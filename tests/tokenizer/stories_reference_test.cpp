// stories260K.gguf carries a SentencePiece vocabulary; llama.cpp's prompt ids for it (with BOS)
// are in ../shared/reference/stories260K.jsonl.

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "formats/gguf.hpp"
#include "test_support.hpp"
#include "tokenizer/tokenizer.hpp"
#include "tokenizer/unicode.hpp"

namespace flux {
namespace {

struct ReferencePrompt {
  std::string prompt;
  std::vector<TokenId> prompt_tokens;
  std::vector<TokenId> generated;
};

std::vector<ReferencePrompt> read_references() {
  const auto path = testing::shared_dir() / "reference" / "stories260K.jsonl";
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot open " + path.string());
  std::vector<ReferencePrompt> references;
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    const nlohmann::json record = nlohmann::json::parse(line);
    references.push_back({record.at("prompt").get<std::string>(),
                          record.at("prompt_tokens").get<std::vector<TokenId>>(),
                          record.at("tokens").get<std::vector<TokenId>>()});
  }
  return references;
}

class StoriesTokenizerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto path = testing::shared_dir() / "models" / "stories260K.gguf";
    ASSERT_TRUE(std::filesystem::exists(path)) << path << " is missing (set FLUX_SHARED_DIR)";
    const gguf::File file = gguf::File::open(path);
    tokenizer_ = std::make_unique<Tokenizer>(Tokenizer::from_gguf(file.metadata()));
    references_ = read_references();
    ASSERT_FALSE(references_.empty());
  }

  std::unique_ptr<Tokenizer> tokenizer_;
  std::vector<ReferencePrompt> references_;
};

TEST_F(StoriesTokenizerTest, IsASentencePieceVocabularyThatAddsBos) {
  EXPECT_EQ(tokenizer_->model_name(), "llama");
  EXPECT_EQ(tokenizer_->vocab_size(), 512u);
  EXPECT_EQ(tokenizer_->bos(), 1);
  EXPECT_EQ(tokenizer_->eos(), 2);
  EXPECT_TRUE(tokenizer_->add_bos());
  EXPECT_FALSE(tokenizer_->add_eos());
  EXPECT_TRUE(tokenizer_->is_end_of_generation(2));
  EXPECT_FALSE(tokenizer_->is_end_of_generation(1));
}

TEST_F(StoriesTokenizerTest, EncodesEveryReferencePromptLikeLlamaCpp) {
  for (const ReferencePrompt& reference : references_) {
    EXPECT_EQ(tokenizer_->encode(reference.prompt, true, false), reference.prompt_tokens)
        << "prompt: " << reference.prompt;
  }
}

TEST_F(StoriesTokenizerTest, DecodesPromptIdsBackToThePrompt) {
  for (const ReferencePrompt& reference : references_) {
    const std::span<const TokenId> without_bos = std::span(reference.prompt_tokens).subspan(1);
    EXPECT_EQ(tokenizer_->decode(without_bos), reference.prompt);
    // llama.cpp keeps the space SentencePiece added when it removes the BOS before it.
    EXPECT_EQ(tokenizer_->decode(reference.prompt_tokens, true), " " + reference.prompt);
  }
}

// Generated ids stream to the same text as decoding them all at once (with any bytes that do not
// form UTF-8, which this stand-in vocabulary can produce, replaced).
TEST_F(StoriesTokenizerTest, StreamsGeneratedIdsToTheDecodedText) {
  for (const ReferencePrompt& reference : references_) {
    StreamDecoder stream = StreamDecoder::after_prompt(*tokenizer_);
    std::string streamed;
    for (const TokenId id : reference.generated) streamed += stream.push(id);
    streamed += stream.flush();
    std::vector<TokenId> all = reference.prompt_tokens;
    all.insert(all.end(), reference.generated.begin(), reference.generated.end());
    const std::string prompt_text = tokenizer_->decode(reference.prompt_tokens);
    const std::string full_text = tokenizer_->decode(all);
    ASSERT_EQ(full_text.substr(0, prompt_text.size()), prompt_text);
    EXPECT_EQ(streamed, tokenization::make_valid_utf8(full_text.substr(prompt_text.size())))
        << reference.prompt;
  }
}

}  // namespace
}  // namespace flux
