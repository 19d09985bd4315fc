#include "tokenizer/unicode.hpp"

#include <array>

namespace flux::tokenization {

namespace {

bool is_continuation(unsigned char byte) { return (byte & 0xC0) == 0x80; }

// The GPT-2 byte -> code point table: bytes that are printable Latin-1 ('!'..'~', '¡'..'¬',
// '®'..'ÿ') keep their value; the remaining 68 bytes get U+0100, U+0101, ... in byte order.
struct ByteLevelTables {
  std::array<std::string, 256> utf8_of_byte;
  std::array<std::int16_t, 0x100 + 68> byte_of_code_point{};

  ByteLevelTables() {
    byte_of_code_point.fill(-1);
    char32_t next_unprintable = 0x100;
    for (int byte = 0; byte < 256; ++byte) {
      const bool printable = (byte >= 0x21 && byte <= 0x7E) || (byte >= 0xA1 && byte <= 0xAC) ||
                             (byte >= 0xAE && byte <= 0xFF);
      const char32_t code_point = printable ? static_cast<char32_t>(byte) : next_unprintable++;
      utf8_of_byte[byte] = utf8_encode(code_point);
      byte_of_code_point[code_point] = static_cast<std::int16_t>(byte);
    }
  }
};

const ByteLevelTables& byte_level_tables() {
  static const ByteLevelTables tables;
  return tables;
}

}  // namespace

std::size_t utf8_sequence_length(unsigned char lead) {
  static constexpr std::array<std::size_t, 16> kLengthByHighNibble = {1, 1, 1, 1, 1, 1, 1, 1,
                                                                      1, 1, 1, 1, 2, 2, 3, 4};
  return kLengthByHighNibble[lead >> 4];
}

void append_utf8(std::string& out, char32_t code_point) {
  const auto put = [&out](std::uint32_t value) { out.push_back(static_cast<char>(value)); };
  const auto value = static_cast<std::uint32_t>(code_point);
  if (value < 0x80) {
    put(value);
  } else if (value < 0x800) {
    put(0xC0 | (value >> 6));
    put(0x80 | (value & 0x3F));
  } else if (value < 0x10000) {
    put(0xE0 | (value >> 12));
    put(0x80 | ((value >> 6) & 0x3F));
    put(0x80 | (value & 0x3F));
  } else {
    put(0xF0 | ((value >> 18) & 0x07));
    put(0x80 | ((value >> 12) & 0x3F));
    put(0x80 | ((value >> 6) & 0x3F));
    put(0x80 | (value & 0x3F));
  }
}

std::string utf8_encode(char32_t code_point) {
  std::string out;
  append_utf8(out, code_point);
  return out;
}

LenientStep decode_utf8_lenient(std::string_view text, std::size_t offset) {
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[offset + i]); };
  const unsigned char lead = byte(0);
  if (lead < 0x80) return {lead, 1};
  std::size_t length = 0;
  char32_t value = 0;
  if ((lead & 0xE0) == 0xC0) {
    length = 2;
    value = lead & 0x1F;
  } else if ((lead & 0xF0) == 0xE0) {
    length = 3;
    value = lead & 0x0F;
  } else if ((lead & 0xF8) == 0xF0) {
    length = 4;
    value = lead & 0x07;
  } else {
    return {std::nullopt, 1};  // a stray continuation byte or 0xF8..0xFF
  }
  if (offset + length > text.size()) return {std::nullopt, 1};
  for (std::size_t i = 1; i < length; ++i) {
    if (!is_continuation(byte(i))) return {std::nullopt, 1};
    value = (value << 6) | (byte(i) & 0x3F);
  }
  return {value, length};
}

StrictStep decode_utf8_strict(std::string_view text, std::size_t offset) {
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[offset + i]); };
  const unsigned char lead = byte(0);
  if (lead < 0x80) return {Utf8Status::Valid, lead, 1};

  // Allowed range of the second byte depends on the lead (Unicode table 3-7); this is what
  // rejects overlongs, surrogates and values above U+10FFFF.
  std::size_t length = 0;
  unsigned char second_min = 0x80;
  unsigned char second_max = 0xBF;
  char32_t value = 0;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
    value = lead & 0x1F;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    value = lead & 0x0F;
    if (lead == 0xE0) second_min = 0xA0;
    if (lead == 0xED) second_max = 0x9F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    value = lead & 0x07;
    if (lead == 0xF0) second_min = 0x90;
    if (lead == 0xF4) second_max = 0x8F;
  } else {
    return {Utf8Status::Invalid, 0, 1};
  }

  for (std::size_t i = 1; i < length; ++i) {
    if (offset + i >= text.size()) return {Utf8Status::Incomplete, 0, i};
    const unsigned char next = byte(i);
    const unsigned char low = i == 1 ? second_min : 0x80;
    const unsigned char high = i == 1 ? second_max : 0xBF;
    if (next < low || next > high) return {Utf8Status::Invalid, 0, i};
    value = (value << 6) | (next & 0x3F);
  }
  return {Utf8Status::Valid, value, length};
}

std::string make_valid_utf8(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  std::size_t offset = 0;
  while (offset < text.size()) {
    const StrictStep step = decode_utf8_strict(text, offset);
    if (step.status == Utf8Status::Valid) {
      out.append(text.substr(offset, step.length));
    } else {
      append_utf8(out, kReplacementCharacter);
    }
    offset += step.length;
  }
  return out;
}

std::string_view byte_to_unicode(std::uint8_t byte) {
  return byte_level_tables().utf8_of_byte[byte];
}

std::optional<std::uint8_t> unicode_to_byte(char32_t code_point) {
  const auto& table = byte_level_tables().byte_of_code_point;
  if (code_point >= table.size() || table[code_point] < 0) return std::nullopt;
  return static_cast<std::uint8_t>(table[code_point]);
}

void append_byte_level(std::string& out, std::string_view bytes) {
  for (const char c : bytes) out.append(byte_to_unicode(static_cast<std::uint8_t>(c)));
}

std::string hex_bytes(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (const char c : bytes) {
    const auto byte = static_cast<unsigned char>(c);
    out.push_back(kDigits[byte >> 4]);
    out.push_back(kDigits[byte & 0x0F]);
  }
  return out;
}

}  // namespace flux::tokenization
