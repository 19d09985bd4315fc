// Special tokens written in the text: which are recognised, in which order, and the whitespace
// they swallow.

#include <gtest/gtest.h>

#include <algorithm>

#include "hand_made_vocab.hpp"
#include "tokenizer/tokenizer.hpp"

namespace flux {
namespace {

using testing::add_token;
using testing::bpe_source;
using testing::id_of;
using testing::visible;
using testing::ids_of;
using testing::spm_source;
using testing::TokenType;


tokenization::VocabSource chat_source() {
  auto source = spm_source({{visible(" "), -5.0f}, {"h", -2.0f}, {"i", -2.0f},
                            {visible(" hi"), 1.0f}, {"hi", 0.5f}});
  add_token(source, "<|user|>", 0.0f, TokenType::Control);
  add_token(source, "<tool>", 0.0f, TokenType::UserDefined);
  return source;
}

TEST(SpecialTokens, ControlTokensAreParsedOnlyWhenAsked) {
  const Tokenizer tokenizer = Tokenizer::from_source(chat_source());
  const TokenId user = id_of(tokenizer, "<|user|>");
  EXPECT_EQ(tokenizer.encode("<|user|>hi", false, true),
            (std::vector<TokenId>{user, id_of(tokenizer, visible(" hi"))}));
  const std::vector<TokenId> as_text = tokenizer.encode("<|user|>hi", false, false);
  EXPECT_EQ(std::count(as_text.begin(), as_text.end(), user), 0);
  EXPECT_EQ(tokenizer.decode(as_text), "<|user|>hi");
}

TEST(SpecialTokens, UserDefinedTokensAreAlwaysParsed) {
  const Tokenizer tokenizer = Tokenizer::from_source(chat_source());
  const TokenId tool = id_of(tokenizer, "<tool>");
  // The text after a special token gets SentencePiece's leading space again.
  EXPECT_EQ(tokenizer.encode("hi<tool>hi", false, false),
            (std::vector<TokenId>{id_of(tokenizer, visible(" hi")), tool,
                                  id_of(tokenizer, visible(" hi"))}));
  EXPECT_EQ(tokenizer.token_to_piece(tool), "<tool>");  // user-defined tokens always render
}

TEST(SpecialTokens, LongerTokensAreCutFirst) {
  auto source = bpe_source({"a", "b", "c", "d", "x"}, {});
  add_token(source, "ab", 0.0f, TokenType::UserDefined);
  add_token(source, "bcd", 0.0f, TokenType::UserDefined);
  const Tokenizer tokenizer = Tokenizer::from_source(std::move(source));
  // "bcd" is longer, so it wins over the earlier "ab", as in llama.cpp.
  EXPECT_EQ(tokenizer.encode("xabcdx", false, false), ids_of(tokenizer, {"x", "a", "bcd", "x"}));
  EXPECT_EQ(tokenizer.encode("abab", false, false), ids_of(tokenizer, {"ab", "ab"}));
}

TEST(SpecialTokens, Phi3MarkersSwallowTheWhitespaceAfterThem) {
  auto source = chat_source();
  source.general_name = "Phi3";
  const Tokenizer tokenizer = Tokenizer::from_source(std::move(source));
  EXPECT_EQ(tokenizer.encode("<|user|>\n hi", false, true),
            (std::vector<TokenId>{id_of(tokenizer, "<|user|>"), id_of(tokenizer, visible(" hi"))}));
  // Other models keep it.
  const Tokenizer plain = Tokenizer::from_source(chat_source());
  const std::vector<TokenId> ids = plain.encode("<|user|>\n hi", false, true);
  EXPECT_NE(std::find(ids.begin(), ids.end(), testing::byte_id('\n')), ids.end());
  // SentencePiece's space after a special token stays in the decoded text, as in llama.cpp.
  EXPECT_EQ(plain.decode(ids, false, true), "<|user|> \n hi");
}

TEST(SpecialTokens, JinaMaskSwallowsTheWhitespaceBeforeIt) {
  auto source = bpe_source({"a", "b", "\xC4\xA0"}, {}, "jina-v2-de");
  add_token(source, "<mask>", 0.0f, TokenType::Control);
  const Tokenizer tokenizer = Tokenizer::from_source(std::move(source));
  EXPECT_EQ(tokenizer.encode("a  <mask> b", false, true),
            ids_of(tokenizer, {"a", "<mask>", "\xC4\xA0", "b"}));
}

TEST(SpecialTokens, SpecialTokenAloneAndRepeated) {
  const Tokenizer tokenizer = Tokenizer::from_source(chat_source());
  const TokenId user = id_of(tokenizer, "<|user|>");
  EXPECT_EQ(tokenizer.encode("<|user|>", false, true), (std::vector<TokenId>{user}));
  EXPECT_EQ(tokenizer.encode("<|user|><|user|>", true, true),
            (std::vector<TokenId>{1, user, user}));
}

}  // namespace
}  // namespace flux
