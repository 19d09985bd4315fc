#include "tokenizer/jinja_value.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>

#include "tokenizer/jinja_pystring.hpp"

namespace flux::jinja {

void fail(std::string message) { throw JinjaError{std::move(message)}; }

namespace {

// Bounds recursion through values that may form deep or cyclic graphs via namespaces.
class RecursionGuard {
 public:
  RecursionGuard() {
    if (++depth_ > 2 * kMaxNesting) {
      --depth_;
      fail("value nested too deeply (or containing itself)");
    }
  }
  ~RecursionGuard() { --depth_; }
  RecursionGuard(const RecursionGuard&) = delete;
  RecursionGuard& operator=(const RecursionGuard&) = delete;

 private:
  static thread_local int depth_;
};
thread_local int RecursionGuard::depth_ = 0;

int checked_depth(int child_depth) {
  if (child_depth + 1 > kMaxNesting) fail("containers nested more than " + std::to_string(kMaxNesting) + " deep");
  return child_depth + 1;
}

}  // namespace

const Value* DictData::find(std::string_view key) const {
  const auto it = string_index.find(std::string(key));
  return it == string_index.end() ? nullptr : &entries[it->second].second;
}

const Value* DictData::find(const Value& key) const {
  if (key.is_string()) return find(std::string_view(key.as_string()));
  for (const auto& [k, v] : entries)
    if (!k.is_string() && py_equal(k, key)) return &v;
  return nullptr;
}

void DictData::set(Value key, Value value) {
  if (key.is_string()) {
    const auto [it, inserted] = string_index.emplace(key.as_string(), entries.size());
    if (!inserted) {
      entries[it->second].second = std::move(value);
      return;
    }
  } else {
    for (auto& [k, v] : entries) {
      if (!k.is_string() && py_equal(k, key)) {
        v = std::move(value);
        return;
      }
    }
  }
  entries.emplace_back(std::move(key), std::move(value));
}

Value Value::undefined(std::string hint) {
  return Value(Undefined{std::make_shared<const std::string>(std::move(hint))});
}

Value Value::list(std::vector<Value> items, bool tuple) {
  auto data = std::make_shared<ListData>();
  int child = 0;
  for (const auto& item : items) child = std::max(child, item.depth());
  data->depth = checked_depth(child);
  data->items = std::move(items);
  data->tuple = tuple;
  return Value(std::shared_ptr<const ListData>(std::move(data)), 0);
}

Value Value::dict(DictData d) {
  int child = 0;
  for (const auto& [k, v] : d.entries) child = std::max({child, k.depth(), v.depth()});
  d.depth = checked_depth(child);
  return Value(std::shared_ptr<const DictData>(std::make_shared<DictData>(std::move(d))), 0);
}

Value Value::function(std::string name, NativeFn fn) {
  return Value(std::shared_ptr<const Function>(std::make_shared<Function>(Function{std::move(name), std::move(fn)})), 0);
}

const std::string& Value::undefined_hint() const {
  static const std::string empty = "value is undefined";
  const auto& u = std::get<Undefined>(v_);
  return u.hint ? *u.hint : empty;
}

double Value::to_double() const {
  switch (kind()) {
    case Kind::Bool: return as_bool() ? 1.0 : 0.0;
    case Kind::Int: return static_cast<double>(as_int());
    case Kind::Float: return as_float();
    default: fail("expected a number, got " + type_name());
  }
}

std::int64_t Value::to_int() const {
  switch (kind()) {
    case Kind::Bool: return as_bool() ? 1 : 0;
    case Kind::Int: return as_int();
    default: fail("'" + type_name() + "' object cannot be interpreted as an integer");
  }
}

int Value::depth() const {
  if (is_list()) return as_list().depth;
  if (is_dict()) return as_dict().depth;
  return 0;
}

bool Value::truthy() const {
  switch (kind()) {
    case Kind::Undefined:
    case Kind::None: return false;
    case Kind::Bool: return as_bool();
    case Kind::Int: return as_int() != 0;
    case Kind::Float: return as_float() != 0.0;
    case Kind::String: return !as_string().empty();
    case Kind::List: return !as_list().items.empty();
    case Kind::Dict: return !as_dict().entries.empty();
    case Kind::Function:
    case Kind::Namespace: return true;
  }
  return false;
}

std::string Value::type_name() const {
  switch (kind()) {
    case Kind::Undefined: return "Undefined";
    case Kind::None: return "NoneType";
    case Kind::Bool: return "bool";
    case Kind::Int: return "int";
    case Kind::Float: return "float";
    case Kind::String: return "str";
    case Kind::List: return as_list().tuple ? "tuple" : "list";
    case Kind::Dict: return "dict";
    case Kind::Function: return "function";
    case Kind::Namespace: return "Namespace";
  }
  return "?";
}

std::string float_repr(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
  char buf[64];
  const auto result = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::scientific);
  std::string s(buf, result.ptr);
  std::string out;
  if (s[0] == '-') {
    out.push_back('-');
    s.erase(0, 1);
  }
  const std::size_t e = s.find('e');
  std::string digits;
  for (std::size_t i = 0; i < e; ++i)
    if (s[i] != '.') digits.push_back(s[i]);
  const int exp = std::stoi(s.substr(e + 1));
  if (exp >= -4 && exp < 16) {
    if (exp >= 0) {
      std::string int_part = digits.substr(0, std::min<std::size_t>(digits.size(), exp + 1));
      int_part.append(static_cast<std::size_t>(exp + 1) - int_part.size(), '0');
      std::string frac = digits.size() > static_cast<std::size_t>(exp + 1) ? digits.substr(exp + 1) : "0";
      out += int_part + "." + frac;
    } else {
      out += "0." + std::string(static_cast<std::size_t>(-exp - 1), '0') + digits;
    }
  } else {
    out.push_back(digits[0]);
    if (digits.size() > 1) out += "." + digits.substr(1);
    out += exp < 0 ? "e-" : "e+";
    const std::string exp_digits = std::to_string(std::abs(exp));
    if (exp_digits.size() < 2) out.push_back('0');
    out += exp_digits;
  }
  return out;
}

