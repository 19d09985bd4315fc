#include "tokenizer/special_tokens.hpp"

#include <array>

namespace flux::tokenization {

namespace {

// The C locale's isspace, which llama.cpp uses for the strip attributes.
bool is_ascii_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

// Cuts every occurrence of one special token out of one raw-text fragment.
void cut_token(const Vocab& vocab, TokenId token, std::string_view text, const Fragment& fragment,
               std::vector<Fragment>& out) {
  const std::string_view token_text = vocab.tokens[token].text;
  const bool strip_left = vocab.has_attr(token, token_attr::kStripLeft);
  const bool strip_right = vocab.has_attr(token, token_attr::kStripRight);

  std::size_t offset = fragment.offset;
  std::size_t end = fragment.offset + fragment.length;
  while (offset < end) {
    const std::size_t match = text.substr(0, end).find(token_text, offset);
    if (match == std::string_view::npos) break;

    std::size_t left_end = match;
    if (strip_left) {
      while (left_end > offset && is_ascii_space(text[left_end - 1])) --left_end;
    }
    if (left_end > offset) out.push_back({kNoToken, offset, left_end - offset});
    out.push_back({token, 0, 0});

    offset = match + token_text.size();
    if (strip_right) {
      while (offset < end && is_ascii_space(text[offset])) ++offset;
    }
  }
  if (offset < end) out.push_back({kNoToken, offset, end - offset});
}

}  // namespace

std::vector<Fragment> split_on_special_tokens(const Vocab& vocab, std::string_view text,
                                              bool parse_special) {
  std::vector<Fragment> fragments;
  if (text.empty()) return fragments;
  fragments.push_back({kNoToken, 0, text.size()});

  // A token whose first byte is nowhere in the text cannot match: skipping those keeps vocabularies
  // with thousands of added tokens cheap on short prompts.
  std::array<bool, 256> byte_present{};
  for (const char c : text) byte_present[static_cast<unsigned char>(c)] = true;

  std::vector<Fragment> next;
  for (const TokenId token : vocab.special_tokens_longest_first) {
    if (!parse_special && vocab.has_attr(token, token_attr::kControl | token_attr::kUnknown)) {
      continue;
    }
    const std::string_view token_text = vocab.tokens[token].text;
    if (!byte_present[static_cast<unsigned char>(token_text.front())]) continue;

    next.clear();
    for (const Fragment& fragment : fragments) {
      if (fragment.is_token()) next.push_back(fragment);
      else cut_token(vocab, token, text, fragment, next);
    }
    fragments.swap(next);
  }
  return fragments;
}

}  // namespace flux::tokenization
