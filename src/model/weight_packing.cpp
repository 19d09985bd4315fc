#include "model/weight_packing.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdlib>
#include <new>
#include <algorithm>
#include <atomic>
#include <exception>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "base/error.hpp"
#include "base/thread_pool.hpp"
#include "tensor/interleaved.hpp"

namespace flux {
namespace {

// Vector loads of a group start on cache-line boundaries when the copy does.
constexpr std::size_t kAlignment = 64;

// The copies share one allocation, which (from this size up) is aligned to it and asked to be
// backed by transparent huge pages: a page fault per 2 MiB instead of per 4 KiB while the copies
// are written, and one TLB entry per 2 MiB while decode streams them. (One allocation per matrix
// would round each up to whole huge pages: 34 % more resident memory for TinyLlama Q4_0.)
constexpr std::size_t kHugePage = std::size_t{2} << 20;

// size bytes, aligned for the kernels; freed with std::free.
std::byte* allocate_arena(std::size_t size) {
  const std::size_t alignment = size >= kHugePage ? kHugePage : kAlignment;
  const std::size_t rounded = (size + alignment - 1) / alignment * alignment;
  auto* raw = static_cast<std::byte*>(std::aligned_alloc(alignment, rounded));
  if (raw == nullptr) throw std::bad_alloc();
  if (alignment == kHugePage) ::madvise(raw, rounded, MADV_HUGEPAGE);  // advice only; may be refused
  return raw;
}

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

  // Each matrix's place in the arena, and whether another matrix points at the same bytes.
  struct Job {
    WeightMatrix* matrix;
    std::size_t offset;
    bool shares_source = false;
  };
  std::vector<Job> jobs;
  std::size_t arena_bytes = 0;
  for (WeightMatrix* m : matmul_weights<ModelWeights, WeightMatrix>(weights)) {
    if (!can_repack(*m, kernels)) continue;
    jobs.push_back({m, arena_bytes});
    arena_bytes += (m->row_stride() * static_cast<std::size_t>(m->rows) + kAlignment - 1) / kAlignment * kAlignment;
  }
  if (jobs.empty()) return packed;
  for (Job& job : jobs)
    job.shares_source = std::count_if(jobs.begin(), jobs.end(), [&](const Job& other) {
                          return other.matrix->data == job.matrix->data;
                        }) > 1;
  packed.arena_.reset(allocate_arena(arena_bytes));

  // Matrices are claimed one at a time by the loading threads (the largest are a few percent of
  // a model, so the split is even enough). A matrix's file pages are released by whoever copied
  // it, unless two matrices point at the same bytes (then once, after every copy is made).
  // Only pages wholly inside a matrix are released, so a neighbour being copied keeps its own.
  std::atomic<std::size_t> next{0};
  const auto copy_matrices = [&] {
    for (std::size_t i = next++; i < jobs.size(); i = next++) {
      WeightMatrix& m = *jobs[i].matrix;
      const std::size_t stride = m.row_stride();
      const std::size_t size = stride * static_cast<std::size_t>(m.rows);
      std::byte* copy = packed.arena_.get() + jobs[i].offset;
      const std::int64_t grouped = m.rows / kInterleaveRows * kInterleaveRows;
      for (std::int64_t g = 0; g < grouped; g += kInterleaveRows)
        interleave_rows(m.type, m.row(g), stride, m.cols, copy + static_cast<std::size_t>(g) * stride);
      const std::size_t grouped_bytes = static_cast<std::size_t>(grouped) * stride;
      std::copy(m.data + grouped_bytes, m.data + size, copy + grouped_bytes);  // plain tail rows
      if (source_is_mapped && !jobs[i].shares_source) release_file_pages(m.data, size);
    }
  };
  const int threads = std::clamp(options.threads > 0 ? options.threads : ThreadPool::default_threads(), 1,
                                 static_cast<int>(jobs.size()));
  // An exception leaving a helper thread would terminate the process: the first one is kept and
  // rethrown here once every thread has stopped (the others stop at their next claim).
  std::mutex error_mutex;
  std::exception_ptr error;
  const auto copy_or_keep_error = [&] {
    try {
      copy_matrices();
    } catch (...) {
      const std::lock_guard lock(error_mutex);
      if (!error) error = std::current_exception();
      next = jobs.size();
    }
  };
  {
    std::vector<std::jthread> helpers;
    for (int t = 1; t < threads; ++t) helpers.emplace_back(copy_or_keep_error);
    copy_or_keep_error();
  }  // joins the helpers
  if (error) std::rethrow_exception(error);

  std::set<const std::byte*> shared_released;
  for (const Job& job : jobs) {
    WeightMatrix* m = job.matrix;
    const std::byte* source = m->data;
    m->data = packed.arena_.get() + job.offset;
    m->layout = WeightLayout::Interleaved;
    if (m == &weights.output && tied) weights.token_embedding = *m;
    if (source_is_mapped && job.shares_source && shared_released.insert(source).second)
      release_file_pages(source, m->row_stride() * static_cast<std::size_t>(m->rows));
  }
  return packed;
}

}  // namespace flux
