#include "tokenizer/jinja_parser.hpp"

#include <algorithm>
#include <initializer_list>
#include <string>

#include "tokenizer/jinja_builtins.hpp"

namespace flux::jinja {

namespace {

class Parser {
 public:
  explicit Parser(std::vector<Token> tokens) : tokens_(std::move(tokens)) {}

  Program run() {
    Program program;
    program.body = parse_body({});
    return program;
  }

 private:
  // ---- token helpers ----
  const Token& cur() const { return tokens_[idx_]; }
  const Token& peek(std::size_t n = 1) const { return tokens_[std::min(idx_ + n, tokens_.size() - 1)]; }
  void advance() {
    if (idx_ + 1 < tokens_.size()) ++idx_;
  }
  bool is_op(std::string_view op) const { return cur().type == TokenType::Operator && cur().text == op; }
  bool is_name(std::string_view name) const { return cur().type == TokenType::Name && cur().text == name; }
  bool skip_op(std::string_view op) {
    if (!is_op(op)) return false;
    advance();
    return true;
  }
  bool skip_name(std::string_view name) {
    if (!is_name(name)) return false;
    advance();
    return true;
  }

  static std::string describe(const Token& t) {
    switch (t.type) {
      case TokenType::Data: return "template data";
      case TokenType::VarBegin: return "'{{'";
      case TokenType::VarEnd: return "'}}'";
      case TokenType::BlockBegin: return "'{%'";
      case TokenType::BlockEnd: return "'%}'";
      case TokenType::Name: return "'" + t.text + "'";
      case TokenType::String: return "string";
      case TokenType::Integer:
      case TokenType::Float: return "number '" + t.text + "'";
      case TokenType::Operator: return "'" + t.text + "'";
      case TokenType::Eof: return "end of template";
    }
    return "token";
  }

  [[noreturn]] void error(const std::string& message) const { throw SyntaxError{message, cur().pos}; }
  [[noreturn]] void unexpected(const std::string& expected) const {
    error("expected " + expected + ", got " + describe(cur()));
  }
  void expect_op(std::string_view op) {
    if (!skip_op(op)) unexpected("'" + std::string(op) + "'");
  }
  std::string expect_name() {
    if (cur().type != TokenType::Name) unexpected("a name");
    std::string name = cur().text;
    advance();
    return name;
  }
  void expect_block_end() {
    if (cur().type != TokenType::BlockEnd) unexpected("end of statement block '%}'");
    advance();
  }

  class DepthGuard {
   public:
    explicit DepthGuard(Parser& p) : p_(p) {
      if (++p_.depth_ > kMaxParseDepth) error();
    }
    ~DepthGuard() { --p_.depth_; }
    DepthGuard(const DepthGuard&) = delete;
    DepthGuard& operator=(const DepthGuard&) = delete;

   private:
    [[noreturn]] void error() {
      --p_.depth_;
      p_.error("template nested more than " + std::to_string(kMaxParseDepth) + " levels deep");
    }
    Parser& p_;
  };

  ExprPtr node(ExprKind kind, SourcePos pos) {
    auto e = std::make_unique<Expr>();
    e->kind = kind;
    e->pos = pos;
    return e;
  }

  // Records the height of a finished node; refuses trees taller than kMaxExprDepth (their
  // evaluation and destruction recurse once per level).
  ExprPtr finish(ExprPtr e) {
    int child = 0;
    auto see = [&child](const ExprPtr& p) {
      if (p) child = std::max(child, p->depth);
    };
    see(e->a);
    see(e->b);
    see(e->c);
    for (const auto& item : e->items) see(item);
    for (const auto& arg : e->args.positional) see(arg);
    for (const auto& [k, arg] : e->args.keyword) see(arg);
    e->depth = child + 1;
    if (e->depth > kMaxExprDepth)
      throw SyntaxError{"expression nested more than " + std::to_string(kMaxExprDepth) + " levels deep", e->pos};
    return e;
  }

