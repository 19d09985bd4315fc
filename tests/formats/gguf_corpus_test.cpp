// Robustness corpus: every truncation of a real GGUF file and thousands of deterministic mutations
// of it must either parse or throw FormatError: never another exception, a crash, or (under ASan)
// a read outside the bytes. The exact-size copies let AddressSanitizer see any overread.

#include <algorithm>
#include <array>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "formats/gguf.hpp"
#include "gguf_test_bytes.hpp"
#include "test_support.hpp"

namespace flux::gguf {
namespace {

struct Outcome {
  int parsed = 0;
  int rejected = 0;
  std::uint64_t touched = 0;  // keeps the walk from being optimised away
};

// Touches everything a successful parse returned, so the walk itself would trip ASan on a span
// that points outside the input.
std::uint64_t walk(const Value& value) {
  if (const auto* array = std::get_if<Array>(&value.data)) {
    std::uint64_t sum = array->items.size();
    for (const Value& item : array->items) sum += walk(item);
    return sum;
  }
  if (const auto* text = std::get_if<std::string>(&value.data)) return text->size();
  return 1;
}

void parse_and_check(std::span<const std::byte> bytes, const std::string& label, Outcome& outcome) {
  try {
    const File file = File::parse(bytes, "corpus.gguf");
    std::uint64_t touched = 0;
    for (const auto& [key, value] : file.metadata().entries()) touched += key.size() + walk(value);
    for (const TensorInfo& t : file.tensors()) {
      ASSERT_GE(t.data.data(), bytes.data()) << label;
      ASSERT_LE(t.data.data() + t.data.size(), bytes.data() + bytes.size()) << label;
      ASSERT_EQ(t.data.size(), t.n_bytes) << label;
      if (!t.data.empty()) touched += static_cast<std::uint64_t>(t.data.front() ^ t.data.back());
    }
    outcome.touched += touched;
    ++outcome.parsed;
  } catch (const FormatError& e) {
    ASSERT_EQ(std::string(e.what()).rfind("corpus.gguf: offset ", 0), 0u)
        << label << ": " << e.what();
    ++outcome.rejected;
  } catch (const std::exception& e) {
    FAIL() << label << ": expected FormatError, got: " << e.what();
  }
}

class StoriesCorpus : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto path = flux::testing::shared_dir() / "models" / "stories260K.gguf";
    if (!std::filesystem::exists(path)) GTEST_SKIP() << "missing " << path;
    original_ = testing::read_whole_file(path);
    data_offset_ = File::parse(original_, "stories").data_offset();
  }

  std::vector<std::byte> original_;
  std::uint64_t data_offset_ = 0;
};

TEST_F(StoriesCorpus, EveryTruncationIsRejectedCleanly) {
  Outcome outcome;
  std::vector<std::size_t> lengths;
  // Every length through the header and tensor infos, then a stride through the tensor data.
  for (std::size_t n = 0; n <= data_offset_; ++n) lengths.push_back(n);
  for (std::size_t n = data_offset_; n < original_.size(); n += 4093) lengths.push_back(n);
  lengths.push_back(original_.size() - 1);

  for (const std::size_t n : lengths) {
    const std::vector<std::byte> prefix(original_.begin(),
                                        original_.begin() + static_cast<std::ptrdiff_t>(n));
    parse_and_check(prefix, fmt::format("truncated to {} bytes", n), outcome);
    if (HasFatalFailure()) return;
  }
  // The last tensor ends exactly at the end of the file, so every proper prefix is malformed.
  EXPECT_EQ(outcome.parsed, 0);
  EXPECT_EQ(outcome.rejected, static_cast<int>(lengths.size()));
}

// One random edit of the bytes, biased towards the header where the parser's decisions are made.
void mutate(std::vector<std::byte>& bytes, std::uint64_t header_end, std::mt19937_64& rng) {
  static constexpr std::array<std::uint64_t, 12> kInteresting = {0,
                                                                 1,
                                                                 2,
                                                                 4,
                                                                 5,
                                                                 9,
                                                                 13,
                                                                 0x7f,
                                                                 0xffffffffull,
                                                                 0x80000000ull,
                                                                 0x7fffffffffffffffull,
                                                                 0xffffffffffffffffull};
  const bool in_header = rng() % 10 != 0;
  const std::uint64_t limit = in_header ? header_end : bytes.size();
  const std::size_t at = rng() % limit;
  switch (rng() % 5) {
    case 0:  // flip one bit
      bytes[at] ^= std::byte(1u << (rng() % 8));
      break;
    case 1:  // random byte
      bytes[at] = std::byte(static_cast<std::uint8_t>(rng()));
      break;
    case 2: {  // an interesting 32-bit value (types, dims counts)
      const auto v = static_cast<std::uint32_t>(kInteresting[rng() % kInteresting.size()]);
      std::memcpy(bytes.data() + at, &v, std::min<std::size_t>(4, bytes.size() - at));
      break;
    }
    case 3: {  // an interesting 64-bit value (counts, lengths, dims, offsets)
      const std::uint64_t v = kInteresting[rng() % kInteresting.size()] + (rng() % 3) - 1;
      std::memcpy(bytes.data() + at, &v, std::min<std::size_t>(8, bytes.size() - at));
      break;
    }
    default: {  // copy a few bytes from elsewhere in the header
      const std::size_t from = rng() % header_end;
      const std::size_t n =
          std::min<std::size_t>({1 + rng() % 16, bytes.size() - at, bytes.size() - from});
      std::memmove(bytes.data() + at, bytes.data() + from, n);
      break;
    }
  }
}

TEST_F(StoriesCorpus, MutatedCopiesParseOrAreRejectedCleanly) {
  constexpr int kCases = 4000;
  std::mt19937_64 rng(0x5eed'f1u);  // fixed: failures must reproduce
  Outcome outcome;
  std::vector<std::byte> work = original_;
  for (int i = 0; i < kCases; ++i) {
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) mutate(work, data_offset_, rng);
    parse_and_check(work, fmt::format("mutation case {}", i), outcome);
    if (HasFatalFailure()) return;
    // Restore only the header; edits beyond it are tensor bytes the parser never interprets.
    std::copy(original_.begin(), original_.begin() + static_cast<std::ptrdiff_t>(data_offset_),
              work.begin());
  }
  RecordProperty("parsed", outcome.parsed);
  RecordProperty("rejected", outcome.rejected);
  // Both outcomes must occur, or the mutations are not exercising the parser.
  EXPECT_GT(outcome.parsed, kCases / 20);
  EXPECT_GT(outcome.rejected, kCases / 20);
}

}  // namespace
}  // namespace flux::gguf
