// Methods of str, dict and list that chat templates call (the read-only ones: Jinja's immutable
// sandbox refuses the mutating ones), and the global functions Hugging Face's environment offers.

#include <algorithm>
#include <cctype>
#include <charconv>
#include <ctime>

#include "tokenizer/jinja_builtins.hpp"
#include "tokenizer/jinja_pystring.hpp"

namespace flux::jinja {

ArgBinder::ArgBinder(const std::string& function, CallArgs& args, std::initializer_list<std::string_view> names)
    : function_(function), names_(names), slots_(names.size(), nullptr) {
  if (args.positional.size() > names_.size())
    fail("TypeError: " + function_ + "() takes at most " + std::to_string(names_.size()) + " argument(s) (" +
         std::to_string(args.positional.size()) + " given)");
  for (std::size_t i = 0; i < args.positional.size(); ++i) slots_[i] = &args.positional[i];
  for (const auto& [key, value] : args.keyword) {
    const auto it = std::find(names_.begin(), names_.end(), key);
    if (it == names_.end()) fail("TypeError: " + function_ + "() got an unexpected keyword argument '" + key + "'");
    const auto index = static_cast<std::size_t>(it - names_.begin());
    if (slots_[index] != nullptr) fail("TypeError: " + function_ + "() got multiple values for argument '" + key + "'");
    slots_[index] = &value;
  }
}

std::int64_t ArgBinder::get_int(std::size_t index, std::int64_t fallback) const {
  const Value* v = slots_[index];
  if (v == nullptr || v->is_none()) return fallback;
  if (!v->is_int() && !v->is_bool())
    fail("TypeError: " + function_ + "() argument '" + std::string(names_[index]) + "' must be an integer, not " +
         v->type_name());
  return v->to_int();
}

bool ArgBinder::get_bool(std::size_t index, bool fallback) const {
  const Value* v = slots_[index];
  return v == nullptr ? fallback : v->truthy();
}

std::optional<std::string> ArgBinder::get_string(std::size_t index) const {
  const Value* v = slots_[index];
  if (v == nullptr || v->is_none()) return std::nullopt;
  if (!v->is_string())
    fail("TypeError: " + function_ + "() argument must be str or None, not " + v->type_name());
  return v->as_string();
}

namespace {

using Method = std::function<Value(Interpreter&, const Value& self, CallArgs&)>;

Value bind_method(const Value& self, const std::string& name, Method method) {
  return Value::function(name, [self, method = std::move(method)](Interpreter& in, CallArgs& args) {
    return method(in, self, args);
  });
}

Value unsafe(const Value& self, const std::string& name) {
  const std::string message = "SecurityError: access to attribute '" + name + "' of '" + self.type_name() +
                              "' object is unsafe.";
  return Value::function(name, [message](Interpreter&, CallArgs&) -> Value { fail(message); });
}

Value string_list(std::vector<std::string> parts) {
  std::vector<Value> items;
  items.reserve(parts.size());
  for (auto& p : parts) items.emplace_back(std::move(p));
  return Value::list(std::move(items));
}

// str.startswith/endswith(prefix or tuple of prefixes [, start [, end]]).
bool affix_matches(const Value& self, CallArgs& args, bool at_start) {
  ArgBinder a(at_start ? "startswith" : "endswith", args, {"prefix", "start", "end"});
  if (!a.has(0)) fail("TypeError: startswith() takes at least 1 argument (0 given)");
  std::string s = self.as_string();
  if (a.has(1) || a.has(2)) {
    const auto opt = [&](std::size_t i) -> std::optional<std::int64_t> {
      return a.has(i) && !a.get(i)->is_none() ? std::optional<std::int64_t>(a.get(i)->to_int()) : std::nullopt;
    };
    s = slice(self, opt(1), opt(2), std::nullopt).as_string();
  }
  std::vector<Value> candidates;
  if (a.get(0)->is_list() && a.get(0)->as_list().tuple) candidates = a.get(0)->as_list().items;
  else candidates.push_back(*a.get(0));
  for (const auto& c : candidates) {
    if (!c.is_string()) fail("TypeError: startswith first arg must be str or a tuple of str, not " + c.type_name());
    const std::string& p = c.as_string();
    if (p.size() > s.size()) continue;
    if (at_start ? s.compare(0, p.size(), p) == 0 : s.compare(s.size() - p.size(), p.size(), p) == 0) return true;
  }
  return false;
}

std::int64_t find_in(const Value& self, CallArgs& args, bool reverse, const char* fn) {
  ArgBinder a(fn, args, {"sub", "start", "end"});
  if (!a.has(0) || !a.get(0)->is_string()) fail(std::string("TypeError: ") + fn + "() needs a str argument");
  const std::string& s = self.as_string();
  const auto offsets = char_offsets(s);
  const auto n = static_cast<std::int64_t>(offsets.size()) - 1;
  auto clamp = [n](std::int64_t x) { return x < 0 ? std::max<std::int64_t>(x + n, 0) : std::min(x, n); };
  const std::int64_t start = clamp(a.get_int(1, 0));
  const std::int64_t end = clamp(a.get_int(2, n));
  if (end < start) return -1;
  const std::string_view window = std::string_view(s).substr(offsets[start], offsets[end] - offsets[start]);
  const std::string& sub = a.get(0)->as_string();
  const std::size_t at = reverse ? window.rfind(sub) : window.find(sub);
  if (at == std::string_view::npos) return -1;
  return start + static_cast<std::int64_t>(char_count(window.substr(0, at)));
}

// str.format with {} / {0} / {name} fields and no format specs.
std::string str_format(Interpreter& in, const std::string& fmt, CallArgs& args) {
  std::string out;
  std::size_t auto_index = 0;
  for (std::size_t i = 0; i < fmt.size(); ++i) {
    const char c = fmt[i];
    if (c == '}' ) {
      if (i + 1 < fmt.size() && fmt[i + 1] == '}') ++i;
      else fail("ValueError: Single '}' encountered in format string");
      out.push_back('}');
      continue;
    }
    if (c != '{') {
      out.push_back(c);
      continue;
    }
    if (i + 1 < fmt.size() && fmt[i + 1] == '{') {
      out.push_back('{');
      ++i;
      continue;
    }
    const std::size_t close = fmt.find('}', i);
    if (close == std::string::npos) fail("ValueError: Single '{' encountered in format string");
    const std::string field = fmt.substr(i + 1, close - i - 1);
    if (field.find_first_of(":!.[") != std::string::npos) fail("str.format: format specs are not supported");
    Value v;
    if (field.empty()) {
      if (auto_index >= args.positional.size()) fail("IndexError: Replacement index out of range");
      v = args.positional[auto_index++];
    } else if (std::all_of(field.begin(), field.end(), [](char ch) { return ch >= '0' && ch <= '9'; })) {
      std::size_t index = 0;
      const auto parsed = std::from_chars(field.data(), field.data() + field.size(), index);
      if (parsed.ec != std::errc() || index >= args.positional.size())
        fail("IndexError: Replacement index out of range");
      v = args.positional[index];
    } else {
      const auto it = std::find_if(args.keyword.begin(), args.keyword.end(), [&](const auto& kv) { return kv.first == field; });
      if (it == args.keyword.end()) fail("KeyError: '" + field + "'");
      v = it->second;
    }
    out += v.str();
    in.check_size(out.size());
    i = close;
  }
  return out;
}

std::optional<Value> string_method(const Value& self, const std::string& name) {
  auto strip = [name](bool left, bool right) -> Method {
    return [name, left, right](Interpreter&, const Value& s, CallArgs& args) {
      ArgBinder a(name, args, {"chars"});
      return Value(py_strip(s.as_string(), a.get_string(0), left, right));
    };
  };
  if (name == "strip") return bind_method(self, name, strip(true, true));
  if (name == "lstrip") return bind_method(self, name, strip(true, false));
  if (name == "rstrip") return bind_method(self, name, strip(false, true));
  if (name == "split" || name == "rsplit") {
    return bind_method(self, name, [name](Interpreter&, const Value& s, CallArgs& args) {
      ArgBinder a(name, args, {"sep", "maxsplit"});
      const auto sep = a.get_string(0);
      const std::int64_t maxsplit = a.get_int(1, -1);
      return string_list(name == "split" ? py_split(s.as_string(), sep, maxsplit) : py_rsplit(s.as_string(), sep, maxsplit));
    });
  }
  if (name == "splitlines") {
    return bind_method(self, name, [](Interpreter&, const Value& s, CallArgs& args) {
      ArgBinder a("splitlines", args, {"keepends"});
      return string_list(py_splitlines(s.as_string(), a.get_bool(0, false)));
    });
  }
  if (name == "startswith" || name == "endswith") {
    const bool start = name == "startswith";
    return bind_method(self, name, [start](Interpreter&, const Value& s, CallArgs& args) { return Value(affix_matches(s, args, start)); });
  }
  using Transform = std::string (*)(std::string_view);
  Transform transform = nullptr;
  if (name == "upper") transform = py_upper;
  else if (name == "lower") transform = py_lower;
  else if (name == "title") transform = py_title;
  else if (name == "capitalize") transform = py_capitalize;
  if (transform != nullptr) {
    return bind_method(self, name, [transform, name](Interpreter&, const Value& s, CallArgs& args) {
      ArgBinder a(name, args, {});
      return Value(transform(s.as_string()));
    });
  }
  if (name == "replace") {
    return bind_method(self, name, [](Interpreter& in, const Value& s, CallArgs& args) {
      ArgBinder a("replace", args, {"old", "new", "count"});
      if (!a.has(0) || !a.has(1) || !a.get(0)->is_string() || !a.get(1)->is_string())
        fail("TypeError: replace() needs two str arguments");
      return Value(py_replace(s.as_string(), a.get(0)->as_string(), a.get(1)->as_string(), a.get_int(2, -1),
                              in.limits().max_output_bytes));
    });
  }
  if (name == "find" || name == "rfind" || name == "index" || name == "rindex") {
    return bind_method(self, name, [name](Interpreter&, const Value& s, CallArgs& args) {
      const std::int64_t at = find_in(s, args, name[0] == 'r', name.c_str());
      if (at < 0 && (name == "index" || name == "rindex")) fail("ValueError: substring not found");
      return Value(at);
    });
  }
  if (name == "count") {
    return bind_method(self, name, [](Interpreter&, const Value& s, CallArgs& args) {
      ArgBinder a("count", args, {"sub"});
      if (!a.has(0) || !a.get(0)->is_string()) fail("TypeError: count() needs a str argument");
      const std::string& sub = a.get(0)->as_string();
      if (sub.empty()) return Value(static_cast<std::int64_t>(char_count(s.as_string()) + 1));
      std::int64_t n = 0;
      for (std::size_t at = s.as_string().find(sub); at != std::string::npos; at = s.as_string().find(sub, at + sub.size())) ++n;
      return Value(n);
    });
  }
  if (name == "join") {
    return bind_method(self, name, [](Interpreter& in, const Value& s, CallArgs& args) {
      ArgBinder a("join", args, {"iterable"});
      if (!a.has(0)) fail("TypeError: join() takes exactly one argument (0 given)");
      std::string out;
      bool first = true;
      for (const auto& item : iterate(*a.get(0))) {
        if (!item.is_string()) fail("TypeError: sequence item: expected str instance, " + item.type_name() + " found");
        if (!first) out += s.as_string();
        first = false;
        out += item.as_string();
        in.check_size(out.size());
      }
      return Value(std::move(out));
    });
  }
  if (name == "format") {
    return bind_method(self, name, [](Interpreter& in, const Value& s, CallArgs& args) { return Value(str_format(in, s.as_string(), args)); });
  }
  using Predicate = bool (*)(unsigned char);
  Predicate predicate = nullptr;
  if (name == "isdigit" || name == "isnumeric" || name == "isdecimal") predicate = [](unsigned char c) { return c >= '0' && c <= '9'; };
  else if (name == "isalpha") predicate = [](unsigned char c) { return std::isalpha(c) != 0 || c >= 0x80; };
  else if (name == "isalnum") predicate = [](unsigned char c) { return std::isalnum(c) != 0 || c >= 0x80; };
  else if (name == "isspace") predicate = [](unsigned char c) { return c == ' ' || (c >= 9 && c <= 13) || (c >= 0x1C && c <= 0x1F); };
  if (predicate != nullptr) {
    return bind_method(self, name, [predicate](Interpreter&, const Value& s, CallArgs&) {
      const std::string& str = s.as_string();
      return Value(!str.empty() && std::all_of(str.begin(), str.end(), [predicate](char c) { return predicate(static_cast<unsigned char>(c)); }));
    });
  }
  if (name == "isupper") return bind_method(self, name, [](Interpreter&, const Value& s, CallArgs&) { return Value(py_isupper(s.as_string())); });
  if (name == "islower") return bind_method(self, name, [](Interpreter&, const Value& s, CallArgs&) { return Value(py_islower(s.as_string())); });
  return std::nullopt;
}

std::optional<Value> dict_method(const Value& self, const std::string& name) {
  if (name == "items" || name == "keys" || name == "values") {
    return bind_method(self, name, [name](Interpreter&, const Value& d, CallArgs& args) {
      ArgBinder a(name, args, {});
      std::vector<Value> out;
      for (const auto& [k, v] : d.as_dict().entries) {
        if (name == "items") out.push_back(Value::list({k, v}, true));
        else out.push_back(name == "keys" ? k : v);
      }
      return Value::list(std::move(out));
    });
  }
  if (name == "get") {
    return bind_method(self, name, [](Interpreter&, const Value& d, CallArgs& args) {
      ArgBinder a("get", args, {"key", "default"});
      if (!a.has(0)) fail("TypeError: get expected at least 1 argument, got 0");
      const Value* v = d.as_dict().find(*a.get(0));
      return v != nullptr ? *v : a.get_or(1, Value::none());
    });
  }
  if (name == "copy") return bind_method(self, name, [](Interpreter&, const Value& d, CallArgs&) { return d; });
  if (name == "pop" || name == "popitem" || name == "update" || name == "setdefault" || name == "clear" ||
      name == "fromkeys")
    return unsafe(self, name);
  return std::nullopt;
}

std::optional<Value> list_method(const Value& self, const std::string& name) {
  if (name == "index" || name == "count") {
    return bind_method(self, name, [name](Interpreter&, const Value& l, CallArgs& args) {
      ArgBinder a(name, args, {"value"});
      if (!a.has(0)) fail("TypeError: " + name + "() takes exactly one argument (0 given)");
      const auto& items = l.as_list().items;
      std::int64_t count = 0;
      for (std::size_t i = 0; i < items.size(); ++i) {
        if (!py_equal(items[i], *a.get(0))) continue;
        if (name == "index") return Value(static_cast<std::int64_t>(i));
        ++count;
      }
      if (name == "index") fail("ValueError: " + a.get(0)->repr() + " is not in list");
      return Value(count);
    });
  }
  if (name == "append" || name == "extend" || name == "insert" || name == "pop" || name == "remove" ||
      name == "reverse" || name == "sort" || name == "clear")
    return unsafe(self, name);
  return std::nullopt;
}

DictData dict_from_args(Interpreter& in, CallArgs& args, const char* fn) {
  DictData d;
  if (args.positional.size() > 1) fail(std::string("TypeError: ") + fn + " expected at most 1 argument");
  if (!args.positional.empty()) {
    const Value& src = args.positional[0];
    if (src.is_dict()) {
      d = src.as_dict();
    } else {
      for (const auto& pair : iterate(src)) {
        const auto kv = iterate(pair);
        if (kv.size() != 2) fail("ValueError: dictionary update sequence element has the wrong length");
        d.set(kv[0], kv[1]);
      }
    }
  }
  for (auto& [k, v] : args.keyword) d.set(Value(k), v);
  (void)in;
  return d;
}

}  // namespace

std::optional<Value> get_method(Interpreter&, const Value& object, const std::string& name) {
  switch (object.kind()) {
    case Value::Kind::String: return string_method(object, name);
    case Value::Kind::Dict: return dict_method(object, name);
    case Value::Kind::List: return list_method(object, name);
    default: return std::nullopt;
  }
}

void add_globals(DictData& globals) {
  globals.set(Value("range"), Value::function("range", [](Interpreter& in, CallArgs& args) {
    if (!args.keyword.empty()) fail("TypeError: range() takes no keyword arguments");
    std::int64_t start = 0, stop = 0, step = 1;
    const auto& p = args.positional;
    if (p.size() == 1) stop = p[0].to_int();
    else if (p.size() == 2 || p.size() == 3) {
      start = p[0].to_int();
      stop = p[1].to_int();
      if (p.size() == 3) step = p[2].to_int();
    } else {
      fail("TypeError: range expected 1 to 3 arguments, got " + std::to_string(p.size()));
    }
    if (step == 0) fail("ValueError: range() arg 3 must not be zero");
    const long double count = step > 0 ? (static_cast<long double>(stop) - start + step - 1) / step
                                        : (static_cast<long double>(start) - stop - step - 1) / -step;
    if (count > 100000)
      fail("OverflowError: Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).");
    std::vector<Value> items;
    for (std::int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
      in.step();
      items.emplace_back(i);
    }
    return Value::list(std::move(items));
  }));
  globals.set(Value("namespace"), Value::function("namespace", [](Interpreter& in, CallArgs& args) {
    return in.make_namespace(dict_from_args(in, args, "namespace"));
  }));
  globals.set(Value("dict"), Value::function("dict", [](Interpreter& in, CallArgs& args) {
    return Value::dict(dict_from_args(in, args, "dict"));
  }));
  globals.set(Value("raise_exception"), Value::function("raise_exception", [](Interpreter&, CallArgs& args) -> Value {
    ArgBinder a("raise_exception", args, {"message"});
    throw TemplateRaised{a.has(0) ? a.get(0)->str() : std::string()};
  }));
  globals.set(Value("strftime_now"), Value::function("strftime_now", [](Interpreter& in, CallArgs& args) {
    ArgBinder a("strftime_now", args, {"format"});
    if (!a.has(0) || !a.get(0)->is_string()) fail("TypeError: strftime_now() needs a format string");
    const std::string& fmt = a.get(0)->as_string();
    const std::time_t now = std::time(nullptr);
    std::tm local{};
    localtime_r(&now, &local);
    if (fmt.empty()) return Value("");
    for (std::size_t size = 256; size <= in.limits().max_output_bytes && size <= (std::size_t{1} << 20); size *= 4) {
      std::string buf(size, '\0');
      const std::size_t n = std::strftime(buf.data(), buf.size(), fmt.c_str(), &local);
      if (n > 0) {
        buf.resize(n);
        return Value(std::move(buf));
      }
    }
    return Value("");
  }));
}

}  // namespace flux::jinja
