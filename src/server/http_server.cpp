#include "server/http_server.hpp"

#include <algorithm>
#include <chrono>
#include <thread>

#include <fmt/format.h>
#include <httplib.h>

#include "base/error.hpp"
#include "server/dashboard.hpp"
#include "server/openai_response.hpp"
#include "server/output_channel.hpp"

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
  struct InFlight {
    std::atomic<int>& n;
    explicit InFlight(std::atomic<int>& count) : n(count) { ++n; }
    ~InFlight() { --n; }
  };
  auto in_flight = std::make_shared<InFlight>(in_flight_);

  ParsedRequest parsed;
  RequestId id = 0;
  auto channel = std::make_shared<OutputChannel>();
  try {
    RequestContext context{model_name_, engine->context_length(), options_.limits, render_chat_};
    parsed = parse_request(req.body, endpoint, context);
    Request& r = parsed.engine;
    const auto n_vocab = static_cast<std::int64_t>(tokenizer_->vocab_size());
    for (std::size_t i = 0; i < r.prompt_tokens.size(); ++i)
      if (r.prompt_tokens[i] < 0 || r.prompt_tokens[i] >= n_vocab)
        throw ApiError::invalid(fmt::format("prompt token {} (id {}) is outside the vocabulary of {} tokens", i,
                                            r.prompt_tokens[i], n_vocab),
                                "prompt");
    if (r.prompt_tokens.empty()) {
      r.prompt_tokens = tokenizer_->encode(r.prompt, r.add_special, /*parse_special=*/true);
      if (r.prompt_tokens.empty()) throw ApiError::invalid("the prompt is empty", "prompt");
    }
    const auto n_prompt = static_cast<int>(r.prompt_tokens.size());
    if (n_prompt >= engine->context_length())
      throw ApiError::invalid(fmt::format("the prompt has {} tokens but the context holds {}", n_prompt,
                                          engine->context_length()),
                              endpoint == Endpoint::Completions ? "prompt" : "messages", "context_length_exceeded");
    if (r.max_tokens == 0) r.max_tokens = engine->context_length() - n_prompt;  // chat without a limit
    r.on_output = [channel](const RequestOutput& out) { channel->push(out); };
    id = engine->add(std::move(r));
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

  if (!parsed.stream) {
    RequestOutput all;
    while (!all.finished)
      if (auto out = channel->pop(1000ms)) append_output(all, *out);
    metrics_.observe(all.metrics);
    if (!all.error.empty()) {
      send_error(res, ApiError(500, "generation failed: " + all.error, "server_error"), name);
      return;
    }
    std::vector<ChoiceContent> choices;
    for (const ChoiceOutput& c : all.choices) choices.push_back({c.index, c.text, c.logprobs, c.finish});
    metrics_.count_request(name, 200);
    res.set_content(dump(full_response(parsed, identity, choices, usage_of(all.metrics), *tokenizer_)),
                    "application/json");
    return;
  }

  metrics_.count_request(name, 200);
  struct StreamState {
    std::vector<bool> started;
    std::vector<std::size_t> sent_bytes;  // text of each choice streamed so far (for text_offset)
    bool finished = false;
  };
  auto state = std::make_shared<StreamState>();
  res.set_header("Cache-Control", "no-cache");
  res.set_header("X-Accel-Buffering", "no");
  res.set_chunked_content_provider(
      "text/event-stream",
      [this, channel, state, parsed, identity, engine, id, in_flight](std::size_t, httplib::DataSink& sink) {
        auto write = [&](const std::string& s) { return sink.write(s.data(), s.size()); };
        auto out = channel->pop(kKeepAlive);
        if (!out) {
          if (!write(": keep-alive\n\n")) {
            engine->abort(id);
            return false;
          }
          return true;
        }
        if (!out->error.empty()) {
          // Mid-stream failures travel as an error event; the stream then ends normally.
          write("data: " + dump(ApiError(500, "generation failed: " + out->error, "server_error").to_json()) + "\n\n");
        }
        for (const ChoiceOutput& c : out->choices) {
          const auto index = static_cast<std::size_t>(c.index);
          if (state->started.size() <= index) {
            state->started.resize(index + 1, false);
            state->sent_bytes.resize(index + 1, 0);
          }
          const bool first = !state->started[index];
          state->started[index] = true;
          ChoiceContent content{c.index, c.text, c.logprobs, c.finish};
          // echo: a completion's stream starts with its prompt, as the whole response does.
          if (first && parsed.echo) content.text = parsed.prompt_text + content.text;
          content.text_offset = state->sent_bytes[index] + (first && parsed.echo ? parsed.prompt_text.size() : 0);
          state->sent_bytes[index] += content.text.size();
          if (!write("data: " + dump(stream_chunk(parsed, identity, content, first, *tokenizer_)) + "\n\n")) {
            engine->abort(id);
            return false;
          }
        }
        if (out->finished) {
          metrics_.observe(out->metrics);
          if (parsed.include_usage)
            write("data: " + dump(usage_chunk(parsed, identity, usage_of(out->metrics))) + "\n\n");
          write("data: [DONE]\n\n");
          state->finished = true;
          sink.done();
        }
        return true;
      },
      [engine, id, state](bool success) {
        if (!success && !state->finished) engine->abort(id);
      });
}

}  // namespace flux::server
