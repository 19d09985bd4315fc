#include "server/http_server.hpp"

#include <algorithm>
#include <chrono>
#include <thread>

#include <fmt/format.h>
#include <httplib.h>

#include "base/error.hpp"
#include "server/dashboard.hpp"
#include "server/openai_response.hpp"
#include "server/prompt_group.hpp"

namespace flux::server {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

// How long a streaming response may stay silent before a comment line goes out: writing is how
// a closed connection is noticed, so a client that leaves while its request waits in the queue
// is found within this time and its request aborted.
constexpr auto kKeepAlive = 250ms;

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

// Compares without an early exit, so the time taken does not reveal how much of a guess was right.
bool constant_time_equal(const std::string& a, const std::string& b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  const std::size_t n = std::max(a.size(), b.size());
  for (std::size_t i = 0; i < n; ++i) {
    const auto x = static_cast<unsigned char>(i < a.size() ? a[i] : 0);
    const auto y = static_cast<unsigned char>(i < b.size() ? b[i] : 0);
    diff |= static_cast<unsigned char>(x ^ y);
  }
  return diff == 0;
}

const char* endpoint_name(Endpoint e) { return e == Endpoint::Completions ? "completions" : "chat_completions"; }

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

Usage usage_of(const RequestMetrics& m) { return {m.prompt_tokens, m.generated_tokens, m.cached_prompt_tokens}; }

// A generation in a response ended by abort was ended by the server: the other aborts are a
// client's disconnect (nobody left to answer) and a failed sibling prompt (answered by its error).
ApiError aborted_error(bool draining) {
  if (draining)
    return ApiError(503, "the server is shutting down: the generation was aborted", "server_error", {},
                    "server_shutting_down");
  return ApiError(500, "the generation was aborted", "server_error");
}

}  // namespace

HttpServer::HttpServer(ServerOptions options) : options_(std::move(options)), http_(std::make_unique<httplib::Server>()) {
  const int threads = std::max(options_.http_threads, 4);
  http_->new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<std::size_t>(threads)); };
  http_->set_payload_max_length(options_.max_body_bytes);
  http_->set_tcp_nodelay(true);
  created_ = unix_now();
  install_routes();
}

HttpServer::~HttpServer() { stop(); }

int HttpServer::bind() {
  if (options_.port == 0) port_ = http_->bind_to_any_port(options_.host);
  else port_ = http_->bind_to_port(options_.host, options_.port) ? options_.port : -1;
  if (port_ <= 0) throw Error(fmt::format("cannot listen on {}:{}", options_.host, options_.port));
  return port_;
}

void HttpServer::listen() { http_->listen_after_bind(); }

void HttpServer::stop() {
  if (http_) http_->stop();
}

void HttpServer::attach(Engine& engine, const Tokenizer& tokenizer, ChatRenderer render_chat, std::string model_name) {
  tokenizer_ = &tokenizer;
  render_chat_ = std::move(render_chat);
  model_name_ = std::move(model_name);
  engine_.store(&engine);
}

