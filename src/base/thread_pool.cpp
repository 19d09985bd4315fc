#include "base/thread_pool.hpp"

#include <algorithm>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace flux {
namespace {

using Clock = std::chrono::steady_clock;

// Tells the core that this is a spin-wait: on x86 `pause` saves power and lets the sibling
// hyper-thread run, and avoids the memory-order mis-speculation penalty when the flag flips.
inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#else
  std::this_thread::yield();
#endif
}

// A bounded spin: `pause` first (cheapest reaction time), then sched_yield so that a thread
// sharing our core (more threads than cores, or another process) gets to run, then give up.
class SpinBudget {
 public:
  explicit SpinBudget(std::chrono::microseconds budget)
      : unlimited_pause_rounds_(budget.count() > 0 ? kPauseRounds : 0), deadline_(Clock::now() + budget) {}

  // Waits a moment; false once the budget is spent and the caller should block instead.
  bool wait_a_little() {
    ++rounds_;
    if (rounds_ <= unlimited_pause_rounds_) {
      cpu_relax();
      // Reading the clock costs about as much as a few pauses, so only now and then.
      return rounds_ % kPausesPerClockRead != 0 || Clock::now() < deadline_;
    }
    if (Clock::now() >= deadline_) return false;
    std::this_thread::yield();
    return true;
  }

 private:
  static constexpr int kPauseRounds = 2048;
  static constexpr int kPausesPerClockRead = 16;
  int unlimited_pause_rounds_;
  int rounds_ = 0;
  Clock::time_point deadline_;
};

}  // namespace

ThreadPool::ThreadPool(int n_threads, std::chrono::microseconds spin_time)
    : n_threads_(std::clamp(n_threads, 1, kMaxThreads)),
      spin_time_(std::max(std::chrono::microseconds{0}, spin_time)) {
  static_assert(kMaxThreads < (1 << kShareBits), "a share index must fit its field of claims_");
  workers_.reserve(static_cast<std::size_t>(n_threads_ - 1));
  for (int i = 1; i < n_threads_; ++i) workers_.emplace_back([this] { worker_loop(); });
}

ThreadPool::~ThreadPool() {
  stopping_.store(true, std::memory_order_seq_cst);
  // Taking the mutex orders the store before any worker's check-then-wait under it.
  { std::lock_guard lock(sleep_mutex_); }
  work_cv_.notify_all();
  for (auto& w : workers_) w.join();
}

int ThreadPool::default_threads() {
  const unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : static_cast<int>(hw);
}

void ThreadPool::run(const Task& task) {
  if (n_threads_ == 1) {
    task(0, 1);
    return;
  }
  // Every share of the previous round finished (pending_ reached zero, acquire), so nobody reads
  // task_, pending_ or the error slot while they are reset here.
  task_ = &task;
  has_error_.store(false, std::memory_order_relaxed);
  first_error_ = nullptr;
  pending_.store(n_threads_, std::memory_order_relaxed);
  const std::uint64_t round = (claims_.load(std::memory_order_relaxed) >> kShareBits) + 1;
  // Publishes the writes above to every thread that claims a share of the new round.
  claims_.store(round << kShareBits, std::memory_order_seq_cst);
  if (sleeping_workers_.load(std::memory_order_seq_cst) > 0) {
    { std::lock_guard lock(sleep_mutex_); }
    work_cv_.notify_all();
  }

  run_shares(round);
  wait_for_shares();
  task_ = nullptr;
  if (has_error_.load(std::memory_order_relaxed)) {
    std::exception_ptr error = std::move(first_error_);
    first_error_ = nullptr;
    std::rethrow_exception(error);
  }
}

