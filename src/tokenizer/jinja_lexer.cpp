#include "tokenizer/jinja_lexer.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <optional>

#include "tokenizer/jinja_pystring.hpp"

namespace flux::jinja {

namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_name_char(char c) { return is_name_start(c) || is_digit(c); }

class Lexer {
 public:
  explicit Lexer(std::string_view source) {
    // Newlines normalise to \n and one trailing newline goes (keep_trailing_newline=False).
    src_.reserve(source.size());
    for (std::size_t i = 0; i < source.size(); ++i) {
      if (source[i] == '\r') {
        src_.push_back('\n');
        if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
      } else {
        src_.push_back(source[i]);
      }
    }
    if (!src_.empty() && src_.back() == '\n') src_.pop_back();
    line_starts_.push_back(0);
    for (std::size_t i = 0; i < src_.size(); ++i)
      if (src_[i] == '\n') line_starts_.push_back(i + 1);
  }

  std::vector<Token> run() {
    while (pos_ < src_.size()) root_step();
    Token eof;
    eof.type = TokenType::Eof;
    eof.pos = at(src_.size());
    out_.push_back(eof);
    return std::move(out_);
  }

 private:
  SourcePos at(std::size_t offset) const {
    const auto it = std::upper_bound(line_starts_.begin(), line_starts_.end(), offset);
    const std::size_t line = static_cast<std::size_t>(it - line_starts_.begin());
    return {static_cast<int>(line), static_cast<int>(offset - line_starts_[line - 1] + 1)};
  }

  [[noreturn]] void error(std::string message, std::size_t offset) const { throw SyntaxError{std::move(message), at(offset)}; }

  bool starts_with(std::size_t p, std::string_view what) const {
    return p <= src_.size() && std::string_view(src_).substr(p, what.size()) == what;
  }

  // Skips Python whitespace (\s) from p; returns the new position.
  std::size_t skip_space(std::size_t p) const {
    while (p < src_.size()) {
      std::size_t next = p;
      if (!is_py_space(next_code_point(src_, next))) break;
      p = next;
    }
    return p;
  }

  static bool all_space(std::string_view s) {
    if (s.empty()) return false;
    std::size_t p = 0;
    while (p < s.size())
      if (!is_py_space(next_code_point(s, p))) return false;
    return true;
  }

  static std::string rstrip(std::string_view s) { return py_strip(s, std::nullopt, false, true); }

  void emit(TokenType type, std::string text, std::size_t offset) {
    Token t;
    t.type = type;
    t.text = std::move(text);
    t.pos = at(offset);
    out_.push_back(std::move(t));
  }

  void emit_data(std::string text, std::size_t offset) {
    if (!text.empty()) emit(TokenType::Data, std::move(text), offset);
  }

  // Text before a tag, with the tag's whitespace control applied (Jinja's OptionalLStrip).
  std::string control_text(std::string_view text, char sign, bool lstrip_applies) const {
    if (sign == '-') return rstrip(text);
    if (sign != '+' && lstrip_applies) {
      const std::size_t last_newline = text.rfind('\n');
      const std::size_t l_pos = last_newline == std::string_view::npos ? 0 : last_newline + 1;
      if ((l_pos > 0 || line_starting_) && all_space(text.substr(l_pos))) return std::string(text.substr(0, l_pos));
    }
    return std::string(text);
  }

  // Matches `{%[-+]?\s*raw\s*(-%}\s*|%})` at tag; returns the end of the match.
  std::optional<std::size_t> raw_begin(std::size_t tag) const {
    std::size_t p = tag + 2;
    if (p < src_.size() && (src_[p] == '-' || src_[p] == '+')) ++p;
    p = skip_space(p);
    if (!starts_with(p, "raw")) return std::nullopt;
    p = skip_space(p + 3);
    if (starts_with(p, "-%}")) return skip_space(p + 3);
    if (starts_with(p, "%}")) return p + 2;
    return std::nullopt;
  }

