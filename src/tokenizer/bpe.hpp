#pragma once
// Byte-level BPE: merge ranks from tokenizer.ggml.merges and the merge loop over one
// pre-tokenized word (llama.cpp's llm_tokenizer_bpe_session).

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tokenizer/vocab.hpp"

namespace flux::tokenization {

// Every string that can appear as a symbol during merging gets a "piece id": a token's own id
// when the string is a token, otherwise an id past the vocabulary. Merges are then looked up by a
// pair of integers instead of by concatenating strings in the hot loop.
using PieceId = std::int32_t;
inline constexpr PieceId kNoPiece = -1;

class BpeMerges {
 public:
  // merges[i] is "left right" with rank i; the first occurrence of a pair wins, as in llama.cpp.
  BpeMerges(const Vocab& vocab, std::span<const std::string> merges);

  struct Merge {
    std::int32_t rank;
    PieceId result;
  };
  const Merge* find(PieceId left, PieceId right) const;
  PieceId piece_of(std::string_view text) const;
  bool is_token(PieceId piece) const { return piece >= 0 && piece < vocab_size_; }

 private:
  PieceId intern(std::string_view text);

  const Vocab* vocab_;
  PieceId vocab_size_;
  TextToToken extra_pieces_;  // merge operands and results that are not tokens themselves
  std::unordered_map<std::uint64_t, Merge> merges_;
};

// Merges one word at a time; keeps its buffers between words so long texts do not reallocate.
class BpeWordEncoder {
 public:
  BpeWordEncoder(const Vocab& vocab, const BpeMerges& merges) : vocab_(vocab), merges_(merges) {}

  // `word` is in byte-level spelling (each byte mapped to its GPT-2 code point).
  void encode(std::string_view word, std::vector<TokenId>& out);

 private:
  struct Symbol {
    std::size_t offset;
    std::size_t length;  // 0 once merged into its left neighbour
    PieceId piece;
    int prev;
    int next;
  };
  struct Candidate {
    std::int32_t rank;
    int left;
    int right;
    std::size_t left_length;  // lengths when queued: a change means the candidate is stale
    std::size_t right_length;
    PieceId result;
  };

  void queue_pair(int left, int right);
  void emit(std::string_view word, const Symbol& symbol, std::vector<TokenId>& out) const;

  const Vocab& vocab_;
  const BpeMerges& merges_;
  std::vector<Symbol> symbols_;
  std::vector<Candidate> queue_;  // a binary heap, best (lowest rank, leftmost) on top
};

}  // namespace flux::tokenization
