#include "tokenizer/jinja_evaluator.hpp"

#include "tokenizer/jinja_builtins.hpp"
#include "tokenizer/jinja_pystring.hpp"

namespace flux::jinja {

namespace {

template <typename F>
auto with_position(SourcePos pos, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (JinjaError& e) {
    if (e.line == 0) {
      e.line = pos.line;
      e.column = pos.column;
    }
    throw;
  }
}

std::string object_name(const Value& v) {
  if (v.is_none()) return "'None'";
  std::string name = "'";
  name += v.type_name();
  name += " object'";
  return name;
}

}  // namespace

std::vector<Value> iterate(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::Undefined: return {};
    case Value::Kind::List: return v.as_list().items;
    case Value::Kind::Dict: {
      std::vector<Value> keys;
      keys.reserve(v.as_dict().entries.size());
      for (const auto& [k, val] : v.as_dict().entries) keys.push_back(k);
      return keys;
    }
    case Value::Kind::String: {
      const std::string& s = v.as_string();
      std::vector<Value> chars;
      const auto offsets = char_offsets(s);
      chars.reserve(offsets.size());
      for (std::size_t i = 0; i + 1 < offsets.size(); ++i)
        chars.emplace_back(s.substr(offsets[i], offsets[i + 1] - offsets[i]));
      return chars;
    }
    default: fail("TypeError: '" + v.type_name() + "' object is not iterable");
  }
}

Interpreter::Interpreter(RenderLimits limits) : limits_(limits) {}

Interpreter::~Interpreter() {
  for (auto& ns : namespaces_) ns->attrs = DictData{};
}

std::string Interpreter::render(const Program& program, const DictData& context) {
  stack_base_ = reinterpret_cast<std::uintptr_t>(__builtin_frame_address(0));
  DictData builtins;
  add_globals(builtins);
  globals_ = std::make_shared<Scope>();
  for (const auto& [k, v] : builtins.entries) globals_->vars[k.as_string()] = v;
  auto root = std::make_shared<Scope>();
  root->parent = globals_;
  for (const auto& [k, v] : context.entries) {
    if (!k.is_string()) fail("context variable names must be strings");
    root->vars[k.as_string()] = v;
  }
  std::string out;
  exec_body(program.body, root, out);
  return out;
}

void Interpreter::check_stack() const {
  const auto here = reinterpret_cast<std::uintptr_t>(__builtin_frame_address(0));
  if (stack_base_ > here && stack_base_ - here > limits_.max_stack_bytes)
    fail("the template nests too deeply for the stack (runaway recursion?)");
}

void Interpreter::step() {
  if (++steps_ > limits_.max_steps)
    fail("the template ran more than " + std::to_string(limits_.max_steps) + " steps (runaway loop?)");
}

void Interpreter::check_size(std::size_t bytes) const {
  if (bytes > limits_.max_output_bytes)
    fail("a string of " + std::to_string(bytes) + " bytes exceeds the limit of " +
         std::to_string(limits_.max_output_bytes) + " bytes");
}

void Interpreter::append(std::string& out, std::string_view text) const {
  if (out.size() + text.size() > limits_.max_output_bytes)
    fail("the rendered text exceeds the limit of " + std::to_string(limits_.max_output_bytes) + " bytes");
  out.append(text);
}

Value Interpreter::make_namespace(DictData attrs) {
  auto ns = std::make_shared<NamespaceData>();
  ns->attrs = std::move(attrs);
  namespaces_.push_back(ns);
  return Value::ns(std::move(ns));
}

Value Interpreter::lookup(const std::string& name, const ScopePtr& scope) const {
  for (const Scope* s = scope.get(); s != nullptr; s = s->parent.get()) {
    const auto it = s->vars.find(name);
    if (it != s->vars.end()) return it->second;
  }
  return Value::undefined("'" + name + "' is undefined");
}

