#include "tokenizer/jinja_pystring.hpp"

#include <algorithm>

#include "tokenizer/jinja_value.hpp"

namespace flux::jinja {

char32_t next_code_point(std::string_view s, std::size_t& pos) {
  const auto b0 = static_cast<unsigned char>(s[pos]);
  int len = 0;
  char32_t cp = 0;
  if (b0 < 0x80) {
    ++pos;
    return b0;
  } else if ((b0 & 0xE0) == 0xC0) {
    len = 2;
    cp = b0 & 0x1F;
  } else if ((b0 & 0xF0) == 0xE0) {
    len = 3;
    cp = b0 & 0x0F;
  } else if ((b0 & 0xF8) == 0xF0) {
    len = 4;
    cp = b0 & 0x07;
  } else {
    ++pos;
    return b0;
  }
  if (pos + len > s.size()) {
    ++pos;
    return b0;
  }
  for (int i = 1; i < len; ++i) {
    const auto b = static_cast<unsigned char>(s[pos + i]);
    if ((b & 0xC0) != 0x80) {
      ++pos;
      return b0;
    }
    cp = (cp << 6) | (b & 0x3F);
  }
  pos += len;
  return cp;
}

void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

bool is_py_space(char32_t c) {
  if (c < 0x80) return c == ' ' || (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x1F);
  return c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 ||
         c == 0x202F || c == 0x205F || c == 0x3000;
}

std::vector<std::size_t> char_offsets(std::string_view s) {
  std::vector<std::size_t> offsets;
  offsets.reserve(s.size() + 1);
  std::size_t pos = 0;
  while (pos < s.size()) {
    offsets.push_back(pos);
    next_code_point(s, pos);
  }
  offsets.push_back(s.size());
  return offsets;
}

std::size_t char_count(std::string_view s) {
  std::size_t n = 0;
  std::size_t pos = 0;
  while (pos < s.size()) {
    next_code_point(s, pos);
    ++n;
  }
  return n;
}

namespace {

struct Chars {
  std::vector<char32_t> cps;
  std::vector<std::size_t> offsets;  // byte offset of each, plus the end
};

Chars decode(std::string_view s) {
  Chars c;
  std::size_t pos = 0;
  while (pos < s.size()) {
    c.offsets.push_back(pos);
    c.cps.push_back(next_code_point(s, pos));
  }
  c.offsets.push_back(s.size());
  return c;
}

bool ascii_alpha(char32_t c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

// Letters with case in Python beyond ASCII, roughly: Latin-1/Extended, Greek, Cyrillic.
bool is_cased(char32_t c) {
  if (c < 0x80) return ascii_alpha(c);
  return (c >= 0xC0 && c <= 0x24F && c != 0xD7 && c != 0xF7) || (c >= 0x370 && c <= 0x3FF) ||
         (c >= 0x400 && c <= 0x52F);
}

char32_t to_upper(char32_t c) { return (c >= 'a' && c <= 'z') ? c - 32 : c; }
char32_t to_lower(char32_t c) { return (c >= 'A' && c <= 'Z') ? c + 32 : c; }

std::string encode(const std::vector<char32_t>& cps, std::string_view original, const Chars& chars) {
  // Re-encode changed characters only, so invalid bytes survive untouched.
  std::string out;
  out.reserve(original.size());
  for (std::size_t i = 0; i < cps.size(); ++i) {
    if (cps[i] == chars.cps[i]) {
      out.append(original.substr(chars.offsets[i], chars.offsets[i + 1] - chars.offsets[i]));
    } else {
      append_utf8(out, cps[i]);
    }
  }
  return out;
}

}  // namespace

std::string py_strip(std::string_view s, const std::optional<std::string>& chars, bool left, bool right) {
  const Chars c = decode(s);
  std::vector<char32_t> set;
  if (chars) {
    std::size_t pos = 0;
    while (pos < chars->size()) set.push_back(next_code_point(*chars, pos));
  }
  auto strip_it = [&](char32_t cp) {
    return chars ? std::find(set.begin(), set.end(), cp) != set.end() : is_py_space(cp);
  };
  std::size_t begin = 0;
  std::size_t end = c.cps.size();
  if (left)
    while (begin < end && strip_it(c.cps[begin])) ++begin;
  if (right)
    while (end > begin && strip_it(c.cps[end - 1])) --end;
  return std::string(s.substr(c.offsets[begin], c.offsets[end] - c.offsets[begin]));
}

std::vector<std::string> py_split(std::string_view s, const std::optional<std::string>& sep, long long maxsplit) {
  std::vector<std::string> out;
  if (sep) {
    if (sep->empty()) fail("ValueError: empty separator");
    std::size_t start = 0;
    while (maxsplit < 0 || static_cast<long long>(out.size()) < maxsplit) {
      const std::size_t at = s.find(*sep, start);
      if (at == std::string_view::npos) break;
      out.emplace_back(s.substr(start, at - start));
      start = at + sep->size();
    }
    out.emplace_back(s.substr(start));
    return out;
  }
  const Chars c = decode(s);
  std::size_t i = 0;
  const std::size_t n = c.cps.size();
  while (i < n) {
    while (i < n && is_py_space(c.cps[i])) ++i;
    if (i == n) break;
    if (maxsplit >= 0 && static_cast<long long>(out.size()) == maxsplit) {
      out.emplace_back(s.substr(c.offsets[i]));
      break;
    }
    std::size_t j = i;
    while (j < n && !is_py_space(c.cps[j])) ++j;
    out.emplace_back(s.substr(c.offsets[i], c.offsets[j] - c.offsets[i]));
    i = j;
  }
  return out;
}

std::vector<std::string> py_rsplit(std::string_view s, const std::optional<std::string>& sep, long long maxsplit) {
  std::vector<std::string> out;
  if (sep) {
    if (sep->empty()) fail("ValueError: empty separator");
    std::size_t end = s.size();
    while (maxsplit < 0 || static_cast<long long>(out.size()) < maxsplit) {
      if (end < sep->size()) break;
      const std::size_t at = s.rfind(*sep, end - sep->size());
      if (at == std::string_view::npos) break;
      out.emplace_back(s.substr(at + sep->size(), end - at - sep->size()));
      end = at;
    }
    out.emplace_back(s.substr(0, end));
  } else {
    const Chars c = decode(s);
    std::size_t j = c.cps.size();
    while (j > 0) {
      while (j > 0 && is_py_space(c.cps[j - 1])) --j;
      if (j == 0) break;
      if (maxsplit >= 0 && static_cast<long long>(out.size()) == maxsplit) {
        out.emplace_back(s.substr(0, c.offsets[j]));
        break;
      }
      std::size_t i = j;
      while (i > 0 && !is_py_space(c.cps[i - 1])) --i;
      out.emplace_back(s.substr(c.offsets[i], c.offsets[j] - c.offsets[i]));
      j = i;
    }
  }
  std::reverse(out.begin(), out.end());
  return out;
}

std::vector<std::string> py_splitlines(std::string_view s, bool keepends) {
  const Chars c = decode(s);
  std::vector<std::string> out;
  std::size_t start = 0;
  for (std::size_t i = 0; i < c.cps.size(); ++i) {
    const char32_t cp = c.cps[i];
    const bool brk = cp == '\n' || cp == '\r' || cp == 0x0B || cp == 0x0C || (cp >= 0x1C && cp <= 0x1E) ||
                     cp == 0x85 || cp == 0x2028 || cp == 0x2029;
    if (!brk) continue;
    std::size_t end = i + 1;
    if (cp == '\r' && end < c.cps.size() && c.cps[end] == '\n') ++end;
    const std::size_t stop = keepends ? c.offsets[end] : c.offsets[i];
    out.emplace_back(s.substr(c.offsets[start], stop - c.offsets[start]));
    start = end;
    i = end - 1;
  }
  if (start < c.cps.size()) out.emplace_back(s.substr(c.offsets[start]));
  return out;
}

std::string py_replace(std::string_view s, std::string_view old, std::string_view repl, long long count,
                       std::size_t max_bytes) {
  std::string out;
  auto append = [&](std::string_view piece) {
    if (out.size() + piece.size() > max_bytes) fail("string too long (over " + std::to_string(max_bytes) + " bytes)");
    out.append(piece);
  };
  long long done = 0;
  if (old.empty()) {
    const auto offsets = char_offsets(s);
    for (std::size_t i = 0; i + 1 < offsets.size(); ++i) {
      if (count < 0 || done < count) {
        append(repl);
        ++done;
      }
      append(s.substr(offsets[i], offsets[i + 1] - offsets[i]));
    }
    if (count < 0 || done < count) append(repl);
    return out;
  }
  std::size_t start = 0;
  while (count < 0 || done < count) {
    const std::size_t at = s.find(old, start);
    if (at == std::string_view::npos) break;
    append(s.substr(start, at - start));
    append(repl);
    start = at + old.size();
    ++done;
  }
  append(s.substr(start));
  return out;
}

std::string py_upper(std::string_view s) {
  std::string out(s);
  for (char& ch : out)
    if (ch >= 'a' && ch <= 'z') ch = static_cast<char>(ch - 32);
  return out;
}

std::string py_lower(std::string_view s) {
  std::string out(s);
  for (char& ch : out)
    if (ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch + 32);
  return out;
}

std::string py_capitalize(std::string_view s) {
  const Chars c = decode(s);
  std::vector<char32_t> cps = c.cps;
  for (std::size_t i = 0; i < cps.size(); ++i) cps[i] = i == 0 ? to_upper(cps[i]) : to_lower(cps[i]);
  return encode(cps, s, c);
}

std::string py_title(std::string_view s) {
  const Chars c = decode(s);
  std::vector<char32_t> cps = c.cps;
  bool previous_cased = false;
  for (auto& cp : cps) {
    cp = previous_cased ? to_lower(cp) : to_upper(cp);
    previous_cased = is_cased(cp);
  }
  return encode(cps, s, c);
}

std::string jinja_title(std::string_view s) {
  const Chars c = decode(s);
  std::vector<char32_t> cps = c.cps;
  auto separator = [](char32_t cp) {
    return cp == '-' || cp == '(' || cp == '{' || cp == '[' || cp == '<' || is_py_space(cp);
  };
  for (std::size_t i = 0; i < cps.size(); ++i) {
    const bool word_start = i == 0 || separator(c.cps[i - 1]);
    cps[i] = word_start ? to_upper(cps[i]) : to_lower(cps[i]);
  }
  return encode(cps, s, c);
}

bool py_isupper(std::string_view s) {
  bool any = false;
  for (char ch : s) {
    if (ch >= 'a' && ch <= 'z') return false;
    if (ch >= 'A' && ch <= 'Z') any = true;
  }
  return any;
}

bool py_islower(std::string_view s) {
  bool any = false;
  for (char ch : s) {
    if (ch >= 'A' && ch <= 'Z') return false;
    if (ch >= 'a' && ch <= 'z') any = true;
  }
  return any;
}

namespace {

void append_hex(std::string& out, char32_t cp, int digits) {
  static const char* hex = "0123456789abcdef";
  for (int i = digits - 1; i >= 0; --i) out.push_back(hex[(cp >> (4 * i)) & 0xF]);
}

bool printable_non_ascii(char32_t cp) {
  return !(cp <= 0xA0 || cp == 0xAD || (cp >= 0x200B && cp <= 0x200F) || (cp >= 0x2028 && cp <= 0x202E) ||
           (cp >= 0x2060 && cp <= 0x2064) || cp == 0xFEFF || (cp >= 0xD800 && cp <= 0xDFFF) ||
           (cp >= 0xE000 && cp <= 0xF8FF) || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x3000 ||
           cp == 0x205F);
}

}  // namespace

std::string py_repr_string(std::string_view s) {
  const bool has_single = s.find('\'') != std::string_view::npos;
  const bool has_double = s.find('"') != std::string_view::npos;
  const char quote = has_single && !has_double ? '"' : '\'';
  std::string out(1, quote);
  std::size_t pos = 0;
  while (pos < s.size()) {
    const std::size_t start = pos;
    const char32_t cp = next_code_point(s, pos);
    if (cp == static_cast<char32_t>(quote) || cp == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(cp));
    } else if (cp == '\n') {
      out += "\\n";
    } else if (cp == '\r') {
      out += "\\r";
    } else if (cp == '\t') {
      out += "\\t";
    } else if (cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp <= 0xFF && !printable_non_ascii(cp))) {
      out += "\\x";
      append_hex(out, cp, 2);
    } else if (cp >= 0x80 && !printable_non_ascii(cp)) {
      out += cp > 0xFFFF ? "\\U" : "\\u";
      append_hex(out, cp, cp > 0xFFFF ? 8 : 4);
    } else {
      out.append(s.substr(start, pos - start));
    }
  }
  out.push_back(quote);
  return out;
}

void json_quote(std::string& out, std::string_view s, bool ensure_ascii) {
  out.push_back('"');
  std::size_t pos = 0;
  while (pos < s.size()) {
    const std::size_t start = pos;
    const char32_t cp = next_code_point(s, pos);
    switch (cp) {
      case '"': out += "\\\""; continue;
      case '\\': out += "\\\\"; continue;
      case '\n': out += "\\n"; continue;
      case '\r': out += "\\r"; continue;
      case '\t': out += "\\t"; continue;
      case '\b': out += "\\b"; continue;
      case '\f': out += "\\f"; continue;
      default: break;
    }
    if (cp < 0x20 || (ensure_ascii && cp >= 0x80)) {
      if (cp > 0xFFFF) {
        const char32_t v = cp - 0x10000;
        out += "\\u";
        append_hex(out, 0xD800 + (v >> 10), 4);
        out += "\\u";
        append_hex(out, 0xDC00 + (v & 0x3FF), 4);
      } else {
        out += "\\u";
        append_hex(out, cp, 4);
      }
    } else {
      out.append(s.substr(start, pos - start));
    }
  }
  out.push_back('"');
}

}  // namespace flux::jinja
