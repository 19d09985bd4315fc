#pragma once
// The integer entries of a kernel table (Q4_0, Q4_1, Q8_0 and the k-quants, plain and
// interleaved), which every x86 level fills from the same templates and differs only in its
// policies: Int8 for the byte multiply-adds (MaddubsInt8 or a VnniInt8), Wide and Narrow for the
// interleaved kernels' vectors with several activation rows and with one.

#include "kernels/dot_kernels.hpp"
#include "kernels/x86_interleaved_templates.hpp"
#include "kernels/x86_kquant_templates.hpp"

namespace flux {
namespace {

template <class Int8, class Wide, class Narrow>
void set_int8_kernels(DotKernels& k) {
  k.q4_0 = q4_0_dot_rows<Int8>;
  k.q4_1 = q4_1_dot_rows<Int8>;
  k.q8_0 = q8_0_dot_rows<Int8>;
  k.q4_k = q4_k_dot_rows<Int8>;
  k.q5_k = q5_k_dot_rows<Int8>;
  k.q6_k = q6_k_dot_rows<Int8>;
  k.q4_0_tile = q4_0_dot_tile<Int8>;
  k.q8_0_tile = q8_0_dot_tile<Int8>;
  k.q4_0x8 = q4_0x8_dot_groups<Wide, Narrow>;
  k.q4_1x8 = q4_1x8_dot_groups<Wide, Narrow>;
  k.q8_0x8 = q8_0x8_dot_groups<Wide, Narrow>;
  k.q4_kx8 = k4_kx8_dot_groups<Wide, Narrow, false>;
  k.q5_kx8 = k4_kx8_dot_groups<Wide, Narrow, true>;
  k.q6_kx8 = q6_kx8_dot_groups<Wide, Narrow>;
}

}  // namespace
}  // namespace flux
