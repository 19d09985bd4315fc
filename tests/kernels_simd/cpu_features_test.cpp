// Feature detection, level names, FLUX_ISA handling and the shape of every kernel table.

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <string>

#include "base/error.hpp"
#include "kernels/cpu_features.hpp"
#include "kernels/dot_kernels.hpp"

namespace flux {
namespace {

// Sets FLUX_ISA for one scope and restores the previous value.
class ScopedIsaVariable {
 public:
  explicit ScopedIsaVariable(const char* value) {
    if (const char* old = std::getenv("FLUX_ISA")) previous_ = old;
    had_previous_ = std::getenv("FLUX_ISA") != nullptr;
    if (value) {
      setenv("FLUX_ISA", value, 1);
    } else {
      unsetenv("FLUX_ISA");
    }
  }
  ~ScopedIsaVariable() {
    if (had_previous_) {
      setenv("FLUX_ISA", previous_.c_str(), 1);
    } else {
      unsetenv("FLUX_ISA");
    }
  }

 private:
  std::string previous_;
  bool had_previous_ = false;
};

TEST(CpuFeatures, LevelNamesRoundTrip) {
  for (IsaLevel level : {IsaLevel::Scalar, IsaLevel::Avx2, IsaLevel::AvxVnni, IsaLevel::Avx512,
                         IsaLevel::Avx512Vnni, IsaLevel::Avx512Bf16}) {
    EXPECT_EQ(parse_isa_level(isa_level_name(level)), level);
  }
  EXPECT_FALSE(parse_isa_level("sse2").has_value());
  EXPECT_FALSE(parse_isa_level("").has_value());
}

TEST(CpuFeatures, SupportedLevelsStartAtScalarAndIncludeTheirBases) {
  const std::vector<IsaLevel> levels = supported_isa_levels();
  ASSERT_FALSE(levels.empty());
  EXPECT_EQ(levels.front(), IsaLevel::Scalar);
  for (std::size_t i = 1; i < levels.size(); ++i) {
    EXPECT_LT(levels[i - 1], levels[i]);
    EXPECT_NE(std::find(levels.begin(), levels.end(), base_isa_level(levels[i])), levels.end())
        << isa_level_name(levels[i]);
  }
  EXPECT_EQ(levels.back(), best_isa_level(detect_cpu_features()));
}

TEST(CpuFeatures, EveryLevelExtendsALowerOne) {
  EXPECT_EQ(base_isa_level(IsaLevel::Scalar), IsaLevel::Scalar);
  for (IsaLevel level : {IsaLevel::Avx2, IsaLevel::AvxVnni, IsaLevel::Avx512, IsaLevel::Avx512Vnni,
                         IsaLevel::Avx512Bf16}) {
    EXPECT_LT(base_isa_level(level), level) << isa_level_name(level);
  }
}

TEST(CpuFeatures, BestLevelFollowsFeatureBits) {
  CpuFeatures f;
  EXPECT_EQ(best_isa_level(f), IsaLevel::Scalar);
  f.avx2 = f.fma = f.f16c = true;
  EXPECT_EQ(best_isa_level(f), IsaLevel::Scalar) << "no OS support for YMM state";
  f.os_saves_ymm = true;
  EXPECT_EQ(best_isa_level(f), IsaLevel::Avx2);
  f.avx512f = f.avx512bw = f.avx512vl = f.avx512dq = f.avx512vnni = true;
  EXPECT_EQ(best_isa_level(f), IsaLevel::Avx2) << "no OS support for ZMM state";
  f.os_saves_zmm = true;
  EXPECT_EQ(best_isa_level(f), IsaLevel::Avx512Vnni);
  f.avx512bf16 = true;
  EXPECT_EQ(best_isa_level(f), IsaLevel::Avx512Bf16);
  f.avx512vnni = false;
  EXPECT_EQ(best_isa_level(f), IsaLevel::Avx512) << "BF16 level extends the VNNI one";
  EXPECT_FALSE(supports_isa_level(f, IsaLevel::Avx512Bf16));
  f.avx512bw = false;
  EXPECT_EQ(best_isa_level(f), IsaLevel::Avx2);
  // AVX-VNNI without AVX-512 (Alder Lake): its own branch above Avx2.
  f.avxvnni = true;
  EXPECT_EQ(best_isa_level(f), IsaLevel::AvxVnni);
  EXPECT_FALSE(supports_isa_level(f, IsaLevel::Avx512));
  f.os_saves_ymm = false;
  EXPECT_EQ(best_isa_level(f), IsaLevel::Scalar) << "AVX-VNNI needs the AVX2 level";
  // AVX-512 without AVX-VNNI (Skylake-X, Zen 4): the VNNI level of the other branch is skipped.
  CpuFeatures skylake;
  skylake.avx2 = skylake.fma = skylake.f16c = skylake.os_saves_ymm = skylake.os_saves_zmm = true;
  skylake.avx512f = skylake.avx512bw = skylake.avx512vl = skylake.avx512dq = true;
  EXPECT_EQ(best_isa_level(skylake), IsaLevel::Avx512);
  EXPECT_FALSE(supports_isa_level(skylake, IsaLevel::AvxVnni));
  EXPECT_TRUE(supports_isa_level(skylake, IsaLevel::Avx2));
}

TEST(CpuFeatures, EnvironmentSelectsLowerLevels) {
  const IsaLevel best = best_isa_level(detect_cpu_features());
  {
    ScopedIsaVariable unset(nullptr);
    EXPECT_EQ(isa_level_from_environment(), best);
  }
  {
    ScopedIsaVariable scalar("scalar");
    EXPECT_EQ(isa_level_from_environment(), IsaLevel::Scalar);
  }
  {
    // Above what the CPU has (or equal to it on a BF16 machine): clamped to the best level.
    ScopedIsaVariable highest("avx512bf16");
    EXPECT_EQ(isa_level_from_environment(), best);
  }
  for (IsaLevel level : supported_isa_levels()) {
    ScopedIsaVariable exact(std::string(isa_level_name(level)).c_str());
    EXPECT_EQ(isa_level_from_environment(), level);
  }
  {
    ScopedIsaVariable bogus("avx9000");
    EXPECT_THROW(isa_level_from_environment(), InvalidArgument);
  }
}

TEST(CpuFeatures, EveryTableIsCompleteAndLabelled) {
  for (IsaLevel level : supported_isa_levels()) {
    const DotKernels& k = kernel_table_for(level);
    EXPECT_EQ(k.level, level);
    for (DotRowsFn fn : {k.f32, k.f16, k.bf16, k.q4_0, k.q4_1, k.q8_0, k.q4_k, k.q5_k, k.q6_k,
                         k.q8_1, k.q8_k}) {
      EXPECT_NE(fn, nullptr) << isa_level_name(level);
    }
    EXPECT_NE(k.quantize_q8_0, nullptr);
    EXPECT_THROW(k.dot_rows_for(TensorType::I32), UnsupportedError);
  }
}

TEST(CpuFeatures, UnsupportedLevelIsRefused) {
  const CpuFeatures features = detect_cpu_features();
  int refused = 0;
  for (IsaLevel level : {IsaLevel::Avx2, IsaLevel::AvxVnni, IsaLevel::Avx512, IsaLevel::Avx512Vnni,
                         IsaLevel::Avx512Bf16}) {
    if (supports_isa_level(features, level)) continue;
    EXPECT_THROW(kernel_table_for(level), UnsupportedError) << isa_level_name(level);
    ++refused;
  }
  if (refused == 0) GTEST_SKIP() << "this CPU supports every level";
}

}  // namespace
}  // namespace flux
