#include "formats/byte_cursor.hpp"

#include <fmt/format.h>

#include "base/error.hpp"

namespace flux::gguf {

void ByteCursor::fail_at(std::uint64_t at, std::string_view message) const {
  throw FormatError(fmt::format("{}: offset {}: {}", source_, at, message));
}

void ByteCursor::fail_truncated(std::uint64_t n, std::string_view field) const {
  fail(
      fmt::format("truncated file: {} needs {} bytes but only {} are left", field, n, remaining()));
}

std::string ByteCursor::read_string(std::string_view field) {
  const std::uint64_t at = offset_;
  const auto length = read<std::uint64_t>(field);
  if (length > remaining()) {
    fail_at(at, fmt::format("{}: string length {} exceeds the {} bytes left in the file", field,
                            length, remaining()));
  }
  const auto bytes = read_bytes(length, field);
  return std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

}  // namespace flux::gguf
