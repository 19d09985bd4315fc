#include "base/error.hpp"

#include <cstdio>
#include <cstdlib>

namespace flux {

void invariant_failed(std::string_view what, std::source_location where) {
  std::fprintf(stderr, "flux: internal error at %s:%u (%s): %.*s\n", where.file_name(),
               static_cast<unsigned>(where.line()), where.function_name(),
               static_cast<int>(what.size()), what.data());
  std::abort();
}

}  // namespace flux