  // ---- statements ----
  // Parses until a block whose first name is one of `ends` (left current, after '{%'), or Eof.
  Body parse_body(std::initializer_list<std::string_view> ends) {
    DepthGuard guard(*this);
    Body body;
    while (true) {
      const Token& t = cur();
      if (t.type == TokenType::Eof) {
        if (ends.size() == 0) return body;
        std::string names;
        for (auto e : ends) names += (names.empty() ? "'" : " or '") + std::string(e) + "'";
        error("unexpected end of template, expected " + names);
      }
      if (t.type == TokenType::Data) {
        auto s = std::make_unique<Stmt>();
        s->kind = StmtKind::Text;
        s->pos = t.pos;
        s->text = t.text;
        body.push_back(std::move(s));
        advance();
      } else if (t.type == TokenType::VarBegin) {
        auto s = std::make_unique<Stmt>();
        s->kind = StmtKind::Output;
        s->pos = t.pos;
        advance();
        s->expr = parse_tuple(false, true, {}, false);
        if (cur().type != TokenType::VarEnd) unexpected("end of print statement '}}'");
        advance();
        body.push_back(std::move(s));
      } else if (t.type == TokenType::BlockBegin) {
        const Token& name = peek();
        if (name.type == TokenType::Name) {
          for (auto e : ends) {
            if (name.text == e) {
              advance();
              return body;
            }
          }
        }
        advance();
        body.push_back(parse_statement());
      } else {
        error("unexpected " + describe(t));
      }
    }
  }

  StmtPtr parse_statement() {
    if (cur().type != TokenType::Name) unexpected("a statement name");
    const std::string tag = cur().text;
    const SourcePos pos = cur().pos;
    auto s = std::make_unique<Stmt>();
    s->pos = pos;
    advance();
    if (tag == "if") {
      s->kind = StmtKind::If;
      while (true) {
        ExprPtr cond = parse_tuple(false, false, {}, false);
        expect_block_end();
        Body body = parse_body({"elif", "else", "endif"});
        s->branches.emplace_back(std::move(cond), std::move(body));
        const std::string end = expect_name();
        if (end == "elif") continue;
        if (end == "else") {
          expect_block_end();
          s->else_body = parse_body({"endif"});
          advance();
        }
        break;
      }
    } else if (tag == "for") {
      s->kind = StmtKind::For;
      s->targets = parse_targets();
      if (!skip_name("in")) unexpected("'in'");
      s->expr = parse_tuple(false, false, {"recursive"}, false);
      if (skip_name("if")) s->condition = parse_expression(true);
      if (is_name("recursive")) error("recursive loops are not supported");
      expect_block_end();
      ++loop_depth_;
      s->body = parse_body({"endfor", "else"});
      --loop_depth_;
      if (expect_name() == "else") {
        expect_block_end();
        s->else_body = parse_body({"endfor"});
        advance();
      }
    } else if (tag == "set") {
      if (cur().type == TokenType::Name && peek().type == TokenType::Operator && peek().text == ".") {
        s->kind = StmtKind::Set;
        s->targets.push_back(expect_name());
        advance();
        s->attr = expect_name();
        expect_op("=");
        s->expr = parse_tuple(false, true, {}, false);
      } else {
        s->targets = parse_targets();
        if (skip_op("=")) {
          s->kind = StmtKind::Set;
          s->expr = parse_tuple(false, true, {}, false);
        } else {
          if (s->targets.size() != 1) error("a block assignment needs a single name");
          s->kind = StmtKind::SetBlock;
          if (is_op("|")) s->filter = parse_filter_chain();
          expect_block_end();
          s->body = parse_body({"endset"});
          advance();
        }
      }
    } else if (tag == "macro") {
      s->kind = StmtKind::Macro;
      s->name = expect_name();
      expect_op("(");
      while (!skip_op(")")) {
        if (!s->params.empty()) expect_op(",");
        if (skip_op(")")) break;
        std::string param = expect_name();
        ExprPtr dflt;
        if (skip_op("=")) dflt = parse_expression(true);
        s->params.emplace_back(std::move(param), std::move(dflt));
      }
      expect_block_end();
      const int saved = loop_depth_;
      loop_depth_ = 0;
      s->body = parse_body({"endmacro"});
      loop_depth_ = saved;
      advance();
    } else if (tag == "filter") {
      s->kind = StmtKind::FilterBlock;
      s->filter = parse_filter_chain(/*leading_pipe=*/false);
      expect_block_end();
      s->body = parse_body({"endfilter"});
      advance();
    } else if (tag == "with") {
      s->kind = StmtKind::With;
      while (cur().type != TokenType::BlockEnd) {
        if (!s->params.empty()) expect_op(",");
        std::string target = expect_name();
        expect_op("=");
        s->params.emplace_back(std::move(target), parse_expression(true));
      }
      expect_block_end();
      s->body = parse_body({"endwith"});
      advance();
    } else if (tag == "generation") {
      s->kind = StmtKind::Scope;
      expect_block_end();
      s->body = parse_body({"endgeneration"});
      advance();
    } else if (tag == "break" || tag == "continue") {
      if (loop_depth_ == 0) error("'" + tag + "' outside of a loop");
      s->kind = tag == "break" ? StmtKind::Break : StmtKind::Continue;
    } else if (tag == "raw") {
      error("malformed raw block");
    } else if (tag == "call" || tag == "block" || tag == "extends" || tag == "include" || tag == "import" ||
               tag == "from" || tag == "do" || tag == "autoescape") {
      throw SyntaxError{"the '" + tag + "' tag is not supported in chat templates", pos};
    } else {
      throw SyntaxError{"encountered unknown tag '" + tag + "'", pos};
    }
    expect_block_end();
    return s;
  }

