// Jinja's built-in filters and tests, with the signatures and behaviour of Jinja2 3.1 (tojson as
// Hugging Face overrides it: json.dumps(x, ensure_ascii=False, indent, separators, sort_keys)).

#include <algorithm>
#include <cctype>
#include <charconv>
#include <functional>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <set>

#include "tokenizer/jinja_builtins.hpp"
#include "tokenizer/jinja_pystring.hpp"

namespace flux::jinja {

namespace {

const std::set<std::string_view>& filter_names() {
  static const std::set<std::string_view> names = {
      "abs",   "attr",     "capitalize", "center",     "count",  "d",       "default",  "dictsort", "e",
      "escape", "first",   "float",      "format",     "indent", "int",     "join",     "last",     "length",
      "list",  "lower",    "items",      "map",        "min",    "max",     "pprint",   "reject",   "rejectattr",
      "replace", "reverse", "round",     "safe",       "select", "selectattr", "sort",  "string",   "sum",
      "title", "trim",     "truncate",   "unique",     "upper",  "wordcount", "tojson"};
  return names;
}

const std::set<std::string_view>& test_names() {
  static const std::set<std::string_view> names = {
      "odd",     "even",   "divisibleby", "defined", "undefined", "filter",  "test", "none",    "boolean",
      "false",   "true",   "integer",     "float",   "lower",     "upper",   "string", "mapping", "number",
      "sequence", "iterable", "callable", "sameas",  "escaped",   "in",      "==",   "eq",      "equalto",
      "!=",      "ne",     ">",           "gt",      "greaterthan", ">=",    "ge",   "<",       "lt",
      "lessthan", "<=",    "le"};
  return names;
}

std::string lower_if_string(const Value& v) { return v.is_string() ? py_lower(v.as_string()) : std::string(); }

// Sort/compare key: strings lower-cased unless case_sensitive.
Value ignore_case(const Value& v, bool case_sensitive) {
  if (!case_sensitive && v.is_string()) return Value(lower_if_string(v));
  return v;
}

// Jinja's make_attrgetter: "a.b.0" looks up a, then b, then index 0.
Value get_attribute_path(Interpreter& in, const Value& item, const Value& attribute) {
  if (!attribute.is_string()) return in.get_item(item, attribute);
  Value current = item;
  const std::string& path = attribute.as_string();
  std::size_t start = 0;
  while (true) {
    const std::size_t dot = path.find('.', start);
    const std::string part = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    const bool digits = !part.empty() && std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; });
    std::int64_t index = 0;
    const bool numeric =
        digits && std::from_chars(part.data(), part.data() + part.size(), index).ec == std::errc();
    current = numeric ? in.get_item(current, Value(index)) : in.get_item(current, Value(part));
    if (dot == std::string::npos) return current;
    start = dot + 1;
  }
}

std::string join_strings(Interpreter& in, const std::vector<Value>& items, const std::string& sep) {
  std::size_t total = 0;
  std::vector<std::string> parts;
  parts.reserve(items.size());
  for (const auto& v : items) {
    parts.push_back(v.str());
    total += parts.back().size() + sep.size();
  }
  in.check_size(total);
  std::string out;
  out.reserve(total);
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (i > 0) out += sep;
    out += parts[i];
  }
  return out;
}

std::optional<double> parse_python_float(std::string s) {
  s = py_strip(s, std::nullopt, true, true);
  std::string cleaned;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '_' && i > 0 && i + 1 < s.size() && std::isdigit(static_cast<unsigned char>(s[i - 1])) &&
        std::isdigit(static_cast<unsigned char>(s[i + 1])))
      continue;
    cleaned.push_back(s[i]);
  }
  if (cleaned.empty() || cleaned.find_first_of("xXpP") != std::string::npos) return std::nullopt;
  const std::string lower = py_lower(cleaned);
  const std::string body = (lower[0] == '+' || lower[0] == '-') ? lower.substr(1) : lower;
  if (body == "inf" || body == "infinity") return lower[0] == '-' ? -INFINITY : INFINITY;
  if (body == "nan") return NAN;
  if (body.find_first_not_of("0123456789.e+-") != std::string::npos) return std::nullopt;
  char* end = nullptr;
  const double d = std::strtod(cleaned.c_str(), &end);
  if (end != cleaned.c_str() + cleaned.size()) return std::nullopt;
  return d;
}

