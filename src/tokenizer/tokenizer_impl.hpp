#pragma once
// The state behind flux::Tokenizer, shared by tokenizer.cpp (encoding) and detokenizer.cpp.

#include <memory>

#include "tokenizer/bpe.hpp"
#include "tokenizer/pretokenize.hpp"
#include "tokenizer/tokenizer.hpp"
#include "tokenizer/vocab.hpp"

namespace flux {

struct Tokenizer::Impl {
  tokenization::Vocab vocab;
  // Byte-level BPE only. BpeMerges points at `vocab`; Impl lives on the heap and never moves.
  std::unique_ptr<tokenization::BpeMerges> merges;
  std::unique_ptr<tokenization::PreTokenizer> pre_tokenizer;

  // Throws InvalidArgument naming the id when it is not in the vocabulary.
  const tokenization::TokenInfo& token(TokenId id) const;
};

}  // namespace flux
