#include "base/thread_pool.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <numeric>
#include <stdexcept>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace flux {
namespace {

using std::chrono::microseconds;

// Spin times that drive each waiting path: always sleep, the default, and spin through
// everything a test does.
const microseconds kSpinTimes[] = {microseconds{0}, ThreadPool::kDefaultSpinTime, microseconds{20'000}};

TEST(ThreadPool, ParallelForCoversEveryIndexOnce) {
  for (int threads : {1, 2, 3, 7}) {
    ThreadPool pool(threads);
    for (std::size_t n : {0u, 1u, 2u, 5u, 100u, 1001u}) {
      std::vector<std::atomic<int>> hits(n);
      pool.parallel_for(n, [&](std::size_t b, std::size_t e) {
        for (std::size_t i = b; i < e; ++i) hits[i]++;
      });
      for (std::size_t i = 0; i < n; ++i) ASSERT_EQ(hits[i].load(), 1) << threads << " " << n;
    }
  }
}

TEST(ThreadPool, RunGivesEachThreadItsIndex) {
  ThreadPool pool(4);
  for (int round = 0; round < 200; ++round) {
    std::vector<std::atomic<int>> seen(4);
    pool.run([&](int ith, int nth) {
      EXPECT_EQ(nth, 4);
      seen[static_cast<std::size_t>(ith)]++;
    });
    for (auto& s : seen) ASSERT_EQ(s.load(), 1);
  }
}

// Plain (non-atomic) writes by the workers must be visible to the caller when run() returns, and
// the caller's writes before run() visible to the workers: a data race here is what the pool's
// memory orders prevent (and what ThreadSanitizer would report).
TEST(ThreadPool, ManyRoundsPublishPlainWritesBothWays) {
  for (const microseconds spin : kSpinTimes) {
    for (int threads = 1; threads <= 8; ++threads) {
      ThreadPool pool(threads, spin);
      std::vector<long> input(static_cast<std::size_t>(threads));
      std::vector<long> output(static_cast<std::size_t>(threads));
      for (long round = 0; round < 500; ++round) {
        for (auto& v : input) v = round;
        pool.run([&](int ith, int) { output[static_cast<std::size_t>(ith)] = input[static_cast<std::size_t>(ith)] + ith; });
        for (int i = 0; i < threads; ++i)
          ASSERT_EQ(output[static_cast<std::size_t>(i)], round + i) << "threads " << threads << " spin " << spin.count();
      }
    }
  }
}

// Each share blocks until every share has started, which only ends when n distinct threads run
// them at once: the workers really take part (and a share is never run twice).
TEST(ThreadPool, EveryThreadTakesPartWhenSharesBlock) {
  for (const microseconds spin : kSpinTimes) {
    for (int threads = 2; threads <= 8; ++threads) {
      ThreadPool pool(threads, spin);
      for (int round = 0; round < 20; ++round) {
        std::atomic<int> started{0};
        std::vector<std::thread::id> ran_on(static_cast<std::size_t>(threads));
        pool.run([&](int ith, int nth) {
          started++;
          while (started.load() < nth) std::this_thread::yield();
          ran_on[static_cast<std::size_t>(ith)] = std::this_thread::get_id();
        });
        std::sort(ran_on.begin(), ran_on.end());
        ASSERT_EQ(std::unique(ran_on.begin(), ran_on.end()), ran_on.end()) << threads;
      }
    }
  }
}

// Pauses longer than the spin time put every thread to sleep between tasks; the next task must
// still wake them (a lost wake-up would hang here).
TEST(ThreadPool, WakesSleepingWorkers) {
  for (int threads : {2, 3, 8}) {
    ThreadPool pool(threads, microseconds{1});
    for (int round = 0; round < 30; ++round) {
      std::this_thread::sleep_for(std::chrono::microseconds{round % 3 == 0 ? 2000 : 20});
      std::atomic<int> ran{0};
      pool.run([&](int, int) { ran++; });
      ASSERT_EQ(ran.load(), threads);
    }
  }
}

// The caller finishes its share at once while a worker is slow: the caller has to sleep and be
// woken by the last worker.
TEST(ThreadPool, CallerWaitsForSlowWorkers) {
  for (const microseconds spin : kSpinTimes) {
    ThreadPool pool(3, spin);
    for (int round = 0; round < 10; ++round) {
      std::vector<int> done(3, 0);
      pool.run([&](int ith, int) {
        if (ith == 2) std::this_thread::sleep_for(std::chrono::milliseconds{2});
        done[static_cast<std::size_t>(ith)] = 1;
      });
      ASSERT_EQ(std::accumulate(done.begin(), done.end(), 0), 3);
    }
  }
}

TEST(ThreadPool, RethrowsTheFirstExceptionAfterEveryThreadFinished) {
  for (const microseconds spin : kSpinTimes) {
    for (int threads : {1, 2, 4}) {
      ThreadPool pool(threads, spin);
      for (int thrower = 0; thrower < threads; ++thrower) {
        std::vector<int> finished(static_cast<std::size_t>(threads), 0);
        EXPECT_THROW(pool.run([&](int ith, int) {
          finished[static_cast<std::size_t>(ith)] = 1;
          if (ith == thrower) throw std::runtime_error("task failed");
        }),
                     std::runtime_error);
        for (int f : finished) EXPECT_EQ(f, 1);
      }
      // The pool is still usable after a failure, and the old error is not thrown again.
      std::atomic<int> ran{0};
      pool.run([&](int, int) { ran++; });
      EXPECT_EQ(ran.load(), threads);
    }
  }
}

TEST(ThreadPool, EveryThreadThrowingYieldsOneException) {
  ThreadPool pool(4);
  for (int round = 0; round < 100; ++round) {
    try {
      pool.run([&](int ith, int) { throw std::invalid_argument(std::to_string(ith)); });
      FAIL() << "expected an exception";
    } catch (const std::invalid_argument& e) {
      const int ith = std::stoi(e.what());
      EXPECT_GE(ith, 0);
      EXPECT_LT(ith, 4);
    }
  }
}

TEST(ThreadPool, ParallelForPropagatesExceptions) {
  ThreadPool pool(3);
  EXPECT_THROW(pool.parallel_for(100,
                                 [](std::size_t begin, std::size_t) {
                                   if (begin == 0) throw std::out_of_range("first range");
                                 }),
               std::out_of_range);
}

TEST(ThreadPool, ConstructAndDestroyWithoutRunning) {
  for (const microseconds spin : kSpinTimes)
    for (int threads = 1; threads <= 8; ++threads) ThreadPool pool(threads, spin);
}

TEST(ThreadPool, NonPositiveThreadCountMeansOne) {
  ThreadPool pool(0);
  EXPECT_EQ(pool.size(), 1);
  int calls = 0;
  pool.run([&](int ith, int nth) {
    EXPECT_EQ(ith, 0);
    EXPECT_EQ(nth, 1);
    ++calls;
  });
  EXPECT_EQ(calls, 1);
}

}  // namespace
}  // namespace flux