std::optional<std::int64_t> parse_python_int(const std::string& text, std::int64_t base) {
  std::string s = py_strip(text, std::nullopt, true, true);
  bool negative = false;
  if (!s.empty() && (s[0] == '+' || s[0] == '-')) {
    negative = s[0] == '-';
    s.erase(0, 1);
  }
  if (s.size() > 1 && s[0] == '0') {
    const char p = static_cast<char>(s[1] | 0x20);
    const int prefix_base = p == 'x' ? 16 : p == 'o' ? 8 : p == 'b' ? 2 : 0;
    if (prefix_base != 0 && (base == 0 || base == prefix_base)) {
      base = prefix_base;
      s.erase(0, 2);
      if (!s.empty() && s[0] == '_') s.erase(0, 1);
    }
  }
  if (base == 0) base = 10;
  if (base < 2 || base > 36 || s.empty() || s.front() == '_' || s.back() == '_') return std::nullopt;
  std::int64_t value = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '_') {
      if (s[i - 1] == '_') return std::nullopt;
      continue;
    }
    int digit = 0;
    if (c >= '0' && c <= '9') digit = c - '0';
    else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') digit = (c | 0x20) - 'a' + 10;
    else return std::nullopt;
    if (digit >= base) return std::nullopt;
    if (__builtin_mul_overflow(value, base, &value) || __builtin_add_overflow(value, digit, &value))
      fail("OverflowError: integer does not fit in 64 bits");
  }
  return negative ? -value : value;
}

Value round_value(const Value& v, std::int64_t precision, const std::string& method) {
  if (method != "common" && method != "ceil" && method != "floor") fail("method must be common, ceil or floor");
  if (v.is_undefined()) fail(v.undefined_hint());
  if (!v.is_number()) fail("TypeError: type " + v.type_name() + " doesn't define __round__ method");
  if (method == "common") {
    if (!v.is_float()) return Value(v.to_int());  // round(int, n) keeps an int (n >= 0)
    const double d = v.as_float();
    if (!std::isfinite(d) || precision > 330) return v;
    if (precision < 0) {
      const double scale = std::pow(10.0, static_cast<double>(-precision));
      return Value(std::nearbyint(d / scale) * scale);
    }
    std::vector<char> buf(400);
    std::snprintf(buf.data(), buf.size(), "%.*f", static_cast<int>(precision), d);
    return Value(std::strtod(buf.data(), nullptr));
  }
  const double scale = std::pow(10.0, static_cast<double>(precision));
  const double x = v.to_double() * scale;
  return Value((method == "ceil" ? std::ceil(x) : std::floor(x)) / scale);
}

std::string indent_text(Interpreter& in, const std::string& s, const Value& width, bool first, bool blank) {
  std::string indention;
  if (width.is_string()) indention = width.as_string();
  else {
    const std::int64_t n = width.to_int();
    in.check_size(static_cast<std::size_t>(std::max<std::int64_t>(n, 0)));
    indention.assign(static_cast<std::size_t>(std::max<std::int64_t>(n, 0)), ' ');
  }
  std::vector<std::string> lines = py_splitlines(s + "\n", false);
  in.check_size(s.size() + lines.size() * (indention.size() + 1) + indention.size());
  std::string rv;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (i > 0) rv += "\n";
    if (i > 0 && (blank || !lines[i].empty())) rv += indention;
    rv += lines[i];
  }
  if (first) rv = indention + rv;
  return rv;
}

