#pragma once
// Errors by kind. Bad input (files, prompts, flags, requests) throws a typed flux::Error that the
// API boundary turns into a clear message; a broken invariant is a bug and aborts via check().

#include <source_location>
#include <stdexcept>
#include <string>
#include <string_view>

namespace flux {

// Base of every error caused by input the engine was given.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A file that is malformed: the message names the file, field or tensor, and the byte offset.
class FormatError : public Error {
 public:
  using Error::Error;
};

// A well-formed request the engine cannot honour (unknown architecture, unsupported type).
class UnsupportedError : public Error {
 public:
  using Error::Error;
};

// A bad argument from a user: a flag, a prompt longer than the context, an out-of-range value.
class InvalidArgument : public Error {
 public:
  using Error::Error;
};

// Aborts with file and line when an internal invariant does not hold. Never used for input.
[[noreturn]] void invariant_failed(std::string_view what, std::source_location where);

inline void check(bool condition, std::string_view what,
                  std::source_location where = std::source_location::current()) {
  if (!condition) [[unlikely]] invariant_failed(what, where);
}

}  // namespace flux
