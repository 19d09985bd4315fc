// Running a regex set with PCRE2 (PCRE2_CODE_UNIT_WIDTH=8 comes from CMake).

#include "tokenizer/pretokenize.hpp"

#include <pcre2.h>

#include <array>
#include <utility>

#include "base/error.hpp"
#include "tokenizer/unicode.hpp"

namespace flux::tokenization {

namespace {

// Exactly the code points llama.cpp's tables call whitespace (PCRE2's \s adds U+180E).
constexpr std::string_view kWhitespaceMembers =
    R"re(\t\n\x0B\f\r\x20\x{85}\x{A0}\x{1680}\x{2000}-\x{200A})re"
    R"re(\x{2028}\x{2029}\x{202F}\x{205F}\x{3000})re";

// Surrogates decode (leniently) but are not valid UTF-8 for PCRE2; a private-use code point
// stands in for them while matching: both are "other" to every class the regexes use.
constexpr char32_t kSurrogateStandIn = 0xE000;

struct MatchDataDeleter {
  void operator()(pcre2_match_data* data) const noexcept { pcre2_match_data_free(data); }
};
struct MatchContextDeleter {
  void operator()(pcre2_match_context* context) const noexcept {
    pcre2_match_context_free(context);
  }
};
struct JitStackDeleter {
  void operator()(pcre2_jit_stack* stack) const noexcept { pcre2_jit_stack_free(stack); }
};

std::string pcre2_message(int error_code) {
  std::array<PCRE2_UCHAR, 256> buffer{};
  pcre2_get_error_message(error_code, buffer.data(), buffer.size());
  return std::string(reinterpret_cast<const char*>(buffer.data()));
}

// Per-call matching state: regexes are shared read-only between threads, this is not.
class Matcher {
 public:
  Matcher() : data_(pcre2_match_data_create(1, nullptr)) {}

  // Finds the first match in subject[start, size); false when there is none.
  bool find(const pcre2_code* code, std::string_view subject, std::size_t start,
            std::size_t& match_begin, std::size_t& match_end) {
    int rc = run(code, subject, start);
    if (rc == PCRE2_ERROR_JIT_STACKLIMIT && !jit_stack_) {
      // Long runs under a repeated group outgrow JIT's default 32 KiB stack; give it room.
      context_.reset(pcre2_match_context_create(nullptr));
      jit_stack_.reset(pcre2_jit_stack_create(32 * 1024, 64 * 1024 * 1024, nullptr));
      pcre2_jit_stack_assign(context_.get(), nullptr, jit_stack_.get());
      rc = run(code, subject, start);
    }
    if (rc == PCRE2_ERROR_NOMATCH) return false;
    if (rc < 0) {
      throw InvalidArgument("pre-tokenizer regex failed on a text of " +
                            std::to_string(subject.size()) + " bytes: " + pcre2_message(rc));
    }
    const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(data_.get());
    match_begin = ovector[0];
    match_end = ovector[1];
    return true;
  }

 private:
  int run(const pcre2_code* code, std::string_view subject, std::size_t start) {
    return pcre2_match(code, reinterpret_cast<PCRE2_SPTR>(subject.data()), subject.size(), start,
                       PCRE2_NO_UTF_CHECK, data_.get(), context_.get());
  }

