#include "model/weight_packing.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdlib>
#include <new>
#include <set>

#include <fmt/format.h>

#include "base/error.hpp"
#include "tensor/interleaved.hpp"

namespace flux {
namespace {

// Vector loads of a group start on cache-line boundaries when the copy does.
constexpr std::size_t kAlignment = 64;

// Tells the kernel that the file pages under [begin, begin + n) will not be read again, so they
// leave this process's resident set (the page cache keeps them; a later read maps them back).
void release_file_pages(const std::byte* begin, std::size_t n) {
  const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
  const auto first = (reinterpret_cast<std::uintptr_t>(begin) + page - 1) / page * page;
  const auto last = (reinterpret_cast<std::uintptr_t>(begin) + n) / page * page;
  if (last > first) ::madvise(reinterpret_cast<void*>(first), last - first, MADV_DONTNEED);
}

}  // namespace

void PackedWeights::Free::operator()(std::byte* p) const noexcept { std::free(p); }

std::string WeightPacking::describe() const {
  if (!requested) return "weights in the file's layout (repacking turned off)";
  if (matrices == 0) return fmt::format("weights in the file's layout (no interleaved kernels for them at {})", kernel_level);
  std::string line = fmt::format("interleaved {}-row layout for {} matrices ({:.1f} MiB, {} kernels)", kInterleaveRows,
                                 matrices, static_cast<double>(bytes) / (1 << 20), kernel_level);
  if (kept > 0) line += fmt::format("; {} kept as in the file", kept);
  return line;
}

namespace {

// The matrices a matmul reads. The embedding is read row by row (dequantize_weight_row copes
// with either layout); it is repacked only when it is also the output matrix, and then with it.
template <class Weights, class Matrix>
std::vector<Matrix*> matmul_weights(Weights& weights) {
  std::vector<Matrix*> matrices{&weights.output};
  for (auto& l : weights.layers)
    for (Matrix* m : {&l.wq, &l.wk, &l.wv, &l.wo, &l.gate, &l.up, &l.down}) matrices.push_back(m);
  return matrices;
}

bool can_repack(const WeightMatrix& m, const DotKernels& kernels) {
  return m.layout == WeightLayout::Rows && has_interleaved_layout(m.type) && kernels.dot_groups_for(m.type) != nullptr &&
         m.rows >= kInterleaveRows && m.cols % interleaved_column_unit(m.type) == 0;
}

}  // namespace

WeightPacking plan_packing(const ModelWeights& weights, const DotKernels& kernels, const LoadOptions& options) {
  WeightPacking plan;
  plan.requested = options.repack_weights;
  plan.kernel_level = std::string(isa_level_name(kernels.level));
  if (!options.repack_weights) return plan;
  for (const WeightMatrix* m : matmul_weights<const ModelWeights, const WeightMatrix>(weights)) {
    if (!can_repack(*m, kernels)) {
      ++plan.kept;
      continue;
    }
    ++plan.matrices;
    plan.bytes += m->row_stride() * static_cast<std::size_t>(m->rows);
  }
  return plan;
}

PackedWeights PackedWeights::repack(ModelWeights& weights, const DotKernels& kernels, const LoadOptions& options,
                                    bool source_is_mapped) {
  PackedWeights packed;
  packed.report_ = plan_packing(weights, kernels, options);
  if (!options.repack_weights) return packed;
  const bool tied = weights.output.data == weights.token_embedding.data;

  std::set<const std::byte*> released;
  for (WeightMatrix* m : matmul_weights<ModelWeights, WeightMatrix>(weights)) {
    if (!can_repack(*m, kernels)) continue;
    const std::size_t stride = m->row_stride();
    const std::size_t size = stride * static_cast<std::size_t>(m->rows);
    auto* raw = static_cast<std::byte*>(std::aligned_alloc(kAlignment, (size + kAlignment - 1) / kAlignment * kAlignment));
    if (raw == nullptr) throw std::bad_alloc();
    std::unique_ptr<std::byte[], Free> copy(raw);
    const std::int64_t grouped = m->rows / kInterleaveRows * kInterleaveRows;
    for (std::int64_t g = 0; g < grouped; g += kInterleaveRows)
      interleave_rows(m->type, m->row(g), stride, m->cols, copy.get() + static_cast<std::size_t>(g) * stride);
    const std::size_t grouped_bytes = static_cast<std::size_t>(grouped) * stride;
    std::copy(m->data + grouped_bytes, m->data + size, copy.get() + grouped_bytes);  // plain tail rows

    const std::byte* source = m->data;
    m->data = copy.get();
    m->layout = WeightLayout::Interleaved;
    if (m == &weights.output && tied) weights.token_embedding = *m;
    if (source_is_mapped && released.insert(source).second) release_file_pages(source, size);
    packed.buffers_.push_back(std::move(copy));
  }
  return packed;
}

}  // namespace flux
