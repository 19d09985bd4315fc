// paged_attention against a naive float64 softmax(q k^T / sqrt(d)) v with causal masking and
// grouped-query heads, over keys and values reached through shuffled, non-contiguous block
// tables, for several sequences of different lengths (prefill, chunked prefill, decode) in one
// call.

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "base/thread_pool.hpp"
#include "kernels/attention.hpp"
#include "kernels/seeded_random.hpp"
#include "kv/kv_cache.hpp"
#include "tensor/quant.hpp"

namespace flux {
namespace {

using testing::SeededRandom;

constexpr int kHeads = 8;
constexpr int kKvHeads = 2;
constexpr int kHeadDim = 16;
constexpr int kKvDim = kKvHeads * kHeadDim;
constexpr int kQDim = kHeads * kHeadDim;
constexpr int kLayers = 2;
constexpr int kLayer = 1;  // the layer under test; layer 0 holds decoys
constexpr std::uint16_t kF16NaN = 0x7E00;

// One sequence of the batch: positions [0, first_pos) were cached by earlier steps, the batch
// brings the queries of positions [first_pos, first_pos + n_rows).
struct SequencePlan {
  std::int64_t first_pos;
  std::int64_t n_rows;
  std::int64_t length() const { return first_pos + n_rows; }
};

// Prefill, decode at a late position, a chunk crossing blocks, a later chunk, a lone first token.
const std::vector<SequencePlan> kMixedBatch = {{0, 5}, {17, 1}, {6, 13}, {31, 3}, {0, 1}};

// Keys and values of one sequence as the oracle reads them: the cache's F16 values, decoded.
struct SequenceKv {
  std::vector<int> blocks;
  std::vector<double> keys, values;  // [length, kv_dim]
};

// A batch written into a cache: block tables, cached keys/values and the queries.
struct PreparedBatch {
  std::vector<SequencePlan> plans;
  std::vector<SequenceKv> kv;
  std::vector<AttentionSequence> sequences;
  std::vector<float> q;  // [rows, kQDim]
  std::int64_t rows = 0;
};

// Fills the cache through block tables drawn from a shuffled pool of blocks, so neighbouring
// positions live in unrelated blocks and sequences interleave. Every other slot is NaN, and the
// other layer holds large decoys: reading anything a query may not see poisons or skews it.
PreparedBatch prepare(KvCache& cache, const std::vector<SequencePlan>& plans, std::uint32_t seed) {
  SeededRandom random(seed);
  const int bs = cache.layout().block_size;
  std::vector<int> pool(static_cast<std::size_t>(cache.n_blocks()));
  for (int b = 0; b < cache.n_blocks(); ++b) pool[static_cast<std::size_t>(b)] = b;
  random.shuffle(std::span<int>(pool));
  for (int layer = 0; layer < kLayers; ++layer)
    for (int b = 0; b < cache.n_blocks(); ++b)
      for (int s = 0; s < bs; ++s) {
        std::ranges::fill(cache.key(layer, b, s), kF16NaN);
        std::ranges::fill(cache.value(layer, b, s), kF16NaN);
      }

  PreparedBatch batch;
  batch.plans = plans;
  batch.kv.resize(plans.size());
  std::size_t next_block = 0;
  for (std::size_t i = 0; i < plans.size(); ++i) {
    const auto n_blocks = static_cast<std::size_t>((plans[i].length() + bs - 1) / bs);
    for (std::size_t b = 0; b < n_blocks; ++b) batch.kv[i].blocks.push_back(pool.at(next_block++));
  }
  for (std::size_t i = 0; i < plans.size(); ++i) {
    for (std::int64_t p = 0; p < plans[i].length(); ++p) {
      const int block = batch.kv[i].blocks[static_cast<std::size_t>(p / bs)];
      const int slot = static_cast<int>(p % bs);
      for (int layer = 0; layer < kLayers; ++layer) {
        const float spread = layer == kLayer ? 1.0f : 50.0f;
        const std::vector<float> k = random.normals(kKvDim, spread);
        const std::vector<float> v = random.normals(kKvDim, spread);
        quantize_row(TensorType::F16, k.data(), cache.key(layer, block, slot).data(), kKvDim);
        quantize_row(TensorType::F16, v.data(), cache.value(layer, block, slot).data(), kKvDim);
        if (layer != kLayer) continue;
        for (int d = 0; d < kKvDim; ++d) {
          batch.kv[i].keys.push_back(f16_to_f32(cache.key(layer, block, slot)[static_cast<std::size_t>(d)]));
          batch.kv[i].values.push_back(f16_to_f32(cache.value(layer, block, slot)[static_cast<std::size_t>(d)]));
        }
      }
    }
  }
  for (std::size_t i = 0; i < plans.size(); ++i) {
    batch.sequences.push_back({batch.kv[i].blocks, batch.rows, plans[i].n_rows, plans[i].first_pos});
    batch.rows += plans[i].n_rows;
  }
  // Queries of std 1.5: scores of std ~1.5 make some softmax rows peaked, some flat.
  batch.q = random.normals(static_cast<std::size_t>(batch.rows * kQDim), 1.5f);
  return batch;
}

struct OracleRow {
  std::vector<double> out;        // queries rounded to F16, as the kernel documents
  std::vector<double> out_exact;  // queries as given
  std::vector<double> q_rounding_bound;  // per head: how far rounding q to F16 may move out
};

// out[h] = sum_{t <= pos} softmax_t(q_h . k_{t,g} / sqrt(d)) v_{t,g}, g = h / (H / H_kv).
OracleRow naive_attention(const float* q_row, std::int64_t pos, const SequenceKv& kv) {
  OracleRow row{std::vector<double>(kQDim, 0.0), std::vector<double>(kQDim, 0.0), std::vector<double>(kHeads)};
  const int group = kHeads / kKvHeads;
  const double scale = 1.0 / std::sqrt(static_cast<double>(kHeadDim));
  for (int h = 0; h < kHeads; ++h) {
    const int g = h / group;
    const auto key = [&](std::int64_t t, int d) { return kv.keys[static_cast<std::size_t>(t * kKvDim + g * kHeadDim + d)]; };
    const auto value = [&](std::int64_t t, int d) { return kv.values[static_cast<std::size_t>(t * kKvDim + g * kHeadDim + d)]; };
    double max_score_shift = 0.0, max_value = 0.0;
    for (bool round_q : {true, false}) {
      std::vector<double> scores(static_cast<std::size_t>(pos + 1));
      for (std::int64_t t = 0; t <= pos; ++t) {
        double s = 0.0, shift = 0.0;
        for (int d = 0; d < kHeadDim; ++d) {
          const float q = q_row[h * kHeadDim + d];
          const double rounded = f16_to_f32(f32_to_f16(q));
          s += (round_q ? rounded : q) * key(t, d);
          shift += std::fabs((rounded - q) * key(t, d));
          max_value = std::max(max_value, std::fabs(value(t, d)));
        }
        scores[static_cast<std::size_t>(t)] = s * scale;
        max_score_shift = std::max(max_score_shift, shift * scale);
      }
      const double max = *std::ranges::max_element(scores);
      double sum = 0.0;
      for (double& s : scores) sum += (s = std::exp(s - max));
      std::vector<double>& out = round_q ? row.out : row.out_exact;
      for (std::int64_t t = 0; t <= pos; ++t)
        for (int d = 0; d < kHeadDim; ++d)
          out[static_cast<std::size_t>(h * kHeadDim + d)] += scores[static_cast<std::size_t>(t)] / sum * value(t, d);
    }
    // Shifting every score by at most e changes each softmax weight by a factor within
    // exp(+-2e), so the output moves by at most (exp(2e) - 1) * max |v|.
    row.q_rounding_bound[static_cast<std::size_t>(h)] = std::expm1(2 * max_score_shift) * max_value;
  }
  return row;
}

std::vector<float> run_attention(const PreparedBatch& batch, const KvCache& cache, int threads) {
  ThreadPool pool(threads);
  std::vector<float> out(batch.q.size(), std::nanf(""));
  const AttentionShape shape{kHeads, kKvHeads, kHeadDim, 1.0f / std::sqrt(static_cast<float>(kHeadDim))};
  paged_attention(batch.q, out, batch.sequences, cache, kLayer, shape, pool);
  return out;
}

KvCache make_cache(int block_size) { return KvCache(KvLayout{kLayers, kKvDim, block_size}, 64 / block_size + 40); }

class PagedAttention : public ::testing::TestWithParam<int> {};

TEST_P(PagedAttention, AgreesWithNaiveFloat64Attention) {
  KvCache cache = make_cache(GetParam());
  const PreparedBatch batch = prepare(cache, kMixedBatch, 1000 + static_cast<std::uint32_t>(GetParam()));
  const std::vector<float> out = run_attention(batch, cache, 2);

  double worst_rounded = 0.0, worst_exact_vs_bound = 0.0;
  for (std::size_t i = 0; i < batch.plans.size(); ++i) {
    const AttentionSequence& seq = batch.sequences[i];
    for (std::int64_t r = 0; r < seq.n_rows; ++r) {
      const std::int64_t row = seq.first_row + r;
      const std::int64_t pos = seq.first_pos + r;
      const OracleRow expected = naive_attention(batch.q.data() + row * kQDim, pos, batch.kv[i]);
      for (int e = 0; e < kQDim; ++e) {
        const double got = out[static_cast<std::size_t>(row * kQDim + e)];
        // With the same F16 queries only float accumulation separates the two: values are O(1)
        // and a row sums at most 34 positions.
        const double error = std::fabs(got - expected.out[static_cast<std::size_t>(e)]);
        worst_rounded = std::max(worst_rounded, error);
        ASSERT_LE(error, 2e-5) << "sequence " << i << " pos " << pos << " element " << e << " got " << got;
        // Against unrounded queries the kernel may differ by what rounding q to F16 can cause.
        const double bound = expected.q_rounding_bound[static_cast<std::size_t>(e / kHeadDim)] + 2e-5;
        const double error_exact = std::fabs(got - expected.out_exact[static_cast<std::size_t>(e)]);
        worst_exact_vs_bound = std::max(worst_exact_vs_bound, error_exact / bound);
        ASSERT_LE(error_exact, bound) << "sequence " << i << " pos " << pos << " element " << e;
      }
    }
  }
  RecordProperty("worst_abs_error_f16_queries", fmt::format("{:.3e}", worst_rounded));
  RecordProperty("worst_exact_error_over_bound", fmt::format("{:.3e}", worst_exact_vs_bound));
}

TEST_P(PagedAttention, ThreadCountDoesNotChangeAnyBit) {
  KvCache cache = make_cache(GetParam());
  const PreparedBatch batch = prepare(cache, kMixedBatch, 77);
  const std::vector<float> one = run_attention(batch, cache, 1);
  for (int threads : {2, 3}) {
    const std::vector<float> many = run_attention(batch, cache, threads);
    EXPECT_EQ(std::memcmp(one.data(), many.data(), one.size() * sizeof(float)), 0) << threads << " threads";
  }
}

TEST_P(PagedAttention, EachSequenceAloneGivesWhatItGetsInTheMixedBatch) {
  KvCache cache = make_cache(GetParam());
  const PreparedBatch batch = prepare(cache, kMixedBatch, 4242);
  const std::vector<float> mixed = run_attention(batch, cache, 3);
  for (std::size_t i = 0; i < batch.plans.size(); ++i) {
    PreparedBatch alone = batch;
    AttentionSequence seq = batch.sequences[i];
    alone.q.assign(batch.q.begin() + seq.first_row * kQDim, batch.q.begin() + (seq.first_row + seq.n_rows) * kQDim);
    seq.first_row = 0;
    alone.sequences = {seq};
    const std::vector<float> out = run_attention(alone, cache, 1);
    const auto begin = mixed.begin() + batch.sequences[i].first_row * kQDim;
    EXPECT_TRUE(std::equal(out.begin(), out.end(), begin)) << "sequence " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(BlockSizes, PagedAttention, ::testing::Values(1, 3, 16),
                         [](const ::testing::TestParamInfo<int>& info) { return "block" + std::to_string(info.param); });

TEST(PagedAttentionShape, OneKeyGivesItsValueExactly) {
  // A single position has softmax weight exactly 1: the output is that value, bit for bit.
  KvCache cache = make_cache(3);
  const PreparedBatch batch = prepare(cache, {{0, 1}}, 9);
  const std::vector<float> out = run_attention(batch, cache, 1);
  for (int h = 0; h < kHeads; ++h)
    for (int d = 0; d < kHeadDim; ++d)
      ASSERT_EQ(out[static_cast<std::size_t>(h * kHeadDim + d)],
                static_cast<float>(batch.kv[0].values[static_cast<std::size_t>((h / 4) * kHeadDim + d)]))
          << "head " << h << " dim " << d;
}

}  // namespace
}  // namespace flux