void Interpreter::assign(const ScopePtr& scope, const std::vector<std::string>& targets, const Value& value) {
  if (targets.size() == 1) {
    scope->vars[targets[0]] = value;
    return;
  }
  if (value.is_undefined()) fail(value.undefined_hint());
  std::vector<Value> items = iterate(value);
  if (items.size() < targets.size())
    fail("ValueError: not enough values to unpack (expected " + std::to_string(targets.size()) + ", got " +
         std::to_string(items.size()) + ")");
  if (items.size() > targets.size())
    fail("ValueError: too many values to unpack (expected " + std::to_string(targets.size()) + ")");
  for (std::size_t i = 0; i < targets.size(); ++i) scope->vars[targets[i]] = std::move(items[i]);
}

Interpreter::Flow Interpreter::exec_body(const Body& body, const ScopePtr& scope, std::string& out) {
  for (const auto& stmt : body) {
    const Flow flow = exec(*stmt, scope, out);
    if (flow != Flow::Normal) return flow;
  }
  return Flow::Normal;
}

Interpreter::Flow Interpreter::exec(const Stmt& stmt, const ScopePtr& scope, std::string& out) {
  check_stack();
  return with_position(stmt.pos, [&]() -> Flow {
    step();
    switch (stmt.kind) {
      case StmtKind::Text: append(out, stmt.text); return Flow::Normal;
      case StmtKind::Output: append(out, eval(*stmt.expr, scope).str()); return Flow::Normal;
      case StmtKind::If:
        for (const auto& [cond, body] : stmt.branches)
          if (eval(*cond, scope).truthy()) return exec_body(body, scope, out);
        return exec_body(stmt.else_body, scope, out);
      case StmtKind::For: return exec_for(stmt, scope, out);
      case StmtKind::Set: {
        Value value = eval(*stmt.expr, scope);
        if (stmt.attr.empty()) {
          assign(scope, stmt.targets, value);
        } else {
          const Value target = lookup(stmt.targets[0], scope);
          if (!target.is_namespace()) fail("cannot assign attribute on non-namespace object");
          target.as_namespace()->attrs.set(Value(stmt.attr), std::move(value));
        }
        return Flow::Normal;
      }
      case StmtKind::SetBlock: {
        std::string captured;
        const Flow flow = exec_body(stmt.body, scope, captured);
        Value value(std::move(captured));
        if (stmt.filter) value = apply_filters(stmt.filter.get(), std::move(value), scope);
        assign(scope, stmt.targets, value);
        return flow;
      }
      case StmtKind::Macro: exec_macro_def(stmt, scope); return Flow::Normal;
      case StmtKind::FilterBlock: {
        std::string captured;
        const Flow flow = exec_body(stmt.body, scope, captured);
        append(out, apply_filters(stmt.filter.get(), Value(std::move(captured)), scope).str());
        return flow;
      }
      case StmtKind::With: {
        auto inner = std::make_shared<Scope>();
        inner->parent = scope;
        for (const auto& [name, expr] : stmt.params) inner->vars[name] = eval(*expr, scope);
        return exec_body(stmt.body, inner, out);
      }
      case StmtKind::Break: return Flow::Break;
      case StmtKind::Continue: return Flow::Continue;
      case StmtKind::Scope: return exec_body(stmt.body, scope, out);
    }
    return Flow::Normal;
  });
}

