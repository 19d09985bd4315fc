#pragma once
// UTF-8 helpers and GPT-2's byte <-> unicode mapping, shared by the tokenizers and the detokenizer.
//
// Two notions of "decoding" live here on purpose:
//  - the lenient one llama.cpp applies before byte-level BPE (so that our token ids match its ids
//    even for malformed input), and
//  - a strict validator used where we must hand valid UTF-8 to someone else (PCRE2, a stream).

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace flux::tokenization {

inline constexpr char32_t kReplacementCharacter = 0xFFFD;

// Byte length a lead byte announces: 1 for ASCII, continuation and invalid bytes; 2, 3 or 4
// otherwise. This is the only splitting rule SentencePiece-style symbol splitting uses.
std::size_t utf8_sequence_length(unsigned char lead);

// Appends the UTF-8 encoding of any value up to 0x10FFFF (surrogates included, as llama.cpp does).
void append_utf8(std::string& out, char32_t code_point);
std::string utf8_encode(char32_t code_point);

// One step of llama.cpp's lenient decoder: a well-formed-looking sequence (lead byte plus the
// right number of continuation bytes) decodes to its value even when overlong or a surrogate;
// anything else consumes one byte and yields nullopt.
struct LenientStep {
  std::optional<char32_t> code_point;
  std::size_t length = 1;
};
LenientStep decode_utf8_lenient(std::string_view text, std::size_t offset);

// One step of a strict decoder (RFC 3629: no overlongs, surrogates or values above 0x10FFFF).
enum class Utf8Status { Valid, Incomplete, Invalid };
struct StrictStep {
  Utf8Status status = Utf8Status::Invalid;
  char32_t code_point = 0;
  // Valid: bytes of the character; Incomplete: bytes present (all of the rest of the text);
  // Invalid: bytes of the maximal ill-formed subpart, to be replaced by one U+FFFD.
  std::size_t length = 1;
};
StrictStep decode_utf8_strict(std::string_view text, std::size_t offset);

// Replaces every ill-formed subpart (and a truncated tail) by U+FFFD.
std::string make_valid_utf8(std::string_view text);

// GPT-2 byte-level BPE maps every byte to a printable code point so that vocabularies never hold
// raw control bytes or spaces: printable Latin-1 bytes map to themselves, the others to U+0100+.
std::string_view byte_to_unicode(std::uint8_t byte);  // UTF-8 of the mapped code point
std::optional<std::uint8_t> unicode_to_byte(char32_t code_point);
// Appends the byte-level spelling of raw bytes.
void append_byte_level(std::string& out, std::string_view bytes);

// Lowercase hex of each byte ("e2968a"), for messages about unprintable text.
std::string hex_bytes(std::string_view bytes);

}  // namespace flux::tokenization