  // name | name, name, ... | (name, name)
  std::vector<std::string> parse_targets() {
    std::vector<std::string> names;
    const bool parens = skip_op("(");
    do {
      if (parens && is_op(")")) break;
      names.push_back(expect_name());
    } while (skip_op(","));
    if (parens) expect_op(")");
    return names;
  }

  ExprPtr parse_filter_chain(bool leading_pipe = true) {
    ExprPtr chain;
    bool first = true;
    while (first ? (!leading_pipe || is_op("|")) : is_op("|")) {
      if (!first || leading_pipe) expect_op("|");
      first = false;
      chain = parse_filter_tail(std::move(chain));
    }
    return chain;
  }

  // ---- expressions ----
  bool is_tuple_end(std::initializer_list<std::string_view> extra_end) const {
    const auto type = cur().type;
    if (type == TokenType::VarEnd || type == TokenType::BlockEnd || type == TokenType::Eof) return true;
    if (is_op(")")) return true;
    for (auto e : extra_end)
      if (is_name(e)) return true;
    return false;
  }

  ExprPtr parse_tuple(bool simplified, bool with_condexpr, std::initializer_list<std::string_view> extra_end,
                      bool explicit_parens) {
    const SourcePos pos = cur().pos;
    std::vector<ExprPtr> items;
    bool is_tuple = false;
    while (true) {
      if (!items.empty()) expect_op(",");
      if (is_tuple_end(extra_end)) break;
      items.push_back(simplified ? parse_primary() : parse_expression(with_condexpr));
      if (is_op(",")) is_tuple = true;
      else break;
    }
    if (!is_tuple) {
      if (!items.empty()) return std::move(items[0]);
      if (!explicit_parens) unexpected("an expression");
    }
    auto e = node(ExprKind::List, pos);
    e->items = std::move(items);
    e->flag = true;
    return finish(std::move(e));
  }