  void root_step() {
    std::size_t tag = pos_;
    while (true) {
      tag = src_.find('{', tag);
      if (tag == std::string::npos || tag + 1 >= src_.size()) {
        emit_data(src_.substr(pos_), pos_);
        pos_ = src_.size();
        return;
      }
      const char c = src_[tag + 1];
      if (c == '{' || c == '%' || c == '#') break;
      ++tag;
    }
    const char kind = src_[tag + 1];
    std::size_t after = tag + 2;
    char sign = 0;
    if (after < src_.size() && (src_[after] == '-' || src_[after] == '+')) sign = src_[after++];
    const std::string_view text = std::string_view(src_).substr(pos_, tag - pos_);
    emit_data(control_text(text, sign, kind != '{'), pos_);
    line_starting_ = false;

    if (kind == '#') {
      comment(tag, after);
    } else if (kind == '%' && raw_begin(tag)) {
      raw(tag, *raw_begin(tag));
    } else {
      emit(kind == '{' ? TokenType::VarBegin : TokenType::BlockBegin, "", tag);
      pos_ = after;
      tag_tokens(kind == '{');
    }
  }

  void comment(std::size_t tag, std::size_t p) {
    for (; p < src_.size(); ++p) {
      if (starts_with(p, "+#}")) {
        finish_at(p + 3);
        return;
      }
      if (starts_with(p, "-#}")) {
        finish_at(skip_space(p + 3));
        return;
      }
      if (starts_with(p, "#}")) {
        finish_at(p + 2 < src_.size() && src_[p + 2] == '\n' ? p + 3 : p + 2);
        return;
      }
    }
    error("Missing end of comment tag", tag);
  }

  void raw(std::size_t tag, std::size_t body) {
    line_starting_ = src_[body - 1] == '\n';
    for (std::size_t p = src_.find("{%", body); p != std::string::npos; p = src_.find("{%", p + 1)) {
      std::size_t q = p + 2;
      char sign = 0;
      if (q < src_.size() && (src_[q] == '-' || src_[q] == '+')) sign = src_[q++];
      q = skip_space(q);
      if (!starts_with(q, "endraw")) continue;
      q = skip_space(q + 6);
      std::size_t end = 0;
      if (starts_with(q, "+%}")) end = q + 3;
      else if (starts_with(q, "-%}")) end = skip_space(q + 3);
      else if (starts_with(q, "%}")) end = q + 2 < src_.size() && src_[q + 2] == '\n' ? q + 3 : q + 2;
      else continue;
      emit_data(control_text(std::string_view(src_).substr(body, p - body), sign, true), body);
      finish_at(end);
      return;
    }
    error("Missing end of raw directive", tag);
  }

  void finish_at(std::size_t end) {
    line_starting_ = end > 0 && src_[end - 1] == '\n';
    pos_ = end;
  }

  void tag_tokens(bool variable) {
    std::vector<char> balance;
    while (true) {
      if (pos_ >= src_.size())
        error(variable ? "unexpected end of template, expected '}}'" : "unexpected end of template, expected '%}'", pos_);
      if (balance.empty()) {
        if (variable) {
          if (starts_with(pos_, "-}}")) {
            emit(TokenType::VarEnd, "", pos_);
            finish_at(skip_space(pos_ + 3));
            return;
          }
          if (starts_with(pos_, "}}")) {
            emit(TokenType::VarEnd, "", pos_);
            finish_at(pos_ + 2);
            return;
          }
        } else {
          if (starts_with(pos_, "+%}")) {
            emit(TokenType::BlockEnd, "", pos_);
            finish_at(pos_ + 3);
            return;
          }
          if (starts_with(pos_, "-%}")) {
            emit(TokenType::BlockEnd, "", pos_);
            finish_at(skip_space(pos_ + 3));
            return;
          }
          if (starts_with(pos_, "%}")) {
            emit(TokenType::BlockEnd, "", pos_);
            finish_at(pos_ + 2 < src_.size() && src_[pos_ + 2] == '\n' ? pos_ + 3 : pos_ + 2);
            return;
          }
        }
      }
      const std::size_t skipped = skip_space(pos_);
      if (skipped != pos_) {
        pos_ = skipped;
        continue;
      }
      const char c = src_[pos_];
      if (is_digit(c)) {
        number();
      } else if (is_name_start(c)) {
        std::size_t e = pos_;
        while (e < src_.size() && is_name_char(src_[e])) ++e;
        emit(TokenType::Name, src_.substr(pos_, e - pos_), pos_);
        pos_ = e;
      } else if (c == '\'' || c == '"') {
        string_literal();
      } else {
        operator_token(balance);
      }
    }
  }

