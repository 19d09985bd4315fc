#pragma once
// Sizes on the command line: "1073741824", "512M", "2G", "1.5GiB" (K/M/G/T are powers of 1024,
// as memory is counted).

#include <cstdint>
#include <string>

namespace flux::cli {

// Throws InvalidArgument naming the flag for anything that is not a size.
std::uint64_t parse_byte_size(const std::string& text, const char* flag);

}  // namespace flux::cli
