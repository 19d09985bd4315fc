#include <gtest/gtest.h>

#include "tokenizer/unicode.hpp"

namespace flux::tokenization {
namespace {

TEST(Utf8, SequenceLengthFromTheLeadByte) {
  EXPECT_EQ(utf8_sequence_length('a'), 1u);
  EXPECT_EQ(utf8_sequence_length(0x80), 1u);  // continuation bytes stand alone
  EXPECT_EQ(utf8_sequence_length(0xC3), 2u);
  EXPECT_EQ(utf8_sequence_length(0xE2), 3u);
  EXPECT_EQ(utf8_sequence_length(0xF0), 4u);
  EXPECT_EQ(utf8_sequence_length(0xFF), 4u);  // as llama.cpp's table says
}

TEST(Utf8, EncodesEveryLength) {
  EXPECT_EQ(utf8_encode(U'A'), "A");
  EXPECT_EQ(utf8_encode(0xE9), "\xC3\xA9");
  EXPECT_EQ(utf8_encode(0x2581), "\xE2\x96\x81");
  EXPECT_EQ(utf8_encode(0x1F999), "\xF0\x9F\xA6\x99");
}

TEST(Utf8, LenientDecoderAcceptsWhatLlamaCppAccepts) {
  const auto step = [](std::string_view text) { return decode_utf8_lenient(text, 0); };
  EXPECT_EQ(step("\xC3\xA9").code_point, char32_t{0xE9});
  EXPECT_EQ(step("\xC0\x80").code_point, char32_t{0});          // overlong, still decoded
  EXPECT_EQ(step("\xED\xA0\x80").code_point, char32_t{0xD800});  // surrogate, still decoded
  EXPECT_EQ(step("\xF7\xBF\xBF\xBF").code_point, char32_t{0x1FFFFF});
  EXPECT_FALSE(step("\x80").code_point.has_value());
  EXPECT_FALSE(step("\xE2\x82").code_point.has_value());  // truncated
  EXPECT_EQ(step("\xE2\x82").length, 1u);
  EXPECT_FALSE(step("\xF8\x80\x80\x80\x80").code_point.has_value());
}

TEST(Utf8, StrictDecoderFindsMaximalIllFormedSubparts) {
  const auto step = [](std::string_view text) { return decode_utf8_strict(text, 0); };
  EXPECT_EQ(step("\xE2\x82\xAC").status, Utf8Status::Valid);
  EXPECT_EQ(step("\xE2\x82\xAC").code_point, char32_t{0x20AC});
  EXPECT_EQ(step("\xE2\x82").status, Utf8Status::Incomplete);
  EXPECT_EQ(step("\xE2\x82").length, 2u);
  EXPECT_EQ(step("\xE2\x82" "A").status, Utf8Status::Invalid);
  EXPECT_EQ(step("\xE2\x82" "A").length, 2u);
  EXPECT_EQ(step("\xC0\x80").status, Utf8Status::Invalid);  // overlong lead
  EXPECT_EQ(step("\xC0\x80").length, 1u);
  EXPECT_EQ(step("\xED\xA0\x80").status, Utf8Status::Invalid);  // surrogate
  EXPECT_EQ(step("\xF4\x90\x80\x80").status, Utf8Status::Invalid);  // above U+10FFFF
  EXPECT_EQ(step("\xF0\x9F\xA6").status, Utf8Status::Incomplete);
}

TEST(Utf8, MakeValidReplacesEachIllFormedSubpart) {
  EXPECT_EQ(make_valid_utf8("ok \xC3\xA9"), "ok \xC3\xA9");
  EXPECT_EQ(make_valid_utf8("a\xFF" "b"), "a\xEF\xBF\xBD" "b");
  EXPECT_EQ(make_valid_utf8("\xE2\x82" "A"), "\xEF\xBF\xBD" "A");
  EXPECT_EQ(make_valid_utf8("x\xF0\x9F"), "x\xEF\xBF\xBD");
}

TEST(ByteLevel, MatchesGpt2Table) {
  EXPECT_EQ(byte_to_unicode('A'), "A");
  EXPECT_EQ(byte_to_unicode(' '), "\xC4\xA0");   // U+0120 'Ġ'
  EXPECT_EQ(byte_to_unicode('\n'), "\xC4\x8A");  // U+010A 'Ċ'
  EXPECT_EQ(byte_to_unicode(0x00), "\xC4\x80");  // U+0100
  EXPECT_EQ(byte_to_unicode(0xAD), "\xC5\x83");  // U+0143, the last unprintable byte
  EXPECT_EQ(byte_to_unicode(0xE9), "\xC3\xA9");  // printable Latin-1 keeps its value
}

TEST(ByteLevel, EveryByteRoundTrips) {
  for (int byte = 0; byte < 256; ++byte) {
    const std::string_view spelled = byte_to_unicode(static_cast<std::uint8_t>(byte));
    const LenientStep step = decode_utf8_lenient(spelled, 0);
    ASSERT_TRUE(step.code_point.has_value());
    EXPECT_EQ(step.length, spelled.size());
    EXPECT_EQ(unicode_to_byte(*step.code_point), std::optional<std::uint8_t>(byte));
  }
  EXPECT_FALSE(unicode_to_byte(0x144).has_value());
  EXPECT_FALSE(unicode_to_byte(' ').has_value());  // spaces are always spelled as U+0120
  std::string spelled;
  append_byte_level(spelled, "a b");
  EXPECT_EQ(spelled, "a\xC4\xA0" "b");
}

}  // namespace
}  // namespace flux::tokenization