void ThreadPool::parallel_for(std::size_t n, const std::function<void(std::size_t, std::size_t)>& body) {
  if (n == 0) return;
  run([&](int ith, int nth) {
    const std::size_t per = (n + static_cast<std::size_t>(nth) - 1) / static_cast<std::size_t>(nth);
    const std::size_t begin = std::min(n, per * static_cast<std::size_t>(ith));
    const std::size_t end = std::min(n, begin + per);
    if (begin < end) body(begin, end);
  });
}

void ThreadPool::run_shares(std::uint64_t round) {
  constexpr std::uint64_t kShareMask = (std::uint64_t{1} << kShareBits) - 1;
  std::uint64_t word = claims_.load(std::memory_order_acquire);
  for (;;) {
    if ((word >> kShareBits) != round) return;  // woke up late: that round is over
    const auto share = static_cast<int>(word & kShareMask);
    if (share >= n_threads_) return;
    // On failure `word` is reloaded and the checks above run again.
    if (claims_.compare_exchange_weak(word, word + 1, std::memory_order_acq_rel, std::memory_order_acquire)) {
      execute(*task_, share);
      finish_share();
      word = claims_.load(std::memory_order_acquire);
    }
  }
}

void ThreadPool::execute(const Task& task, int index) noexcept {
  try {
    task(index, n_threads_);
  } catch (...) {
    // Only the first share to fail stores its exception; the release in finish_share() makes the
    // store visible before the caller reads it.
    if (!has_error_.exchange(true, std::memory_order_acq_rel)) first_error_ = std::current_exception();
  }
}

void ThreadPool::finish_share() {
  // The decrement releases this share's writes (its part of the output, any error) to the
  // caller. The pool outlives this function: the destructor joins every worker first.
  if (pending_.fetch_sub(1, std::memory_order_seq_cst) != 1) return;
  if (caller_sleeping_.load(std::memory_order_seq_cst)) {
    { std::lock_guard lock(sleep_mutex_); }
    done_cv_.notify_one();
  }
}

bool ThreadPool::work_published(std::uint64_t seen) const {
  return (claims_.load(std::memory_order_acquire) >> kShareBits) != seen ||
         stopping_.load(std::memory_order_acquire);
}

void ThreadPool::wait_for_work(std::uint64_t seen) {
  if (work_published(seen)) return;
  SpinBudget spin(spin_time_);
  while (!work_published(seen))
    if (!spin.wait_a_little()) break;
  if (work_published(seen)) return;

  // Announce the sleep before the final check: run() publishes the round before it reads
  // sleeping_workers_, so (all seq_cst) either it sees us and notifies, or we see the round.
  sleeping_workers_.fetch_add(1, std::memory_order_seq_cst);
  {
    std::unique_lock lock(sleep_mutex_);
    work_cv_.wait(lock, [&] {
      return (claims_.load(std::memory_order_seq_cst) >> kShareBits) != seen ||
             stopping_.load(std::memory_order_seq_cst);
    });
  }
  sleeping_workers_.fetch_sub(1, std::memory_order_relaxed);
}

void ThreadPool::wait_for_shares() {
  if (pending_.load(std::memory_order_acquire) == 0) return;
  SpinBudget spin(spin_time_);
  while (pending_.load(std::memory_order_acquire) != 0)
    if (!spin.wait_a_little()) break;
  if (pending_.load(std::memory_order_acquire) == 0) return;

  // Same handshake as wait_for_work(), with finish_share() as the waker.
  caller_sleeping_.store(true, std::memory_order_seq_cst);
  {
    std::unique_lock lock(sleep_mutex_);
    done_cv_.wait(lock, [&] { return pending_.load(std::memory_order_seq_cst) == 0; });
  }
  caller_sleeping_.store(false, std::memory_order_relaxed);
}

void ThreadPool::worker_loop() {
  std::uint64_t seen = 0;
  for (;;) {
    wait_for_work(seen);
    if (stopping_.load(std::memory_order_acquire)) return;
    seen = claims_.load(std::memory_order_acquire) >> kShareBits;
    run_shares(seen);
  }
}

}  // namespace flux