  ExprPtr parse_expression(bool with_condexpr) {
    DepthGuard guard(*this);
    if (!with_condexpr) return parse_or();
    ExprPtr expr = parse_or();
    while (is_name("if")) {
      const SourcePos pos = cur().pos;
      advance();
      auto cond = node(ExprKind::Cond, pos);
      cond->b = parse_or();
      if (skip_name("else")) cond->c = parse_expression(true);
      cond->a = std::move(expr);
      expr = finish(std::move(cond));
    }
    return expr;
  }

  ExprPtr binary(std::string op, ExprPtr left, ExprPtr right, SourcePos pos) {
    auto e = node(ExprKind::Binary, pos);
    e->name = std::move(op);
    e->a = std::move(left);
    e->b = std::move(right);
    return finish(std::move(e));
  }

  ExprPtr parse_or() {
    ExprPtr left = parse_and();
    while (is_name("or")) {
      const SourcePos pos = cur().pos;
      advance();
      left = binary("or", std::move(left), parse_and(), pos);
    }
    return left;
  }

  ExprPtr parse_and() {
    ExprPtr left = parse_not();
    while (is_name("and")) {
      const SourcePos pos = cur().pos;
      advance();
      left = binary("and", std::move(left), parse_not(), pos);
    }
    return left;
  }

  ExprPtr parse_not() {
    if (is_name("not")) {
      DepthGuard guard(*this);
      auto e = node(ExprKind::Unary, cur().pos);
      advance();
      e->name = "not";
      e->a = parse_not();
      return finish(std::move(e));
    }
    return parse_compare();
  }

  ExprPtr parse_compare() {
    const SourcePos pos = cur().pos;
    ExprPtr first = parse_math1();
    std::vector<ExprPtr> operands;
    std::vector<std::string> ops;
    while (true) {
      if (cur().type == TokenType::Operator &&
          (cur().text == "==" || cur().text == "!=" || cur().text == "<" || cur().text == "<=" || cur().text == ">" ||
           cur().text == ">=")) {
        ops.push_back(cur().text);
        advance();
      } else if (is_name("in")) {
        ops.emplace_back("in");
        advance();
      } else if (is_name("not") && peek().type == TokenType::Name && peek().text == "in") {
        ops.emplace_back("notin");
        advance();
        advance();
      } else {
        break;
      }
      operands.push_back(parse_math1());
    }
    if (ops.empty()) return first;
    auto e = node(ExprKind::Compare, pos);
    e->items.push_back(std::move(first));
    for (auto& o : operands) e->items.push_back(std::move(o));
    e->ops = std::move(ops);
    return finish(std::move(e));
  }

  ExprPtr parse_math1() {
    ExprPtr left = parse_concat();
    while (is_op("+") || is_op("-")) {
      const std::string op = cur().text;
      const SourcePos pos = cur().pos;
      advance();
      left = binary(op, std::move(left), parse_concat(), pos);
    }
    return left;
  }

  ExprPtr parse_concat() {
    ExprPtr left = parse_math2();
    while (is_op("~")) {
      const SourcePos pos = cur().pos;
      advance();
      left = binary("~", std::move(left), parse_math2(), pos);
    }
    return left;
  }

  ExprPtr parse_math2() {
    ExprPtr left = parse_pow();
    while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
      const std::string op = cur().text;
      const SourcePos pos = cur().pos;
      advance();
      left = binary(op, std::move(left), parse_pow(), pos);
    }
    return left;
  }

  ExprPtr parse_pow() {
    ExprPtr left = parse_unary(true);
    while (is_op("**")) {
      const SourcePos pos = cur().pos;
      advance();
      left = binary("**", std::move(left), parse_unary(true), pos);
    }
    return left;
  }

  ExprPtr parse_unary(bool with_filter) {
    DepthGuard guard(*this);
    ExprPtr e;
    if (is_op("-") || is_op("+")) {
      e = node(ExprKind::Unary, cur().pos);
      e->name = cur().text;
      advance();
      e->a = parse_unary(false);
      e = finish(std::move(e));
    } else {
      e = parse_primary();
    }
    e = parse_postfix(std::move(e));
    if (with_filter) e = parse_filter_expr(std::move(e));
    return e;
  }