Interpreter::Flow Interpreter::exec_for(const Stmt& stmt, const ScopePtr& scope, std::string& out) {
  const Value iterable = eval(*stmt.expr, scope);
  std::vector<Value> items = iterate(iterable);
  if (stmt.condition) {
    std::vector<Value> kept;
    for (auto& item : items) {
      step();
      auto probe = std::make_shared<Scope>();
      probe->parent = scope;
      assign(probe, stmt.targets, item);
      if (eval(*stmt.condition, probe).truthy()) kept.push_back(std::move(item));
    }
    items = std::move(kept);
  }
  if (items.empty()) {
    exec_body(stmt.else_body, scope, out);
    return Flow::Normal;
  }
  const auto n = static_cast<std::int64_t>(items.size());
  for (std::int64_t i = 0; i < n; ++i) {
    step();
    auto inner = std::make_shared<Scope>();
    inner->parent = scope;
    assign(inner, stmt.targets, items[static_cast<std::size_t>(i)]);
    DictData loop;
    loop.set(Value("index"), Value(i + 1));
    loop.set(Value("index0"), Value(i));
    loop.set(Value("revindex"), Value(n - i));
    loop.set(Value("revindex0"), Value(n - i - 1));
    loop.set(Value("first"), Value(i == 0));
    loop.set(Value("last"), Value(i == n - 1));
    loop.set(Value("length"), Value(n));
    loop.set(Value("depth"), Value(1));
    loop.set(Value("depth0"), Value(0));
    if (i > 0) loop.set(Value("previtem"), items[static_cast<std::size_t>(i - 1)]);
    if (i + 1 < n) loop.set(Value("nextitem"), items[static_cast<std::size_t>(i + 1)]);
    loop.set(Value("cycle"), Value::function("cycle", [i](Interpreter&, CallArgs& args) -> Value {
               if (args.positional.empty()) fail("no items for cycling given");
               return args.positional[static_cast<std::size_t>(i) % args.positional.size()];
             }));
    inner->vars["loop"] = Value::dict(std::move(loop));
    const Flow flow = exec_body(stmt.body, inner, out);
    if (flow == Flow::Break) break;
  }
  return Flow::Normal;
}

void Interpreter::exec_macro_def(const Stmt& stmt, const ScopePtr& scope) {
  const Stmt* macro = &stmt;
  std::weak_ptr<Scope> defined_in = scope;
  scope->vars[stmt.name] = Value::function(stmt.name, [macro, defined_in](Interpreter& in, CallArgs& args) {
    return in.call_macro(*macro, defined_in, args);
  });
}

Value Interpreter::call_macro(const Stmt& macro, const std::weak_ptr<Scope>& defined_in, CallArgs& args) {
  ScopePtr parent = defined_in.lock();
  if (!parent) fail("macro '" + macro.name + "' called after the block that defined it ended");
  if (call_depth_ >= limits_.max_call_depth)
    fail("macro calls nested more than " + std::to_string(limits_.max_call_depth) + " deep (runaway recursion?)");
  struct DepthScope {
    int& depth;
    explicit DepthScope(int& d) : depth(d) { ++depth; }
    ~DepthScope() { --depth; }
  } depth_scope(call_depth_);

  auto local = std::make_shared<Scope>();
  local->parent = parent;
  std::vector<bool> given(macro.params.size(), false);
  std::vector<Value> varargs;
  for (std::size_t i = 0; i < args.positional.size(); ++i) {
    if (i < macro.params.size()) {
      local->vars[macro.params[i].first] = std::move(args.positional[i]);
      given[i] = true;
    } else {
      varargs.push_back(std::move(args.positional[i]));
    }
  }
  DictData kwargs;
  for (auto& [key, value] : args.keyword) {
    bool matched = false;
    for (std::size_t i = 0; i < macro.params.size(); ++i) {
      if (macro.params[i].first != key) continue;
      if (given[i]) fail("macro '" + macro.name + "' got multiple values for argument '" + key + "'");
      local->vars[key] = std::move(value);
      given[i] = true;
      matched = true;
    }
    if (!matched) kwargs.set(Value(key), std::move(value));
  }
  for (std::size_t i = 0; i < macro.params.size(); ++i) {
    if (given[i]) continue;
    const auto& [name, dflt] = macro.params[i];
    local->vars[name] = dflt ? eval(*dflt, local) : Value::undefined("parameter '" + name + "' was not provided");
  }
  local->vars["varargs"] = Value::list(std::move(varargs), /*tuple=*/true);
  local->vars["kwargs"] = Value::dict(std::move(kwargs));
  std::string out;
  exec_body(macro.body, local, out);
  return Value(std::move(out));
}

