#pragma once
// Runs a parsed Jinja Program: scopes (a fresh one per loop iteration, per macro call and per
// {% with %}, none for {% if %}), undefined values that print as "" and fail when used, loop
// variables, macros, break/continue, and bounds on output size, work and call depth.

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "tokenizer/jinja_ast.hpp"
#include "tokenizer/jinja_value.hpp"

namespace flux::jinja {

// raise_exception(message) in a template: carries the template's own message.
struct TemplateRaised {
  std::string message;
};

struct RenderLimits {
  std::size_t max_output_bytes = std::size_t{32} << 20;  // also bounds every string built
  std::uint64_t max_steps = 20'000'000;                  // statements, loop iterations and calls
  int max_call_depth = 100;                              // nested macro calls
  std::size_t max_stack_bytes = std::size_t{2} << 20;    // native stack a render may use
};

class Interpreter {
 public:
  explicit Interpreter(RenderLimits limits);
  ~Interpreter();
  Interpreter(const Interpreter&) = delete;
  Interpreter& operator=(const Interpreter&) = delete;

  // Throws JinjaError (message with line and column) or TemplateRaised.
  std::string render(const Program& program, const DictData& context);

  // For the built-ins.
  Value call(const Value& callee, CallArgs args);
  Value get_attr(const Value& object, const std::string& name);
  Value get_item(const Value& object, const Value& key);
  void check_size(std::size_t bytes) const;
  void step();
  const RenderLimits& limits() const { return limits_; }
  Value make_namespace(DictData attrs);

 private:
  struct Scope {
    std::shared_ptr<Scope> parent;
    std::unordered_map<std::string, Value> vars;
  };
  using ScopePtr = std::shared_ptr<Scope>;
  enum class Flow { Normal, Break, Continue };

  Flow exec_body(const Body& body, const ScopePtr& scope, std::string& out);
  Flow exec(const Stmt& stmt, const ScopePtr& scope, std::string& out);
  Flow exec_for(const Stmt& stmt, const ScopePtr& scope, std::string& out);
  void exec_macro_def(const Stmt& stmt, const ScopePtr& scope);
  Value call_macro(const Stmt& macro, const std::weak_ptr<Scope>& defined_in, CallArgs& args);
  Value eval(const Expr& expr, const ScopePtr& scope);
  Value eval_inner(const Expr& expr, const ScopePtr& scope);
  Value eval_binary(const Expr& expr, const ScopePtr& scope);
  Value eval_compare(const Expr& expr, const ScopePtr& scope);
  Value eval_slice(const Expr& expr, const ScopePtr& scope);
  CallArgs eval_args(const Arguments& args, const ScopePtr& scope);
  Value apply_filters(const Expr* chain, Value input, const ScopePtr& scope);
  Value lookup(const std::string& name, const ScopePtr& scope) const;
  void assign(const ScopePtr& scope, const std::vector<std::string>& targets, const Value& value);
  void append(std::string& out, std::string_view text) const;
  void check_stack() const;

  RenderLimits limits_;
  std::uint64_t steps_ = 0;
  int call_depth_ = 0;
  std::uintptr_t stack_base_ = 0;
  ScopePtr globals_;
  std::vector<std::shared_ptr<NamespaceData>> namespaces_;  // cleared after rendering (breaks cycles)
};

// Python-style iteration: list items, dict keys, string characters; undefined iterates as empty.
std::vector<Value> iterate(const Value& v);

}  // namespace flux::jinja
