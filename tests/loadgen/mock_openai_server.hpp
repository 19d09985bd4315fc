#pragma once
// A tiny OpenAI-compatible server for the load generator's tests: /v1/completions and
// /v1/chat/completions (under any one-word prefix too), streamed (SSE) or not, with a delay,
// 503s for every n-th request, and a count of the requests it had in flight at once.

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>
#include <nlohmann/json.hpp>

namespace flux::testing {

struct MockOptions {
  int delay_ms = 0;             // before a non-streamed answer; before each streamed chunk
  int content_chunks = 4;       // streamed chunks with text
  bool send_usage = true;       // usage in answers (completion_tokens = max_tokens) and a usage chunk
  int fail_every = 0;           // the n-th, 2n-th, ... request received gets a 503 (0: none)
  int wait_for_concurrency = 0; // the first this-many requests wait (up to 3 s) until that many are in flight
};

struct SeenRequest {
  std::string path;
  std::string authorization;
  nlohmann::json body;
};

class MockOpenAiServer {
 public:
  explicit MockOpenAiServer(MockOptions options);
  ~MockOpenAiServer();
  MockOpenAiServer(const MockOpenAiServer&) = delete;
  MockOpenAiServer& operator=(const MockOpenAiServer&) = delete;

  int port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  int peak_in_flight() const { return peak_.load(); }
  int received() const { return received_.load(); }
  std::vector<SeenRequest> seen() const;

 private:
  void handle(const httplib::Request& req, httplib::Response& res, bool chat);
  void enter();
  void leave();

  MockOptions options_;
  httplib::Server server_;
  std::thread thread_;
  int port_ = -1;
  std::atomic<int> received_{0};
  std::atomic<int> peak_{0};
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  int in_flight_ = 0;
  std::vector<SeenRequest> seen_;
};

}  // namespace flux::testing
