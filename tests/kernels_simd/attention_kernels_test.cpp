// The attention head kernel of every ISA level against a float64 softmax-attention oracle, on
// fresh random F16 keys and values spread over blocks: odd head sizes (tails of the 8-wide
// loops), positions that end inside a block and tiles that end inside a block, several block
// sizes; F16 and Q8_0 storage. Also: every level's result is exact for one position (the value
// itself), queries sharing a call get the bits each gets alone, and queries are rounded to F16.

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "kernels/attention_kernels.hpp"
#include "kernels/dot_kernels.hpp"
#include "simd_test_support.hpp"
#include "tensor/quant.hpp"

namespace flux {
namespace {

struct Case {
  int head_dim;
  int block_size;
  std::int64_t n_positions;
  TensorType type = TensorType::F16;
};

// Keys and values of one KV head in blocks of `block_size` slots, slot stride > head_dim (as in
// the cache, where other heads sit between).
struct Blocks {
  std::vector<std::vector<std::byte>> k, v;
  std::vector<const std::byte*> k_ptrs, v_ptrs;
  std::size_t stride;  // bytes per slot
  TensorType type;

  // Element d of position p, decoded as the oracle sees it.
  double key(std::int64_t p, int d, int head_dim, int block_size) const { return decode(k_ptrs, p, d, head_dim, block_size); }
  double value(std::int64_t p, int d, int head_dim, int block_size) const { return decode(v_ptrs, p, d, head_dim, block_size); }
  double decode(const std::vector<const std::byte*>& ptrs, std::int64_t p, int d, int head_dim, int block_size) const {
    std::vector<float> row(static_cast<std::size_t>(head_dim));
    dequantize_row(type, ptrs[static_cast<std::size_t>(p / block_size)] + static_cast<std::size_t>(p % block_size) * stride,
                   row.data(), head_dim);
    return row[static_cast<std::size_t>(d)];
  }
};

// Slots hold the head between other bytes (as in the cache, where other heads sit around it).
Blocks make_blocks(const Case& c, std::mt19937& rng) {
  Blocks b;
  b.type = c.type;
  const std::size_t head_bytes = row_bytes(c.type, c.head_dim);
  const std::size_t lead = c.type == TensorType::F16 ? 4 : 34;
  b.stride = lead + head_bytes + 6;
  const auto n_blocks = static_cast<std::size_t>((c.n_positions + c.block_size - 1) / c.block_size);
  for (std::size_t i = 0; i < n_blocks; ++i) {
    for (auto* store : {&b.k, &b.v}) {
      std::vector<std::byte> bytes(b.stride * static_cast<std::size_t>(c.block_size), std::byte{0x7b});
      for (int s = 0; s < c.block_size; ++s) {
        const std::vector<float> f = testing::random_floats(rng, static_cast<std::size_t>(c.head_dim), 2.0f);
        quantize_row(c.type, f.data(), bytes.data() + static_cast<std::size_t>(s) * b.stride + lead, c.head_dim);
      }
      store->push_back(std::move(bytes));
    }
  }
  for (std::size_t i = 0; i < n_blocks; ++i) {
    b.k_ptrs.push_back(b.k[i].data() + lead);
    b.v_ptrs.push_back(b.v[i].data() + lead);
  }
  return b;
}

std::vector<double> oracle(const Case& c, const Blocks& b, const std::vector<float>& q, float scale) {
  std::vector<double> scores;
  for (std::int64_t p = 0; p < c.n_positions; ++p) {
    double s = 0;
    for (int d = 0; d < c.head_dim; ++d) s += static_cast<double>(q[static_cast<std::size_t>(d)]) * b.key(p, d, c.head_dim, c.block_size);
    scores.push_back(s * scale);
  }
  double max = -INFINITY;
  for (double s : scores) max = std::max(max, s);
  double sum = 0;
  for (double& s : scores) sum += (s = std::exp(s - max));
  std::vector<double> out(static_cast<std::size_t>(c.head_dim), 0.0);
  for (std::int64_t p = 0; p < c.n_positions; ++p)
    for (int d = 0; d < c.head_dim; ++d)
      out[static_cast<std::size_t>(d)] += scores[static_cast<std::size_t>(p)] / sum * b.value(p, d, c.head_dim, c.block_size);
  return out;
}

// Random queries that F16 represents exactly: kernels round queries to F16 (as llama.cpp does), so
// the oracle then sees what the kernel multiplies.
std::vector<float> f16_queries(std::mt19937& rng, std::size_t n) {
  std::vector<float> q = testing::random_floats(rng, n, 1.5f);
  for (float& v : q) v = f16_to_f32(f32_to_f16(v));
  return q;
}

class AttentionKernels : public ::testing::TestWithParam<IsaLevel> {};

TEST_P(AttentionKernels, AgreeWithFloat64Oracle) {
  const AttendHeadFn attend = kernel_table_for(GetParam()).attend_head;
  ASSERT_NE(attend, nullptr);
  std::mt19937 rng(20261125);
  for (const Case& c : {Case{1, 16, 1}, Case{7, 16, 5}, Case{8, 16, 16}, Case{9, 16, 17}, Case{64, 16, 100},
                        Case{64, 3, 70}, Case{72, 128, 300}, Case{128, 16, 257}, Case{64, 200, 130}, Case{256, 1, 9},
                        Case{32, 16, 1, TensorType::Q8_0}, Case{64, 16, 100, TensorType::Q8_0},
                        Case{96, 5, 77, TensorType::Q8_0}, Case{128, 16, 300, TensorType::Q8_0}}) {
    const Blocks b = make_blocks(c, rng);
    std::vector<float> q = f16_queries(rng, static_cast<std::size_t>(c.head_dim));
    const float scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));
    std::vector<float> out(static_cast<std::size_t>(c.head_dim), NAN);
    const AttentionQuery query{q.data(), out.data(), c.n_positions};
    attend(HeadAttention{&query, 1, c.head_dim, scale, c.type, b.k_ptrs.data(), b.v_ptrs.data(), b.stride, c.block_size});
    const std::vector<double> expected = oracle(c, b, q, scale);
    for (int d = 0; d < c.head_dim; ++d) {
      // Outputs are convex combinations of values of magnitude <= 2: float rounding over a few
      // hundred terms stays far below 1e-4.
      EXPECT_NEAR(out[static_cast<std::size_t>(d)], expected[static_cast<std::size_t>(d)], 1e-4)
          << type_name(c.type) << " head_dim " << c.head_dim << " block " << c.block_size << " positions "
          << c.n_positions << " dim " << d;
    }
  }
}