std::string printf_format(const std::string& fmt, const std::vector<Value>& args) {
  std::string out;
  std::size_t next = 0;
  for (std::size_t i = 0; i < fmt.size(); ++i) {
    if (fmt[i] != '%') {
      out.push_back(fmt[i]);
      continue;
    }
    std::size_t j = i + 1;
    while (j < fmt.size() && std::string_view("-+ #0123456789.").find(fmt[j]) != std::string_view::npos) ++j;
    if (j >= fmt.size()) fail("ValueError: incomplete format");
    const char conv = fmt[j];
    const std::string spec = fmt.substr(i, j - i);
    i = j;
    if (conv == '%') {
      out.push_back('%');
      continue;
    }
    if (next >= args.size()) fail("TypeError: not enough arguments for format string");
    const Value& a = args[next++];
    char buf[512];
    if (conv == 's' || conv == 'r') {
      const std::string text = conv == 's' ? a.str() : a.repr();
      if (spec.size() > 1) {
        std::snprintf(buf, sizeof buf, (spec + "s").c_str(), text.c_str());
        out += buf;
      } else {
        out += text;
      }
    } else if (conv == 'd' || conv == 'i' || conv == 'x' || conv == 'X' || conv == 'o') {
      if (!a.is_number()) fail("TypeError: %" + std::string(1, conv) + " format: a real number is required");
      const long long n = a.is_float() ? static_cast<long long>(a.as_float()) : a.to_int();
      std::snprintf(buf, sizeof buf, (spec + "ll" + (conv == 'i' ? 'd' : conv)).c_str(), n);
      out += buf;
    } else if (std::string_view("feEgG").find(conv) != std::string_view::npos) {
      if (!a.is_number()) fail("TypeError: must be real number, not " + a.type_name());
      std::snprintf(buf, sizeof buf, (spec + conv).c_str(), a.to_double());
      out += buf;
    } else {
      fail(std::string("ValueError: unsupported format character '") + conv + "'");
    }
  }
  if (next < args.size()) fail("TypeError: not all arguments converted during string formatting");
  return out;
}

std::vector<Value> select_items(Interpreter& in, const Value& seq, CallArgs& args, bool by_attribute, bool select) {
  std::vector<Value> out;
  if (!seq.truthy()) return out;
  std::size_t off = 0;
  Value attribute;
  if (by_attribute) {
    if (args.positional.empty()) fail("FilterArgumentError: Missing parameter for attribute name");
    attribute = args.positional[0];
    off = 1;
  }
  std::optional<std::string> test;
  if (args.positional.size() > off) {
    if (!args.positional[off].is_string()) fail("the test name must be a string");
    test = args.positional[off].as_string();
  }
  for (const auto& item : iterate(seq)) {
    in.step();
    const Value probe = by_attribute ? get_attribute_path(in, item, attribute) : item;
    bool ok = false;
    if (test) {
      CallArgs test_args;
      test_args.positional.assign(args.positional.begin() + static_cast<std::ptrdiff_t>(off + 1), args.positional.end());
      test_args.keyword = args.keyword;
      ok = call_test(in, *test, probe, test_args);
    } else {
      ok = probe.truthy();
    }
    if (ok == select) out.push_back(item);
  }
  return out;
}

std::vector<Value> sorted_items(std::vector<Value> items, bool reverse, bool case_sensitive,
                                const std::function<Value(const Value&)>& key) {
  std::vector<std::pair<Value, Value>> keyed;
  keyed.reserve(items.size());
  for (auto& item : items) keyed.emplace_back(ignore_case(key(item), case_sensitive), std::move(item));
  std::stable_sort(keyed.begin(), keyed.end(), [reverse](const auto& a, const auto& b) {
    return reverse ? py_less(b.first, a.first) : py_less(a.first, b.first);
  });
  std::vector<Value> out;
  out.reserve(keyed.size());
  for (auto& [k, v] : keyed) out.push_back(std::move(v));
  return out;
}

