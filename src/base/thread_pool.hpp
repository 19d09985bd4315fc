#pragma once
// A persistent pool of worker threads, owned by whoever runs a model and passed down by reference.
// The calling thread takes part, so a pool of n threads starts n - 1 workers.
//
// A decode step issues ~150 small parallel operations of a few microseconds each, so waking a
// sleeping thread through the kernel (a futex round trip, ~5-50 us) for every one of them would
// cost more than the work. Threads therefore spin-then-sleep: idle workers poll the round
// counter, and the caller polls the pending-shares counter, for a bounded time (spin_time) before
// blocking on a condition variable. Inside a burst of operations nobody sleeps; between bursts
// (a user typing, a server waiting for requests) nobody burns a core for longer than spin_time.
//
// run() and parallel_for() are called by one thread at a time and must not be called from inside
// a task (the pool is not re-entrant).

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace flux {

class ThreadPool {
 public:
  using Task = std::function<void(int, int)>;

  // How long an idle thread polls before it blocks. Long enough to cover the gap between two
  // operations of one forward pass, short enough not to hold a core between requests.
  static constexpr std::chrono::microseconds kDefaultSpinTime{50};

  // n_threads is clamped to [1, kMaxThreads].
  static constexpr int kMaxThreads = 4096;
  explicit ThreadPool(int n_threads, std::chrono::microseconds spin_time = kDefaultSpinTime);
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;
  ~ThreadPool();

  int size() const { return n_threads_; }

  // Runs task(thread_index, n_threads) once for every thread_index in [0, n_threads), spread over
  // the pool's threads, and returns when all are done. thread_index names a share of the work,
  // not an OS thread: one thread may run several shares when another is slow to start. When
  // tasks throw, every share still runs, and the first exception caught is rethrown here.
  void run(const Task& task);

  // Splits [0, n) into one contiguous range per thread and runs body(begin, end) on each.
  // Exceptions propagate as in run().
  void parallel_for(std::size_t n, const std::function<void(std::size_t, std::size_t)>& body);

  // The number of threads worth using on this machine.
  static int default_threads();

 private:
  void worker_loop();
  // Spins, then sleeps, until a round newer than `seen` is published or the pool stops.
  void wait_for_work(std::uint64_t seen);
  // Spins, then sleeps, until every share of the current round has finished.
  void wait_for_shares();
  // Claims unclaimed shares of round `round` one at a time and runs them; returns when none is
  // left or the round is over.
  void run_shares(std::uint64_t round);
  // Runs one share, keeping the first exception any thread throws.
  void execute(const Task& task, int index) noexcept;
  // The end of one share: the last one wakes the caller if it went to sleep.
  void finish_share();
  bool work_published(std::uint64_t seen) const;

  const int n_threads_;
  const std::chrono::microseconds spin_time_;
  std::vector<std::thread> workers_;

  // Shares are claimed, not assigned: thread_index says which part of the work a call does, not
  // which thread does it. A worker that the OS has not scheduled yet (another process holds its
  // core) then costs nothing: whoever runs takes its share, so a loaded machine degrades to
  // single-thread speed instead of waiting a time slice per operation.
  //
  // claims_ packs the round number (high bits) with the next unclaimed share (low kShareBits),
  // so that a claim attempt by a thread that woke up late for an old round fails.
  static constexpr int kShareBits = 16;
  std::atomic<std::uint64_t> claims_{0};
  // Written by the caller before it publishes a round in claims_, read by a thread only after it
  // claimed a share of that round (the round cannot end, and task_ change, before that share ends).
  const Task* task_ = nullptr;
  std::atomic<int> pending_{0};  // shares of the current round not finished yet
  std::atomic<bool> stopping_{false};

  // Sleeping side. The counters let the hot path skip the mutex when nobody sleeps; they are
  // read and written with sequentially consistent order so that either the waker sees the
  // sleeper or the sleeper sees the new state (no lost wake-up).
  std::mutex sleep_mutex_;
  std::condition_variable work_cv_;
  std::condition_variable done_cv_;
  std::atomic<int> sleeping_workers_{0};
  std::atomic<bool> caller_sleeping_{false};

  // The first exception of the current round; written once per round by the thread that sets
  // has_error_, read by the caller after pending_ reaches zero.
  std::atomic<bool> has_error_{false};
  std::exception_ptr first_error_;
};

}  // namespace flux
