#pragma once
// Which SIMD kernel sets this CPU (and its operating system) can run, and which one the user asked
// for. Levels are ordered by preference (a machine's best level is the highest it supports) and
// each extends one base level, whose instructions its kernels may also use. AVX-VNNI (VEX) and
// AVX-512 are separate branches above Avx2: Alder Lake has the first without the second,
// Skylake-X the second without the first, so a machine's supported levels need not be contiguous.

#include <optional>
#include <string_view>
#include <vector>

namespace flux {

enum class IsaLevel : int {
  Scalar = 0,      // the plain C++ reference kernels: the oracle, and the fallback everywhere
  Avx2 = 1,        // AVX2 + FMA + F16C (Haswell, Zen 1 and later)
  AvxVnni = 2,     // Avx2 plus AVX-VNNI's VEX-encoded vpdpbusd on 256 bits (Alder Lake, Zen 5)
  Avx512 = 3,      // AVX-512 F/BW/VL/DQ on top of Avx2 (Skylake-X, Zen 4)
  Avx512Vnni = 4,  // Avx512 plus AVX-512 VNNI's vpdpbusd for int8 dot products (Ice Lake, Zen 4)
  Avx512Bf16 = 5,  // Avx512Vnni plus AVX-512 BF16's vdpbf16ps (Cooper Lake, Sapphire Rapids, Zen 4)
};

// The level a level's kernel table starts from (Scalar for Scalar itself).
IsaLevel base_isa_level(IsaLevel level);

// "scalar", "avx2", "avxvnni", "avx512", "avx512vnni", "avx512bf16": the spelling FLUX_ISA accepts.
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
  bool avx512bf16 = false;
  bool avxvnni = false;
  // The OS saves the YMM (resp. ZMM and opmask) registers on context switches (XCR0); without
  // that the instructions fault even where CPUID reports them.
  bool os_saves_ymm = false;
  bool os_saves_zmm = false;
};

// Reads CPUID and XCR0 once per call; cheap, but callers cache the result.
CpuFeatures detect_cpu_features();

// Whether `features` meet every requirement of `level` (and of the levels it extends).
bool supports_isa_level(const CpuFeatures& features, IsaLevel level);

// The highest level whose every requirement `features` meets.
IsaLevel best_isa_level(const CpuFeatures& features);

// Every level this machine can run, lowest (Scalar) first: what tests iterate over.
std::vector<IsaLevel> supported_isa_levels();

// The level kernels should use: the best this machine supports, lowered by the FLUX_ISA
// environment variable when it is set (the only place FLUX_ISA is read). A level the machine does
// not support is lowered to the highest supported level below it, with a warning on stderr, so a
// script that forces "avx512bf16" still runs on an older CPU; an unknown name throws
// InvalidArgument.
IsaLevel isa_level_from_environment();

}  // namespace flux
