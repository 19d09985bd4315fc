#pragma once
// Hands a request's outputs from the engine's loop thread (which must never block on a slow
// client) to the HTTP thread that writes them.

#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>

#include "flux/engine.hpp"

namespace flux::server {

class OutputChannel {
 public:
  void push(RequestOutput out) {
    {
      std::lock_guard lock(mutex_);
      outputs_.push_back(std::move(out));
    }
    ready_.notify_one();
  }

  // The next output, or nullopt after `timeout`.
  std::optional<RequestOutput> pop(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    if (!ready_.wait_for(lock, timeout, [&] { return !outputs_.empty(); })) return std::nullopt;
    RequestOutput out = std::move(outputs_.front());
    outputs_.pop_front();
    return out;
  }

 private:
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<RequestOutput> outputs_;
};

}  // namespace flux::server
