#pragma once
// A persistent pool of worker threads, owned by whoever runs a model and passed down by reference.
// The calling thread takes part as worker 0, so a pool of n threads starts n - 1 workers.

#include <condition_variable>
#include <cstddef>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace flux {

class ThreadPool {
 public:
  explicit ThreadPool(int n_threads);
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;
  ~ThreadPool();

  int size() const { return n_threads_; }

  // Runs task(thread_index, n_threads) once on every thread and returns when all are done.
  void run(const std::function<void(int, int)>& task);

  // Splits [0, n) into one contiguous range per thread and runs body(begin, end) on each.
  void parallel_for(std::size_t n, const std::function<void(std::size_t, std::size_t)>& body);

  // The number of threads worth using on this machine.
  static int default_threads();

 private:
  void worker_loop(int index);

  int n_threads_;
  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable start_cv_;
  std::condition_variable done_cv_;
  const std::function<void(int, int)>* task_ = nullptr;
  std::size_t generation_ = 0;
  int pending_ = 0;
  bool stopping_ = false;
};

}  // namespace flux
