#include "tokenizer/spm.hpp"

#include <algorithm>

#include "tokenizer/unicode.hpp"

namespace flux::tokenization {

namespace {

constexpr std::string_view kVisibleSpace = "\xE2\x96\x81";  // U+2581

// Heap order: the highest score, then the leftmost pair, is merged first.
bool merges_later(const auto& a, const auto& b) {
  return a.score < b.score || (a.score == b.score && a.left > b.left);
}

}  // namespace

std::string escape_spaces(std::string_view text) {
  std::string out;
  out.reserve(text.size() + text.size() / 4);
  for (const char c : text) {
    if (c == ' ') out.append(kVisibleSpace);
    else out.push_back(c);
  }
  return out;
}

void SpmEncoder::queue_pair(std::string_view text, int left, int right) {
  if (left < 0 || right < 0) return;
  // Neighbouring symbols are adjacent in the text, so the pair is one contiguous slice.
  const std::size_t length = symbols_[left].length + symbols_[right].length;
  const TokenId token = vocab_.find(text.substr(symbols_[left].offset, length));
  if (token == kNoToken) return;
  queue_.push_back({vocab_.tokens[token].score, left, right, length});
  std::push_heap(queue_.begin(), queue_.end(), merges_later<Candidate, Candidate>);
}

void SpmEncoder::emit(std::string_view piece, std::vector<TokenId>& out) const {
  if (const TokenId token = vocab_.find(piece); token != kNoToken) {
    out.push_back(token);
    return;
  }
  // Only single characters can get here: every merged symbol is a vocabulary entry. (llama.cpp's
  // rev_merge re-segmentation therefore never triggers and is not reproduced.)
  for (const char c : piece) {
    const TokenId byte = vocab_.byte_token(static_cast<std::uint8_t>(c));
    if (byte != kNoToken) {
      out.push_back(byte);
    } else if (vocab_.ids.unk != kNoToken) {
      out.push_back(vocab_.ids.unk);  // a vocabulary without byte tokens; llama.cpp would throw
    }
  }
}

void SpmEncoder::encode(std::string_view text, std::vector<TokenId>& out) {
  if (text.empty()) return;
  symbols_.clear();
  queue_.clear();
  for (std::size_t offset = 0; offset < text.size();) {
    const std::size_t length = std::min(
        text.size() - offset, utf8_sequence_length(static_cast<unsigned char>(text[offset])));
    const int index = static_cast<int>(symbols_.size());
    const int next = offset + length == text.size() ? -1 : index + 1;
    symbols_.push_back({offset, length, index - 1, next});
    offset += length;
  }
  for (int i = 1; i < static_cast<int>(symbols_.size()); ++i) queue_pair(text, i - 1, i);

  while (!queue_.empty()) {
    std::pop_heap(queue_.begin(), queue_.end(), merges_later<Candidate, Candidate>);
    const Candidate best = queue_.back();
    queue_.pop_back();

    Symbol& left = symbols_[best.left];
    Symbol& right = symbols_[best.right];
    if (left.length == 0 || right.length == 0 || left.length + right.length != best.length) {
      continue;  // one side was merged into something else since this pair was queued
    }
    left.length += right.length;
    right.length = 0;
    left.next = right.next;
    if (right.next >= 0) symbols_[right.next].prev = best.left;

    queue_pair(text, left.prev, best.left);
    queue_pair(text, best.left, left.next);
  }

  for (int i = 0; i != -1; i = symbols_[i].next) {
    emit(text.substr(symbols_[i].offset, symbols_[i].length), out);
  }
}

}  // namespace flux::tokenization
