#pragma once
// Interleaved weight layout: groups of kInterleaveRows weight rows repacked at load time so that a
// decode kernel streams one contiguous run of bytes per thread and computes one row per vector
// lane, with no shuffles and no horizontal sums.
//
// A group of 8 rows of Q4_0, Q4_1 or Q8_0 holds, for each 32-element block index b in turn:
//   - the 8 rows' f16 fields, field by field: Q4_0 and Q8_0 have d (16 bytes, row r at d[r]),
//     Q4_1 has d and then m (32 bytes),
//   - the 8 rows' quants in 4-byte chunks: chunk c of row r sits at byte 32 * c + 4 * r after
//     the fields. Q4_0 and Q4_1 have 4 chunks (their 16 packed bytes; byte j holds element j in
//     its low nibble and element j + 16 in its high one), Q8_0 has 8 (its 32 int8 values).
// Q4_K (256-element super-blocks) has fields d and dmin, then its 8 rows' 6-bit sub-block scales
// and mins rearranged in the 96 bytes the rows' packed scales took (interleaved.cpp says how),
// then 32 chunks: chunk c holds packed bytes 4c..4c+3, whose low nibbles are elements
// 64 (c / 8) + 4 (c % 8) + 0..3 and high nibbles the 32 elements after those.
// Q5_K is Q4_K with 8 more chunks before the nibbles: chunk c < 8 holds qh bytes 4c..4c+3 (bit
// 2p of qh byte l is the fifth bit of element 64p + l, bit 2p + 1 that of element 64p + 32 + l).
// Q6_K (256-element super-blocks) has field d, then its 16 sub-block scales (int8) as 16 runs of
// 8 bytes (sub-block j of row r at byte 8j + r), then 32 chunks of the rows' ql bytes and 16 of
// their qh bytes, 4 bytes per row each: chunk c of ql holds ql[4c..4c+3], of qh qh[4c..4c+3].
// F16 and BF16 rows are cut into chunks of 16 halves (32 bytes), the 8 rows' chunk k back to back: a
// kernel streams one run of bytes and keeps a float accumulator per row.
// So a 32-byte load of chunk c gives, in int32 lane r, four consecutive quants of row r, which a
// dot-product instruction multiplies with the same four activation bytes broadcast to all lanes.
//
// A group takes exactly the bytes of its 8 rows (8 x 18 bytes per Q4_0 block, for instance),
// so in a repacked matrix group g starts where row 8g did, and rows past the last full group stay
// plain rows at their usual offsets. The mapped file is never modified: repacking writes a copy.

#include <cstddef>
#include <cstdint>
#include <span>

#include "tensor/dtype.hpp"

namespace flux {

inline constexpr int kInterleaveRows = 8;

// Whether `type` has an interleaved layout (Q4_0, Q4_1, Q8_0, Q4_K, Q5_K, Q6_K, F16 and BF16).
bool has_interleaved_layout(TensorType type);

// Rows of `type` can be interleaved when their length is a multiple of this (the type's block,
// or 16 for F16 and BF16).
std::int64_t interleaved_column_unit(TensorType type);

// Repacks kInterleaveRows plain rows of `cols` elements (`src_stride` bytes apart) into one group
// at `dst`, which holds kInterleaveRows * row_bytes(type, cols) bytes.
void interleave_rows(TensorType type, const std::byte* src, std::size_t src_stride, std::int64_t cols,
                     std::byte* dst);

// Copies row `lane` of the group at `group` back to plain layout (row_bytes(type, cols) bytes at
// `dst`): the exact inverse of interleave_rows.
void deinterleave_row(TensorType type, const std::byte* group, int lane, std::int64_t cols, std::byte* dst);

}  // namespace flux
