// Byte-level BPE on hand-made vocabularies ("Ġ" is GPT-2's spelling of a space byte).

#include <gtest/gtest.h>

#include "hand_made_vocab.hpp"
#include "tokenizer/tokenizer.hpp"

namespace flux {
namespace {

using testing::bpe_source;
using testing::id_of;
using testing::ids_of;

const std::vector<std::string> kTokens = {"a", "b", "c", "d", "Ġ", "?", "ab", "bc", "abc", "Ġa",
                                          "Ġab", "Ċ", "Ã", "©", "Ã©", "'", "s", "'s", "Ġ?"};

Tokenizer abc_tokenizer(std::vector<std::string> merges, std::string pre = "gpt-2") {
  return Tokenizer::from_source(bpe_source(kTokens, std::move(merges), std::move(pre)));
}

TEST(Bpe, AppliesMergesInRankOrder) {
  // "b c" has the better rank, so "abc" becomes a + bc, and "a bc" is not a merge.
  const Tokenizer tokenizer = abc_tokenizer({"b c", "a b", "ab c"});
  EXPECT_EQ(tokenizer.encode("abc", false, false), ids_of(tokenizer, {"a", "bc"}));
  const Tokenizer other_order = abc_tokenizer({"a b", "b c", "ab c"});
  EXPECT_EQ(other_order.encode("abc", false, false), ids_of(other_order, {"abc"}));
}

TEST(Bpe, RepeatedPairsAllMerge) {
  const Tokenizer tokenizer = abc_tokenizer({"a b"});
  EXPECT_EQ(tokenizer.encode("abab", false, false), ids_of(tokenizer, {"ab", "ab"}));
}

TEST(Bpe, MapsBytesToGpt2CodePointsBeforeMerging) {
  const Tokenizer tokenizer = abc_tokenizer({"Ġ a", "a b", "Ġa b", "Ã ©"});
  EXPECT_EQ(tokenizer.encode("ab ab", false, false), ids_of(tokenizer, {"ab", "Ġab"}));
  // "é" is the bytes C3 A9, spelled "Ã©" at byte level.
  EXPECT_EQ(tokenizer.encode("\xC3\xA9", false, false), ids_of(tokenizer, {"Ã©"}));
  EXPECT_EQ(tokenizer.encode("\n", false, false), ids_of(tokenizer, {"Ċ"}));
  EXPECT_EQ(tokenizer.decode(ids_of(tokenizer, {"Ġab", "Ã©", "Ċ"})), " ab\xC3\xA9\n");
}

TEST(Bpe, MergesThroughIntermediatesThatAreNotTokens) {
  // "c d" makes "cd", which is not a token: the symbol is spelled with single-byte tokens.
  const Tokenizer tokenizer = abc_tokenizer({"c d"});
  EXPECT_EQ(tokenizer.encode("cd", false, false), ids_of(tokenizer, {"c", "d"}));
  // An intermediate that is not a token ("xy") still merges further into one that is.
  auto source = bpe_source({"x", "y", "z", "xyz"}, {"x y", "xy z"});
  const Tokenizer chained = Tokenizer::from_source(std::move(source));
  EXPECT_EQ(chained.encode("xyz", false, false), ids_of(chained, {"xyz"}));
}

TEST(Bpe, DropsBytesThatAreNotTokens) {
  const Tokenizer tokenizer = abc_tokenizer({});
  // 'z' is not in the vocabulary: llama.cpp emits nothing for it.
  EXPECT_EQ(tokenizer.encode("azb", false, false), ids_of(tokenizer, {"a", "b"}));
}

TEST(Bpe, PreTokenizerKeepsWordsApart) {
  // "b" and "c" on both sides of a space must not merge even though "b c" is a merge.
  const Tokenizer tokenizer = abc_tokenizer({"b c", "Ġ a"});
  EXPECT_EQ(tokenizer.encode("ab c", false, false), ids_of(tokenizer, {"a", "b", "Ġ", "c"}));
}

TEST(Bpe, IgnoreMergesTakesWholeWordsThatAreTokens) {
  // llama3 sets ignore_merges: "abc" is a token, so no merge is consulted (there are none here).
  const Tokenizer llama3 = abc_tokenizer({}, "llama3");
  EXPECT_EQ(llama3.encode("abc", false, false), ids_of(llama3, {"abc"}));
  const Tokenizer gpt2 = abc_tokenizer({});
  EXPECT_EQ(gpt2.encode("abc", false, false), ids_of(gpt2, {"a", "b", "c"}));
}

TEST(Bpe, FlagsFollowThePreTokenizerName) {
  const Tokenizer llama3 = abc_tokenizer({}, "llama-bpe");
  EXPECT_TRUE(llama3.add_bos());  // llama.cpp's default for llama3; the file's key still wins
  EXPECT_EQ(llama3.pre_name(), "llama-bpe");
  const Tokenizer gpt2 = abc_tokenizer({});
  EXPECT_FALSE(gpt2.add_bos());
  EXPECT_EQ(gpt2.model_name(), "gpt2");
  auto source = bpe_source(kTokens, {}, "");
  const Tokenizer unnamed = Tokenizer::from_source(std::move(source));
  EXPECT_EQ(unnamed.pre_name(), "default");
}

TEST(Bpe, CleanUpSpacesOnDecodeWhenThePreTokenizerAsks) {
  const Tokenizer gpt2 = abc_tokenizer({"Ġ ?", "' s", "Ġ a"});
  // " 's" is pre-tokenized as " '" + "s": the match starting at the space takes the apostrophe.
  const std::vector<TokenId> ids = gpt2.encode("a ? a 's", false, false);
  EXPECT_EQ(ids, ids_of(gpt2, {"a", "Ġ?", "Ġa", "Ġ", "'", "s"}));
  EXPECT_EQ(gpt2.decode(ids), "a? a's");
  EXPECT_EQ(gpt2.encode("ab's", false, false), ids_of(gpt2, {"a", "b", "'s"}));
  const Tokenizer qwen2 = abc_tokenizer({"Ġ ?", "' s", "Ġ a"}, "qwen2");  // clean-up off
  EXPECT_EQ(qwen2.decode(qwen2.encode("a ? a 's", false, false)), "a ? a 's");
}

TEST(Bpe, InvalidUtf8BecomesReplacementCharacters) {
  auto source = bpe_source({"a", "ï", "¿", "½", "ï¿", "ï¿½"}, {"ï ¿", "ï¿ ½"});
  const Tokenizer tokenizer = Tokenizer::from_source(std::move(source));
  // 0xFF is not UTF-8: llama.cpp reads it as U+FFFD (EF BF BD, spelled "ï¿½").
  EXPECT_EQ(tokenizer.encode("a\xFF", false, false), ids_of(tokenizer, {"a", "ï¿½"}));
}

TEST(Bpe, AddSpecialUsesTheDeclaredIds) {
  auto source = bpe_source(kTokens, {});
  source.special_ids.bos = 0;
  source.special_ids.eos = 1;
  source.add_bos = true;
  source.add_eos = true;
  const Tokenizer tokenizer = Tokenizer::from_source(std::move(source));
  EXPECT_EQ(tokenizer.encode("c", true, false),
            (std::vector<TokenId>{0, id_of(tokenizer, "c"), 1}));
  EXPECT_EQ(tokenizer.decode(tokenizer.encode("c", true, false), true), "c");
}

TEST(Bpe, LongWordsMergeQuickly) {
  auto source = bpe_source({"a", "aa", "aaaa", "aaaaaaaa"}, {"a a", "aa aa", "aaaa aaaa"});
  const Tokenizer tokenizer = Tokenizer::from_source(std::move(source));
  const std::string word(200'000, 'a');
  const std::vector<TokenId> ids = tokenizer.encode(word, false, false);
  EXPECT_EQ(ids.size(), 200'000u / 8);
  EXPECT_EQ(tokenizer.decode(ids), word);
}

}  // namespace
}  // namespace flux