  ExprPtr parse_primary() {
    DepthGuard guard(*this);
    const Token& t = cur();
    const SourcePos pos = t.pos;
    switch (t.type) {
      case TokenType::Name: {
        auto e = node(ExprKind::Literal, pos);
        if (t.text == "true" || t.text == "True") e->literal = Value(true);
        else if (t.text == "false" || t.text == "False") e->literal = Value(false);
        else if (t.text == "none" || t.text == "None") e->literal = Value::none();
        else {
          e->kind = ExprKind::Name;
          e->name = t.text;
        }
        advance();
        return e;
      }
      case TokenType::String: {
        std::string s;
        while (cur().type == TokenType::String) {
          s += cur().text;
          advance();
        }
        auto e = node(ExprKind::Literal, pos);
        e->literal = Value(std::move(s));
        return e;
      }
      case TokenType::Integer: {
        auto e = node(ExprKind::Literal, pos);
        e->literal = Value(t.int_value);
        advance();
        return e;
      }
      case TokenType::Float: {
        auto e = node(ExprKind::Literal, pos);
        e->literal = Value(t.float_value);
        advance();
        return e;
      }
      case TokenType::Operator:
        if (t.text == "(") {
          advance();
          ExprPtr e = parse_tuple(false, true, {}, true);
          expect_op(")");
          return e;
        }
        if (t.text == "[") {
          advance();
          auto e = node(ExprKind::List, pos);
          while (!skip_op("]")) {
            if (!e->items.empty()) expect_op(",");
            if (skip_op("]")) break;
            e->items.push_back(parse_expression(true));
          }
          return finish(std::move(e));
        }
        if (t.text == "{") {
          advance();
          auto e = node(ExprKind::Dict, pos);
          while (!skip_op("}")) {
            if (!e->items.empty()) expect_op(",");
            if (skip_op("}")) break;
            e->items.push_back(parse_expression(true));
            expect_op(":");
            e->items.push_back(parse_expression(true));
          }
          return finish(std::move(e));
        }
        break;
      default: break;
    }
    unexpected("an expression");
  }

  ExprPtr parse_postfix(ExprPtr e) {
    while (true) {
      if (is_op(".")) {
        const SourcePos pos = cur().pos;
        advance();
        if (cur().type == TokenType::Name) {
          auto g = node(ExprKind::GetAttr, pos);
          g->a = std::move(e);
          g->name = cur().text;
          advance();
          e = finish(std::move(g));
        } else if (cur().type == TokenType::Integer) {
          auto g = node(ExprKind::GetItem, pos);
          g->a = std::move(e);
          g->b = node(ExprKind::Literal, cur().pos);
          g->b->literal = Value(cur().int_value);
          advance();
          e = finish(std::move(g));
        } else {
          unexpected("a name or number after '.'");
        }
      } else if (is_op("[")) {
        e = parse_subscript(std::move(e));
      } else if (is_op("(")) {
        auto call = node(ExprKind::Call, cur().pos);
        call->a = std::move(e);
        call->args = parse_call_args();
        e = finish(std::move(call));
      } else {
        return e;
      }
    }
  }

  ExprPtr parse_subscript(ExprPtr target) {
    const SourcePos pos = cur().pos;
    expect_op("[");
    std::vector<ExprPtr> args;
    while (!skip_op("]")) {
      if (!args.empty()) expect_op(",");
      args.push_back(parse_subscribed());
    }
    if (args.empty()) unexpected("a subscript");
    ExprPtr index;
    if (args.size() == 1) {
      index = std::move(args[0]);
    } else {
      index = node(ExprKind::List, pos);
      index->items = std::move(args);
      index->flag = true;
      index = finish(std::move(index));
    }
    if (index->kind == ExprKind::Slice) {
      index->a = std::move(target);
      return finish(std::move(index));
    }
    auto g = node(ExprKind::GetItem, pos);
    g->a = std::move(target);
    g->b = std::move(index);
    return finish(std::move(g));
  }