Value tojson(const Value& v, CallArgs& args) {
  ArgBinder a("tojson", args, {"ensure_ascii", "indent", "separators", "sort_keys"});
  Value::JsonStyle style;
  style.ensure_ascii = a.get_or(0, Value(false)).truthy();
  const Value indent = a.get_or(1, Value::none());
  if (!indent.is_none() && !indent.is_undefined()) {
    style.has_indent = true;
    if (indent.is_string()) style.indent = indent.as_string();
    else style.indent.assign(static_cast<std::size_t>(std::clamp<std::int64_t>(indent.to_int(), 0, 1024)), ' ');
    style.item_separator = ",";
  }
  const Value separators = a.get_or(2, Value::none());
  if (separators.is_list()) {
    const auto& s = separators.as_list().items;
    if (s.size() != 2 || !s[0].is_string() || !s[1].is_string()) fail("separators must be a pair of strings");
    style.item_separator = s[0].as_string();
    style.key_separator = s[1].as_string();
  }
  style.sort_keys = a.get_or(3, Value(false)).truthy();
  return Value(v.to_json(style));
}

}  // namespace

bool filter_exists(std::string_view name) { return filter_names().count(name) != 0; }
bool test_exists(std::string_view name) { return test_names().count(name) != 0; }

Value call_filter(Interpreter& in, const std::string& name, const Value& v, CallArgs& args) {
  auto text = [&]() { return v.str(); };
  if (name == "tojson") {
    Value out = tojson(v, args);
    in.check_size(out.as_string().size());
    return out;
  }
  if (name == "trim") {
    ArgBinder a(name, args, {"chars"});
    return Value(py_strip(text(), a.get_string(0), true, true));
  }
  if (name == "length" || name == "count") return Value(length(v));
  if (name == "upper") return Value(py_upper(text()));
  if (name == "lower") return Value(py_lower(text()));
  if (name == "capitalize") return Value(py_capitalize(text()));
  if (name == "title") return Value(jinja_title(text()));
  if (name == "string") return Value(text());
  if (name == "safe") return Value(text());
  if (name == "pprint") return Value(v.repr());
  if (name == "e" || name == "escape") {
    std::string out;
    for (char c : text()) {
      switch (c) {
        case '&': out += "&amp;"; break;
        case '<': out += "&lt;"; break;
        case '>': out += "&gt;"; break;
        case '"': out += "&#34;"; break;
        case '\'': out += "&#39;"; break;
        default: out.push_back(c);
      }
    }
    return Value(std::move(out));
  }
  if (name == "replace") {
    ArgBinder a(name, args, {"old", "new", "count"});
    if (!a.has(0) || !a.has(1)) fail("replace() needs the old and new strings");
    const Value count = a.get_or(2, Value::none());
    return Value(py_replace(text(), a.get(0)->str(), a.get(1)->str(), count.is_none() ? -1 : count.to_int(),
                            in.limits().max_output_bytes));
  }
  if (name == "default" || name == "d") {
    ArgBinder a(name, args, {"default_value", "boolean"});
    if (v.is_undefined() || (a.get_bool(1, false) && !v.truthy())) return a.get_or(0, Value(""));
    return v;
  }
  if (name == "first" || name == "last") {
    if (v.is_undefined() || v.is_string() || v.is_list() || v.is_dict()) {
      std::vector<Value> items = iterate(v);
      if (items.empty()) return Value::undefined("No " + name + " item, sequence was empty.");
      return name == "first" ? items.front() : items.back();
    }
    fail("TypeError: '" + v.type_name() + "' object is not iterable");
  }
  if (name == "join") {
    ArgBinder a(name, args, {"d", "attribute"});
    std::vector<Value> items = iterate(v);
    if (a.has(1) && !a.get(1)->is_none())
      for (auto& item : items) item = get_attribute_path(in, item, *a.get(1));
    return Value(join_strings(in, items, a.get_or(0, Value("")).str()));
  }
  if (name == "list") return Value::list(iterate(v));
  if (name == "items") {
    if (v.is_undefined()) return Value::list({});
    if (!v.is_dict()) fail("TypeError: can only get item pairs from a mapping");
    std::vector<Value> pairs;
    for (const auto& [k, val] : v.as_dict().entries) pairs.push_back(Value::list({k, val}, true));
    return Value::list(std::move(pairs));
  }
  if (name == "reverse") {
    if (v.is_string()) return slice(v, std::nullopt, std::nullopt, -1);
    std::vector<Value> items = iterate(v);
    std::reverse(items.begin(), items.end());
    return Value::list(std::move(items));
  }
  if (name == "int") {
    ArgBinder a(name, args, {"default", "base"});
    const Value fallback = a.get_or(0, Value(std::int64_t{0}));
    if (v.is_string()) {
      if (auto i = parse_python_int(v.as_string(), a.get_int(1, 10))) return Value(*i);
      if (auto d = parse_python_float(v.as_string()); d && std::isfinite(*d) && std::fabs(*d) < 9.2e18)
        return Value(static_cast<std::int64_t>(*d));
      return fallback;
    }
    if (v.is_int() || v.is_bool()) return Value(v.to_int());
    if (v.is_float() && std::isfinite(v.as_float()) && std::fabs(v.as_float()) < 9.2e18)
      return Value(static_cast<std::int64_t>(v.as_float()));
    return fallback;
  }
  if (name == "float") {
    ArgBinder a(name, args, {"default"});
    if (v.is_number()) return Value(v.to_double());
    if (v.is_string())
      if (auto d = parse_python_float(v.as_string())) return Value(*d);
    return a.get_or(0, Value(0.0));
  }
  if (name == "abs") {
    if (v.is_float()) return Value(std::fabs(v.as_float()));
    if (v.is_int() || v.is_bool()) {
      const std::int64_t i = v.to_int();
      return i < 0 ? unary_minus(Value(i)) : Value(i);
    }
    if (v.is_undefined()) fail(v.undefined_hint());
    fail("TypeError: bad operand type for abs(): '" + v.type_name() + "'");
  }
  if (name == "round") {
    ArgBinder a(name, args, {"precision", "method"});
    return round_value(v, a.get_int(0, 0), a.get_or(1, Value("common")).str());
  }
  if (name == "indent") {
    ArgBinder a(name, args, {"width", "first", "blank"});
    return Value(indent_text(in, text(), a.get_or(0, Value(4)), a.get_bool(1, false), a.get_bool(2, false)));
  }
  if (name == "center") {
    ArgBinder a(name, args, {"width"});
    const std::string s = text();
    const std::int64_t width = a.get_int(0, 80);
    const auto len = static_cast<std::int64_t>(char_count(s));
    if (width <= len) return Value(s);
    in.check_size(static_cast<std::size_t>(width) + s.size());
    const std::int64_t pad = width - len;
    const std::int64_t left = pad / 2 + (pad & width & 1);
    return Value(std::string(static_cast<std::size_t>(left), ' ') + s +
                 std::string(static_cast<std::size_t>(pad - left), ' '));
  }
  if (name == "truncate") {
    ArgBinder a(name, args, {"length", "killwords", "end", "leeway"});
    const std::string s = text();
    const std::int64_t len = a.get_int(0, 255);
    const std::string end = a.get_or(2, Value("...")).str();
    const std::int64_t leeway = a.get_int(3, 5);
    if (static_cast<std::int64_t>(char_count(s)) <= len + leeway) return Value(s);
    const std::int64_t keep = len - static_cast<std::int64_t>(char_count(end));
    Value head = slice(Value(s), std::nullopt, keep, std::nullopt);
    if (a.get_bool(1, false)) return Value(head.as_string() + end);
    return Value(py_rsplit(head.as_string(), std::string(" "), 1)[0] + end);
  }
  if (name == "wordcount") {
    std::int64_t words = 0;
    bool in_word = false;
    for (unsigned char c : text()) {
      const bool word_char = std::isalnum(c) || c == '_' || c >= 0x80;
      if (word_char && !in_word) ++words;
      in_word = word_char;
    }
    return Value(words);
  }
  if (name == "format") {
    if (!args.keyword.empty()) fail("format with keyword arguments is not supported");
    return Value(printf_format(text(), args.positional));
  }
  if (name == "attr") {
    ArgBinder a(name, args, {"name"});
    if (!a.has(0)) fail("attr() needs a name");
    return in.get_attr(v, a.get(0)->str());
  }
  if (name == "map") {
    std::vector<Value> out;
    if (!v.truthy()) return Value::list({});
    std::optional<Value> attribute;
    Value fallback;
    for (auto& [k, val] : args.keyword) {
      if (k == "attribute") attribute = val;
      else if (k == "default") fallback = val;
      else fail("map() got an unexpected keyword argument '" + k + "'");
    }
    if (!attribute && args.positional.empty()) fail("map requires a filter argument");
    for (const auto& item : iterate(v)) {
      in.step();
      if (attribute) {
        Value r = get_attribute_path(in, item, *attribute);
        out.push_back(r.is_undefined() && !fallback.is_undefined() ? fallback : r);
      } else {
        CallArgs rest;
        rest.positional.assign(args.positional.begin() + 1, args.positional.end());
        out.push_back(call_filter(in, args.positional[0].str(), item, rest));
      }
    }
    return Value::list(std::move(out));
  }
  if (name == "select" || name == "reject") return Value::list(select_items(in, v, args, false, name == "select"));
  if (name == "selectattr" || name == "rejectattr")
    return Value::list(select_items(in, v, args, true, name == "selectattr"));
  if (name == "sort") {
    ArgBinder a(name, args, {"reverse", "case_sensitive", "attribute"});
    const Value attribute = a.get_or(2, Value::none());
    return Value::list(sorted_items(iterate(v), a.get_bool(0, false), a.get_bool(1, false), [&](const Value& item) {
      return attribute.is_none() ? item : get_attribute_path(in, item, attribute);
    }));
  }
  if (name == "dictsort") {
    ArgBinder a(name, args, {"case_sensitive", "by", "reverse"});
    if (!v.is_dict()) fail("TypeError: dictsort needs a mapping");
    const std::string by = a.get_or(1, Value("key")).str();
    if (by != "key" && by != "value") fail("FilterArgumentError: You can only sort by either \"key\" or \"value\"");
    std::vector<Value> pairs;
    for (const auto& [k, val] : v.as_dict().entries) pairs.push_back(Value::list({k, val}, true));
    const std::size_t pos = by == "key" ? 0 : 1;
    return Value::list(sorted_items(std::move(pairs), a.get_bool(2, false), a.get_bool(0, false),
                                    [pos](const Value& p) { return p.as_list().items[pos]; }));
  }
  if (name == "unique") {
    ArgBinder a(name, args, {"case_sensitive", "attribute"});
    const Value attribute = a.get_or(1, Value::none());
    std::vector<Value> out;
    std::vector<Value> seen;
    for (const auto& item : iterate(v)) {
      in.step();
      Value key = ignore_case(attribute.is_none() ? item : get_attribute_path(in, item, attribute), a.get_bool(0, false));
      if (std::any_of(seen.begin(), seen.end(), [&](const Value& s) { return py_equal(s, key); })) continue;
      seen.push_back(std::move(key));
      out.push_back(item);
    }
    return Value::list(std::move(out));
  }
  if (name == "min" || name == "max") {
    ArgBinder a(name, args, {"case_sensitive", "attribute"});
    const Value attribute = a.get_or(1, Value::none());
    std::vector<Value> items = iterate(v);
    if (items.empty()) return Value::undefined("No aggregated item, sequence was empty.");
    std::size_t best = 0;
    auto key = [&](const Value& item) {
      return ignore_case(attribute.is_none() ? item : get_attribute_path(in, item, attribute), a.get_bool(0, false));
    };
    for (std::size_t i = 1; i < items.size(); ++i) {
      const bool better = name == "min" ? py_less(key(items[i]), key(items[best])) : py_less(key(items[best]), key(items[i]));
      if (better) best = i;
    }
    return items[best];
  }
  if (name == "sum") {
    ArgBinder a(name, args, {"attribute", "start"});
    Value total = a.get_or(1, Value(std::int64_t{0}));
    const Value attribute = a.get_or(0, Value::none());
    for (const auto& item : iterate(v))
      total = binary_op(in, "+", total, attribute.is_none() ? item : get_attribute_path(in, item, attribute));
    return total;
  }
  fail("no filter named '" + name + "'");
}

