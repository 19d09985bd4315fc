#pragma once
// Byte-level BPE never merges across "words": a pre-tokenizer first cuts the text with the regexes
// that tokenizer.ggml.pre names. Each regex of a set is applied in turn to every piece the previous
// ones produced; matches and the text between matches both become pieces (HF's "Isolated" split).
//
// The regexes are llama.cpp's, run by PCRE2 (UTF + UCP). One adaptation makes PCRE2 agree with
// llama.cpp's own Unicode tables: `\s` means exactly llama.cpp's whitespace set (PCRE2's also
// holds U+180E).

#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

struct pcre2_real_code_8;  // PCRE2's compiled pattern; pcre2.h stays private to pretokenize.cpp

namespace flux::tokenization {

enum class RegexSet {
  Default, Gpt2, Llama3, Qwen2, Qwen35, DeepseekLlm, DeepseekCoder, Falcon, Starcoder, Gpt4o,
  Tekken, SeedCoder, BailingMoe, Bloom, Viking, MiniCpm5,
};

// What a tokenizer.ggml.pre name selects, including the vocab flags llama.cpp ties to the name.
struct PreTokenizerTraits {
  RegexSet regex_set = RegexSet::Default;
  bool clean_spaces = true;    // llama.cpp's BPE default; many newer models turn it off
  bool ignore_merges = false;
  bool adds_bos = false;       // the name implies add_bos (the file's add_bos_token still wins)
  bool has_no_bos = false;     // ChatGLM: no BOS unless the file names one
};

// nullptr for a name llama.cpp does not know or FluxInfer does not implement.
const PreTokenizerTraits* find_pre_tokenizer(std::string_view name);

// The patterns of a set, in llama.cpp's dialect, in the order they apply.
std::span<const std::string_view> regex_patterns(RegexSet set);

class PreTokenizer {
 public:
  explicit PreTokenizer(RegexSet regex_set);
  // Patterns in llama.cpp's dialect (see adapt_pattern); used by tests.
  explicit PreTokenizer(std::span<const std::string_view> patterns);
  PreTokenizer(PreTokenizer&&) noexcept;
  PreTokenizer& operator=(PreTokenizer&&) noexcept;
  ~PreTokenizer();

  // Cuts text into words. The text is first re-encoded the way llama.cpp reads it: each byte that
  // does not start a well-formed-looking sequence becomes U+FFFD. Words are returned in that
  // re-encoded form; concatenated, they give it back.
  std::vector<std::string> split(std::string_view text) const;

  // The PCRE2 pattern for one of llama.cpp's patterns (exposed for tests).
  static std::string adapt_pattern(std::string_view llama_pattern);

 private:
  struct CodeDeleter {
    void operator()(pcre2_real_code_8* code) const noexcept;
  };
  std::vector<std::unique_ptr<pcre2_real_code_8, CodeDeleter>> regexes_;
};

}  // namespace flux::tokenization
