#pragma once
// Flags shared by the commands that run the engine (run, serve, bench): KV cache sizes such as
// "512M" or "2G" (K/M/G/T are powers of 1024, as memory is counted) and the KV cache type.

#include <cstdint>
#include <string>

#include <CLI/CLI.hpp>

#include "flux/engine.hpp"
#include "model/weight_packing.hpp"

namespace flux::cli {

// Throws InvalidArgument naming the flag for anything that is not a size.
std::uint64_t parse_byte_size(const std::string& text, const char* flag);

// --kv-type f16|q8_0.
void add_kv_type_option(CLI::App& cmd, KvCacheType& type);

// --no-repack: keep every weight matrix in the file's layout.
void add_load_options(CLI::App& cmd, LoadOptions& options);

}  // namespace flux::cli
