// Pre-tokenizer regex sets (PCRE2) on small inputs worked out by hand.

#include <gtest/gtest.h>

#include "tokenizer/pretokenize.hpp"

namespace flux::tokenization {
namespace {

using Words = std::vector<std::string>;

Words split(RegexSet set, std::string_view text) { return PreTokenizer(set).split(text); }

TEST(PreTokenize, Gpt2SplitsWordsNumbersPunctuationAndSpaces) {
  EXPECT_EQ(split(RegexSet::Gpt2, "Hello world's  end\n"),
            (Words{"Hello", " world", "'s", " ", " end", "\n"}));
  EXPECT_EQ(split(RegexSet::Gpt2, "3.14 ok!!"), (Words{"3", ".", "14", " ok", "!!"}));
  EXPECT_EQ(split(RegexSet::Gpt2, "\na"), (Words{"\n", "a"}));  // lone space: a gap piece
  EXPECT_TRUE(split(RegexSet::Gpt2, "").empty());
}

TEST(PreTokenize, Llama3GroupsDigitsByThreeAndKeepsNewlinesTogether) {
  EXPECT_EQ(split(RegexSet::Llama3, "1234567"), (Words{"123", "456", "7"}));
  EXPECT_EQ(split(RegexSet::Llama3, "Hi\n\n there"), (Words{"Hi", "\n\n", " there"}));
  EXPECT_EQ(split(RegexSet::Llama3, "I'LL go"), (Words{"I", "'LL", " go"}));
  EXPECT_EQ(split(RegexSet::Llama3, "(hi)"), (Words{"(hi", ")"}));
}

TEST(PreTokenize, Qwen2SplitsEveryDigit) {
  EXPECT_EQ(split(RegexSet::Qwen2, "x 123"), (Words{"x", " ", "1", "2", "3"}));
}

TEST(PreTokenize, RegexesOfASetApplyInTurn) {
  // Starcoder first isolates digits, then applies GPT-2's pattern inside each remaining piece.
  EXPECT_EQ(split(RegexSet::Starcoder, "ab12 cd"), (Words{"ab", "1", "2", " cd"}));
  // Falcon isolates punctuation runs first; "[0-9][0-9][0-9]" then cuts numbers by three.
  EXPECT_EQ(split(RegexSet::Falcon, "a...b 12345"), (Words{"a", "...", "b", " ", "123", "45"}));
}

TEST(PreTokenize, DollarMeansEndOfPieceOnly) {
  // deepseek-llm: "[\r\n]" isolates newlines first, so "\s+$" sees "  " at the end of "a  ".
  EXPECT_EQ(split(RegexSet::DeepseekLlm, "a  \nb"), (Words{"a", "  ", "\n", "b"}));
}

TEST(PreTokenize, WhitespaceIsLlamaCppsSet) {
  // U+180E (Mongolian vowel separator) is whitespace for PCRE2 but not for llama.cpp: it stays
  // with the punctuation before it.
  EXPECT_EQ(split(RegexSet::Gpt2, "!\xE1\xA0\x8E"), (Words{"!\xE1\xA0\x8E"}));
  // U+00A0 is whitespace for both; only ' ' may start a word, so the second one is a gap piece.
  EXPECT_EQ(split(RegexSet::Gpt2, "a\xC2\xA0\xC2\xA0" "b"),
            (Words{"a", "\xC2\xA0", "\xC2\xA0", "b"}));
}

TEST(PreTokenize, InvalidUtf8IsReadAsReplacementCharacters) {
  EXPECT_EQ(split(RegexSet::Gpt2, "a\xFF" "b"), (Words{"a", "\xEF\xBF\xBD", "b"}));
  EXPECT_EQ(split(RegexSet::Llama3, "\xE2\x82"), (Words{"\xEF\xBF\xBD\xEF\xBF\xBD"}));
  // Surrogates and overlongs decode as llama.cpp decodes them: kept, or made canonical.
  EXPECT_EQ(split(RegexSet::Gpt2, "x\xED\xA0\x80"), (Words{"x", "\xED\xA0\x80"}));
  EXPECT_EQ(split(RegexSet::Gpt2, "x\xC1\x81"), (Words{"xA"}));
}

TEST(PreTokenize, AdaptsWhitespaceClasses) {
  const std::string adapted = PreTokenizer::adapt_pattern(R"(\s+(?!\S)|[^\s\p{L}])");
  EXPECT_EQ(adapted.find("\\s"), std::string::npos);
  EXPECT_EQ(adapted.find("\\S"), std::string::npos);
  EXPECT_NE(adapted.find("[^\\t\\n"), std::string::npos);
  EXPECT_NE(adapted.find("\\p{L}]"), std::string::npos);
}

TEST(PreTokenize, KnowsLlamaCppsNames) {
  ASSERT_NE(find_pre_tokenizer("llama-bpe"), nullptr);
  EXPECT_EQ(find_pre_tokenizer("llama-bpe")->regex_set, RegexSet::Llama3);
  EXPECT_TRUE(find_pre_tokenizer("llama-bpe")->ignore_merges);
  EXPECT_EQ(find_pre_tokenizer("smaug-bpe")->regex_set, RegexSet::Llama3);
  EXPECT_FALSE(find_pre_tokenizer("smaug-bpe")->ignore_merges);
  EXPECT_EQ(find_pre_tokenizer("olmo")->regex_set, RegexSet::Gpt2);
  EXPECT_EQ(find_pre_tokenizer("stablelm2")->regex_set, RegexSet::Qwen2);
  EXPECT_EQ(find_pre_tokenizer("command-r")->regex_set, RegexSet::Starcoder);
  EXPECT_FALSE(find_pre_tokenizer("command-r")->clean_spaces);
  EXPECT_EQ(find_pre_tokenizer("gpt-4o")->regex_set, RegexSet::Gpt4o);
  EXPECT_EQ(find_pre_tokenizer("no-such-tokenizer"), nullptr);
}

TEST(PreTokenize, EverySetCompilesAndSplitsLosslessly) {
  const std::string text =
      "Hello, WORLD! It's 2024...\n\t  x  \xE4\xBD\xA0\xE5\xA5\xBD 3.5 caf\xC3\xA9";
  for (const RegexSet set :
       {RegexSet::Default, RegexSet::Gpt2, RegexSet::Llama3, RegexSet::Qwen2, RegexSet::Qwen35,
        RegexSet::DeepseekLlm, RegexSet::DeepseekCoder, RegexSet::Falcon, RegexSet::Starcoder,
        RegexSet::Gpt4o, RegexSet::Tekken, RegexSet::SeedCoder, RegexSet::BailingMoe,
        RegexSet::Bloom, RegexSet::Viking, RegexSet::MiniCpm5}) {
    std::string joined;
    for (const std::string& word : split(set, text)) {
      EXPECT_FALSE(word.empty());
      joined += word;
    }
    EXPECT_EQ(joined, text) << "set " << static_cast<int>(set);
  }
}

TEST(PreTokenize, Gpt4oSplitsCamelCase) {
  EXPECT_EQ(split(RegexSet::Gpt4o, "HelloWorld's"), (Words{"Hello", "World's"}));
}

TEST(PreTokenize, VeryLongRunsDoNotExhaustTheMatcher) {
  // A repeated lookahead group over a long word needs more than PCRE2 JIT's default stack.
  const std::string word(300'000, 'a');
  EXPECT_EQ(split(RegexSet::Gpt4o, word), (Words{word}));
  const std::string spaces(300'000, ' ');
  EXPECT_EQ(split(RegexSet::Llama3, spaces + "x"), (Words{spaces.substr(1), " x"}));
}

}  // namespace
}  // namespace flux::tokenization
