// llama.cpp does not run the GPT-2, llama3 and qwen2 patterns as regexes but as hand-written
// scanners over its own Unicode tables. Here a hand-written reading of the same patterns (over an
// alphabet whose categories are spelled out below) is compared with what PCRE2 makes of the
// adapted patterns, on many random strings: whitespace classes, lookaheads and the order of
// alternatives must agree.

#include <gtest/gtest.h>

#include <random>

#include "tokenizer/pretokenize.hpp"
#include "tokenizer/unicode.hpp"

namespace flux::tokenization {
namespace {

struct Letter {
  char32_t code_point;
  bool letter, number, space;
};

// A few of each class, including the cases where PCRE2's and llama.cpp's tables differ by default.
constexpr Letter kAlphabet[] = {
    {U'a', true, false, false},  {U'Z', true, false, false},    {U's', true, false, false},
    {U'S', true, false, false},  {U't', true, false, false},    {U'r', true, false, false},
    {U'e', true, false, false},  {U'L', true, false, false},    {U'l', true, false, false},
    {U'd', true, false, false},  {0xE9, true, false, false},    {0x436, true, false, false},
    {0x4E2D, true, false, false}, {U'1', false, true, false},   {U'7', false, true, false},
    {0x663, false, true, false}, {U' ', false, false, true},    {U'\t', false, false, true},
    {U'\n', false, false, true}, {U'\r', false, false, true},   {0xA0, false, false, true},
    {0x3000, false, false, true}, {0x85, false, false, true},   {U'!', false, false, false},
    {U'\'', false, false, false}, {U'.', false, false, false},  {U'$', false, false, false},
    {0x1F600, false, false, false}, {0x180E, false, false, false},  // U+180E: not a space here
};

const Letter& letter_of(char32_t c) {
  for (const Letter& letter : kAlphabet) {
    if (letter.code_point == c) return letter;
  }
  throw std::logic_error("code point outside the test alphabet");
}

using Text = std::vector<char32_t>;
using Pieces = std::vector<std::pair<std::size_t, std::size_t>>;  // [begin, end) in code points

// Reads the patterns alternative by alternative, the way a backtracking engine would.
class ReferenceScanner {
 public:
  ReferenceScanner(const Text& text, bool llama3, std::size_t max_digits)
      : text_(text), llama3_(llama3), max_digits_(max_digits) {}

  Pieces scan() {
    Pieces pieces;
    std::size_t gap_begin = 0;
    for (std::size_t pos = 0; pos < text_.size();) {
      const std::size_t end = llama3_ ? match_llama3(pos) : match_gpt2(pos);
      if (end == pos) {  // no alternative matches: the character joins a gap piece
        ++pos;
        continue;
      }
      if (gap_begin < pos) pieces.emplace_back(gap_begin, pos);
      pieces.emplace_back(pos, end);
      pos = gap_begin = end;
    }
    if (gap_begin < text_.size()) pieces.emplace_back(gap_begin, text_.size());
    return pieces;
  }

 private:
  bool in(std::size_t p) const { return p < text_.size(); }
  bool is_letter(std::size_t p) const { return in(p) && letter_of(text_[p]).letter; }
  bool is_number(std::size_t p) const { return in(p) && letter_of(text_[p]).number; }
  bool is_space(std::size_t p) const { return in(p) && letter_of(text_[p]).space; }
  bool is_other(std::size_t p) const {
    return in(p) && !is_letter(p) && !is_number(p) && !is_space(p);
  }
  bool is(std::size_t p, char32_t c) const { return in(p) && text_[p] == c; }
  bool is_newline(std::size_t p) const { return is(p, U'\r') || is(p, U'\n'); }
  char32_t lower(std::size_t p) const {
    const char32_t c = in(p) ? text_[p] : 0;
    return (c >= U'A' && c <= U'Z') ? c + 32 : c;
  }

