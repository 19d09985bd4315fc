#pragma once
// The dynamic value of the Jinja interpreter behind chat templates, with Python's semantics:
// undefined / None / bool / int / float / str / list (or tuple) / dict (insertion-ordered) /
// callable / namespace. Lists and dicts are immutable once built (the template sandbox cannot
// mutate them) and shared; a namespace is the one mutable, reference-semantics object.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

namespace flux::jinja {

class Value;
class Interpreter;

// Thrown for every error inside the interpreter; the public entry turns it into InvalidArgument.
struct JinjaError {
  std::string message;
  int line = 0;  // where it happened, once known
  int column = 0;
};
[[noreturn]] void fail(std::string message);

// Containers deeper than this are refused (bounds the recursion of printing, comparing, freeing).
inline constexpr int kMaxNesting = 200;

struct ListData {
  std::vector<Value> items;
  bool tuple = false;
  int depth = 1;
};

struct DictData {
  std::vector<std::pair<Value, Value>> entries;
  std::unordered_map<std::string, std::size_t> string_index;  // str key -> entries index
  int depth = 1;

  const Value* find(const Value& key) const;
  const Value* find(std::string_view key) const;
  void set(Value key, Value value);  // replaces in place when the key exists
};

struct CallArgs {
  std::vector<Value> positional;
  std::vector<std::pair<std::string, Value>> keyword;
};

using NativeFn = std::function<Value(Interpreter&, CallArgs&)>;

struct Function {
  std::string name;
  NativeFn fn;
};

struct NamespaceData {
  DictData attrs;
};

struct Undefined {
  std::shared_ptr<const std::string> hint;  // "'x' is undefined" and the like
};
struct None {};

class Value {
 public:
  enum class Kind : std::uint8_t { Undefined, None, Bool, Int, Float, String, List, Dict, Function, Namespace };

  Value() : v_(Undefined{}) {}
  static Value undefined(std::string hint);
  static Value none() { return Value(None{}); }
  Value(bool b) : v_(b) {}
  Value(std::int64_t i) : v_(i) {}
  Value(int i) : v_(static_cast<std::int64_t>(i)) {}
  Value(double d) : v_(d) {}
  Value(std::string s) : v_(std::move(s)) {}
  Value(std::string_view s) : v_(std::string(s)) {}
  Value(const char* s) : v_(std::string(s)) {}
  static Value list(std::vector<Value> items, bool tuple = false);
  static Value dict(DictData data);
  static Value function(std::string name, NativeFn fn);
  static Value ns(std::shared_ptr<NamespaceData> data) { return Value(std::move(data)); }

  Kind kind() const { return static_cast<Kind>(v_.index()); }
  bool is_undefined() const { return kind() == Kind::Undefined; }
  bool is_none() const { return kind() == Kind::None; }
  bool is_bool() const { return kind() == Kind::Bool; }
  bool is_int() const { return kind() == Kind::Int; }
  bool is_float() const { return kind() == Kind::Float; }
  bool is_number() const { return is_int() || is_float() || is_bool(); }  // bool is an int in Python
  bool is_string() const { return kind() == Kind::String; }
  bool is_list() const { return kind() == Kind::List; }
  bool is_dict() const { return kind() == Kind::Dict; }
  bool is_function() const { return kind() == Kind::Function; }
  bool is_namespace() const { return kind() == Kind::Namespace; }

  bool as_bool() const { return std::get<bool>(v_); }
  std::int64_t as_int() const { return std::get<std::int64_t>(v_); }
  double as_float() const { return std::get<double>(v_); }
  // bool/int/float as a double, bool/int as an integer (callers check is_number / is_float first).
  double to_double() const;
  std::int64_t to_int() const;
  const std::string& as_string() const { return std::get<std::string>(v_); }
  const ListData& as_list() const { return *std::get<std::shared_ptr<const ListData>>(v_); }
  const DictData& as_dict() const { return *std::get<std::shared_ptr<const DictData>>(v_); }
  const Function& as_function() const { return *std::get<std::shared_ptr<const Function>>(v_); }
  const std::shared_ptr<NamespaceData>& as_namespace() const {
    return std::get<std::shared_ptr<NamespaceData>>(v_);
  }
  const std::string& undefined_hint() const;

  // Nesting depth of containers (0 for scalars), bounded by kMaxNesting.
  int depth() const;

  // Python's bool(x); undefined is false.
  bool truthy() const;
  // Python's type(x).__name__ for error messages.
  std::string type_name() const;
  // str(x) (undefined prints as ""), repr(x).
  std::string str() const;
  std::string repr() const;

  // json.dumps(x, ensure_ascii, indent, separators, sort_keys); indent < 0 is None.
  struct JsonStyle {
    bool ensure_ascii = false;
    std::string indent;  // used when has_indent
    bool has_indent = false;
    std::string item_separator = ", ";
    std::string key_separator = ": ";
    bool sort_keys = false;
  };
  std::string to_json(const JsonStyle& style) const;

  // JSON -> value; ordered_json keeps object keys in document order, as Python's json does.
  static Value from_json(const nlohmann::json& j);
  static Value from_json(const nlohmann::ordered_json& j);

 private:
  template <typename T>
  explicit Value(T&& v, int /*tag*/) : v_(std::forward<T>(v)) {}
  explicit Value(None n) : v_(n) {}
  explicit Value(Undefined u) : v_(std::move(u)) {}
  explicit Value(std::shared_ptr<NamespaceData> n) : v_(std::move(n)) {}

  std::variant<Undefined, None, bool, std::int64_t, double, std::string, std::shared_ptr<const ListData>,
               std::shared_ptr<const DictData>, std::shared_ptr<const Function>, std::shared_ptr<NamespaceData>>
      v_;
};

// Python's ==, and <, which throws for unorderable types.
bool py_equal(const Value& a, const Value& b);
bool py_less(const Value& a, const Value& b);
// "Undefined" for error messages; repr of a float.
std::string float_repr(double d);

}  // namespace flux::jinja
