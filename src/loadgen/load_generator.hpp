#pragma once
// A closed-loop HTTP load generator for OpenAI-compatible servers (FluxInfer's `flux serve`,
// llama.cpp's llama-server, vLLM, ...): `concurrency` workers each keep one request in flight until
// `requests` have been sent. Every request asks for `max_tokens` tokens at temperature 0 with
// `ignore_eos` (servers that honour it generate exactly that many; others ignore the field), so
// runs do comparable work. Failed requests (an HTTP error, a dropped connection, a timeout, an
// error event in a stream) are counted with their status and message and never stop the run.
//
// Prompts are random words from a fixed list of short, common English words, seeded per request
// so no two requests share a prefix; one word is about one token in the usual BPE and SentencePiece
// vocabularies, so `prompt_tokens` is approximate: the server's own count (usage.prompt_tokens)
// is reported beside it when the server returns usage.
//
// With streaming, TTFT is the time to the first chunk with non-empty text, inter-token latency the
// gaps between chunks with text (one token per chunk on llama-server, vLLM and flux serve; a server
// that sends several per chunk shows fewer, longer gaps), and output tokens come from the final
// usage chunk (stream_options.include_usage) or, without one, are the chunks with text. Without
// streaming TTFT is the end-to-end latency and output tokens are usage.completion_tokens.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/serving_bench.hpp"  // Percentiles, percentiles()

namespace flux::loadgen {

// An http:// server address: host, port and an optional path prefix the API lives under.
struct ServerUrl {
  std::string host;        // a name or an address; IPv6 without brackets
  int port = 80;
  std::string base_path;   // "" or "/prefix" (no trailing slash, no trailing "/v1")
};

// Parses "http://host[:port][/base]" (the scheme may be left out). A trailing "/v1" is dropped,
// so the base URL an OpenAI client takes works too. Throws InvalidArgument for https (not
// supported), another scheme, an empty host or a bad port.
ServerUrl parse_server_url(const std::string& url);

struct LoadOptions {
  std::string url;
  int concurrency = 1;      // requests in flight
  int requests = 4;         // requests in all
  int prompt_tokens = 128;  // prompt length in words (about one token each)
  int max_tokens = 128;     // max_tokens of every request
  bool stream = false;      // SSE streaming; measures TTFT and inter-token latency
  bool chat = false;        // /v1/chat/completions instead of /v1/completions
  std::string model;        // the "model" field; left out when empty
  std::string api_key;      // sent as "Authorization: Bearer <key>" when not empty
  double timeout_s = 600;   // per request: connect, silence between reads, and in all
  std::uint64_t seed = 1234;
};

// Throws InvalidArgument for counts below 1, a timeout not above 0 or a bad URL.
void validate(const LoadOptions& options);

// `n_words` space-separated words, the same for the same seed.
std::string make_prompt(int n_words, std::uint64_t seed);

// The JSON body of request number `index` (its prompt is seeded with options.seed + index).
nlohmann::json make_request_body(const LoadOptions& options, int index);

// The API path requests go to: base path + /v1/completions or /v1/chat/completions.
std::string endpoint_path(const ServerUrl& url, bool chat);

// Splits a Server-Sent Events stream, fed in arbitrary pieces, into the data of its events
// ("data:" lines, joined by '\n' when an event has several). Comments and other fields are
// skipped. Lines may end in "\n" or "\r\n".
class SseParser {
 public:
  explicit SseParser(std::function<void(std::string_view data)> on_event) : on_event_(std::move(on_event)) {}
  void feed(std::string_view bytes);
  // Delivers an event the stream ended without closing with an empty line.
  void finish();

 private:
  void line(std::string_view l);

  std::function<void(std::string_view)> on_event_;
  std::string pending_;  // an incomplete line
  std::string data_;     // the data of the event being read
  bool has_data_ = false;
};

// What happened to one request.
struct RequestOutcome {
  bool ok = false;
  int status = 0;                // HTTP status; 0 when no response came (connection, timeout)
  std::string error;             // why it failed (the error body's message where there is one)
  double ttft_ms = 0;            // first content chunk (streamed) or the whole response
  double e2e_ms = 0;
  std::vector<double> itl_ms;    // gaps between content chunks (streamed only)
  std::int64_t output_tokens = 0;
  std::optional<std::int64_t> prompt_tokens;  // usage.prompt_tokens when the server sent it
  bool usage_reported = false;   // output_tokens came from usage (else from counting chunks)
};

// Failures that share a status and a message.
struct ErrorCount {
  int status = 0;
  std::string message;
  int count = 0;
};

struct LoadResult {
  int requests = 0;
  int ok = 0;
  int failed = 0;
  std::map<int, int> status_counts;  // HTTP status -> requests; 0: no response
  std::vector<ErrorCount> errors;    // distinct (status, message) of failures, most frequent first
  double seconds = 0;                // wall time of the whole run
  double requests_per_sec = 0;       // successful requests / seconds
  double output_tokens_per_sec = 0;  // output tokens of successful requests / seconds
  std::int64_t output_tokens = 0;
  Percentiles ttft_ms;               // over successful requests
  Percentiles itl_ms;                // over all gaps of all successful streamed requests
  Percentiles e2e_ms;
  std::size_t n_itl = 0;             // gaps measured (0 without streaming)
  std::optional<double> mean_prompt_tokens;  // mean usage.prompt_tokens over requests that reported it
  double mean_output_tokens = 0;             // over successful requests
};

// Runs the load and gathers the statistics. Throws InvalidArgument for bad options; failures of
// individual requests are counted, not thrown.
LoadResult run_load(const LoadOptions& options);

// Folds per-request outcomes into the statistics (run_load's last step; `seconds` is the wall time).
LoadResult summarize(const std::vector<RequestOutcome>& outcomes, double seconds);

// The message of an OpenAI-style error body ({"error": {"message": ...}}, {"error": "..."},
// {"message": ...}), else the body itself, shortened.
std::string error_message_of(std::string_view body);

}  // namespace flux::loadgen
