#include "apps/flux/engine_flags.hpp"

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <map>

#include <fmt/format.h>

#include "base/error.hpp"

namespace flux::cli {

std::uint64_t parse_byte_size(const std::string& text, const char* flag) {
  auto bad = [&] { return InvalidArgument(fmt::format("{} takes a size such as 4294967296, 512M or 2G (got '{}')", flag, text)); };
  if (text.empty()) throw bad();
  char* end = nullptr;
  const double value = std::strtod(text.c_str(), &end);
  if (end == text.c_str() || !std::isfinite(value) || value < 0) throw bad();
  std::string unit(end);
  for (char& c : unit) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (unit.size() > 1 && unit.back() == 'B') unit.pop_back();
  if (unit.size() > 1 && unit.back() == 'I') unit.pop_back();
  double scale = 1;
  if (unit == "K") scale = 1024.0;
  else if (unit == "M") scale = 1024.0 * 1024;
  else if (unit == "G") scale = 1024.0 * 1024 * 1024;
  else if (unit == "T") scale = 1024.0 * 1024 * 1024 * 1024;
  else if (!unit.empty()) throw bad();
  const double bytes = value * scale;
  if (bytes >= 1.8e19) throw bad();
  return static_cast<std::uint64_t>(bytes);
}

void add_kv_type_option(CLI::App& cmd, KvCacheType& type) {
  const std::map<std::string, KvCacheType> names{{"f16", KvCacheType::F16}, {"q8_0", KvCacheType::Q8_0}};
  cmd.add_option("--kv-type", type, "KV cache type: f16, or q8_0 for about half the memory")
      ->transform(CLI::CheckedTransformer(names, CLI::ignore_case))
      ->default_str("f16");
}

void add_load_options(CLI::App& cmd, LoadOptions& options) {
  cmd.add_flag_callback(
      "--no-repack", [&options] { options.repack_weights = false; },
      "Keep weights in the file's layout instead of repacking Q4_0/Q4_1/Q8_0 for the interleaved kernels");
}

}  // namespace flux::cli