std::string Value::str() const {
  switch (kind()) {
    case Kind::Undefined: return "";
    case Kind::String: return as_string();
    default: return repr();
  }
}

std::string Value::repr() const {
  RecursionGuard guard;
  switch (kind()) {
    case Kind::Undefined: return "Undefined";
    case Kind::None: return "None";
    case Kind::Bool: return as_bool() ? "True" : "False";
    case Kind::Int: return std::to_string(as_int());
    case Kind::Float: return float_repr(as_float());
    case Kind::String: return py_repr_string(as_string());
    case Kind::List: {
      const auto& l = as_list();
      std::string out = l.tuple ? "(" : "[";
      for (std::size_t i = 0; i < l.items.size(); ++i) {
        if (i > 0) out += ", ";
        out += l.items[i].repr();
      }
      if (l.tuple && l.items.size() == 1) out += ",";
      out += l.tuple ? ")" : "]";
      return out;
    }
    case Kind::Dict: {
      std::string out = "{";
      bool first = true;
      for (const auto& [k, v] : as_dict().entries) {
        if (!first) out += ", ";
        first = false;
        out += k.repr() + ": " + v.repr();
      }
      return out + "}";
    }
    case Kind::Function: return "<built-in function " + as_function().name + ">";
    case Kind::Namespace: {
      DictData copy = as_namespace()->attrs;
      std::string out = "<Namespace {";
      bool first = true;
      for (const auto& [k, v] : copy.entries) {
        if (!first) out += ", ";
        first = false;
        out += k.repr() + ": " + v.repr();
      }
      return out + "}>";
    }
  }
  return "";
}