  std::size_t digits(std::size_t p) const {
    // (\d+_)*\d+
    if (p >= src_.size() || !is_digit(src_[p])) return p;
    while (true) {
      while (p < src_.size() && is_digit(src_[p])) ++p;
      if (p + 1 < src_.size() && src_[p] == '_' && is_digit(src_[p + 1])) {
        ++p;
        continue;
      }
      return p;
    }
  }

  void number() {
    const std::size_t start = pos_;
    // Floats first, as Jinja does: digits then a fraction and/or an exponent.
    if (start == 0 || src_[start - 1] != '.') {
      std::size_t p = digits(start);
      std::size_t frac_end = p;
      if (p < src_.size() && src_[p] == '.' && p + 1 < src_.size() && is_digit(src_[p + 1])) frac_end = digits(p + 1);
      std::size_t end = frac_end;
      if (frac_end < src_.size() && (src_[frac_end] == 'e' || src_[frac_end] == 'E')) {
        std::size_t q = frac_end + 1;
        if (q < src_.size() && (src_[q] == '+' || src_[q] == '-')) ++q;
        if (q < src_.size() && is_digit(src_[q])) end = digits(q);
      }
      if (end != p) {
        std::string text;
        for (std::size_t i = start; i < end; ++i)
          if (src_[i] != '_') text.push_back(src_[i]);
        Token t;
        t.type = TokenType::Float;
        t.text = text;
        t.float_value = std::strtod(text.c_str(), nullptr);
        t.pos = at(start);
        out_.push_back(std::move(t));
        pos_ = end;
        return;
      }
    }
    int base = 10;
    std::size_t p = start;
    if (src_[p] == '0' && p + 1 < src_.size()) {
      const char x = static_cast<char>(src_[p + 1] | 0x20);
      if (x == 'b') base = 2;
      if (x == 'o') base = 8;
      if (x == 'x') base = 16;
    }
    std::string text;
    if (base != 10) {
      p += 2;
      auto valid = [&](char ch) {
        if (base == 2) return ch == '0' || ch == '1';
        if (base == 8) return ch >= '0' && ch <= '7';
        return std::isxdigit(static_cast<unsigned char>(ch)) != 0;
      };
      while (p < src_.size() && (valid(src_[p]) || (src_[p] == '_' && p + 1 < src_.size() && valid(src_[p + 1])))) {
        if (src_[p] != '_') text.push_back(src_[p]);
        ++p;
      }
      if (text.empty()) error("invalid integer literal", start);
    } else if (src_[p] == '0') {
      // 0(_?0)*
      ++p;
      while (p < src_.size() && (src_[p] == '0' || (src_[p] == '_' && p + 1 < src_.size() && src_[p + 1] == '0'))) ++p;
      text = "0";
    } else {
      const std::size_t end = digits(p);
      for (; p < end; ++p)
        if (src_[p] != '_') text.push_back(src_[p]);
    }
    Token t;
    t.type = TokenType::Integer;
    t.text = src_.substr(start, p - start);
    const auto result = std::from_chars(text.data(), text.data() + text.size(), t.int_value, base);
    if (result.ec != std::errc()) error("integer literal too large", start);
    t.pos = at(start);
    out_.push_back(std::move(t));
    pos_ = p;
  }

