#pragma once
// Parses Jinja tokens into a Program with Jinja2's grammar and operator precedence (filters and
// tests bind tighter than arithmetic; `~` binds tighter than `+`; `not x is y` is `not (x is y)`).

#include <string_view>

#include "tokenizer/jinja_ast.hpp"

namespace flux::jinja {

// Nested expressions and blocks deeper than this are refused (guards the recursive descent).
inline constexpr int kMaxParseDepth = 100;
// Expression trees taller than this are refused (long operator or filter chains included).
inline constexpr int kMaxExprDepth = 300;

// Throws SyntaxError.
Program parse_template(std::string_view source);

}  // namespace flux::jinja