Value Interpreter::call(const Value& callee, CallArgs args) {
  if (callee.is_function()) {
    step();
    return callee.as_function().fn(*this, args);
  }
  if (callee.is_undefined()) fail(callee.undefined_hint());
  fail("TypeError: '" + callee.type_name() + "' object is not callable");
}

Value Interpreter::get_attr(const Value& object, const std::string& name) {
  switch (object.kind()) {
    case Value::Kind::Undefined: fail(object.undefined_hint());
    case Value::Kind::Dict:
      if (auto method = get_method(*this, object, name)) return *method;
      if (const Value* v = object.as_dict().find(std::string_view(name))) return *v;
      break;
    case Value::Kind::Namespace:
      if (const Value* v = object.as_namespace()->attrs.find(std::string_view(name))) return *v;
      break;
    default:
      if (auto method = get_method(*this, object, name)) return *method;
      break;
  }
  return Value::undefined(object_name(object) + " has no attribute '" + name + "'");
}

Value Interpreter::get_item(const Value& object, const Value& key) {
  switch (object.kind()) {
    case Value::Kind::Undefined: fail(object.undefined_hint());
    case Value::Kind::Dict:
      if (const Value* v = object.as_dict().find(key)) return *v;
      break;
    case Value::Kind::Namespace:
      if (key.is_string())
        if (const Value* v = object.as_namespace()->attrs.find(std::string_view(key.as_string()))) return *v;
      break;
    case Value::Kind::List:
    case Value::Kind::String:
      if (key.is_int() || key.is_bool()) {
        std::int64_t i = key.to_int();
        if (object.is_list()) {
          const auto& items = object.as_list().items;
          const auto n = static_cast<std::int64_t>(items.size());
          if (i < 0) i += n;
          if (i >= 0 && i < n) return items[static_cast<std::size_t>(i)];
        } else {
          const std::string& s = object.as_string();
          const auto offsets = char_offsets(s);
          const auto n = static_cast<std::int64_t>(offsets.size()) - 1;
          if (i < 0) i += n;
          if (i >= 0 && i < n) {
            const auto at = static_cast<std::size_t>(i);
            return Value(s.substr(offsets[at], offsets[at + 1] - offsets[at]));
          }
        }
        return Value::undefined(object_name(object) + " has no element " + std::to_string(key.to_int()));
      }
      break;
    default: break;
  }
  if (key.is_string()) return get_attr(object, key.as_string());
  return Value::undefined(object_name(object) + " has no element " + key.repr());
}

CallArgs Interpreter::eval_args(const Arguments& args, const ScopePtr& scope) {
  CallArgs out;
  out.positional.reserve(args.positional.size());
  for (const auto& a : args.positional) out.positional.push_back(eval(*a, scope));
  for (const auto& [k, a] : args.keyword) out.keyword.emplace_back(k, eval(*a, scope));
  return out;
}

Value Interpreter::apply_filters(const Expr* chain, Value input, const ScopePtr& scope) {
  if (chain->a) input = apply_filters(chain->a.get(), std::move(input), scope);
  CallArgs args = eval_args(chain->args, scope);
  step();
  return call_filter(*this, chain->name, input, args);
}

Value Interpreter::eval(const Expr& expr, const ScopePtr& scope) {
  check_stack();
  return with_position(expr.pos, [&] { return eval_inner(expr, scope); });
}