  std::unique_ptr<pcre2_match_data, MatchDataDeleter> data_;
  std::unique_ptr<pcre2_match_context, MatchContextDeleter> context_;
  std::unique_ptr<pcre2_jit_stack, JitStackDeleter> jit_stack_;
};

struct Piece {
  std::size_t offset;
  std::size_t length;
};

// Splits every piece with one regex: matches and the gaps between them become pieces.
std::vector<Piece> split_pieces(const pcre2_code* code, std::string_view text,
                                const std::vector<Piece>& pieces, Matcher& matcher) {
  std::vector<Piece> out;
  out.reserve(pieces.size() * 2);
  for (const Piece& piece : pieces) {
    // The piece alone is the subject, so lookaheads and `$` stop at its end as in llama.cpp.
    const std::string_view subject = text.substr(piece.offset, piece.length);
    std::size_t emitted_up_to = 0;
    std::size_t search_from = 0;
    std::size_t begin = 0;
    std::size_t end = 0;
    while (search_from < subject.size() && matcher.find(code, subject, search_from, begin, end)) {
      if (begin == end) {  // an empty match splits nothing; step over one character
        if (begin >= subject.size()) break;
        search_from = begin + utf8_sequence_length(static_cast<unsigned char>(subject[begin]));
        continue;
      }
      if (begin > emitted_up_to) {
        out.push_back({piece.offset + emitted_up_to, begin - emitted_up_to});  // the gap
      }
      out.push_back({piece.offset + begin, end - begin});
      emitted_up_to = search_from = end;
    }
    if (emitted_up_to < subject.size()) {
      out.push_back({piece.offset + emitted_up_to, subject.size() - emitted_up_to});
    }
  }
  return out;
}

}  // namespace


std::string PreTokenizer::adapt_pattern(std::string_view llama_pattern) {
  std::string out;
  out.reserve(llama_pattern.size() + 64);
  bool in_class = false;
  for (std::size_t i = 0; i < llama_pattern.size(); ++i) {
    const char c = llama_pattern[i];
    if (c != '\\' || i + 1 == llama_pattern.size()) {
      if (c == '[' && !in_class) in_class = true;
      else if (c == ']' && in_class) in_class = false;
      out.push_back(c);
      continue;
    }
    const char escaped = llama_pattern[++i];
    if (escaped == 's') {
      if (in_class) out.append(kWhitespaceMembers);
      else out.append("[").append(kWhitespaceMembers).append("]");
    } else if (escaped == 'S') {
      check(!in_class, "\\S inside a character class is not supported");
      out.append("[^").append(kWhitespaceMembers).append("]");
    } else {
      out.push_back('\\');
      out.push_back(escaped);
    }
  }
  return out;
}

PreTokenizer::PreTokenizer(RegexSet regex_set) : PreTokenizer(regex_patterns(regex_set)) {}

PreTokenizer::PreTokenizer(std::span<const std::string_view> patterns) {
  regexes_.reserve(patterns.size());
  for (const std::string_view pattern : patterns) {
    const std::string adapted = adapt_pattern(pattern);
    int error_code = 0;
    PCRE2_SIZE error_offset = 0;
    // DOLLAR_ENDONLY: `$` means the end of the piece, never "before a final newline".
    pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(adapted.data()), adapted.size(),
                                     PCRE2_UTF | PCRE2_UCP | PCRE2_DOLLAR_ENDONLY, &error_code,
                                     &error_offset, nullptr);
    if (code == nullptr) {
      // The patterns are compiled-in constants (or test input), so this is a programming error.
      invariant_failed("pre-tokenizer regex does not compile at offset " +
                           std::to_string(error_offset) + ": " + pcre2_message(error_code) +
                           " in " + adapted,
                       std::source_location::current());
    }
    // JIT is an optimisation; without it PCRE2 interprets the same pattern.
    pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
    regexes_.emplace_back(code);
  }
}

PreTokenizer::PreTokenizer(PreTokenizer&&) noexcept = default;
PreTokenizer& PreTokenizer::operator=(PreTokenizer&&) noexcept = default;
PreTokenizer::~PreTokenizer() = default;

void PreTokenizer::CodeDeleter::operator()(pcre2_real_code_8* code) const noexcept {
  pcre2_code_free(code);
}

std::vector<std::string> PreTokenizer::split(std::string_view text) const {
  // Re-encode as llama.cpp reads the text; `matched` differs from `words_text` only where a
  // surrogate stands in, with the same byte length, so offsets carry over.
  std::string words_text;
  std::string matched;
  words_text.reserve(text.size());
  matched.reserve(text.size());
  for (std::size_t offset = 0; offset < text.size();) {
    const LenientStep step = decode_utf8_lenient(text, offset);
    char32_t code_point = step.code_point.value_or(kReplacementCharacter);
    if (code_point > 0x10FFFF) code_point = kReplacementCharacter;  // llama.cpp throws here
    const bool surrogate = code_point >= 0xD800 && code_point <= 0xDFFF;
    append_utf8(words_text, code_point);
    append_utf8(matched, surrogate ? kSurrogateStandIn : code_point);
    offset += step.length;
  }

  std::vector<Piece> pieces;
  if (!matched.empty()) pieces.push_back({0, matched.size()});
  Matcher matcher;
  for (const auto& regex : regexes_) pieces = split_pieces(regex.get(), matched, pieces, matcher);

  std::vector<std::string> words;
  words.reserve(pieces.size());
  for (const Piece& piece : pieces) {
    words.emplace_back(words_text.substr(piece.offset, piece.length));
  }
  return words;
}

}  // namespace flux::tokenization
