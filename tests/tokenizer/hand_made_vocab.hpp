#pragma once
// Small vocabularies built by hand, so each tokenizer rule can be tested on a case small enough to
// work out on paper.

#include <cstdio>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tokenizer/tokenizer.hpp"
#include "tokenizer/vocab_source.hpp"

namespace flux::testing {

using tokenization::TokenType;
using tokenization::VocabSource;

// SentencePiece's spelling of a text: spaces written as ▁ (U+2581).
inline std::string visible(std::string_view text) {
  std::string out;
  for (const char c : text) {
    if (c == ' ') out += "\xE2\x96\x81";
    else out += c;
  }
  return out;
}

inline void add_token(VocabSource& source, std::string text, float score = 0.0f,
                      TokenType type = TokenType::Normal) {
  source.tokens.push_back(std::move(text));
  source.scores.push_back(score);
  source.token_types.push_back(static_cast<std::int64_t>(type));
}

// A SentencePiece vocabulary laid out like LLaMA's: <unk>=0, <s>=1, </s>=2, then (optionally) the
// 256 byte tokens <0x00>..<0xFF> (ids 3..258), then the given pieces with their scores.
inline VocabSource spm_source(const std::vector<std::pair<std::string, float>>& pieces,
                              bool byte_tokens = true) {
  VocabSource source;
  source.model = "llama";
  add_token(source, "<unk>", 0.0f, TokenType::Unknown);
  add_token(source, "<s>", 0.0f, TokenType::Control);
  add_token(source, "</s>", 0.0f, TokenType::Control);
  if (byte_tokens) {
    for (int byte = 0; byte < 256; ++byte) {
      char spelled[8];
      std::snprintf(spelled, sizeof spelled, "<0x%02X>", byte);
      add_token(source, spelled, 0.0f, TokenType::Byte);
    }
  }
  for (const auto& [text, score] : pieces) add_token(source, text, score);
  return source;
}

// A byte-level BPE vocabulary: the given tokens (in GPT-2 byte-level spelling, e.g. "Ġ" for a
// space) in order, and the merges in rank order.
inline VocabSource bpe_source(const std::vector<std::string>& tokens,
                              std::vector<std::string> merges, std::string pre = "gpt-2") {
  VocabSource source;
  source.model = "gpt2";
  source.pre = std::move(pre);
  for (const std::string& token : tokens) add_token(source, token);
  source.merges = std::move(merges);
  return source;
}

inline TokenId id_of(const Tokenizer& tokenizer, std::string_view text) {
  for (std::size_t id = 0; id < tokenizer.vocab_size(); ++id) {
    if (tokenizer.token_text(static_cast<TokenId>(id)) == text) return static_cast<TokenId>(id);
  }
  throw std::invalid_argument("no token '" + std::string(text) + "'");
}

inline std::vector<TokenId> ids_of(const Tokenizer& tokenizer,
                                   const std::vector<std::string_view>& texts) {
  std::vector<TokenId> ids;
  for (const std::string_view text : texts) ids.push_back(id_of(tokenizer, text));
  return ids;
}

inline TokenId byte_id(std::uint8_t byte) { return 3 + byte; }  // in spm_source with byte tokens

}  // namespace flux::testing
