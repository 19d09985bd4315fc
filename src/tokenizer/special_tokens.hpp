#pragma once
// Before any text is tokenized, special tokens written in it are cut out and emitted as-is
// (llama.cpp's tokenizer_st_partition). User-defined tokens are always cut out; control and
// unknown tokens only when the caller asks to parse special tokens, so that user text such as
// "<|im_end|>" cannot forge a chat marker by default.

#include <string_view>
#include <vector>

#include "tokenizer/vocab.hpp"

namespace flux::tokenization {

struct Fragment {
  TokenId token = kNoToken;  // a special token, or kNoToken for raw text
  std::size_t offset = 0;    // raw text: its bytes in the input
  std::size_t length = 0;

  bool is_token() const { return token != kNoToken; }
};

// Longer special tokens are cut out first, each at all its occurrences, as llama.cpp does;
// whitespace next to tokens with the strip-left/strip-right attribute is dropped.
std::vector<Fragment> split_on_special_tokens(const Vocab& vocab, std::string_view text,
                                              bool parse_special);

}  // namespace flux::tokenization
