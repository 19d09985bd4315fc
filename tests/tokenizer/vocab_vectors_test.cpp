// llama.cpp's tokenizer test vectors (tests/test-tokenizer-0.cpp): for every ggml-vocab-*.gguf in
// ../shared/vocab, each input of the .inp file must encode (add_special=false,
// parse_special=false) to the ids on the matching line of the .out file, and decode back.

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "formats/gguf.hpp"
#include "test_support.hpp"
#include "tokenizer/tokenizer.hpp"
#include "tokenizer/unicode.hpp"

namespace flux {
namespace {

struct VectorCase {
  std::string input;
  std::vector<TokenId> expected;
};

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path.string());
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::filesystem::path vocab_path(const std::string& name) {
  return testing::shared_dir() / "vocab" / ("ggml-vocab-" + name + ".gguf");
}

// Reads the files exactly as test-tokenizer-0 does: inputs are separated by
// "\n__ggml_vocab_test__\n" and output lines are stripped and split on spaces.
std::vector<VectorCase> read_vectors(const std::filesystem::path& vocab) {
  const std::string inputs = read_file(vocab.string() + ".inp");
  const std::string separator = "\n__ggml_vocab_test__\n";
  std::vector<std::string> texts;
  for (std::size_t pos = 0; pos < inputs.size();) {
    const std::size_t next = inputs.find(separator, pos);
    if (next == std::string::npos) {
      texts.push_back(inputs.substr(pos));
      break;
    }
    texts.push_back(inputs.substr(pos, next - pos));
    pos = next + separator.size();
  }

  std::istringstream outputs(read_file(vocab.string() + ".out"));
  std::vector<VectorCase> cases;
  std::size_t index = 0;
  for (std::string line; std::getline(outputs, line); ++index) {
    if (index >= texts.size()) {
      throw std::runtime_error("more outputs than inputs in " + vocab.string());
    }
    VectorCase vector_case{texts[index], {}};
    std::istringstream ids(line);
    for (long long id = 0; ids >> id;) vector_case.expected.push_back(static_cast<TokenId>(id));
    cases.push_back(std::move(vector_case));
  }
  if (cases.size() != texts.size()) throw std::runtime_error("inputs and outputs differ in count");
  return cases;
}

std::string printable(std::string_view text) {
  std::string out;
  for (const char c : text) {
    if (c == '\n') out += "\\n";
    else if (c == '\t') out += "\\t";
    else out += c;
  }
  return out;
}

// HF's clean_up_tokenization_spaces as the BPE vocabularies here apply it on decode: the only
// reason their inputs do not come back unchanged. Written independently of the library's version
// to serve as an oracle: " ?", " !", " .", " ," and " 's", " 'm", " 're", " 've" lose the space,
// and a lone apostrophe between two spaces loses both.
std::string expected_after_clean_up(std::string text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (i > 0 && text[i - 1] == ' ' && std::string_view("?!.,").find(c) != std::string_view::npos) {
      out.pop_back();
    }
    out.push_back(c);
  }
  text.swap(out);
  out.clear();
  for (std::size_t i = 0; i < text.size(); ++i) {
    const bool lone_apostrophe =
        text[i] == '\'' && i > 0 && i + 1 < text.size() && text[i - 1] == ' ' && text[i + 1] == ' ';
    if (lone_apostrophe) {
      out.pop_back();
      out.push_back('\'');
      text[i + 1] = '\0';
      ++i;
      continue;
    }
    out.push_back(text[i]);
  }
  text.swap(out);
  out.clear();
  for (std::size_t i = 0; i < text.size(); ++i) {
    const std::string_view rest = std::string_view(text).substr(i);
    if (i > 0 && text[i - 1] == ' ' &&
        (rest.starts_with("'s") || rest.starts_with("'m") || rest.starts_with("'re") ||
         rest.starts_with("'ve"))) {
      out.pop_back();
    }
    out.push_back(text[i]);
  }
  return out;
}

struct LoadedVocab {
  Tokenizer tokenizer;
  std::vector<VectorCase> cases;
  double load_seconds;
};