TEST_P(AttentionKernels, OnePositionReturnsItsValue) {
  const AttendHeadFn attend = kernel_table_for(GetParam()).attend_head;
  std::mt19937 rng(5);
  const Case c{24, 16, 1};
  const Blocks b = make_blocks(c, rng);
  std::vector<float> q = testing::random_floats(rng, 24);
  std::vector<float> out(24);
  const AttentionQuery query{q.data(), out.data(), 1};
  attend(HeadAttention{&query, 1, 24, 0.2f, TensorType::F16, b.k_ptrs.data(), b.v_ptrs.data(), b.stride, 16});
  for (int d = 0; d < 24; ++d) EXPECT_EQ(out[static_cast<std::size_t>(d)], b.value(0, d, 24, 16));
}

// Queries that share a call (grouped-query heads, neighbouring prompt rows) each get the oracle's
// answer for their own number of positions, and exactly the bits they get alone: a query's
// result never depends on which others share its call.
TEST_P(AttentionKernels, QueriesInOneCallMatchEachAlone) {
  const AttendHeadFn attend = kernel_table_for(GetParam()).attend_head;
  std::mt19937 rng(77);
  for (const Case& c : {Case{64, 16, 150}, Case{9, 5, 40}, Case{96, 32, 75, TensorType::Q8_0}}) {
    const Blocks b = make_blocks(c, rng);
    const float scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));
    const auto dim = static_cast<std::size_t>(c.head_dim);
    for (int n_queries = 1; n_queries <= kMaxAttentionQueries; ++n_queries) {
      std::vector<float> q = f16_queries(rng, dim * static_cast<std::size_t>(n_queries));
      std::vector<float> together(q.size(), NAN), alone(q.size(), NAN);
      std::vector<AttentionQuery> queries;
      for (int i = 0; i < n_queries; ++i) {
        // Positions differ between queries (as rows of a prompt do), down to a single one.
        const std::int64_t positions = i == n_queries - 1 ? 1 : std::max<std::int64_t>(1, c.n_positions - 7 * i);
        queries.push_back({q.data() + static_cast<std::size_t>(i) * dim, together.data() + static_cast<std::size_t>(i) * dim,
                           positions});
      }
      attend(HeadAttention{queries.data(), n_queries, c.head_dim, scale, c.type, b.k_ptrs.data(), b.v_ptrs.data(), b.stride,
                           c.block_size});
      for (int i = 0; i < n_queries; ++i) {
        AttentionQuery single = queries[static_cast<std::size_t>(i)];
        single.out = alone.data() + static_cast<std::size_t>(i) * dim;
        attend(HeadAttention{&single, 1, c.head_dim, scale, c.type, b.k_ptrs.data(), b.v_ptrs.data(), b.stride, c.block_size});
        const Case own{c.head_dim, c.block_size, single.n_positions, c.type};
        const std::vector<float> own_q(single.q, single.q + dim);
        const std::vector<double> expected = oracle(own, b, own_q, scale);
        for (std::size_t d = 0; d < dim; ++d) {
          const std::size_t at = static_cast<std::size_t>(i) * dim + d;
          ASSERT_EQ(together[at], alone[at]) << n_queries << " queries, query " << i << " dim " << d;
          ASSERT_NEAR(together[at], expected[d], 1e-4) << n_queries << " queries, query " << i << " dim " << d;
        }
      }
    }
  }
}

// Kernels round queries to F16 themselves: a query and its F16 rounding give the same bits.
TEST_P(AttentionKernels, QueriesAreRoundedToF16) {
  const AttendHeadFn attend = kernel_table_for(GetParam()).attend_head;
  std::mt19937 rng(9);
  const Case c{40, 16, 37};
  const Blocks b = make_blocks(c, rng);
  const std::vector<float> raw = testing::random_floats(rng, 40, 1.5f);
  std::vector<float> rounded = raw;
  for (float& v : rounded) v = f16_to_f32(f32_to_f16(v));
  ASSERT_NE(raw, rounded);
  std::vector<float> from_raw(40), from_rounded(40);
  const AttentionQuery queries[] = {{raw.data(), from_raw.data(), 37}, {rounded.data(), from_rounded.data(), 37}};
  for (const AttentionQuery& query : queries)
    attend(HeadAttention{&query, 1, 40, 0.3f, TensorType::F16, b.k_ptrs.data(), b.v_ptrs.data(), b.stride, 16});
  EXPECT_EQ(from_raw, from_rounded);
}

INSTANTIATE_TEST_SUITE_P(EveryLevel, AttentionKernels, ::testing::ValuesIn(supported_isa_levels()),
                         [](const auto& info) { return std::string(isa_level_name(info.param)); });

}  // namespace
}  // namespace flux
