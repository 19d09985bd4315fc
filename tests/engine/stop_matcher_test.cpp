#include "engine/stop_matcher.hpp"

#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

namespace flux {
namespace {

struct Outcome {
  std::string text;
  bool stopped = false;
};

// Feeds the chunks as a generation loop would, checking on the way that what was emitted is
// always a prefix of `final_text`: nothing is ever taken back, nothing of a stop leaks out.
Outcome feed(const std::vector<std::string>& stops, const std::vector<std::string_view>& chunks,
             std::string_view final_text) {
  StopMatcher matcher(stops);
  Outcome outcome;
  for (std::string_view chunk : chunks) {
    outcome.text += matcher.push(chunk);
    EXPECT_TRUE(final_text.starts_with(outcome.text)) << "emitted: " << outcome.text;
    if (matcher.stopped()) break;
  }
  outcome.text += matcher.flush();
  outcome.stopped = matcher.stopped();
  return outcome;
}

// The same outcome for the text whole, byte by byte, and cut at every one or two points
// (inside stop strings and inside multi-byte characters included).
void expect_for_every_split(const std::vector<std::string>& stops, std::string_view text,
                            std::string_view expected, bool expected_stopped) {
  auto check = [&](const std::vector<std::string_view>& chunks, const std::string& how) {
    const Outcome outcome = feed(stops, chunks, expected);
    EXPECT_EQ(outcome.text, expected) << how;
    EXPECT_EQ(outcome.stopped, expected_stopped) << how;
  };
  check({text}, "whole");
  std::vector<std::string_view> bytes;
  for (std::size_t i = 0; i < text.size(); ++i) bytes.push_back(text.substr(i, 1));
  check(bytes, "byte by byte");
  for (std::size_t first = 0; first <= text.size(); ++first) {
    for (std::size_t second = first; second <= text.size(); ++second) {
      check({text.substr(0, first), text.substr(first, second - first), text.substr(second)},
            "cut at " + std::to_string(first) + " and " + std::to_string(second));
    }
  }
}

TEST(StopMatcher, CutsBeforeTheStopAtEverySplit) {
  expect_for_every_split({"STOP"}, "Hello, world! STOP and more", "Hello, world! ", true);
}

TEST(StopMatcher, MultiByteStopsAndText) {
  expect_for_every_split({"。\n"}, "你好。世界。\n再见", "你好。世界", true);
  expect_for_every_split({"→ end"}, "a → b → end → c", "a → b ", true);
}

TEST(StopMatcher, OverlappingStopsCutAtTheFirstToComplete) {
  // "ab" completes before "abc" could; either way the cut is before "ab".
  expect_for_every_split({"ab", "abc"}, "xxabcyy", "xx", true);
  expect_for_every_split({"abc", "ab"}, "xxabcyy", "xx", true);
  // "bc" completes before "abcd" does, so the stream stops there whatever the chunks.
  expect_for_every_split({"abcd", "bc"}, "xabcd", "xa", true);
  // Both end together: the longer one is the stop, so none of it leaks.
  expect_for_every_split({"b", "ab"}, "xaby", "x", true);
  // Self-overlapping stop: the held tail must slide, not reset.
  expect_for_every_split({"aab"}, "aaab", "a", true);
  expect_for_every_split({"abab"}, "abababx", "", true);
}

TEST(StopMatcher, StopAtTheVeryBeginning) {
  expect_for_every_split({"<|end|>"}, "<|end|>tail", "", true);
}

TEST(StopMatcher, NoStopEmitsEverything) {
  expect_for_every_split({"STOP"}, "ST STO STOx S", "ST STO STOx S", false);
  expect_for_every_split({}, "plain text", "plain text", false);
}

TEST(StopMatcher, HoldsBackOnlyTheLongestStopPrefix) {
  StopMatcher matcher({"<|end|>", "###"});
  EXPECT_EQ(matcher.push("a<|e"), "a");
  EXPECT_EQ(matcher.push("x #"), "<|ex ");
  EXPECT_EQ(matcher.push("#"), "");
  EXPECT_EQ(matcher.push("!"), "##!");
  EXPECT_EQ(matcher.push("<|"), "");
  EXPECT_EQ(matcher.flush(), "<|");
  EXPECT_FALSE(matcher.stopped());
}

TEST(StopMatcher, NothingAfterAStop) {
  StopMatcher matcher({"\n\n"});
  EXPECT_EQ(matcher.push("line\n"), "line");
  EXPECT_EQ(matcher.push("\nnext"), "");
  EXPECT_TRUE(matcher.stopped());
  EXPECT_EQ(matcher.push("more"), "");
  EXPECT_EQ(matcher.flush(), "");
}

TEST(StopMatcher, EmptyStopStringsAreIgnored) {
  StopMatcher only_empty({""});
  EXPECT_EQ(only_empty.push("hello"), "hello");
  EXPECT_FALSE(only_empty.stopped());
  expect_for_every_split({"", "END", ""}, "abEND", "ab", true);
}

bool is_whole_utf8(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    const auto lead = static_cast<unsigned char>(text[i]);
    const std::size_t length = lead < 0x80 ? 1 : lead >> 5 == 0x6 ? 2 : lead >> 4 == 0xE ? 3 : 4;
    if (i + length > text.size()) return false;
    for (std::size_t k = 1; k < length; ++k) {
      if ((static_cast<unsigned char>(text[i + k]) & 0xC0) != 0x80) return false;
    }
    i += length;
  }
  return true;
}

TEST(StopMatcher, WholeCharactersInGiveWholeCharactersOut) {
  // Fed one character at a time, every piece emitted is whole, even while a multi-byte stop
  // prefix ("。" then "。\n") is being held back.
  const std::string_view text = "é。x你。。\n尾";
  StopMatcher matcher({"。\n", "你好"});
  std::string emitted;
  std::size_t i = 0;
  while (i < text.size() && !matcher.stopped()) {
    const auto lead = static_cast<unsigned char>(text[i]);
    const std::size_t length = lead < 0x80 ? 1 : lead >> 5 == 0x6 ? 2 : lead >> 4 == 0xE ? 3 : 4;
    const std::string piece = matcher.push(text.substr(i, length));
    EXPECT_TRUE(is_whole_utf8(piece)) << "after byte " << i;
    emitted += piece;
    i += length;
  }
  EXPECT_TRUE(matcher.stopped());
  EXPECT_EQ(emitted, "é。x你。");
}

}  // namespace
}  // namespace flux
