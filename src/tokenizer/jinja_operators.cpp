// Python's arithmetic, concatenation, membership and slicing for the Jinja interpreter.

#include <cmath>
#include <limits>

#include "tokenizer/jinja_builtins.hpp"
#include "tokenizer/jinja_pystring.hpp"

namespace flux::jinja {

namespace {

[[noreturn]] void unsupported(std::string_view op, const Value& a, const Value& b) {
  if (op == "+" && a.is_string())
    fail("TypeError: can only concatenate str (not \"" + b.type_name() + "\") to str");
  fail("TypeError: unsupported operand type(s) for " + std::string(op) + ": '" + a.type_name() + "' and '" +
       b.type_name() + "'");
}

[[noreturn]] void overflow() { fail("OverflowError: integer result does not fit in 64 bits"); }

std::int64_t add_checked(std::int64_t a, std::int64_t b) {
  std::int64_t r = 0;
  if (__builtin_add_overflow(a, b, &r)) overflow();
  return r;
}
std::int64_t sub_checked(std::int64_t a, std::int64_t b) {
  std::int64_t r = 0;
  if (__builtin_sub_overflow(a, b, &r)) overflow();
  return r;
}
std::int64_t mul_checked(std::int64_t a, std::int64_t b) {
  std::int64_t r = 0;
  if (__builtin_mul_overflow(a, b, &r)) overflow();
  return r;
}

double python_fmod(double a, double b) {
  double mod = std::fmod(a, b);
  if (mod != 0.0) {
    if ((b < 0) != (mod < 0)) mod += b;
  } else {
    mod = std::copysign(0.0, b);
  }
  return mod;
}

double python_floordiv(double a, double b) {
  double mod = std::fmod(a, b);
  double div = (a - mod) / b;
  if (mod != 0.0 && ((b < 0) != (mod < 0))) div -= 1.0;
  if (div == 0.0) return std::copysign(0.0, a / b);
  double floordiv = std::floor(div);
  if (div - floordiv > 0.5) floordiv += 1.0;
  return floordiv;
}

Value repeat(Interpreter& in, const Value& seq, std::int64_t n) {
  if (n < 0) n = 0;
  if (seq.is_string()) {
    const std::string& s = seq.as_string();
    if (!s.empty() && static_cast<std::uint64_t>(n) > in.limits().max_output_bytes / s.size())
      in.check_size(in.limits().max_output_bytes + 1);
    std::string out;
    out.reserve(s.size() * static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n; ++i) out += s;
    return Value(std::move(out));
  }
  const auto& l = seq.as_list();
  if (!l.items.empty() && static_cast<std::uint64_t>(n) > in.limits().max_output_bytes / 16 / l.items.size())
    fail("a list that long exceeds the size limit");
  std::vector<Value> items;
  for (std::int64_t i = 0; i < n; ++i) items.insert(items.end(), l.items.begin(), l.items.end());
  return Value::list(std::move(items), l.tuple);
}

}  // namespace

Value binary_op(Interpreter& in, std::string_view op, const Value& a, const Value& b) {
  if (op == "~") {
    std::string left = a.str();
    const std::string right = b.str();
    in.check_size(left.size() + right.size());
    return Value(left + right);
  }
  if (a.is_undefined()) fail(a.undefined_hint());
  if (b.is_undefined()) fail(b.undefined_hint());
  const bool numbers = a.is_number() && b.is_number();
  const bool floats = numbers && (a.is_float() || b.is_float());
  if (op == "+") {
    if (floats) return Value(a.to_double() + b.to_double());
    if (numbers) return Value(add_checked(a.to_int(), b.to_int()));
    if (a.is_string() && b.is_string()) {
      in.check_size(a.as_string().size() + b.as_string().size());
      return Value(a.as_string() + b.as_string());
    }
    if (a.is_list() && b.is_list() && a.as_list().tuple == b.as_list().tuple) {
      std::vector<Value> items = a.as_list().items;
      items.insert(items.end(), b.as_list().items.begin(), b.as_list().items.end());
      return Value::list(std::move(items), a.as_list().tuple);
    }
  } else if (op == "-") {
    if (floats) return Value(a.to_double() - b.to_double());
    if (numbers) return Value(sub_checked(a.to_int(), b.to_int()));
  } else if (op == "*") {
    if (floats) return Value(a.to_double() * b.to_double());
    if (numbers) return Value(mul_checked(a.to_int(), b.to_int()));
    if ((a.is_string() || a.is_list()) && (b.is_int() || b.is_bool())) return repeat(in, a, b.to_int());
    if ((b.is_string() || b.is_list()) && (a.is_int() || a.is_bool())) return repeat(in, b, a.to_int());
  } else if (op == "/") {
    if (numbers) {
      if (b.to_double() == 0.0) fail("ZeroDivisionError: division by zero");
      return Value(a.to_double() / b.to_double());
    }
  } else if (op == "//") {
    if (numbers) {
      if (b.to_double() == 0.0) fail("ZeroDivisionError: integer division or modulo by zero");
      if (floats) return Value(python_floordiv(a.to_double(), b.to_double()));
      const std::int64_t x = a.to_int();
      const std::int64_t y = b.to_int();
      if (x == std::numeric_limits<std::int64_t>::min() && y == -1) overflow();
      std::int64_t q = x / y;
      if (x % y != 0 && ((x < 0) != (y < 0))) --q;
      return Value(q);
    }
  } else if (op == "%") {
    if (numbers) {
      if (b.to_double() == 0.0) fail("ZeroDivisionError: integer division or modulo by zero");
      if (floats) return Value(python_fmod(a.to_double(), b.to_double()));
      const std::int64_t x = a.to_int();
      const std::int64_t y = b.to_int();
      if (y == -1) return Value(std::int64_t{0});
      std::int64_t m = x % y;
      if (m != 0 && ((m < 0) != (y < 0))) m += y;
      return Value(m);
    }
    if (a.is_string()) fail("printf-style '%' formatting of strings is not supported");
  } else if (op == "**") {
    if (numbers) {
      if (!floats && b.to_int() >= 0) {
        std::int64_t base = a.to_int();
        std::int64_t exp = b.to_int();
        std::int64_t result = 1;
        while (exp > 0) {
          if (exp & 1) result = mul_checked(result, base);
          exp >>= 1;
          if (exp > 0) base = mul_checked(base, base);
        }
        return Value(result);
      }
      if (a.to_double() == 0.0 && b.to_double() < 0)
        fail("ZeroDivisionError: 0.0 cannot be raised to a negative power");
      return Value(std::pow(a.to_double(), b.to_double()));
    }
  }
  unsupported(op, a, b);
}

Value unary_minus(const Value& v) {
  if (v.is_undefined()) fail(v.undefined_hint());
  if (v.is_float()) return Value(-v.as_float());
  if (v.is_int() || v.is_bool()) {
    return Value(sub_checked(0, v.to_int()));
  }
  fail("TypeError: bad operand type for unary -: '" + v.type_name() + "'");
}

bool contains(const Value& container, const Value& item) {
  switch (container.kind()) {
    case Value::Kind::Undefined: return false;
    case Value::Kind::String:
      if (item.is_undefined()) fail(item.undefined_hint());
      if (!item.is_string())
        fail("TypeError: 'in <string>' requires string as left operand, not " + item.type_name());
      return container.as_string().find(item.as_string()) != std::string::npos;
    case Value::Kind::List:
      for (const auto& v : container.as_list().items)
        if (py_equal(v, item)) return true;
      return false;
    case Value::Kind::Dict: return container.as_dict().find(item) != nullptr;
    default: fail("TypeError: argument of type '" + container.type_name() + "' is not iterable");
  }
}

Value slice(const Value& v, const std::optional<std::int64_t>& start_in, const std::optional<std::int64_t>& stop_in,
            const std::optional<std::int64_t>& step_in) {
  if (!v.is_string() && !v.is_list()) fail("TypeError: '" + v.type_name() + "' object is not subscriptable");
  const std::int64_t step = step_in.value_or(1);
  if (step == 0) fail("ValueError: slice step cannot be zero");
  std::vector<std::size_t> offsets;
  std::int64_t len = 0;
  if (v.is_string()) {
    offsets = char_offsets(v.as_string());
    len = static_cast<std::int64_t>(offsets.size()) - 1;
  } else {
    len = static_cast<std::int64_t>(v.as_list().items.size());
  }
  auto clamp = [&](const std::optional<std::int64_t>& bound, std::int64_t fallback) {
    if (!bound) return fallback;
    std::int64_t x = *bound;
    if (x < 0) {
      x += len;
      if (x < 0) x = step < 0 ? -1 : 0;
    } else if (x >= len) {
      x = step < 0 ? len - 1 : len;
    }
    return x;
  };
  const std::int64_t start = clamp(start_in, step < 0 ? len - 1 : 0);
  const std::int64_t stop = clamp(stop_in, step < 0 ? -1 : len);
  std::vector<std::int64_t> picked;
  for (std::int64_t i = start; step > 0 ? i < stop : i > stop; i += step) picked.push_back(i);
  if (v.is_string()) {
    const std::string& s = v.as_string();
    std::string out;
    for (const auto i : picked) {
      const auto at = static_cast<std::size_t>(i);
      out.append(s, offsets[at], offsets[at + 1] - offsets[at]);
    }
    return Value(std::move(out));
  }
  std::vector<Value> items;
  items.reserve(picked.size());
  for (const auto i : picked) items.push_back(v.as_list().items[static_cast<std::size_t>(i)]);
  return Value::list(std::move(items), v.as_list().tuple);
}

std::int64_t length(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::Undefined: return 0;
    case Value::Kind::String: return static_cast<std::int64_t>(char_count(v.as_string()));
    case Value::Kind::List: return static_cast<std::int64_t>(v.as_list().items.size());
    case Value::Kind::Dict: return static_cast<std::int64_t>(v.as_dict().entries.size());
    default: fail("TypeError: object of type '" + v.type_name() + "' has no len()");
  }
}

}  // namespace flux::jinja