bool call_test(Interpreter& in, const std::string& name, const Value& v, CallArgs& args) {
  auto arg = [&]() -> const Value& {
    if (args.positional.empty()) fail("the test '" + name + "' needs an argument");
    return args.positional[0];
  };
  if (name == "defined") return !v.is_undefined();
  if (name == "undefined") return v.is_undefined();
  if (name == "none") return v.is_none();
  if (name == "boolean") return v.is_bool();
  if (name == "true") return v.is_bool() && v.as_bool();
  if (name == "false") return v.is_bool() && !v.as_bool();
  if (name == "integer") return v.is_int();
  if (name == "float") return v.is_float();
  if (name == "number") return v.is_number();
  if (name == "string") return v.is_string();
  if (name == "mapping") return v.is_dict();
  if (name == "sequence" || name == "iterable") return v.is_string() || v.is_list() || v.is_dict() || v.is_undefined();
  if (name == "callable") return v.is_function();
  if (name == "escaped") return false;
  if (name == "lower") return py_islower(v.str());
  if (name == "upper") return py_isupper(v.str());
  if (name == "filter") return v.is_string() && filter_exists(v.as_string());
  if (name == "test") return v.is_string() && test_exists(v.as_string());
  if (name == "odd" || name == "even" || name == "divisibleby") {
    if (v.is_undefined()) fail(v.undefined_hint());
    const Value divisor = name == "divisibleby" ? arg() : Value(std::int64_t{2});
    const Value rem = binary_op(in, "%", v, divisor);
    if (name == "odd") return py_equal(rem, Value(std::int64_t{1}));
    return py_equal(rem, Value(std::int64_t{0}));
  }
  if (name == "sameas") {
    const Value& other = arg();
    if (v.kind() != other.kind()) return false;
    if (v.is_list()) return &v.as_list() == &other.as_list();
    if (v.is_dict()) return &v.as_dict() == &other.as_dict();
    if (v.is_string() || v.is_float() || v.is_int()) return py_equal(v, other);
    return py_equal(v, other);
  }
  if (name == "in") return contains(arg(), v);
  if (name == "==" || name == "eq" || name == "equalto") return py_equal(v, arg());
  if (name == "!=" || name == "ne") return !py_equal(v, arg());
  if (name == "<" || name == "lt" || name == "lessthan") return py_less(v, arg());
  if (name == "<=" || name == "le") return py_less(v, arg()) || py_equal(v, arg());
  if (name == ">" || name == "gt" || name == "greaterthan") return py_less(arg(), v);
  if (name == ">=" || name == "ge") return py_less(arg(), v) || py_equal(v, arg());
  fail("no test named '" + name + "'");
}

}  // namespace flux::jinja