  std::size_t contraction(std::size_t p, bool any_case) const {
    if (!is(p, U'\'')) return p;
    const auto at = [&](std::size_t q) { return any_case ? lower(q) : (in(q) ? text_[q] : 0); };
    const char32_t a = at(p + 1);
    if (a == U's' || a == U't' || a == U'm' || a == U'd') return p + 2;
    const char32_t b = at(p + 2);
    const bool two_letters = (a == U'r' && b == U'e') || (a == U'v' && b == U'e') ||
                             (a == U'l' && b == U'l');
    return two_letters ? p + 3 : p;
    return p;
  }

  std::size_t run(std::size_t p, bool (ReferenceScanner::*test)(std::size_t) const) const {
    while ((this->*test)(p)) ++p;
    return p;
  }

  // \s+(?!\S): all of a run that ends the text, else all but its last space (needs two).
  std::size_t spaces_not_before_text(std::size_t p) const {
    const std::size_t end = run(p, &ReferenceScanner::is_space);
    if (end == p) return p;
    if (end == text_.size()) return end;
    return end - p >= 2 ? end - 1 : p;
  }

  std::size_t match_gpt2(std::size_t p) const {
    if (const std::size_t end = contraction(p, false); end != p) return end;
    const std::size_t q = is(p, U' ') ? p + 1 : p;
    if (is_letter(q)) return run(q, &ReferenceScanner::is_letter);
    if (is_number(q)) return run(q, &ReferenceScanner::is_number);
    if (is_other(q)) return run(q, &ReferenceScanner::is_other);
    return spaces_not_before_text(p);
  }

  std::size_t match_llama3(std::size_t p) const {
    if (const std::size_t end = contraction(p, true); end != p) return end;
    if (is_letter(p)) return run(p, &ReferenceScanner::is_letter);
    if (in(p) && !is_newline(p) && !is_number(p) && is_letter(p + 1)) {
      return run(p + 1, &ReferenceScanner::is_letter);
    }
    if (is_number(p)) {
      std::size_t end = p;
      while (is_number(end) && end - p < max_digits_) ++end;
      return end;
    }
    const std::size_t q = is(p, U' ') ? p + 1 : p;
    if (is_other(q)) return run(run(q, &ReferenceScanner::is_other), &ReferenceScanner::is_newline);
    // \s*[\r\n]+ : up to the last newline of the whitespace run.
    const std::size_t space_end = run(p, &ReferenceScanner::is_space);
    for (std::size_t end = space_end; end > p; --end) {
      if (is_newline(end - 1)) return end;
    }
    if (const std::size_t end = spaces_not_before_text(p); end != p) return end;
    return space_end;  // \s+
  }

  const Text& text_;
  bool llama3_;
  std::size_t max_digits_;
};

void expect_same_split(RegexSet set, bool llama3, std::size_t max_digits, unsigned seed) {
  const PreTokenizer pre_tokenizer(set);
  std::mt19937 random(seed);
  std::uniform_int_distribution<std::size_t> length(0, 12);
  std::uniform_int_distribution<std::size_t> pick(0, std::size(kAlphabet) - 1);
  for (int round = 0; round < 20'000; ++round) {
    Text text(length(random));
    for (char32_t& c : text) c = kAlphabet[pick(random)].code_point;

    std::string utf8;
    std::vector<std::size_t> byte_offset = {0};
    for (const char32_t c : text) {
      append_utf8(utf8, c);
      byte_offset.push_back(utf8.size());
    }
    std::vector<std::string> expected;
    for (const auto& [begin, end] : ReferenceScanner(text, llama3, max_digits).scan()) {
      expected.push_back(utf8.substr(byte_offset[begin], byte_offset[end] - byte_offset[begin]));
    }
    ASSERT_EQ(pre_tokenizer.split(utf8), expected) << "round " << round;
  }
}

TEST(PreTokenizeReference, Gpt2PatternAgreesWithAHandWrittenScanner) {
  expect_same_split(RegexSet::Gpt2, false, 0, 1);
}

TEST(PreTokenizeReference, Llama3PatternAgreesWithAHandWrittenScanner) {
  expect_same_split(RegexSet::Llama3, true, 3, 2);
}

TEST(PreTokenizeReference, Qwen2PatternAgreesWithAHandWrittenScanner) {
  expect_same_split(RegexSet::Qwen2, true, 1, 3);
}

}  // namespace
}  // namespace flux::tokenization