Value Interpreter::eval_inner(const Expr& expr, const ScopePtr& scope) {
  switch (expr.kind) {
    case ExprKind::Literal: return expr.literal;
    case ExprKind::Name: return lookup(expr.name, scope);
    case ExprKind::List: {
      std::vector<Value> items;
      items.reserve(expr.items.size());
      for (const auto& item : expr.items) items.push_back(eval(*item, scope));
      return Value::list(std::move(items), expr.flag);
    }
    case ExprKind::Dict: {
      DictData d;
      for (std::size_t i = 0; i + 1 < expr.items.size(); i += 2) {
        Value key = eval(*expr.items[i], scope);
        if (key.is_list() && !key.as_list().tuple) fail("TypeError: unhashable type: 'list'");
        if (key.is_dict()) fail("TypeError: unhashable type: 'dict'");
        d.set(std::move(key), eval(*expr.items[i + 1], scope));
      }
      return Value::dict(std::move(d));
    }
    case ExprKind::GetAttr: return get_attr(eval(*expr.a, scope), expr.name);
    case ExprKind::GetItem: return get_item(eval(*expr.a, scope), eval(*expr.b, scope));
    case ExprKind::Slice: return eval_slice(expr, scope);
    case ExprKind::Call: {
      const Value callee = eval(*expr.a, scope);
      return call(callee, eval_args(expr.args, scope));
    }
    case ExprKind::Filter: {
      if (!expr.a) fail("a filter needs a value");
      const Value input = eval(*expr.a, scope);
      CallArgs args = eval_args(expr.args, scope);
      step();
      return call_filter(*this, expr.name, input, args);
    }
    case ExprKind::Test: {
      const Value v = eval(*expr.a, scope);
      CallArgs args = eval_args(expr.args, scope);
      return Value(call_test(*this, expr.name, v, args) != expr.flag);
    }
    case ExprKind::Unary: {
      const Value v = eval(*expr.a, scope);
      if (expr.name == "not") return Value(!v.truthy());
      if (expr.name == "-") return unary_minus(v);
      if (v.is_undefined()) fail(v.undefined_hint());
      if (!v.is_number()) fail("TypeError: bad operand type for unary +: '" + v.type_name() + "'");
      return v.is_bool() ? Value(v.to_int()) : v;
    }
    case ExprKind::Binary: return eval_binary(expr, scope);
    case ExprKind::Compare: return eval_compare(expr, scope);
    case ExprKind::Cond:
      if (eval(*expr.b, scope).truthy()) return eval(*expr.a, scope);
      if (expr.c) return eval(*expr.c, scope);
      return Value::undefined("the inline if-expression evaluated to false and no else section was defined");
  }
  return Value();
}

Value Interpreter::eval_binary(const Expr& expr, const ScopePtr& scope) {
  if (expr.name == "and" || expr.name == "or") {
    Value left = eval(*expr.a, scope);
    const bool t = left.truthy();
    if (expr.name == "and" ? !t : t) return left;
    return eval(*expr.b, scope);
  }
  const Value left = eval(*expr.a, scope);
  const Value right = eval(*expr.b, scope);
  return binary_op(*this, expr.name, left, right);
}

Value Interpreter::eval_compare(const Expr& expr, const ScopePtr& scope) {
  Value left = eval(*expr.items[0], scope);
  for (std::size_t i = 0; i < expr.ops.size(); ++i) {
    Value right = eval(*expr.items[i + 1], scope);
    const std::string& op = expr.ops[i];
    bool r = false;
    if (op == "==") r = py_equal(left, right);
    else if (op == "!=") r = !py_equal(left, right);
    else if (op == "<") r = py_less(left, right);
    else if (op == "<=") r = py_less(left, right) || py_equal(left, right);
    else if (op == ">") r = py_less(right, left);
    else if (op == ">=") r = py_less(right, left) || py_equal(left, right);
    else if (op == "in") r = contains(right, left);
    else r = !contains(right, left);
    if (!r) return Value(false);
    left = std::move(right);
  }
  return Value(true);
}

Value Interpreter::eval_slice(const Expr& expr, const ScopePtr& scope) {
  const Value object = eval(*expr.a, scope);
  std::optional<std::int64_t> bounds[3];
  for (int i = 0; i < 3; ++i) {
    if (!expr.items[i]) continue;
    const Value v = eval(*expr.items[i], scope);
    if (v.is_none()) continue;
    if (!v.is_int() && !v.is_bool()) fail("TypeError: slice indices must be integers or None");
    bounds[i] = v.to_int();
  }
  if (object.is_undefined()) fail(object.undefined_hint());
  return slice(object, bounds[0], bounds[1], bounds[2]);
}

}  // namespace flux::jinja
