#pragma once
// Element-wise and row-wise operations of a transformer layer, in plain C++ that follows ggml's
// arithmetic (sums of squares in double, rope angles by repeated multiplication) so that greedy
// tokens match llama.cpp.

#include <cstdint>
#include <span>
#include <vector>

#include "tensor/dtype.hpp"

namespace flux {

// out = x / sqrt(mean(x^2) + eps) * weight, for one row.
void rms_norm(std::span<const float> x, std::span<const float> weight, float eps,
              std::span<float> out);

struct RopeParams {
  int n_dims = 0;                   // rotated dimensions per head (<= head_dim)
  float freq_base = 10000.0f;
  float freq_scale = 1.0f;          // 1 / linear scaling factor
  bool neox = false;                // pairs (i, i + n_dims/2) instead of (2i, 2i+1)
  std::span<const float> freq_factors;  // optional per-pair divisors (Llama 3 rope_freqs)
};

// Rotates every head of one token at position `pos`. x: [n_heads, head_dim]. cos_sin_scratch
// holds at least params.n_dims floats.
void apply_rope(std::span<float> x, int n_heads, int head_dim, std::int64_t pos,
                const RopeParams& params, std::span<float> cos_sin_scratch);
// The same with scratch that is grown as needed.
void apply_rope(std::span<float> x, int n_heads, int head_dim, std::int64_t pos,
                const RopeParams& params, std::vector<float>& cos_sin_scratch);

// gate[i] = silu(gate[i]) * up[i]
void silu_mul(std::span<float> gate, std::span<const float> up);

// x[i] += y[i]
void add_in_place(std::span<float> x, std::span<const float> y);

// Writes src as one row of `type` at dst, byte for byte what quantize_row writes, with the
// active kernel level's encoder where it has one (F16, BF16 and the activation types): KV cache
// rows.
void encode_row(TensorType type, std::span<const float> src, std::byte* dst);

// Numerically stable softmax in place (sum in double).
void softmax(std::span<float> x);

}  // namespace flux
