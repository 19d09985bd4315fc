#pragma once
// The interpreted vocabulary: token texts, scores and attributes, the special ids, and the flags
// that steer tokenization, with the defaults and quirks llama.cpp's vocab loader applies.

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tokenizer/tokenizer.hpp"
#include "tokenizer/vocab_source.hpp"

namespace flux::tokenization {

inline constexpr TokenId kNoToken = -1;

// Token attribute bits (a token can carry several, e.g. a normal token promoted to control).
namespace token_attr {
inline constexpr std::uint16_t kUnknown = 1u << 0;
inline constexpr std::uint16_t kUnused = 1u << 1;
inline constexpr std::uint16_t kNormal = 1u << 2;
inline constexpr std::uint16_t kControl = 1u << 3;
inline constexpr std::uint16_t kUserDefined = 1u << 4;
inline constexpr std::uint16_t kByte = 1u << 5;
inline constexpr std::uint16_t kStripLeft = 1u << 6;   // eats whitespace before it in the text
inline constexpr std::uint16_t kStripRight = 1u << 7;  // eats whitespace after it in the text
}  // namespace token_attr

enum class VocabKind { SentencePiece, BytePairEncoding };

struct TokenInfo {
  std::string text;
  float score = 0.0f;
  std::uint16_t attrs = token_attr::kNormal;
};

// string_view lookups into a map keyed by std::string, without building a temporary string.
struct TransparentStringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view text) const noexcept {
    return std::hash<std::string_view>{}(text);
  }
};
using TextToToken =
    std::unordered_map<std::string, TokenId, TransparentStringHash, std::equal_to<>>;

struct SpecialIds {
  TokenId bos = kNoToken, eos = kNoToken, eot = kNoToken, eom = kNoToken, unk = kNoToken,
          sep = kNoToken, pad = kNoToken, mask = kNoToken;
  TokenId fim_pre = kNoToken, fim_suf = kNoToken, fim_mid = kNoToken, fim_pad = kNoToken,
          fim_rep = kNoToken, fim_sep = kNoToken;
};

struct Vocab {
  VocabKind kind = VocabKind::SentencePiece;
  std::string model;  // "llama" or "gpt2"
  std::string pre;    // the pre-tokenizer name in effect ("default" when the file names none)
  std::vector<TokenInfo> tokens;
  TextToToken token_of_text;
  SpecialIds ids;
  std::vector<TokenId> end_of_generation;  // sorted
  // Control, user-defined and unknown tokens, longest text first: the order in which they are cut
  // out of the input before the text between them is tokenized.
  std::vector<TokenId> special_tokens_longest_first;

  bool add_bos = false;
  bool add_eos = false;
  bool add_space_prefix = false;  // SPM: a space before text that starts the input or follows a
                                  // special token ("Hello" is tokenized as " Hello")
  bool clean_spaces = false;      // decode removes spaces before punctuation, as HF's
                                  // clean_up_tokenization_spaces does
  bool ignore_merges = false;     // BPE: a pre-tokenized word that is a token is taken whole

  std::size_t size() const { return tokens.size(); }
  bool contains(TokenId id) const {
    return id >= 0 && static_cast<std::size_t>(id) < tokens.size();
  }
  TokenId find(std::string_view text) const {
    const auto it = token_of_text.find(text);
    return it == token_of_text.end() ? kNoToken : it->second;
  }
  bool has_attr(TokenId id, std::uint16_t attr) const { return (tokens[id].attrs & attr) != 0; }
  // SPM byte fallback: "<0xNN>", else the byte itself as a token; kNoToken when neither exists.
  TokenId byte_token(std::uint8_t byte) const;
};

// Interprets the source the way llama.cpp's llama_vocab::load does. Throws UnsupportedError for a
// tokenizer model or pre-tokenizer it does not implement, FormatError for inconsistent arrays.
Vocab build_vocab(VocabSource source);

// Decides special ids, end-of-generation tokens and per-model attributes (vocab_rules.cpp).
void apply_special_token_rules(Vocab& vocab, const VocabSource& source);

}  // namespace flux::tokenization