int HttpServer::drain(std::chrono::milliseconds timeout) {
  draining_ = true;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (in_flight_ > 0 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(20ms);
  return in_flight_;
}

void HttpServer::send_error(httplib::Response& res, const ApiError& error, const char* endpoint) {
  res.status = error.status();
  res.set_content(dump(error.to_json()), "application/json");
  if (endpoint) metrics_.count_request(endpoint, error.status());
}

void HttpServer::install_routes() {
  // Authentication and CORS before any route. /health, /metrics and the dashboard stay public:
  // they carry no prompts and monitoring needs them.
  http_->set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (!options_.cors_origin.empty()) {
      res.set_header("Access-Control-Allow-Origin", options_.cors_origin);
      res.set_header("Access-Control-Allow-Headers", "Authorization, Content-Type");
      res.set_header("Access-Control-Allow-Methods", "GET, POST, OPTIONS");
      if (req.method == "OPTIONS") {
        res.status = 204;
        return httplib::Server::HandlerResponse::Handled;
      }
    }
    if (!options_.api_key.empty() && req.path.rfind("/v1/", 0) == 0) {
      const std::string header = req.get_header_value("Authorization");
      const std::string prefix = "Bearer ";
      const bool ok = header.rfind(prefix, 0) == 0 && constant_time_equal(header.substr(prefix.size()), options_.api_key);
      if (!ok) {
        send_error(res, ApiError(401, header.empty() ? "missing API key: send 'Authorization: Bearer <key>'" : "invalid API key",
                                 "authentication_error", {}, "invalid_api_key"),
                   nullptr);
        return httplib::Server::HandlerResponse::Handled;
      }
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });

  // Errors httplib raises itself (unknown route, body too large, bad request line) get OpenAI's
  // shape too; responses that already carry a body are left alone.
  http_->set_error_handler(httplib::Server::HandlerWithResponse(
      [this](const httplib::Request& req, httplib::Response& res) -> httplib::Server::HandlerResponse {
    if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
    if (res.status == 404)
      send_error(res, ApiError(404, fmt::format("no route for {} {}", req.method, req.path), "invalid_request_error", {},
                               "not_found"),
                 nullptr);
    else if (res.status == 413)
      send_error(res, ApiError(413, fmt::format("the request body is larger than {} bytes", options_.max_body_bytes),
                               "invalid_request_error", {}, "request_too_large"),
                 nullptr);
    else
      send_error(res, ApiError(res.status, fmt::format("request refused (HTTP {})", res.status), "invalid_request_error"),
                 nullptr);
    return httplib::Server::HandlerResponse::Handled;
  }));

  http_->set_exception_handler([this](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
    send_error(res, ApiError(500, "internal server error", "server_error"), nullptr);
  });

  http_->Get("/health", [this](const httplib::Request&, httplib::Response& res) {
    if (draining_) {
      res.status = 503;
      res.set_content(R"({"status":"draining"})", "application/json");
    } else if (!engine_.load()) {
      res.status = 503;
      res.set_content(R"({"status":"loading"})", "application/json");
    } else {
      res.set_content(R"({"status":"ok"})", "application/json");
    }
  });

  http_->Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    Engine* engine = engine_.load();
    res.set_content(metrics_.render(engine ? engine->metrics() : EngineMetrics{}, engine ? model_name_ : std::string()),
                    "text/plain; version=0.0.4");
  });

  http_->Get("/", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(dashboard_html(), "text/html; charset=utf-8");
  });

  http_->Get("/v1/models", [this](const httplib::Request&, httplib::Response& res) {
    json data = json::array();
    if (engine_.load())
      data.push_back({{"id", model_name_}, {"object", "model"}, {"created", created_}, {"owned_by", "fluxinfer"}});
    res.set_content(dump({{"object", "list"}, {"data", data}}), "application/json");
  });

  http_->Get(R"(/v1/models/(.+))", [this](const httplib::Request& req, httplib::Response& res) {
    const std::string id = req.matches[1];
    if (!engine_.load() || id != model_name_) {
      send_error(res, ApiError(404, fmt::format("the model '{}' does not exist", id), "invalid_request_error", "model",
                               "model_not_found"),
                 nullptr);
      return;
    }
    res.set_content(dump({{"id", model_name_}, {"object", "model"}, {"created", created_}, {"owned_by", "fluxinfer"}}),
                    "application/json");
  });

  http_->Post("/v1/completions", [this](const httplib::Request& req, httplib::Response& res) {
    handle_generation(req, res, Endpoint::Completions);
  });
  http_->Post("/v1/chat/completions", [this](const httplib::Request& req, httplib::Response& res) {
    handle_generation(req, res, Endpoint::ChatCompletions);
  });
}

void HttpServer::handle_generation(const httplib::Request& req, httplib::Response& res, Endpoint endpoint) {
  const char* name = endpoint_name(endpoint);
  Engine* engine = engine_.load();
  if (draining_ || !engine) {
    res.set_header("Retry-After", "1");
    send_error(res,
               ApiError(503, draining_ ? "the server is shutting down" : "the model is still loading", "server_error", {},
                        draining_ ? "server_shutting_down" : "model_loading"),
               name);
    return;
  }

  // Counted from here until the response is fully written (for a stream, until its end).
  auto in_flight = std::make_shared<InFlight>(in_flight_);

  auto parsed = std::make_shared<ParsedRequest>();
  std::shared_ptr<PromptGroup> group;
  try {
    RequestContext context{model_name_, engine->context_length(), options_.limits, render_chat_};
    *parsed = parse_request(req.body, endpoint, context);
    std::vector<Request> requests = engine_requests(*parsed, *tokenizer_, engine->context_length());
    group = std::make_shared<PromptGroup>(*engine, parsed->engine.n);
    group->add(std::move(requests));
  } catch (const ApiError& e) {
    send_error(res, e, name);
    return;
  } catch (const QueueFullError& e) {
    res.set_header("Retry-After", "1");
    send_error(res, ApiError(503, e.what(), "server_error", {}, "server_overloaded"), name);
    return;
  } catch (const Error& e) {
    const std::string message = e.what();
    const bool context = message.find("context") != std::string::npos;
    send_error(res, ApiError::invalid(message, {}, context ? "context_length_exceeded" : ""), name);
    return;
  }

  const ResponseIdentity identity{
      fmt::format("{}-{}", endpoint == Endpoint::Completions ? "cmpl" : "chatcmpl", next_response_id_++), unix_now(),
      model_name_};
  if (parsed->stream) respond_stream(res, std::move(parsed), identity, std::move(group), std::move(in_flight));
  else respond_whole(res, *parsed, identity, *group, name);
}

