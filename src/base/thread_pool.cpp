#include "base/thread_pool.hpp"

#include <algorithm>

namespace flux {

ThreadPool::ThreadPool(int n_threads) : n_threads_(std::max(1, n_threads)) {
  workers_.reserve(static_cast<std::size_t>(n_threads_ - 1));
  for (int i = 1; i < n_threads_; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  start_cv_.notify_all();
  for (auto& w : workers_) w.join();
}

int ThreadPool::default_threads() {
  const unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : static_cast<int>(hw);
}

void ThreadPool::run(const std::function<void(int, int)>& task) {
  if (n_threads_ == 1) {
    task(0, 1);
    return;
  }
  {
    std::lock_guard lock(mutex_);
    task_ = &task;
    pending_ = n_threads_ - 1;
    ++generation_;
  }
  start_cv_.notify_all();
  task(0, n_threads_);
  std::unique_lock lock(mutex_);
  done_cv_.wait(lock, [this] { return pending_ == 0; });
  task_ = nullptr;
}

void ThreadPool::parallel_for(std::size_t n,
                              const std::function<void(std::size_t, std::size_t)>& body) {
  if (n == 0) return;
  run([&](int ith, int nth) {
    const std::size_t per = (n + static_cast<std::size_t>(nth) - 1) / static_cast<std::size_t>(nth);
    const std::size_t begin = std::min(n, per * static_cast<std::size_t>(ith));
    const std::size_t end = std::min(n, begin + per);
    if (begin < end) body(begin, end);
  });
}

void ThreadPool::worker_loop(int index) {
  std::size_t seen = 0;
  for (;;) {
    const std::function<void(int, int)>* task = nullptr;
    {
      std::unique_lock lock(mutex_);
      start_cv_.wait(lock, [&] { return stopping_ || generation_ != seen; });
      if (stopping_) return;
      seen = generation_;
      task = task_;
    }
    (*task)(index, n_threads_);
    {
      std::lock_guard lock(mutex_);
      if (--pending_ == 0) done_cv_.notify_one();
    }
  }
}

}  // namespace flux
