#pragma once
// SentencePiece-style BPE as llama.cpp runs it (llm_tokenizer_spm): start from single UTF-8
// characters, repeatedly merge the adjacent pair whose concatenation is the vocabulary entry with
// the highest score, and spell whatever is left that is not a token with byte tokens <0xNN>.

#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/vocab.hpp"

namespace flux::tokenization {

// Replaces every ' ' with SentencePiece's visible space U+2581 "▁".
std::string escape_spaces(std::string_view text);

class SpmEncoder {
 public:
  explicit SpmEncoder(const Vocab& vocab) : vocab_(vocab) {}

  // `text` already has its spaces escaped (and the leading space added when the caller wants it).
  void encode(std::string_view text, std::vector<TokenId>& out);

 private:
  struct Symbol {
    std::size_t offset;
    std::size_t length;  // 0 once merged into its left neighbour
    int prev;
    int next;
  };
  struct Candidate {
    float score;
    int left;
    int right;
    std::size_t length;  // bytes of the pair when queued: a change means it is stale
  };

  void queue_pair(std::string_view text, int left, int right);
  void emit(std::string_view piece, std::vector<TokenId>& out) const;

  const Vocab& vocab_;
  std::vector<Symbol> symbols_;
  std::vector<Candidate> queue_;  // a binary heap, best (highest score, leftmost) on top
};

}  // namespace flux::tokenization
