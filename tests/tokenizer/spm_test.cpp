// SentencePiece-style tokenization on hand-made vocabularies.

#include <gtest/gtest.h>

#include "base/error.hpp"
#include "hand_made_vocab.hpp"
#include "tokenizer/tokenizer.hpp"

namespace flux {
namespace {

using testing::byte_id;
using testing::id_of;
using testing::visible;
using testing::ids_of;
using testing::spm_source;


Tokenizer abc_tokenizer() {
  return Tokenizer::from_source(spm_source({{visible(" "), -5.0f},
                                            {"a", -1.0f},
                                            {"b", -1.0f},
                                            {"c", -1.0f},
                                            {visible(" a"), 0.5f},
                                            {"ab", 1.0f},
                                            {"bc", 2.0f}}));
}

TEST(Spm, MergesTheHighestScoringPairFirst) {
  const Tokenizer tokenizer = abc_tokenizer();
  // "▁abc": bc (2.0) beats ab (1.0); then ▁a (0.5) is the only pair left that is a token.
  EXPECT_EQ(tokenizer.encode("abc", false, false),
            ids_of(tokenizer, {visible(" a"), "bc"}));
}

TEST(Spm, EqualScoresMergeLeftmostFirst) {
  const Tokenizer tokenizer = Tokenizer::from_source(
      spm_source({{visible(" "), -5.0f}, {"a", -1.0f}, {"b", -1.0f}, {"c", -1.0f},
                  {"ab", 1.0f}, {"bc", 1.0f}}));
  EXPECT_EQ(tokenizer.encode("abc", false, false), ids_of(tokenizer, {visible(" "), "ab", "c"}));
}

TEST(Spm, AddsTheLeadingSpaceAndEscapesSpaces) {
  const Tokenizer tokenizer = abc_tokenizer();
  EXPECT_TRUE(tokenizer.add_space_prefix());
  EXPECT_EQ(tokenizer.encode("a a", false, false),
            ids_of(tokenizer, {visible(" a"), visible(" a")}));
  EXPECT_EQ(tokenizer.encode(" a", false, false),
            ids_of(tokenizer, {visible(" "), visible(" a")}));
  EXPECT_TRUE(tokenizer.encode("", false, false).empty());
}

TEST(Spm, AddSpacePrefixFalseFromTheFile) {
  auto source = spm_source({{visible(" "), -5.0f}, {"a", -1.0f}, {visible(" a"), 0.5f}});
  source.add_space_prefix = false;
  const Tokenizer tokenizer = Tokenizer::from_source(std::move(source));
  EXPECT_EQ(tokenizer.encode("a", false, false), ids_of(tokenizer, {"a"}));
  EXPECT_EQ(tokenizer.decode(tokenizer.encode(" a", false, false)), " a");
}

TEST(Spm, FallsBackToByteTokensForUnknownCharacters) {
  const Tokenizer tokenizer = abc_tokenizer();
  // "é" is C3 A9 and not in the vocabulary.
  EXPECT_EQ(tokenizer.encode("\xC3\xA9", false, false),
            (std::vector<TokenId>{id_of(tokenizer, visible(" ")), byte_id(0xC3), byte_id(0xA9)}));
}

TEST(Spm, UsesUnknownWithoutByteTokens) {
  const Tokenizer tokenizer = Tokenizer::from_source(
      spm_source({{visible(" "), -5.0f}, {"a", -1.0f}}, /*byte_tokens=*/false));
  EXPECT_EQ(tokenizer.encode("a\xC3\xA9", false, false),
            (std::vector<TokenId>{id_of(tokenizer, visible(" ")), id_of(tokenizer, "a"), 0, 0}));
}

TEST(Spm, InvalidUtf8IsSplitByLeadByteAndSpelledInBytes) {
  const Tokenizer tokenizer = abc_tokenizer();
  // A lone continuation byte and a truncated 3-byte sequence at the end: no crash, byte tokens.
  EXPECT_EQ(tokenizer.encode("a\x80" "b\xE2\x82", false, false),
            (std::vector<TokenId>{id_of(tokenizer, visible(" a")), byte_id(0x80),
                                  id_of(tokenizer, "b"), byte_id(0xE2), byte_id(0x82)}));
}

TEST(Spm, AddSpecialPrependsBosAsTheMetadataAsks) {
  const Tokenizer tokenizer = abc_tokenizer();
  EXPECT_TRUE(tokenizer.add_bos());
  EXPECT_FALSE(tokenizer.add_eos());
  EXPECT_EQ(tokenizer.encode("a", true, false),
            (std::vector<TokenId>{1, id_of(tokenizer, visible(" a"))}));
  EXPECT_EQ(tokenizer.encode("", true, false), (std::vector<TokenId>{1}));

  auto source = spm_source({{"a", -1.0f}});
  source.add_bos = false;
  source.add_eos = true;
  const Tokenizer eos_only = Tokenizer::from_source(std::move(source));
  EXPECT_EQ(eos_only.encode("", true, false), (std::vector<TokenId>{2}));
}

TEST(Spm, DecodeRemovesTheLeadingSpaceOfTheFirstToken) {
  const Tokenizer tokenizer = abc_tokenizer();
  const std::vector<TokenId> ids = tokenizer.encode("abc a", false, false);
  EXPECT_EQ(tokenizer.decode(ids), "abc a");
  EXPECT_EQ(tokenizer.token_to_piece(id_of(tokenizer, visible(" a"))), " a");
  EXPECT_EQ(tokenizer.token_to_piece(byte_id('\n')), "\n");
}

TEST(Spm, DecodeAfterBosKeepsTheSpaceAsLlamaCppDoes) {
  const Tokenizer tokenizer = abc_tokenizer();
  const std::vector<TokenId> ids = tokenizer.encode("abc", true, false);
  EXPECT_EQ(tokenizer.decode(ids), " abc");                     // BOS renders as nothing
  EXPECT_EQ(tokenizer.decode(ids, true), " abc");               // BOS removed, space kept
  EXPECT_EQ(tokenizer.decode(ids, false, true), "<s> abc");     // BOS rendered
}

TEST(Spm, DecodeRejectsIdsOutsideTheVocabulary) {
  const Tokenizer tokenizer = abc_tokenizer();
  const std::vector<TokenId> bad = {static_cast<TokenId>(tokenizer.vocab_size())};
  EXPECT_THROW(tokenizer.decode(bad), InvalidArgument);
  EXPECT_THROW(tokenizer.token_to_piece(-1), InvalidArgument);
}

TEST(Spm, ControlAndUnknownTokensRenderOnlyWhenAsked) {
  const Tokenizer tokenizer = abc_tokenizer();
  EXPECT_EQ(tokenizer.token_to_piece(0), "");
  EXPECT_EQ(tokenizer.token_to_piece(0, true), "<unk>");
  EXPECT_EQ(tokenizer.token_to_piece(2), "");
  EXPECT_EQ(tokenizer.token_to_piece(2, true), "</s>");
  EXPECT_TRUE(tokenizer.is_control(1));
  EXPECT_FALSE(tokenizer.is_control(id_of(tokenizer, "a")));
}

TEST(Spm, LongInputIsLinearEnough) {
  const Tokenizer tokenizer = abc_tokenizer();
  std::string text;
  for (int i = 0; i < 100'000; ++i) text += "abc ";
  const std::vector<TokenId> ids = tokenizer.encode(text, false, false);
  EXPECT_EQ(tokenizer.decode(ids), text);
}

}  // namespace
}  // namespace flux