void HttpServer::respond_whole(httplib::Response& res, const ParsedRequest& parsed, const ResponseIdentity& identity,
                               PromptGroup& group, const char* name) {
  RequestOutput all;
  while (!group.finished())
    if (auto out = group.pop(1000ms)) {
      if (out->finished) metrics_.observe(out->metrics);
      append_output(all, *out);
    }
  if (!all.error.empty()) {
    send_error(res, ApiError(500, "generation failed: " + all.error, "server_error"), name);
    return;
  }
  const auto aborted = [](const ChoiceOutput& c) { return c.finish == FinishReason::Abort; };
  if (std::any_of(all.choices.begin(), all.choices.end(), aborted)) {
    send_error(res, aborted_error(draining_), name);
    return;
  }
  std::vector<ChoiceContent> choices;
  for (const ChoiceOutput& c : all.choices) choices.push_back({c.index, c.text, c.logprobs, c.finish});
  metrics_.count_request(name, 200);
  res.set_content(dump(full_response(parsed, identity, choices, usage_of(group.totals()), *tokenizer_)),
                  "application/json");
}

void HttpServer::respond_stream(httplib::Response& res, std::shared_ptr<const ParsedRequest> parsed,
                                const ResponseIdentity& identity, std::shared_ptr<PromptGroup> group,
                                std::shared_ptr<InFlight> in_flight) {
  metrics_.count_request(endpoint_name(parsed->endpoint), 200);
  struct StreamState {
    std::vector<bool> started;            // per choice: its first chunk went out
    std::vector<std::size_t> sent_bytes;  // per choice: text streamed so far (for text_offset)
    bool failed = false;                  // an error event went out (at most one per stream)
    bool finished = false;
  };
  auto state = std::make_shared<StreamState>();
  state->started.resize(static_cast<std::size_t>(group->choices()), false);
  state->sent_bytes.resize(state->started.size(), 0);
  res.set_header("Cache-Control", "no-cache");
  res.set_header("X-Accel-Buffering", "no");
  res.set_chunked_content_provider(
      "text/event-stream",
      [this, parsed, identity, group, state, in_flight](std::size_t, httplib::DataSink& sink) {
        auto write = [&](const std::string& s) { return sink.write(s.data(), s.size()); };
        auto event = [&](const json& j) { return write("data: " + dump(j) + "\n\n"); };
        auto out = group->pop(kKeepAlive);
        if (!out) {
          if (!write(": keep-alive\n\n")) {
            group->abort();
            return false;
          }
          return true;
        }
        bool aborted = false;
        for (const ChoiceOutput& c : out->choices) {
          // A choice cut short gets no finish_reason: the error event below says why it ended.
          const bool cut = c.finish == FinishReason::Abort;
          aborted = aborted || cut;
          if (cut && c.text.empty() && c.logprobs.empty()) continue;
          const auto index = static_cast<std::size_t>(c.index);
          const bool first = !state->started[index];
          state->started[index] = true;
          ChoiceContent content{c.index, c.text, c.logprobs, cut ? FinishReason::None : c.finish};
          // echo: a completion's stream starts with its prompt, as the whole response does.
          const std::size_t echoed = first ? echo_text(*parsed, c.index).size() : 0;
          if (echoed > 0) content.text = echo_text(*parsed, c.index) + content.text;
          content.text_offset = state->sent_bytes[index] + echoed;
          state->sent_bytes[index] += content.text.size();
          if (!event(stream_chunk(*parsed, identity, content, first, *tokenizer_))) {
            group->abort();
            return false;
          }
        }
        // A failure, or an abort by the server (shutdown), ends the stream with an error event
        // rather than a finish_reason: "stop" would pass a cut-off text off as complete. OpenAI
        // reports mid-stream failures the same way, and its SDKs (Python and Node) raise
        // APIError on `data: {"error": ...}`, after every chunk before it was delivered. The
        // stream then ends as usual ([DONE], then the chunked terminator), so raw SSE readers
        // see a well-formed end too.
        if (!state->failed && (!out->error.empty() || aborted)) {
          state->failed = true;
          event((out->error.empty() ? aborted_error(draining_)
                                    : ApiError(500, "generation failed: " + out->error, "server_error"))
                    .to_json());
        }
        if (out->finished) metrics_.observe(out->metrics);
        if (group->finished()) {
          if (parsed->include_usage) event(usage_chunk(*parsed, identity, usage_of(group->totals())));
          write("data: [DONE]\n\n");
          state->finished = true;
          sink.done();
        }
        return true;
      },
      [group, state](bool success) {
        if (!success && !state->finished) group->abort();
      });
}

}  // namespace flux::server
