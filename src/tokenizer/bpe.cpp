#include "tokenizer/bpe.hpp"

#include <algorithm>

#include "tokenizer/unicode.hpp"

namespace flux::tokenization {

namespace {

std::uint64_t pair_key(PieceId left, PieceId right) {
  return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(left)) << 32) |
         static_cast<std::uint32_t>(right);
}

// Heap order: the candidate with the lowest rank, then the leftmost, is merged first.
bool merges_later(const auto& a, const auto& b) {
  return a.rank > b.rank || (a.rank == b.rank && a.left > b.left);
}

}  // namespace

BpeMerges::BpeMerges(const Vocab& vocab, std::span<const std::string> merges)
    : vocab_(&vocab), vocab_size_(static_cast<PieceId>(vocab.size())) {
  merges_.reserve(merges.size());
  std::string joined;
  for (std::size_t rank = 0; rank < merges.size(); ++rank) {
    const std::string_view merge = merges[rank];
    // Split at the first space after the first character, so a left operand may itself be " ".
    const std::size_t space = merge.find(' ', 1);
    if (space == std::string_view::npos) continue;  // llama.cpp stores an unusable ("", "") pair
    const std::string_view left = merge.substr(0, space);
    const std::string_view right = merge.substr(space + 1);
    joined.assign(left).append(right);
    const PieceId left_piece = intern(left);
    const PieceId right_piece = intern(right);
    const PieceId result = intern(joined);
    merges_.try_emplace(pair_key(left_piece, right_piece),
                        Merge{static_cast<std::int32_t>(rank), result});
  }
}

PieceId BpeMerges::intern(std::string_view text) {
  if (const TokenId token = vocab_->find(text); token != kNoToken) return token;
  const auto [it, inserted] = extra_pieces_.try_emplace(
      std::string(text), vocab_size_ + static_cast<PieceId>(extra_pieces_.size()));
  return it->second;
}

PieceId BpeMerges::piece_of(std::string_view text) const {
  if (const TokenId token = vocab_->find(text); token != kNoToken) return token;
  const auto it = extra_pieces_.find(text);
  return it == extra_pieces_.end() ? kNoPiece : it->second;
}

const BpeMerges::Merge* BpeMerges::find(PieceId left, PieceId right) const {
  if (left == kNoPiece || right == kNoPiece) return nullptr;
  const auto it = merges_.find(pair_key(left, right));
  return it == merges_.end() ? nullptr : &it->second;
}

void BpeWordEncoder::queue_pair(int left, int right) {
  if (left < 0 || right < 0) return;
  const Symbol& l = symbols_[left];
  const Symbol& r = symbols_[right];
  const BpeMerges::Merge* merge = merges_.find(l.piece, r.piece);
  if (merge == nullptr) return;
  queue_.push_back({merge->rank, left, right, l.length, r.length, merge->result});
  std::push_heap(queue_.begin(), queue_.end(), merges_later<Candidate, Candidate>);
}

void BpeWordEncoder::emit(std::string_view word, const Symbol& symbol,
                          std::vector<TokenId>& out) const {
  if (merges_.is_token(symbol.piece)) {
    out.push_back(symbol.piece);
    return;
  }
  // Not a token: llama.cpp falls back to single-byte tokens of the byte-level spelling and drops
  // the bytes that are not tokens either.
  const std::string_view text = word.substr(symbol.offset, symbol.length);
  for (std::size_t i = 0; i < text.size(); ++i) {
    const TokenId token = vocab_.find(text.substr(i, 1));
    if (token != kNoToken) out.push_back(token);
  }
}

void BpeWordEncoder::encode(std::string_view word, std::vector<TokenId>& out) {
  if (word.empty()) return;
  if (vocab_.ignore_merges) {
    if (const TokenId whole = vocab_.find(word); whole != kNoToken) {
      out.push_back(whole);
      return;
    }
  }

  symbols_.clear();
  queue_.clear();
  for (std::size_t offset = 0; offset < word.size();) {
    const std::size_t length = std::min(
        word.size() - offset, utf8_sequence_length(static_cast<unsigned char>(word[offset])));
    const int index = static_cast<int>(symbols_.size());
    symbols_.push_back({offset, length, merges_.piece_of(word.substr(offset, length)), index - 1,
                        offset + length == word.size() ? -1 : index + 1});
    offset += length;
  }
  for (int i = 1; i < static_cast<int>(symbols_.size()); ++i) queue_pair(i - 1, i);

  while (!queue_.empty()) {
    std::pop_heap(queue_.begin(), queue_.end(), merges_later<Candidate, Candidate>);
    const Candidate best = queue_.back();
    queue_.pop_back();

    Symbol& left = symbols_[best.left];
    Symbol& right = symbols_[best.right];
    if (left.length == 0 || right.length == 0 || left.length != best.left_length ||
        right.length != best.right_length) {
      continue;  // one side was merged into something else since this pair was queued
    }
    left.length += right.length;
    left.piece = best.result;
    right.length = 0;
    left.next = right.next;
    if (right.next >= 0) symbols_[right.next].prev = best.left;

    queue_pair(left.prev, best.left);
    queue_pair(best.left, left.next);
  }

  for (const Symbol& symbol : symbols_) {
    if (symbol.length > 0) emit(word, symbol, out);
  }
}

}  // namespace flux::tokenization
