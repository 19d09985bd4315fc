#include "kernels/cpu_features.hpp"

#include <fmt/format.h>

#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <utility>

#include "base/error.hpp"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

namespace flux {
namespace {

// Every level, in IsaLevel order.
constexpr std::array<std::pair<IsaLevel, std::string_view>, 6> kLevelNames{{
    {IsaLevel::Scalar, "scalar"},
    {IsaLevel::Avx2, "avx2"},
    {IsaLevel::AvxVnni, "avxvnni"},
    {IsaLevel::Avx512, "avx512"},
    {IsaLevel::Avx512Vnni, "avx512vnni"},
    {IsaLevel::Avx512Bf16, "avx512bf16"},
}};

bool bit(std::uint32_t word, int index) { return ((word >> index) & 1u) != 0; }

#if defined(__x86_64__) || defined(__i386__)
// XCR0 through xgetbv, written as inline assembly so this file needs no -mxsave.
std::uint64_t read_xcr0() {
  std::uint32_t low = 0;
  std::uint32_t high = 0;
  __asm__ volatile("xgetbv" : "=a"(low), "=d"(high) : "c"(0));
  return (static_cast<std::uint64_t>(high) << 32) | low;
}
#endif

// What `level` needs beyond its base level.
bool has_own_features(const CpuFeatures& f, IsaLevel level) {
  switch (level) {
    case IsaLevel::Scalar: return true;
    case IsaLevel::Avx2: return f.os_saves_ymm && f.avx2 && f.fma && f.f16c;
    case IsaLevel::AvxVnni: return f.avxvnni;
    case IsaLevel::Avx512:
      return f.os_saves_zmm && f.avx512f && f.avx512bw && f.avx512vl && f.avx512dq;
    case IsaLevel::Avx512Vnni: return f.avx512vnni;
    case IsaLevel::Avx512Bf16: return f.avx512bf16;
  }
  return false;
}

}  // namespace

IsaLevel base_isa_level(IsaLevel level) {
  switch (level) {
    case IsaLevel::Scalar:
    case IsaLevel::Avx2: return IsaLevel::Scalar;
    case IsaLevel::AvxVnni:
    case IsaLevel::Avx512: return IsaLevel::Avx2;
    case IsaLevel::Avx512Vnni: return IsaLevel::Avx512;
    case IsaLevel::Avx512Bf16: return IsaLevel::Avx512Vnni;
  }
  return IsaLevel::Scalar;
}

std::string_view isa_level_name(IsaLevel level) {
  for (const auto& [value, name] : kLevelNames) {
    if (value == level) return name;
  }
  return "unknown";
}

std::optional<IsaLevel> parse_isa_level(std::string_view name) {
  for (const auto& [value, spelling] : kLevelNames) {
    if (spelling == name) return value;
  }
  return std::nullopt;
}

CpuFeatures detect_cpu_features() {
  CpuFeatures f;
#if defined(__x86_64__) || defined(__i386__)
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return f;
  const bool osxsave = bit(ecx, 27);
  const bool avx = bit(ecx, 28);
  f.fma = bit(ecx, 12);
  f.f16c = bit(ecx, 29);
  if (osxsave) {
    const std::uint64_t xcr0 = read_xcr0();
    // SSE and AVX state (bits 1, 2); opmask, upper halves of ZMM0-15 and ZMM16-31 (bits 5-7).
    f.os_saves_ymm = avx && (xcr0 & 0x6) == 0x6;
    f.os_saves_zmm = f.os_saves_ymm && (xcr0 & 0xE0) == 0xE0;
  }
  if (__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) {
    f.avx2 = bit(ebx, 5);
    f.avx512f = bit(ebx, 16);
    f.avx512dq = bit(ebx, 17);
    f.avx512bw = bit(ebx, 30);
    f.avx512vl = bit(ebx, 31);
    f.avx512vnni = bit(ecx, 11);
  }
  if (__get_cpuid_count(7, 1, &eax, &ebx, &ecx, &edx)) {
    f.avxvnni = bit(eax, 4);
    f.avx512bf16 = bit(eax, 5);
  }
#endif
  return f;
}

bool supports_isa_level(const CpuFeatures& f, IsaLevel level) {
  for (;; level = base_isa_level(level)) {
    if (!has_own_features(f, level)) return false;
    if (level == IsaLevel::Scalar) return true;
  }
}

namespace {

// The highest supported level at or below `ceiling` (Scalar always is).
IsaLevel best_isa_level_up_to(const CpuFeatures& f, IsaLevel ceiling) {
  IsaLevel best = IsaLevel::Scalar;
  for (const auto& [level, name] : kLevelNames) {
    if (level <= ceiling && supports_isa_level(f, level)) best = level;
  }
  return best;
}

}  // namespace

IsaLevel best_isa_level(const CpuFeatures& f) {
  return best_isa_level_up_to(f, kLevelNames.back().first);
}

std::vector<IsaLevel> supported_isa_levels() {
  const CpuFeatures features = detect_cpu_features();
  std::vector<IsaLevel> levels;
  for (const auto& [level, name] : kLevelNames) {
    if (supports_isa_level(features, level)) levels.push_back(level);
  }
  return levels;
}

IsaLevel isa_level_from_environment() {
  const CpuFeatures features = detect_cpu_features();
  const char* requested_name = std::getenv("FLUX_ISA");
  if (requested_name == nullptr || *requested_name == '\0') return best_isa_level(features);
  const std::optional<IsaLevel> requested = parse_isa_level(requested_name);
  if (!requested) {
    throw InvalidArgument(fmt::format(
        "FLUX_ISA={}: unknown level (expected scalar, avx2, avxvnni, avx512, avx512vnni or "
        "avx512bf16)",
        requested_name));
  }
  if (!supports_isa_level(features, *requested)) {
    const IsaLevel lowered = best_isa_level_up_to(features, *requested);
    fmt::print(stderr, "warning: FLUX_ISA={} is not supported by this CPU; using {}\n",
               requested_name, isa_level_name(lowered));
    return lowered;
  }
  return *requested;
}

}  // namespace flux
