// flux serve: the OpenAI-compatible HTTP server. It listens first and loads the model after, so
// that /health can answer 503 while loading; SIGTERM (or SIGINT) stops accepting, lets the
// requests in flight finish (up to --drain-timeout), aborts those still running, then exits 0.

#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <thread>

#include <pthread.h>

#include <fmt/format.h>

#include "apps/flux/engine_flags.hpp"
#include "apps/flux/chat_renderer.hpp"
#include "apps/flux/commands.hpp"
#include "apps/flux/model_loading.hpp"
#include "base/error.hpp"
#include "flux/engine.hpp"
#include "server/http_server.hpp"

namespace flux::cli {
namespace {

using namespace std::chrono_literals;

// After the drain timeout: how long the aborted requests get to end their responses (one engine
// step and a write each, normally milliseconds).
constexpr auto kAbortGrace = 5s;

struct ServeOptions {
  LoadOptions load;
  std::string model;
  server::ServerOptions http;
  std::string api_key_file;
  std::string served_model_name;
  std::string chat_template;
  EngineOptions engine;
  std::string kv_mem;
  int drain_timeout_s = 30;
  bool no_prefix_cache = false;
};

std::string read_key_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(fmt::format("cannot read API key file '{}'", path));
  std::string key{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  while (!key.empty() && (key.back() == '\n' || key.back() == '\r' || key.back() == ' ')) key.pop_back();
  if (key.empty()) throw Error(fmt::format("API key file '{}' is empty", path));
  return key;
}

void serve(ServeOptions o) {
  if (!o.api_key_file.empty()) {
    if (!o.http.api_key.empty()) throw InvalidArgument("give either --api-key or --api-key-file, not both");
    o.http.api_key = read_key_file(o.api_key_file);
  }
  if (o.drain_timeout_s < 0) throw InvalidArgument("--drain-timeout must not be negative");
  if (!o.kv_mem.empty()) o.engine.kv_mem_bytes = parse_byte_size(o.kv_mem, "--kv-mem");
  std::error_code ec;
  if (!std::filesystem::exists(o.model, ec)) throw Error(fmt::format("model file '{}' does not exist", o.model));

  // Signals go to one thread that waits for them; every other thread (created after this) has
  // them blocked. A write to a closed client socket must fail with EPIPE, not kill the server.
  std::signal(SIGPIPE, SIG_IGN);
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  server::HttpServer http(o.http);
  const int port = http.bind();
  std::thread listener([&] { http.listen(); });
  std::fprintf(stderr, "flux serve: listening on http://%s:%d (loading %s)\n", o.http.host.c_str(), port,
               o.model.c_str());

  try {
    LoadedModel loaded = load_model(o.model, with_threads(o.load, o.engine.threads));
    o.engine.prefix_caching = !o.no_prefix_cache;
    o.engine.threads = resolve_threads(o.engine.threads);
    Engine engine(loaded.model, loaded.tokenizer, o.engine);
    const std::string name =
        o.served_model_name.empty() ? std::filesystem::path(o.model).filename().string() : o.served_model_name;
    http.attach(engine, loaded.tokenizer, make_chat_renderer(loaded.model, loaded.tokenizer, o.chat_template), name);
    std::fprintf(stderr, "flux serve: ready: model '%s', context %d, %d threads, up to %d sequences; %s\n", name.c_str(),
                 engine.context_length(), o.engine.threads, o.engine.max_seqs, loaded.model.packing().describe().c_str());

    int signal = 0;
    sigwait(&signals, &signal);
    std::fprintf(stderr, "flux serve: %s: draining (up to %d s)\n", signal == SIGTERM ? "SIGTERM" : "SIGINT",
                 o.drain_timeout_s);
    const int left = http.drain(std::chrono::seconds(o.drain_timeout_s));
    if (left > 0) {
      // stop() waits for every handler thread, and a handler waits for its generation: without
      // the abort, the exit would wait for generations of any length.
      const int aborted = engine.abort_all();
      std::fprintf(stderr, "flux serve: %d requests still running at the deadline: aborting %d generations\n", left,
                   aborted);
      // The aborts land at the engine's next step; then each handler writes its response (a
      // stream's error event and [DONE]). stop() now would cut those streams off mid-response.
      if (const int stuck = http.drain(kAbortGrace); stuck > 0)
        std::fprintf(stderr, "flux serve: %d responses still unwritten; closing their connections\n", stuck);
    }
    http.stop();
    listener.join();
  } catch (...) {
    http.stop();
    if (listener.joinable()) listener.join();
    throw;
  }
  std::fprintf(stderr, "flux serve: stopped\n");
}

}  // namespace

void add_serve_command(CLI::App& app) {
  auto o = std::make_shared<ServeOptions>();
  CLI::App* cmd = app.add_subcommand("serve", "Serve the model over an OpenAI-compatible HTTP API with a dashboard");
  cmd->option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  cmd->add_option("-m,--model", o->model, "GGUF model file")->required();
  add_load_options(*cmd, o->load);
  cmd->add_option("--host", o->http.host, "Address to bind (loopback unless told otherwise)")->capture_default_str();
  cmd->add_option("--port", o->http.port, "Port (0: any free port)")->capture_default_str();
  cmd->add_option("--api-key", o->http.api_key, "Require 'Authorization: Bearer KEY' on /v1/ routes");
  cmd->add_option("--api-key-file", o->api_key_file, "Read the API key from a file");
  cmd->add_option("-c,--ctx", o->engine.n_ctx, "Context length per sequence (0: the model's, at most 4096)")
      ->capture_default_str();
  cmd->add_option("--max-seqs", o->engine.max_seqs, "Sequences batched per step")->capture_default_str();
  cmd->add_option("--max-queue", o->engine.max_queue, "Waiting requests before 503 (0: no limit)")->capture_default_str();
  cmd->add_option("--kv-mem", o->kv_mem, "KV cache size, e.g. 2G (default: max-seqs full contexts, capped)");
  cmd->add_option("--kv-mem-fraction", o->engine.kv_mem_fraction, "KV cache size as a share of available memory");
  cmd->add_option("--max-batched-tokens", o->engine.max_batched_tokens, "Tokens per step")->capture_default_str();
  cmd->add_option("--block-size", o->engine.block_size, "KV block size in tokens")->capture_default_str();
  add_kv_type_option(*cmd, o->engine.kv_type);
  cmd->add_flag("--no-prefix-cache", o->no_prefix_cache, "Do not reuse cached prompt prefixes");
  cmd->add_option("-t,--threads", o->engine.threads, "Threads (default: all cores)");
  cmd->add_option("--served-model-name", o->served_model_name, "Model name in the API (default: the file name)");
  cmd->add_option("--chat-template", o->chat_template,
                  "Built-in chat template instead of the model's (chatml, llama2, llama3, mistral, gemma, phi3); default: the model's, else chatml");
  cmd->add_option("--cors-origin", o->http.cors_origin, "Allow browser requests from this origin");
  cmd->add_option("--max-body-bytes", o->http.max_body_bytes, "Largest request body accepted")->capture_default_str();
  cmd->add_option("--http-threads", o->http.http_threads, "Connections served at once")->capture_default_str();
  cmd->add_option("--drain-timeout", o->drain_timeout_s, "Seconds SIGTERM waits for requests in flight before aborting them")
      ->capture_default_str();
  cmd->callback([o] { serve(*o); });
}

}  // namespace flux::cli
