#pragma once
// Python str semantics over UTF-8 std::strings for the Jinja interpreter: code-point indexing,
// Unicode whitespace (str.isspace), strip/split/replace/case methods, repr and JSON escaping.
// Case mapping is ASCII-only; bytes that are not valid UTF-8 count as one character each.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace flux::jinja {

// Decodes the code point at s[pos] and advances pos (an invalid byte decodes as itself).
char32_t next_code_point(std::string_view s, std::size_t& pos);
void append_utf8(std::string& out, char32_t cp);
bool is_py_space(char32_t cp);

// Byte offsets of each character start, plus s.size() at the end.
std::vector<std::size_t> char_offsets(std::string_view s);
std::size_t char_count(std::string_view s);

// str.strip/lstrip/rstrip: chars unset strips whitespace, otherwise any of chars' code points.
std::string py_strip(std::string_view s, const std::optional<std::string>& chars, bool left, bool right);
// str.split(sep=None, maxsplit=-1) and str.rsplit.
std::vector<std::string> py_split(std::string_view s, const std::optional<std::string>& sep, long long maxsplit);
std::vector<std::string> py_rsplit(std::string_view s, const std::optional<std::string>& sep, long long maxsplit);
std::vector<std::string> py_splitlines(std::string_view s, bool keepends);
// str.replace(old, new, count=-1); max_bytes bounds the result (throws past it).
std::string py_replace(std::string_view s, std::string_view old, std::string_view repl, long long count,
                       std::size_t max_bytes);

std::string py_upper(std::string_view s);
std::string py_lower(std::string_view s);
std::string py_capitalize(std::string_view s);  // str.capitalize
std::string py_title(std::string_view s);       // str.title
std::string jinja_title(std::string_view s);    // the |title filter (words split on -, space, ([{<)
bool py_isupper(std::string_view s);
bool py_islower(std::string_view s);

// Python's repr of a str ('...' or "..." quoting).
std::string py_repr_string(std::string_view s);
// json.dumps escaping of a str, with quotes.
void json_quote(std::string& out, std::string_view s, bool ensure_ascii);

}  // namespace flux::jinja
