#pragma once
// The syntax tree of a parsed Jinja template: expressions and statements, one plain struct each
// with the fields its kind uses (see the comments on each kind).

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tokenizer/jinja_lexer.hpp"
#include "tokenizer/jinja_value.hpp"

namespace flux::jinja {

struct Expr;
struct Stmt;
using ExprPtr = std::unique_ptr<Expr>;
using StmtPtr = std::unique_ptr<Stmt>;
using Body = std::vector<StmtPtr>;

struct Arguments {
  std::vector<ExprPtr> positional;
  std::vector<std::pair<std::string, ExprPtr>> keyword;
};

enum class ExprKind {
  Literal,  // literal
  Name,     // name
  List,     // items; flag = tuple
  Dict,     // items = key, value, key, value, ...
  GetAttr,  // a.name
  GetItem,  // a[b]
  Slice,    // a[items[0] : items[1] : items[2]] (each may be null)
  Call,     // a(args)
  Filter,   // a | name(args); a is null inside {% filter %} and {% set x | f %}
  Test,     // a is [not] name(args); flag = negated
  Unary,    // name ("not", "-", "+") a
  Binary,   // a name b, name: + - * / // % ** ~ and or
  Compare,  // items[0] ops[0] items[1] ops[1] items[2] ...; ops: == != < <= > >= in notin
  Cond,     // a if b else c (c may be null)
};

struct Expr {
  ExprKind kind = ExprKind::Literal;
  SourcePos pos;
  Value literal;
  std::string name;
  ExprPtr a, b, c;
  std::vector<ExprPtr> items;
  std::vector<std::string> ops;
  Arguments args;
  bool flag = false;
  int depth = 1;  // height of this subtree (bounded by the parser)
};

enum class StmtKind {
  Text,         // text
  Output,       // {{ expr }}
  If,           // branches (condition, body) ..., else_body
  For,          // for targets in expr [if condition] body [else else_body]
  Set,          // set targets = expr, or set targets[0].attr = expr (attr non-empty)
  SetBlock,     // set targets[0] [| filter] body endset (filter: an Expr chain or null)
  Macro,        // macro name(params) body
  FilterBlock,  // filter <filter chain> body endfilter
  With,         // with params (as assignments) body
  Break,
  Continue,
  Scope,  // a body run in the current scope ({% generation %})
};

struct Stmt {
  StmtKind kind = StmtKind::Text;
  SourcePos pos;
  std::string text;
  ExprPtr expr;
  ExprPtr condition;
  ExprPtr filter;
  std::vector<std::pair<ExprPtr, Body>> branches;
  Body body;
  Body else_body;
  std::vector<std::string> targets;
  std::string attr;
  std::string name;
  std::vector<std::pair<std::string, ExprPtr>> params;
};

struct Program {
  Body body;
};

}  // namespace flux::jinja