LoadedVocab load_vocab(const std::string& name) {
  const auto path = vocab_path(name);
  if (!std::filesystem::exists(path)) {
    throw std::runtime_error(path.string() + " is missing (set FLUX_SHARED_DIR)");
  }
  const auto start = std::chrono::steady_clock::now();
  const gguf::File file = gguf::File::open(path);
  Tokenizer tokenizer = Tokenizer::from_gguf(file.metadata());
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return {std::move(tokenizer), read_vectors(path), seconds};
}

class VocabVectorsTest : public ::testing::TestWithParam<std::string> {
 protected:
  // Each vocabulary is loaded once for all the tests of the suite (sanitizer builds are slow).
  static void TearDownTestSuite() { loaded_.clear(); }

  void SetUp() override {
    auto it = loaded_.find(GetParam());
    if (it == loaded_.end()) it = loaded_.emplace(GetParam(), load_vocab(GetParam())).first;
    tokenizer_ = &it->second.tokenizer;
    cases_ = &it->second.cases;
    load_seconds_ = it->second.load_seconds;
    ASSERT_FALSE(cases_->empty());
  }

  const std::vector<VectorCase>& cases() const { return *cases_; }

  static inline std::map<std::string, LoadedVocab> loaded_;
  const Tokenizer* tokenizer_ = nullptr;
  const std::vector<VectorCase>* cases_ = nullptr;
  double load_seconds_ = 0;
};

TEST_P(VocabVectorsTest, EncodesEveryInputToLlamaCppIds) {
  for (std::size_t i = 0; i < cases().size(); ++i) {
    EXPECT_EQ(tokenizer_->encode(cases()[i].input, false, false), cases()[i].expected)
        << "vector " << i << ": '" << printable(cases()[i].input) << "'";
  }
}

// None of the inputs spell a special token, so parsing special tokens changes nothing.
TEST_P(VocabVectorsTest, ParsingSpecialTokensChangesNothingWithoutMarkers) {
  for (std::size_t i = 0; i < cases().size(); ++i) {
    EXPECT_EQ(tokenizer_->encode(cases()[i].input, false, true), cases()[i].expected)
        << "vector " << i << ": '" << printable(cases()[i].input) << "'";
  }
}

// Decoding the expected ids (as common_detokenize does: special tokens rendered) gives the input
// back; vocabularies with clean_up_tokenization_spaces give it back with that clean-up applied.
TEST_P(VocabVectorsTest, DecodesExpectedIdsBackToTheInput) {
  const bool cleans_spaces = GetParam() == "gpt-2" || GetParam() == "falcon" ||
                             GetParam() == "starcoder";
  std::size_t changed_by_clean_up = 0;
  for (std::size_t i = 0; i < cases().size(); ++i) {
    const std::string& input = cases()[i].input;
    const std::string expected = cleans_spaces ? expected_after_clean_up(input) : input;
    changed_by_clean_up += expected != input;
    EXPECT_EQ(tokenizer_->decode(cases()[i].expected, false, true), expected)
        << "vector " << i << ": '" << printable(input) << "'";
  }
  if (cleans_spaces) {
    EXPECT_GT(changed_by_clean_up, 0u);  // the oracle is exercised
  }
}

