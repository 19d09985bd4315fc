#pragma once
// Splits a Jinja template into tokens the way Python's Jinja2 lexer does when configured as Hugging
// Face configures it for chat templates: trim_blocks and lstrip_blocks on, keep_trailing_newline
// off, `-`/`+` whitespace control on every tag, {# comments #} dropped, {% raw %} kept verbatim.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace flux::jinja {

struct SourcePos {
  int line = 1;
  int column = 1;
};

// A template that cannot be lexed or parsed.
struct SyntaxError {
  std::string message;
  SourcePos pos;
};

enum class TokenType : std::uint8_t {
  Data,        // text outside tags
  VarBegin,    // {{
  VarEnd,      // }}
  BlockBegin,  // {%
  BlockEnd,    // %}
  Name,
  String,  // text holds the decoded value
  Integer,
  Float,
  Operator,  // text holds the operator: + - * / // % ** ~ [ ] ( ) { } == != < <= > >= = . : | , ;
  Eof,
};

struct Token {
  TokenType type = TokenType::Eof;
  std::string text;
  std::int64_t int_value = 0;
  double float_value = 0.0;
  SourcePos pos;
};

// Throws SyntaxError.
std::vector<Token> tokenize(std::string_view source);

}  // namespace flux::jinja
