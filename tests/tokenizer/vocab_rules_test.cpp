// Loading: errors, special ids, end-of-generation tokens, and reading GGUF metadata.

#include <gtest/gtest.h>

#include "base/error.hpp"
#include "formats/gguf.hpp"
#include "hand_made_vocab.hpp"
#include "tokenizer/tokenizer.hpp"

namespace flux {
namespace {

using testing::add_token;
using testing::bpe_source;
using testing::id_of;
using testing::spm_source;
using testing::TokenType;

template <typename Error>
std::string error_of(tokenization::VocabSource source) {
  try {
    Tokenizer::from_source(std::move(source));
  } catch (const Error& error) {
    return error.what();
  }
  return "(no error)";
}

TEST(VocabRules, RejectsUnknownModelsAndPreTokenizersByName) {
  auto bert = spm_source({});
  bert.model = "bert";
  EXPECT_NE(error_of<UnsupportedError>(bert).find("'bert'"), std::string::npos);
  EXPECT_NE(error_of<UnsupportedError>(bpe_source({"a"}, {}, "mystery-pre")).find("'mystery-pre'"),
            std::string::npos);
}

TEST(VocabRules, RejectsInconsistentArrays) {
  auto duplicate = bpe_source({"a", "b", "a"}, {});
  EXPECT_NE(error_of<FormatError>(duplicate).find("'a' twice"), std::string::npos);
  auto short_scores = spm_source({{"a", 0.0f}});
  short_scores.scores.resize(2);
  EXPECT_NE(error_of<FormatError>(short_scores).find("scores"), std::string::npos);
  auto empty = bpe_source({}, {});
  EXPECT_NE(error_of<FormatError>(empty).find("empty"), std::string::npos);
}

TEST(VocabRules, OutOfRangeIdsKeepTheDefaults) {
  auto source = spm_source({{"a", 0.0f}});
  source.special_ids.bos = 0xFFFFFFFFll;  // stories260K.gguf writes this for "none"
  source.special_ids.pad = 0xFFFFFFFFll;
  source.special_ids.eos = 2;
  const Tokenizer tokenizer = Tokenizer::from_source(std::move(source));
  EXPECT_EQ(tokenizer.bos(), 1);
  EXPECT_EQ(tokenizer.eos(), 2);
}

TEST(VocabRules, BpeDefaultsToId11WhenTheVocabularyHasIt) {
  std::vector<std::string> tokens;
  for (int i = 0; i < 12; ++i) tokens.push_back(std::string(1, static_cast<char>('a' + i)));
  const Tokenizer tokenizer = Tokenizer::from_source(bpe_source(tokens, {}));
  EXPECT_EQ(tokenizer.bos(), 11);
  EXPECT_EQ(tokenizer.eos(), 11);
  const Tokenizer small = Tokenizer::from_source(bpe_source({"a"}, {}));
  EXPECT_EQ(small.bos(), -1);
  EXPECT_EQ(small.eos(), -1);
  EXPECT_TRUE(small.encode("a", true, false) == std::vector<TokenId>{0});
}

TEST(VocabRules, EndOfGenerationTokensAreFoundByText) {
  auto source = bpe_source({"a", "<|im_start|>", "<|im_end|>", "<|endoftext|>", "<|fim_pad|>"}, {});
  source.special_ids.eos = 3;
  const Tokenizer tokenizer = Tokenizer::from_source(std::move(source));
  const TokenId im_end = id_of(tokenizer, "<|im_end|>");
  EXPECT_EQ(tokenizer.eot(), im_end);
  EXPECT_TRUE(tokenizer.is_end_of_generation(im_end));
  EXPECT_TRUE(tokenizer.is_end_of_generation(3));
  EXPECT_TRUE(tokenizer.is_end_of_generation(id_of(tokenizer, "<|fim_pad|>")));
  EXPECT_FALSE(tokenizer.is_end_of_generation(id_of(tokenizer, "<|im_start|>")));
  EXPECT_FALSE(tokenizer.is_end_of_generation(0));
  // Typed normal in the file, but made control as llama.cpp does: hidden unless rendered.
  EXPECT_TRUE(tokenizer.is_control(im_end));
  EXPECT_EQ(tokenizer.token_to_piece(im_end), "");
  EXPECT_EQ(tokenizer.token_to_piece(im_end, true), "<|im_end|>");
  EXPECT_EQ(tokenizer.end_of_generation_tokens().size(), 3u);
}

TEST(VocabRules, HarmonyEndIsNotEndOfGeneration) {
  auto source = bpe_source({"a", "<|return|>", "<|call|>", "<|end|>", "<|channel|>"}, {});
  add_token(source, "<|message|>", 0.0f, TokenType::Control);
  const Tokenizer tokenizer = Tokenizer::from_source(std::move(source));
  EXPECT_TRUE(tokenizer.is_end_of_generation(id_of(tokenizer, "<|return|>")));
  EXPECT_TRUE(tokenizer.is_end_of_generation(id_of(tokenizer, "<|call|>")));
  EXPECT_FALSE(tokenizer.is_end_of_generation(id_of(tokenizer, "<|end|>")));
  // gpt-oss's channel markers always render.
  EXPECT_EQ(tokenizer.token_to_piece(id_of(tokenizer, "<|message|>")), "<|message|>");
}

TEST(VocabRules, ReadsGgufMetadata) {
  gguf::Metadata metadata;
  metadata.add("general.name", {std::string("tiny")});
  metadata.add("tokenizer.ggml.model", {std::string("llama")});
  metadata.add("tokenizer.ggml.tokens",
               gguf::make_string_array({"<unk>", "<s>", "</s>", "\xE2\x96\x81" "a"}));
  metadata.add("tokenizer.ggml.scores", gguf::make_float_array({0, 0, 0, 1}));
  metadata.add("tokenizer.ggml.token_type", gguf::make_int32_array({2, 3, 3, 1}));
  metadata.add("tokenizer.ggml.bos_token_id", {std::uint32_t{1}});
  metadata.add("tokenizer.ggml.eos_token_id", {std::uint32_t{2}});
  metadata.add("tokenizer.ggml.padding_token_id", {std::uint32_t{0xFFFFFFFF}});
  metadata.add("tokenizer.ggml.add_bos_token", {false});
  const Tokenizer tokenizer = Tokenizer::from_gguf(metadata);
  EXPECT_FALSE(tokenizer.add_bos());
  EXPECT_EQ(tokenizer.encode("a", true, false), (std::vector<TokenId>{3}));
  EXPECT_EQ(tokenizer.pre_name(), "default");
}

TEST(VocabRules, MissingOrMistypedKeysAreFormatErrors) {
  gguf::Metadata no_model;
  no_model.add("tokenizer.ggml.tokens", gguf::make_string_array({"a"}));
  EXPECT_THROW(Tokenizer::from_gguf(no_model), FormatError);

  gguf::Metadata no_merges;
  no_merges.add("tokenizer.ggml.model", {std::string("gpt2")});
  no_merges.add("tokenizer.ggml.tokens", gguf::make_string_array({"a"}));
  EXPECT_THROW(Tokenizer::from_gguf(no_merges), FormatError);

  gguf::Metadata mistyped_id;
  mistyped_id.add("tokenizer.ggml.model", {std::string("llama")});
  mistyped_id.add("tokenizer.ggml.tokens", gguf::make_string_array({"a"}));
  mistyped_id.add("tokenizer.ggml.bos_token_id", {std::string("one")});
  EXPECT_THROW(Tokenizer::from_gguf(mistyped_id), FormatError);
}

}  // namespace
}  // namespace flux