// llama.cpp's test tokenizes from every hardware thread at once; the tokenizer is shared const.
TEST_P(VocabVectorsTest, EncodesConcurrently) {
  std::vector<std::vector<std::vector<TokenId>>> results(4);
  std::vector<std::thread> threads;
  for (auto& result : results) {
    threads.emplace_back([&] {
      for (const VectorCase& vector_case : cases()) {
        result.push_back(tokenizer_->encode(vector_case.input, false, false));
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (const auto& result : results) {
    ASSERT_EQ(result.size(), cases().size());
    for (std::size_t i = 0; i < result.size(); ++i) EXPECT_EQ(result[i], cases()[i].expected);
  }
}

// Arbitrary bytes (invalid UTF-8, stray special-token text) must never crash or throw, and
// streaming them back must give valid UTF-8.
TEST_P(VocabVectorsTest, ArbitraryBytesEncodeAndDecodeSafely) {
  const std::vector<std::string> fragments = {
      "<s>", "</s>", "<|endoftext|>", "<|user|>", " ", "\n", "\xC3", "\xA9", "\xE2\x82",
      "\xF0\x9F\xA6\x99", "\xED\xA0\x80", "\xC0\x80", "\xFF", "a", "'s", "12", "\xE4\xBD\xA0"};
  std::mt19937 random(42);
  for (int round = 0; round < 300; ++round) {
    std::string text;
    const int parts = static_cast<int>(random() % 12);
    for (int i = 0; i < parts; ++i) {
      if (random() % 3 == 0) text.push_back(static_cast<char>(random() % 256));
      else text += fragments[random() % fragments.size()];
    }
    for (const bool parse_special : {false, true}) {
      const std::vector<TokenId> ids = tokenizer_->encode(text, true, parse_special);
      for (const TokenId id : ids) {
        ASSERT_GE(id, 0);
        ASSERT_LT(static_cast<std::size_t>(id), tokenizer_->vocab_size());
      }
      EXPECT_NO_THROW(tokenizer_->decode(ids, true, true));
      StreamDecoder stream(*tokenizer_, parse_special);
      std::string streamed;
      for (const TokenId id : ids) streamed += stream.push(id);
      streamed += stream.flush();
      EXPECT_EQ(tokenization::make_valid_utf8(streamed), streamed);
    }
  }
}

TEST_P(VocabVectorsTest, LoadsQuickly) {
  std::cout << "[ timing   ] " << GetParam() << ": " << tokenizer_->vocab_size()
            << " tokens loaded in " << load_seconds_ * 1000 << " ms\n";
  EXPECT_LT(load_seconds_, 5.0);  // generous: sanitizer builds are several times slower
}

INSTANTIATE_TEST_SUITE_P(LlamaCppVocabularies, VocabVectorsTest,
                         ::testing::Values("llama-spm", "phi-3", "gpt-2", "falcon", "starcoder",
                                           "deepseek-llm"),
                         [](const auto& info) {
                           std::string name = info.param;
                           for (char& c : name) {
                             if (c == '-') c = '_';
                           }
                           return name;
                         });

TEST(VocabVectorsFiles, EveryVocabInTheSharedFolderIsCovered) {
  std::vector<std::string> found;
  for (const auto& entry : std::filesystem::directory_iterator(testing::shared_dir() / "vocab")) {
    const std::string name = entry.path().filename().string();
    if (name.starts_with("ggml-vocab-") && name.ends_with(".gguf")) {
      found.push_back(name.substr(11, name.size() - 11 - 5));
    }
  }
  for (const std::string& name : found) {
    EXPECT_TRUE(name == "llama-spm" || name == "phi-3" || name == "gpt-2" || name == "falcon" ||
                name == "starcoder" || name == "deepseek-llm")
        << "ggml-vocab-" << name << ".gguf has no test instance";
  }
}

// Encoding is near-linear: a long text (merges via a priority queue, regexes via PCRE2's JIT).
TEST(VocabVectorsPerformance, LongTextEncodesQuickly) {
  const LoadedVocab gpt2 = load_vocab("gpt-2");
  const Tokenizer& tokenizer = gpt2.tokenizer;
  std::string text;
  for (const VectorCase& vector_case : gpt2.cases) text += vector_case.input;
  const std::string unit = text;
  while (text.size() < 500'000) text += unit;
  const auto start = std::chrono::steady_clock::now();
  const std::vector<TokenId> ids = tokenizer.encode(text, false, false);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::cout << "[ timing   ] " << text.size() << " bytes -> " << ids.size() << " tokens in "
            << seconds * 1000 << " ms\n";
  EXPECT_LT(seconds, 10.0);
  EXPECT_EQ(tokenizer.decode(ids, false, true), expected_after_clean_up(text));
}

}  // namespace
}  // namespace flux