namespace {

std::string json_key(const Value& key) {
  switch (key.kind()) {
    case Value::Kind::String: return key.as_string();
    case Value::Kind::Int: return std::to_string(key.as_int());
    case Value::Kind::Float: return float_repr(key.as_float());
    case Value::Kind::Bool: return key.as_bool() ? "true" : "false";
    case Value::Kind::None: return "null";
    default: fail("TypeError: keys must be str, int, float, bool or None, not " + key.type_name());
  }
}

void append_newline_indent(std::string& out, const Value::JsonStyle& style, int level) {
  out.push_back('\n');
  for (int i = 0; i < level; ++i) out += style.indent;
}

void dump_json(std::string& out, const Value& v, const Value::JsonStyle& style, int level) {
  RecursionGuard guard;
  switch (v.kind()) {
    case Value::Kind::None: out += "null"; return;
    case Value::Kind::Bool: out += v.as_bool() ? "true" : "false"; return;
    case Value::Kind::Int: out += std::to_string(v.as_int()); return;
    case Value::Kind::Float: {
      const double d = v.as_float();
      if (std::isnan(d)) out += "NaN";
      else if (std::isinf(d)) out += d > 0 ? "Infinity" : "-Infinity";
      else out += float_repr(d);
      return;
    }
    case Value::Kind::String: json_quote(out, v.as_string(), style.ensure_ascii); return;
    case Value::Kind::List: {
      const auto& items = v.as_list().items;
      if (items.empty()) {
        out += "[]";
        return;
      }
      out.push_back('[');
      for (std::size_t i = 0; i < items.size(); ++i) {
        if (i > 0) out += style.item_separator;
        if (style.has_indent) append_newline_indent(out, style, level + 1);
        dump_json(out, items[i], style, level + 1);
      }
      if (style.has_indent) append_newline_indent(out, style, level);
      out.push_back(']');
      return;
    }
    case Value::Kind::Dict: {
      const auto& entries = v.as_dict().entries;
      if (entries.empty()) {
        out += "{}";
        return;
      }
      std::vector<std::pair<std::string, const Value*>> items;
      items.reserve(entries.size());
      for (const auto& [k, val] : entries) items.emplace_back(json_key(k), &val);
      if (style.sort_keys) {
        for (const auto& [k, val] : entries)
          if (!k.is_string()) fail("TypeError: sort_keys needs string keys");
        std::stable_sort(items.begin(), items.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
      }
      out.push_back('{');
      for (std::size_t i = 0; i < items.size(); ++i) {
        if (i > 0) out += style.item_separator;
        if (style.has_indent) append_newline_indent(out, style, level + 1);
        json_quote(out, items[i].first, style.ensure_ascii);
        out += style.key_separator;
        dump_json(out, *items[i].second, style, level + 1);
      }
      if (style.has_indent) append_newline_indent(out, style, level);
      out.push_back('}');
      return;
    }
    default: fail("TypeError: Object of type " + v.type_name() + " is not JSON serializable");
  }
}

template <typename Json>
Value from_json_impl(const Json& j, int depth) {
  if (depth > kMaxNesting) fail("JSON input nested more than " + std::to_string(kMaxNesting) + " deep");
  switch (j.type()) {
    case nlohmann::json::value_t::null: return Value::none();
    case nlohmann::json::value_t::boolean: return Value(j.template get<bool>());
    case nlohmann::json::value_t::number_integer: return Value(j.template get<std::int64_t>());
    case nlohmann::json::value_t::number_unsigned: {
      const auto u = j.template get<std::uint64_t>();
      if (u <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
        return Value(static_cast<std::int64_t>(u));
      return Value(static_cast<double>(u));
    }
    case nlohmann::json::value_t::number_float: return Value(j.template get<double>());
    case nlohmann::json::value_t::string: return Value(j.template get_ref<const std::string&>());
    case nlohmann::json::value_t::array: {
      std::vector<Value> items;
      items.reserve(j.size());
      for (const auto& item : j) items.push_back(from_json_impl(item, depth + 1));
      return Value::list(std::move(items));
    }
    case nlohmann::json::value_t::object: {
      DictData d;
      for (auto it = j.begin(); it != j.end(); ++it) d.set(Value(it.key()), from_json_impl(it.value(), depth + 1));
      return Value::dict(std::move(d));
    }
    default: fail("unsupported JSON value (binary or discarded)");
  }
}

}  // namespace

std::string Value::to_json(const JsonStyle& style) const {
  std::string out;
  dump_json(out, *this, style, 0);
  return out;
}

Value Value::from_json(const nlohmann::json& j) { return from_json_impl(j, 0); }
Value Value::from_json(const nlohmann::ordered_json& j) { return from_json_impl(j, 0); }

bool py_equal(const Value& a, const Value& b) {
  using K = Value::Kind;
  if (a.is_number() && b.is_number()) {
    if (a.is_float() || b.is_float()) return a.to_double() == b.to_double();
    return a.to_int() == b.to_int();
  }
  if (a.kind() != b.kind()) return false;
  RecursionGuard guard;
  switch (a.kind()) {
    case K::Undefined:
    case K::None: return true;
    case K::String: return a.as_string() == b.as_string();
    case K::List: {
      const auto& x = a.as_list();
      const auto& y = b.as_list();
      if (x.tuple != y.tuple || x.items.size() != y.items.size()) return false;
      for (std::size_t i = 0; i < x.items.size(); ++i)
        if (!py_equal(x.items[i], y.items[i])) return false;
      return true;
    }
    case K::Dict: {
      const auto& x = a.as_dict();
      const auto& y = b.as_dict();
      if (x.entries.size() != y.entries.size()) return false;
      for (const auto& [k, v] : x.entries) {
        const Value* other = y.find(k);
        if (other == nullptr || !py_equal(v, *other)) return false;
      }
      return true;
    }
    case K::Function: return &a.as_function() == &b.as_function();
    case K::Namespace: return a.as_namespace() == b.as_namespace();
    default: return false;
  }
}

bool py_less(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) {
    if (a.is_float() || b.is_float()) return a.to_double() < b.to_double();
    return a.to_int() < b.to_int();
  }
  if (a.is_string() && b.is_string()) return a.as_string() < b.as_string();
  if (a.is_list() && b.is_list() && a.as_list().tuple == b.as_list().tuple) {
    RecursionGuard guard;
    const auto& x = a.as_list().items;
    const auto& y = b.as_list().items;
    for (std::size_t i = 0; i < x.size() && i < y.size(); ++i) {
      if (py_equal(x[i], y[i])) continue;
      return py_less(x[i], y[i]);
    }
    return x.size() < y.size();
  }
  if (a.is_undefined()) fail(a.undefined_hint());
  if (b.is_undefined()) fail(b.undefined_hint());
  fail("TypeError: '<' not supported between instances of '" + a.type_name() + "' and '" + b.type_name() + "'");
}

}  // namespace flux::jinja
