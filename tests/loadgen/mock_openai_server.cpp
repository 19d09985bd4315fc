#include "mock_openai_server.hpp"

#include <algorithm>
#include <chrono>
#include <memory>
#include <stdexcept>

namespace flux::testing {
namespace {

using json = nlohmann::json;

int count_words(const std::string& s) {
  int n = 0;
  bool in_word = false;
  for (char c : s) {
    const bool space = c == ' ';
    if (!space && !in_word) ++n;
    in_word = !space;
  }
  return n;
}

void sleep_ms(int ms) {
  if (ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(ms));
}

std::string event(const json& j) { return "data: " + j.dump() + "\n\n"; }

}  // namespace

MockOpenAiServer::MockOpenAiServer(MockOptions options) : options_(options) {
  server_.new_task_queue = [] { return new httplib::ThreadPool(32); };
  server_.set_tcp_nodelay(true);  // as real servers do; else delayed ACKs add ~40 ms to each answer
  server_.Post(R"((/[a-z]+)?/v1/completions)",
               [this](const httplib::Request& req, httplib::Response& res) { handle(req, res, false); });
  server_.Post(R"((/[a-z]+)?/v1/chat/completions)",
               [this](const httplib::Request& req, httplib::Response& res) { handle(req, res, true); });
  port_ = server_.bind_to_any_port("127.0.0.1");
  if (port_ < 0) throw std::runtime_error("mock server: cannot bind a loopback port");
  thread_ = std::thread([this] { server_.listen_after_bind(); });
}

MockOpenAiServer::~MockOpenAiServer() {
  server_.stop();
  thread_.join();
}

std::vector<SeenRequest> MockOpenAiServer::seen() const {
  std::lock_guard lock(mutex_);
  return seen_;
}

void MockOpenAiServer::enter() {
  std::unique_lock lock(mutex_);
  ++in_flight_;
  int peak = peak_.load();
  while (in_flight_ > peak && !peak_.compare_exchange_weak(peak, in_flight_)) {
  }
  cv_.notify_all();
}

void MockOpenAiServer::leave() {
  std::lock_guard lock(mutex_);
  --in_flight_;
}

void MockOpenAiServer::handle(const httplib::Request& req, httplib::Response& res, bool chat) {
  const int n = ++received_;
  const json body = json::parse(req.body, nullptr, false);
  {
    std::lock_guard lock(mutex_);
    seen_.push_back({req.path, req.get_header_value("Authorization"), body});
  }
  enter();
  if (n <= options_.wait_for_concurrency) {
    std::unique_lock lock(mutex_);
    cv_.wait_for(lock, std::chrono::seconds(3), [&] { return in_flight_ >= options_.wait_for_concurrency; });
  }
  if (body.is_discarded()) {
    leave();
    res.status = 400;
    res.set_content(R"({"error":{"message":"bad json","type":"invalid_request_error"}})", "application/json");
    return;
  }
  const bool stream = body.value("stream", false);
  const int max_tokens = body.value("max_tokens", 16);
  const bool include_usage = stream ? body.contains("stream_options") && body["stream_options"].value("include_usage", false)
                                    : true;
  const std::string prompt = chat ? body["messages"][0].value("content", "") : body.value("prompt", "");
  const json usage = {{"prompt_tokens", count_words(prompt) + 1},
                      {"completion_tokens", max_tokens},
                      {"total_tokens", count_words(prompt) + 1 + max_tokens}};

  if (options_.fail_every > 0 && n % options_.fail_every == 0) {
    sleep_ms(options_.delay_ms);
    leave();
    res.status = 503;
    res.set_content(R"({"error":{"code":503,"message":"server busy","type":"unavailable_error"}})",
                    "application/json");
    return;
  }
  if (!stream) {
    sleep_ms(options_.delay_ms);
    json answer = {{"id", "cmpl-mock"}, {"object", chat ? "chat.completion" : "text_completion"}, {"model", "mock"}};
    if (chat)
      answer["choices"] = json::array(
          {{{"index", 0}, {"message", {{"role", "assistant"}, {"content", "a b c"}}}, {"finish_reason", "length"}}});
    else
      answer["choices"] = json::array({{{"index", 0}, {"text", "a b c"}, {"finish_reason", "length"}}});
    if (options_.send_usage) answer["usage"] = usage;
    leave();
    res.set_content(answer.dump(), "application/json");
    return;
  }
  const MockOptions o = options_;
  res.set_chunked_content_provider(
      "text/event-stream", [this, o, chat, usage, include_usage](std::size_t, httplib::DataSink& sink) {
        auto chunk = [&](const std::string& text, const json& finish) {
          json c = {{"id", "cmpl-mock"}, {"model", "mock"}};
          c["object"] = chat ? "chat.completion.chunk" : "text_completion";
          if (chat)
            c["choices"] = json::array({{{"index", 0}, {"delta", {{"content", text}}}, {"finish_reason", finish}}});
          else
            c["choices"] = json::array({{{"index", 0}, {"text", text}, {"finish_reason", finish}}});
          return c;
        };
        std::string out;
        if (chat) {  // the role comes first, without content, as OpenAI sends it
          const json role = {{"id", "cmpl-mock"},
                             {"object", "chat.completion.chunk"},
                             {"choices", json::array({{{"index", 0}, {"delta", {{"role", "assistant"}}}}})}};
          out = event(role);
          sink.write(out.data(), out.size());
        }
        for (int i = 0; i < o.content_chunks; ++i) {
          sleep_ms(o.delay_ms);
          out = (i == 0 ? std::string(": keep-alive comment\r\n\r\n") : std::string()) + event(chunk(" w" + std::to_string(i), nullptr));
          if (!sink.write(out.data(), out.size())) {
            leave();
            return false;
          }
        }
        out = event(chunk("", "length"));
        if (o.send_usage && include_usage) out += event({{"id", "cmpl-mock"}, {"choices", json::array()}, {"usage", usage}});
        leave();  // before the last bytes: the client may send its next request as soon as it has them
        out += "data: [DONE]\n\n";
        sink.write(out.data(), out.size());
        sink.done();
        return true;
      });
}

}  // namespace flux::testing
