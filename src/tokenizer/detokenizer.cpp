// Token ids back to text: token_to_piece, decode (llama.cpp's llama_detokenize) and the
// UTF-8-safe StreamDecoder.

#include <string>

#include "tokenizer/tokenizer.hpp"
#include "tokenizer/tokenizer_impl.hpp"
#include "tokenizer/unicode.hpp"

namespace flux {

namespace {

using namespace tokenization;

std::string unescape_spaces(std::string_view text) {
  static constexpr std::string_view kVisibleSpace = "\xE2\x96\x81";
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) {
    if (text.compare(i, kVisibleSpace.size(), kVisibleSpace) == 0) {
      out.push_back(' ');
      i += kVisibleSpace.size();
    } else {
      out.push_back(text[i++]);
    }
  }
  return out;
}

// Maps a byte-level BPE token back to bytes. A code point outside GPT-2's table cannot come from
// a well-formed vocabulary; llama.cpp writes it out visibly rather than failing, and so do we.
std::string byte_level_to_bytes(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t offset = 0; offset < text.size();) {
    const LenientStep step = decode_utf8_lenient(text, offset);
    const char32_t code_point = step.code_point.value_or(kReplacementCharacter);
    if (const auto byte = unicode_to_byte(code_point)) {
      out.push_back(static_cast<char>(*byte));
    } else {
      out.append("[UNK_BYTE_0x").append(hex_bytes(utf8_encode(code_point)));
      out.append(text).append("]");
    }
    offset += step.length;
  }
  return out;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// "<0xNN>" -> the byte; a byte token spelled as the byte itself is taken as is.
std::string byte_token_to_bytes(std::string_view text) {
  if (text.size() == 6 && text.starts_with("<0x") && text.back() == '>') {
    const int high = hex_value(text[3]);
    const int low = hex_value(text[4]);
    if (high >= 0 && low >= 0) return std::string(1, static_cast<char>(high * 16 + low));
  }
  return std::string(text);
}

// HF's clean_up_tokenization_spaces, as llama.cpp's detokenizer implements it: three in-place
// passes over the decoded text.
void clean_up_spaces(std::string& text) {
  // " ?", " !", " .", " ," lose their space.
  std::size_t total = text.empty() ? 0 : 1;
  for (std::size_t i = 1; i < text.size(); ++i) {
    const char c = text[i];
    if (text[i - 1] == ' ' && (c == '?' || c == '!' || c == '.' || c == ',')) --total;
    text[total++] = c;
  }
  text.resize(total);

  // " ' " becomes "'": a lone apostrophe between spaces loses both spaces.
  total = text.empty() ? 0 : 1;
  for (std::size_t i = 1; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '\'' && i + 1 < text.size() && text[i - 1] == ' ' && text[i + 1] == ' ') {
      --total;
      text[++i] = '\0';  // the following space is skipped; the marker keeps it from matching again
    }
    text[total++] = c;
  }
  text.resize(total);

  // " 's", " 'm", " 're", " 've" join the previous word (" 't", " 'd", " 'll" do not).
  total = text.empty() ? 0 : 1;
  for (std::size_t i = 1; i < text.size(); ++i) {
    const char c = text[i];
    if (text[i - 1] == ' ' && c == '\'' && i + 1 < text.size()) {
      const char next = text[i + 1];
      if (next == 's' || next == 'm') {
        --total;
      } else if (next != 't' && next != 'd' && i + 2 < text.size()) {
        const char after = text[i + 2];
        if ((next == 'r' || next == 'v') && after == 'e') --total;
      }
    }
    text[total++] = c;
  }
  text.resize(total);
}

}  // namespace

std::string Tokenizer::token_to_piece(TokenId id, bool render_special) const {
  const TokenInfo& token = impl_->token(id);
  constexpr std::uint16_t kHiddenUnlessRendered = token_attr::kUnknown | token_attr::kControl;
  if (!render_special && (token.attrs & kHiddenUnlessRendered)) return {};
  if (token.attrs & (kHiddenUnlessRendered | token_attr::kUserDefined)) return token.text;
  if (token.attrs & token_attr::kNormal) {
    return impl_->vocab.kind == VocabKind::SentencePiece ? unescape_spaces(token.text)
                                                         : byte_level_to_bytes(token.text);
  }
  if (token.attrs & token_attr::kByte) return byte_token_to_bytes(token.text);
  return {};  // unused and undefined tokens stand for nothing
}

std::string Tokenizer::decode(std::span<const TokenId> ids, bool remove_special,
                              bool render_special) const {
  const Vocab& vocab = impl_->vocab;
  bool remove_leading_space = vocab.add_space_prefix;
  if (remove_special && vocab.add_bos && !ids.empty() && ids.front() == vocab.ids.bos) {
    remove_leading_space = false;
    ids = ids.subspan(1);
  }
  if (remove_special && vocab.add_eos && !ids.empty() && ids.back() == vocab.ids.eos) {
    ids = ids.first(ids.size() - 1);
  }

  std::string text;
  for (const TokenId id : ids) {
    std::string piece = token_to_piece(id, render_special);
    // Only the very first token is considered, whatever it renders to.
    if (remove_leading_space && !piece.empty() && piece.front() == ' ') piece.erase(0, 1);
    remove_leading_space = false;
    text += piece;
  }
  if (vocab.clean_spaces) clean_up_spaces(text);
  return text;
}

StreamDecoder::StreamDecoder(const Tokenizer& tokenizer, bool render_special)
    : tokenizer_(&tokenizer), render_special_(render_special) {}

StreamDecoder StreamDecoder::after_prompt(const Tokenizer& tokenizer, bool render_special) {
  StreamDecoder decoder(tokenizer, render_special);
  decoder.at_start_ = false;
  return decoder;
}

std::string StreamDecoder::push(TokenId id) {
  std::string piece = tokenizer_->token_to_piece(id, render_special_);
  if (at_start_) {
    at_start_ = false;
    if (tokenizer_->add_space_prefix() && !piece.empty() && piece.front() == ' ') piece.erase(0, 1);
  }
  pending_ += piece;

  std::string ready;
  std::size_t offset = 0;
  while (offset < pending_.size()) {
    const StrictStep step = decode_utf8_strict(pending_, offset);
    if (step.status == Utf8Status::Incomplete) break;  // the rest may come with the next token
    if (step.status == Utf8Status::Valid) ready.append(pending_, offset, step.length);
    else append_utf8(ready, kReplacementCharacter);
    offset += step.length;
  }
  pending_.erase(0, offset);
  return ready;
}

std::string StreamDecoder::flush() {
  std::string rest = make_valid_utf8(pending_);
  pending_.clear();
  return rest;
}

}  // namespace flux