  void string_literal() {
    const std::size_t start = pos_;
    const char quote = src_[pos_];
    std::size_t p = pos_ + 1;
    std::string value;
    auto hex = [&](std::size_t from, int n) -> char32_t {
      char32_t v = 0;
      for (int i = 0; i < n; ++i) {
        if (from + i >= src_.size() || !std::isxdigit(static_cast<unsigned char>(src_[from + i])))
          error("truncated escape sequence in string literal", from);
        const char ch = src_[from + i];
        v = v * 16 + static_cast<char32_t>(is_digit(ch) ? ch - '0' : (ch | 0x20) - 'a' + 10);
      }
      return v;
    };
    while (true) {
      if (p >= src_.size()) error("unterminated string literal", start);
      const char c = src_[p];
      if (c == quote) break;
      if (c != '\\') {
        value.push_back(c);
        ++p;
        continue;
      }
      if (p + 1 >= src_.size()) error("unterminated string literal", start);
      const char e = src_[p + 1];
      p += 2;
      switch (e) {
        case '\n': break;
        case '\\': value.push_back('\\'); break;
        case '\'': value.push_back('\''); break;
        case '"': value.push_back('"'); break;
        case 'a': value.push_back('\a'); break;
        case 'b': value.push_back('\b'); break;
        case 'f': value.push_back('\f'); break;
        case 'n': value.push_back('\n'); break;
        case 'r': value.push_back('\r'); break;
        case 't': value.push_back('\t'); break;
        case 'v': value.push_back('\v'); break;
        case 'x': append_utf8(value, hex(p, 2)); p += 2; break;
        case 'u': append_utf8(value, hex(p, 4)); p += 4; break;
        case 'U': {
          const char32_t cp = hex(p, 8);
          if (cp > 0x10FFFF) error("illegal Unicode character in string literal", p);
          append_utf8(value, cp);
          p += 8;
          break;
        }
        case 'N': error("\\N{...} escapes are not supported", p - 2);
        default:
          if (e >= '0' && e <= '7') {
            char32_t v = static_cast<char32_t>(e - '0');
            for (int i = 0; i < 2 && p < src_.size() && src_[p] >= '0' && src_[p] <= '7'; ++i, ++p)
              v = v * 8 + static_cast<char32_t>(src_[p] - '0');
            append_utf8(value, v);
          } else {
            value.push_back('\\');
            value.push_back(e);
          }
      }
    }
    emit(TokenType::String, std::move(value), start);
    pos_ = p + 1;
  }

  void operator_token(std::vector<char>& balance) {
    static constexpr std::string_view two[] = {"//", "**", "==", "!=", ">=", "<="};
    for (std::string_view op : two) {
      if (starts_with(pos_, op)) {
        emit(TokenType::Operator, std::string(op), pos_);
        pos_ += 2;
        return;
      }
    }
    const char c = src_[pos_];
    if (std::string_view("+-/*%~[](){}><=.:|,;").find(c) == std::string_view::npos) {
      std::size_t p = pos_;
      std::string ch;
      append_utf8(ch, next_code_point(src_, p));
      error("unexpected char '" + ch + "'", pos_);
    }
    if (c == '(' || c == '[' || c == '{') {
      balance.push_back(c == '(' ? ')' : c == '[' ? ']' : '}');
    } else if (c == ')' || c == ']' || c == '}') {
      if (balance.empty()) error(std::string("unexpected '") + c + "'", pos_);
      if (balance.back() != c) error(std::string("unexpected '") + c + "', expected '" + balance.back() + "'", pos_);
      balance.pop_back();
    }
    emit(TokenType::Operator, std::string(1, c), pos_);
    ++pos_;
  }

  std::string src_;
  std::vector<std::size_t> line_starts_;
  std::size_t pos_ = 0;
  bool line_starting_ = true;
  std::vector<Token> out_;
};

}  // namespace

std::vector<Token> tokenize(std::string_view source) { return Lexer(source).run(); }

}  // namespace flux::jinja
