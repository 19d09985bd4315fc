#pragma once
// The built-ins of the Jinja interpreter: operators (jinja_operators.cpp), filters and tests
// (jinja_filters.cpp), methods of str/dict/list and the global functions (jinja_methods.cpp).

#include <cstddef>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/jinja_evaluator.hpp"
#include "tokenizer/jinja_value.hpp"

namespace flux::jinja {

// ---- operators ----
// op: + - * / // % ** ~
Value binary_op(Interpreter& in, std::string_view op, const Value& a, const Value& b);
Value unary_minus(const Value& v);
// Python's `item in container`.
bool contains(const Value& container, const Value& item);
// x[start:stop:step] on a str or list (unset bounds are null).
Value slice(const Value& v, const std::optional<std::int64_t>& start, const std::optional<std::int64_t>& stop,
            const std::optional<std::int64_t>& step);
// len(x), raising for types without one.
std::int64_t length(const Value& v);

// ---- filters and tests ----
Value call_filter(Interpreter& in, const std::string& name, const Value& input, CallArgs& args);
bool call_test(Interpreter& in, const std::string& name, const Value& v, CallArgs& args);
// Whether a filter or test of that name exists (the parser refuses unknown ones, as Jinja does).
bool filter_exists(std::string_view name);
bool test_exists(std::string_view name);

// ---- methods and globals ----
// The bound method `object.name` (str, dict and list methods), or nullopt.
std::optional<Value> get_method(Interpreter& in, const Value& object, const std::string& name);
// range, namespace, dict, raise_exception, strftime_now.
void add_globals(DictData& globals);

// Binds call arguments to parameter names, Python style.
class ArgBinder {
 public:
  ArgBinder(const std::string& function, CallArgs& args, std::initializer_list<std::string_view> names);
  // Nullptr when the argument was not given.
  const Value* get(std::size_t index) const { return slots_[index]; }
  Value get_or(std::size_t index, Value fallback) const { return slots_[index] ? *slots_[index] : fallback; }
  bool has(std::size_t index) const { return slots_[index] != nullptr; }
  std::int64_t get_int(std::size_t index, std::int64_t fallback) const;
  bool get_bool(std::size_t index, bool fallback) const;
  std::optional<std::string> get_string(std::size_t index) const;  // None -> nullopt

 private:
  std::string function_;
  std::vector<std::string_view> names_;
  std::vector<const Value*> slots_;
};

}  // namespace flux::jinja
