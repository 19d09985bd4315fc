#pragma once
// `flux serve`'s HTTP layer: OpenAI-compatible routes over an Engine, with API-key checks,
// CORS, body limits, Prometheus metrics, the dashboard, and a graceful drain. The server can
// listen before the model is loaded (GET /health answers 503 until attach()).

#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>

#include "flux/engine.hpp"
#include "server/openai_request.hpp"
#include "server/server_metrics.hpp"
#include "tokenizer/tokenizer.hpp"

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace flux::server {

class PromptGroup;
struct ResponseIdentity;

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;                       // 0: any free port (see HttpServer::port())
  std::string api_key;                   // empty: no authentication
  std::string cors_origin;               // empty: no CORS headers
  std::size_t max_body_bytes = 4u << 20;  // larger bodies get 413 before they are read
  int http_threads = 64;                 // concurrent connections served
  RequestLimits limits;
};

class HttpServer {
 public:
  explicit HttpServer(ServerOptions options);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds the socket; throws flux::Error when the address is unavailable. Returns the port.
  int bind();
  int port() const { return port_; }
  // Serves until stop(); call from its own thread.
  void listen();

  // Starts serving requests with a loaded model (until then generation routes answer 503).
  void attach(Engine& engine, const Tokenizer& tokenizer, ChatRenderer render_chat, std::string model_name);
  // Refuses new generation requests with 503 and waits until those in flight finish or the
  // timeout passes. Returns the number still in flight.
  int drain(std::chrono::milliseconds timeout);
  void stop();

 private:
  void install_routes();
  // Counts a generation request from admission until its response is written (drain() waits on it).
  struct InFlight {
    std::atomic<int>& n;
    explicit InFlight(std::atomic<int>& count) : n(count) { ++n; }
    ~InFlight() { --n; }
  };
  void handle_generation(const httplib::Request& req, httplib::Response& res, Endpoint endpoint);
  void respond_whole(httplib::Response& res, const ParsedRequest& parsed, const ResponseIdentity& identity,
                     PromptGroup& group, const char* endpoint);
  void respond_stream(httplib::Response& res, std::shared_ptr<const ParsedRequest> parsed,
                      const ResponseIdentity& identity, std::shared_ptr<PromptGroup> group,
                      std::shared_ptr<InFlight> in_flight);
  void send_error(httplib::Response& res, const ApiError& error, const char* endpoint);

  ServerOptions options_;
  std::unique_ptr<httplib::Server> http_;
  int port_ = 0;
  std::atomic<Engine*> engine_{nullptr};
  const Tokenizer* tokenizer_ = nullptr;
  ChatRenderer render_chat_;
  std::string model_name_;
  std::int64_t created_ = 0;
  std::atomic<bool> draining_{false};
  std::atomic<int> in_flight_{0};
  std::atomic<std::uint64_t> next_response_id_{1};
  ServerMetrics metrics_;
};

}  // namespace flux::server
