#pragma once
// Which SIMD kernel sets this CPU (and its operating system) can run, and which one the user asked
// for. The levels are ordered: each one's kernels may use everything the levels below it use.

#include <optional>
#include <string_view>
#include <vector>

namespace flux {

enum class IsaLevel : int {
  Scalar = 0,      // the plain C++ reference kernels: the oracle, and the fallback everywhere
  Avx2 = 1,        // AVX2 + FMA + F16C (Haswell, Zen 1 and later)
  Avx512 = 2,      // AVX-512 F/BW/VL/DQ on top of Avx2 (Skylake-X, Zen 4)
  Avx512Vnni = 3,  // Avx512 plus AVX-512 VNNI's vpdpbusd for int8 dot products (Ice Lake, Zen 4)
};

// "scalar", "avx2", "avx512", "avx512vnni": the spelling FLUX_ISA accepts.
std::string_view isa_level_name(IsaLevel level);
std::optional<IsaLevel> parse_isa_level(std::string_view name);

struct CpuFeatures {
  bool avx2 = false;
  bool fma = false;
  bool f16c = false;
  bool avx512f = false;
  bool avx512bw = false;
  bool avx512vl = false;
  bool avx512dq = false;
  bool avx512vnni = false;
  // The OS saves the YMM (resp. ZMM and opmask) registers on context switches (XCR0); without
  // that the instructions fault even where CPUID reports them.
  bool os_saves_ymm = false;
  bool os_saves_zmm = false;
};

// Reads CPUID and XCR0 once per call; cheap, but callers cache the result.
CpuFeatures detect_cpu_features();

// The highest level whose every requirement `features` meets.
IsaLevel best_isa_level(const CpuFeatures& features);

// Every level this machine can run, lowest (Scalar) first: what tests iterate over.
std::vector<IsaLevel> supported_isa_levels();

// The level kernels should use: the best this machine supports, lowered by the FLUX_ISA
// environment variable when it is set (the only place FLUX_ISA is read). A request above what the
// machine supports is clamped to the best supported level with a warning on stderr, so a script
// that forces "avx512vnni" still runs on an older CPU; an unknown name throws InvalidArgument.
IsaLevel isa_level_from_environment();

}  // namespace flux
