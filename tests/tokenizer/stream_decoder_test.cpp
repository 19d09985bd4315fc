// StreamDecoder never emits half a UTF-8 character.

#include <gtest/gtest.h>

#include "hand_made_vocab.hpp"
#include "tokenizer/tokenizer.hpp"

namespace flux {
namespace {

using testing::bpe_source;
using testing::byte_id;
using testing::id_of;
using testing::spm_source;

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";

Tokenizer byte_tokenizer() {
  return Tokenizer::from_source(
      spm_source({{"\xE2\x96\x81", -1.0f}, {"\xE2\x96\x81" "a", 1.0f}, {"b", 0.0f}}));
}

TEST(StreamDecoder, HoldsBackASplitTwoByteCharacter) {
  const Tokenizer tokenizer = byte_tokenizer();
  StreamDecoder stream(tokenizer);
  EXPECT_EQ(stream.push(id_of(tokenizer, "b")), "b");
  EXPECT_EQ(stream.push(byte_id(0xC3)), "");
  EXPECT_EQ(stream.push(byte_id(0xA9)), "\xC3\xA9");
  EXPECT_EQ(stream.flush(), "");
}

TEST(StreamDecoder, HoldsBackAFourByteCharacterAcrossThreeTokens) {
  const Tokenizer tokenizer = byte_tokenizer();
  StreamDecoder stream(tokenizer);
  EXPECT_EQ(stream.push(byte_id(0xF0)), "");
  EXPECT_EQ(stream.push(byte_id(0x9F)), "");
  EXPECT_EQ(stream.push(byte_id(0xA6)), "");
  EXPECT_EQ(stream.push(byte_id(0x99)), "\xF0\x9F\xA6\x99");  // 🦙
}

TEST(StreamDecoder, ReplacesBytesThatCanNeverFormACharacter) {
  const Tokenizer tokenizer = byte_tokenizer();
  StreamDecoder stream(tokenizer);
  EXPECT_EQ(stream.push(byte_id(0xFF)), kReplacement);
  EXPECT_EQ(stream.push(byte_id(0xC3)), "");
  EXPECT_EQ(stream.push(id_of(tokenizer, "b")), std::string(kReplacement) + "b");
  EXPECT_EQ(stream.push(byte_id(0xE2)), "");
  EXPECT_EQ(stream.flush(), kReplacement);  // the stream ended inside a character
  EXPECT_EQ(stream.flush(), "");
}

TEST(StreamDecoder, FirstTokenLosesTheAddedSpaceUnlessContinuingAPrompt) {
  const Tokenizer tokenizer = byte_tokenizer();
  const TokenId a = id_of(tokenizer, "\xE2\x96\x81" "a");
  StreamDecoder fresh(tokenizer);
  EXPECT_EQ(fresh.push(a), "a");
  EXPECT_EQ(fresh.push(a), " a");
  StreamDecoder continuing = StreamDecoder::after_prompt(tokenizer);
  EXPECT_EQ(continuing.push(a), " a");
}

TEST(StreamDecoder, JoinedPiecesEqualDecode) {
  const Tokenizer tokenizer = byte_tokenizer();
  const std::string text = "a b \xC3\xA9\xF0\x9F\xA6\x99 a";
  const std::vector<TokenId> ids = tokenizer.encode(text, true, false);
  StreamDecoder stream(tokenizer);
  std::string joined;
  for (const TokenId id : ids) joined += stream.push(id);
  joined += stream.flush();
  EXPECT_EQ(joined, tokenizer.decode(ids));
}

TEST(StreamDecoder, RendersControlTokensOnlyWhenAsked) {
  const Tokenizer tokenizer = byte_tokenizer();
  StreamDecoder hidden(tokenizer);
  EXPECT_EQ(hidden.push(2), "");
  StreamDecoder rendered(tokenizer, /*render_special=*/true);
  EXPECT_EQ(rendered.push(2), "</s>");
}

TEST(StreamDecoder, ByteLevelBpeCharacterSplitAcrossTokens) {
  // "€" is E2 82 AC, spelled "â" "Ĥ" "¬" at byte level.
  const Tokenizer tokenizer =
      Tokenizer::from_source(bpe_source({"\xC3\xA2", "\xC4\xA4", "\xC2\xAC"}, {}));
  const std::vector<TokenId> ids = tokenizer.encode("\xE2\x82\xAC", false, false);
  ASSERT_EQ(ids.size(), 3u);
  StreamDecoder stream(tokenizer);
  EXPECT_EQ(stream.push(ids[0]), "");
  EXPECT_EQ(stream.push(ids[1]), "");
  EXPECT_EQ(stream.push(ids[2]), "\xE2\x82\xAC");
}

}  // namespace
}  // namespace flux
