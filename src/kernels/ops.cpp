#include "kernels/ops.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "base/error.hpp"
#include "kernels/dot_kernels.hpp"

namespace flux {

void rms_norm(std::span<const float> x, std::span<const float> weight, float eps,
              std::span<float> out) {
  check(x.size() == weight.size() && x.size() == out.size(), "rms_norm sizes");
  double sum = 0.0;
  for (float v : x) sum += static_cast<double>(v * v);
  const float mean = static_cast<float>(sum / static_cast<double>(x.size()));
  const float scale = 1.0f / std::sqrt(mean + eps);
  for (std::size_t i = 0; i < x.size(); ++i) out[i] = (x[i] * scale) * weight[i];
}

void apply_rope(std::span<float> x, int n_heads, int head_dim, std::int64_t pos,
                const RopeParams& params, std::vector<float>& cos_sin) {
  cos_sin.resize(static_cast<std::size_t>(std::max(params.n_dims, 0)));
  apply_rope(x, n_heads, head_dim, pos, params, std::span<float>(cos_sin));
}

void apply_rope(std::span<float> x, int n_heads, int head_dim, std::int64_t pos,
                const RopeParams& params, std::span<float> cos_sin) {
  check(x.size() == static_cast<std::size_t>(n_heads) * static_cast<std::size_t>(head_dim),
        "rope input size");
  check(params.n_dims > 0 && params.n_dims <= head_dim && params.n_dims % 2 == 0, "rope dims");
  check(cos_sin.size() >= static_cast<std::size_t>(params.n_dims), "rope scratch size");
  const int half = params.n_dims / 2;
  // Angles as ggml computes them: theta_i = pos * base^(-2i/n_dims), by repeated multiplication
  // in float, divided by an optional frequency factor and scaled linearly.
  const float theta_scale = std::pow(params.freq_base, -2.0f / static_cast<float>(params.n_dims));
  float theta_base = static_cast<float>(pos);
  for (int i = 0; i < half; ++i) {
    const float factor = params.freq_factors.empty() ? 1.0f : params.freq_factors[static_cast<std::size_t>(i)];
    const float theta = params.freq_scale * (theta_base / factor);
    cos_sin[static_cast<std::size_t>(2 * i)] = std::cos(theta);
    cos_sin[static_cast<std::size_t>(2 * i + 1)] = std::sin(theta);
    theta_base *= theta_scale;
  }
  for (int h = 0; h < n_heads; ++h) {
    float* head = x.data() + static_cast<std::size_t>(h) * static_cast<std::size_t>(head_dim);
    for (int i = 0; i < half; ++i) {
      const float c = cos_sin[static_cast<std::size_t>(2 * i)];
      const float s = cos_sin[static_cast<std::size_t>(2 * i + 1)];
      const int a = params.neox ? i : 2 * i;
      const int b = params.neox ? i + half : 2 * i + 1;
      const float x0 = head[a];
      const float x1 = head[b];
      head[a] = x0 * c - x1 * s;
      head[b] = x0 * s + x1 * c;
    }
  }
}

void silu_mul(std::span<float> gate, std::span<const float> up) {
  check(gate.size() == up.size(), "silu_mul sizes");
  active_kernels().silu_mul(gate.data(), up.data(), gate.size());
}

void add_in_place(std::span<float> x, std::span<const float> y) {
  check(x.size() == y.size(), "add sizes");
  for (std::size_t i = 0; i < x.size(); ++i) x[i] += y[i];
}

void softmax(std::span<float> x) {
  if (x.empty()) return;
  const float max = *std::max_element(x.begin(), x.end());
  double sum = 0.0;
  for (float& v : x) {
    v = std::exp(v - max);
    sum += v;
  }
  const float inv = static_cast<float>(1.0 / sum);
  for (float& v : x) v *= inv;
}

void encode_row(TensorType type, std::span<const float> src, std::byte* dst) {
  active_kernels().quantize_activations(type, src.data(), dst, static_cast<std::int64_t>(src.size()));
}

}  // namespace flux