  // expr | [expr]:[expr][:[expr]]
  ExprPtr parse_subscribed() {
    const SourcePos pos = cur().pos;
    ExprPtr start;
    if (!is_op(":")) {
      start = parse_expression(true);
      if (!is_op(":")) return start;
    }
    advance();  // ':'
    auto slice = node(ExprKind::Slice, pos);
    slice->items.resize(3);
    slice->items[0] = std::move(start);
    if (!is_op("]") && !is_op(",") && !is_op(":")) slice->items[1] = parse_expression(true);
    if (skip_op(":")) {
      if (!is_op("]") && !is_op(",")) slice->items[2] = parse_expression(true);
    }
    return slice;
  }

  Arguments parse_call_args() {
    expect_op("(");
    Arguments args;
    bool first = true;
    while (!skip_op(")")) {
      if (!first) expect_op(",");
      first = false;
      if (skip_op(")")) break;
      if (is_op("*") || is_op("**")) error("*args and **kwargs in calls are not supported");
      if (cur().type == TokenType::Name && peek().type == TokenType::Operator && peek().text == "=") {
        std::string key = cur().text;
        advance();
        advance();
        args.keyword.emplace_back(std::move(key), parse_expression(true));
      } else {
        if (!args.keyword.empty()) error("positional argument after keyword argument");
        args.positional.push_back(parse_expression(true));
      }
    }
    return args;
  }

  std::string parse_dotted_name() {
    std::string name = expect_name();
    while (is_op(".") && peek().type == TokenType::Name) {
      advance();
      name += '.';
      name += expect_name();
    }
    return name;
  }

  ExprPtr parse_filter_tail(ExprPtr operand) {
    auto f = node(ExprKind::Filter, cur().pos);
    f->a = std::move(operand);
    f->name = parse_dotted_name();
    if (!filter_exists(f->name)) throw SyntaxError{"no filter named '" + f->name + "'", f->pos};
    if (is_op("(")) f->args = parse_call_args();
    return finish(std::move(f));
  }

  ExprPtr parse_filter_expr(ExprPtr e) {
    while (true) {
      if (is_op("|")) {
        advance();
        e = parse_filter_tail(std::move(e));
      } else if (is_name("is")) {
        auto t = node(ExprKind::Test, cur().pos);
        advance();
        t->flag = skip_name("not");
        const SourcePos name_pos = cur().pos;
        t->name = parse_dotted_name();
        if (!test_exists(t->name)) throw SyntaxError{"no test named '" + t->name + "'", name_pos};
        t->a = std::move(e);
        if (is_op("(")) {
          t->args = parse_call_args();
        } else if ((cur().type == TokenType::Name || cur().type == TokenType::String ||
                    cur().type == TokenType::Integer || cur().type == TokenType::Float || is_op("[") ||
                    is_op("{")) &&
                   !is_name("else") && !is_name("or") && !is_name("and")) {
          if (is_name("is")) error("you cannot chain multiple tests with 'is'");
          t->args.positional.push_back(parse_postfix(parse_primary()));
        }
        e = finish(std::move(t));
      } else if (is_op("(")) {
        auto call = node(ExprKind::Call, cur().pos);
        call->a = std::move(e);
        call->args = parse_call_args();
        e = finish(std::move(call));
      } else {
        return e;
      }
    }
  }

  std::vector<Token> tokens_;
  std::size_t idx_ = 0;
  int depth_ = 0;
  int loop_depth_ = 0;
};

}  // namespace

Program parse_template(std::string_view source) { return Parser(tokenize(source)).run(); }

}  // namespace flux::jinja
