// AVX-512 VNNI kernels (compiled with the AVX-512 flags plus -mavx512vnni; see CMakeLists.txt):
// Q4_0, Q4_1 and Q8_0 dot products through vpdpbusd on 256-bit lanes (AVX-512 VL encoding), which
// multiplies u8 by s8 and adds groups of four into int32 in one instruction; the k-quants
// through vpdpwssd, which applies their int16 sub-block scales and accumulates in one.

#include "kernels/dot_kernels.hpp"
#include "kernels/x86_interleaved_avx512.hpp"
#include "kernels/x86_int8_table.hpp"
#include "kernels/x86_vnni_int8.hpp"

namespace flux {
namespace {

// The EVEX encodings (AVX-512 VL): what x86_vnni_int8.hpp's VnniInt8 calls at this level.
struct EvexVnni {
  static __m256i dpbusd(__m256i acc, __m256i u, __m256i s) { return _mm256_dpbusd_epi32(acc, u, s); }
  static __m256i dpwssd(__m256i acc, __m256i a, __m256i b) { return _mm256_dpwssd_epi32(acc, a, b); }
};
using Int8 = VnniInt8<EvexVnni>;

}  // namespace

DotKernels avx512_vnni_kernels(const DotKernels& below) {
  DotKernels k = below;
  k.level = IsaLevel::Avx512Vnni;
  set_int8_kernels<Int8, Lanes16Vnni, Lanes8<Int8>>(k);
  return k;
}

}  // namespace flux
