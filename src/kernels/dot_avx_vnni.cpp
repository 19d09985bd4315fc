// AVX-VNNI kernels (compiled with the AVX2 flags plus -mavxvnni; see CMakeLists.txt): the int8
// kernels of the AVX-512 VNNI level on 256-bit vectors with the VEX encodings of vpdpbusd and
// vpdpwssd, for CPUs that have those but no AVX-512 (Alder Lake and later Intel client cores).
// Interleaved groups run one per vector (Lanes8), as at the AVX2 level; everything else is
// inherited from the AVX2 table.

#include "kernels/dot_kernels.hpp"
#include "kernels/x86_int8_table.hpp"
#include "kernels/x86_vnni_int8.hpp"

namespace flux {
namespace {

// The VEX encodings: what x86_vnni_int8.hpp's VnniInt8 calls at this level.
struct VexVnni {
  static __m256i dpbusd(__m256i acc, __m256i u, __m256i s) { return _mm256_dpbusd_avx_epi32(acc, u, s); }
  static __m256i dpwssd(__m256i acc, __m256i a, __m256i b) { return _mm256_dpwssd_avx_epi32(acc, a, b); }
};
using Int8 = VnniInt8<VexVnni>;

}  // namespace

DotKernels avx_vnni_kernels(const DotKernels& below) {
  DotKernels k = below;
  k.level = IsaLevel::AvxVnni;
  set_int8_kernels<Int8, Lanes8<Int8>, Lanes8<Int8>>(k);
  return k;
}

}  // namespace flux
