#pragma once
// Errors by kind. Bad input (files, prompts, flags, requests) throws a typed flux::Error that the
// API boundary turns into a clear message; a broken invariant is a bug and aborts via check().

#include <source_location>
#include <string_view>

#include "flux/error.hpp"

namespace flux {

// Aborts with file and line when an internal invariant does not hold. Never used for input.
[[noreturn]] void invariant_failed(std::string_view what, std::source_location where);

inline void check(bool condition, std::string_view what,
                  std::source_location where = std::source_location::current()) {
  if (!condition) [[unlikely]] invariant_failed(what, where);
}

}  // namespace flux
