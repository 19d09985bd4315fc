#include "loadgen/load_generator.hpp"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cmath>
#include <exception>
#include <random>
#include <thread>
#include <tuple>

#include <fmt/format.h>
#include <httplib.h>

#include "base/error.hpp"

namespace flux::loadgen {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

// Short, common English words: one token each (with the leading space) in the Llama, Mistral,
// Qwen and GPT vocabularies, as near as a fixed list gets.
constexpr const char* kWords[] = {
    "the",    "of",     "and",    "to",     "in",     "is",     "was",    "for",    "on",     "with",   "as",
    "by",     "at",     "from",   "his",    "her",    "they",   "this",   "that",   "which",  "have",   "had",
    "were",   "are",    "but",    "not",    "one",    "all",    "there",  "when",   "who",    "will",   "more",
    "been",   "would",  "their",  "what",   "about",  "out",    "up",     "into",   "time",   "some",   "could",
    "other",  "than",   "then",   "now",    "only",   "over",   "also",   "after",  "new",    "year",   "first",
    "two",    "most",   "made",   "like",   "back",   "where",  "may",    "many",   "people", "way",    "work",
    "life",   "day",    "man",    "world",  "old",    "house",  "water",  "long",   "city",   "small",  "great",
    "light",  "place",  "name",   "hand",   "high",   "home",   "land",   "line",   "left",   "right",  "night",
    "end",    "part",   "point",  "king",   "war",    "road",   "river",  "tree",   "stone",  "fire",   "school",
    "book",   "story",  "music",  "game",   "team",   "party",  "power",  "money",  "state",  "court",  "field",
    "church", "family", "friend", "father", "mother", "child",  "woman",  "body",   "head",   "face",   "door",
    "room",   "table",  "paper",  "letter", "word",   "voice",  "plan",   "idea",   "lake",   "test",   "model",
    "data",   "value",  "code",   "group",  "form",   "level",  "order",  "area",   "side",   "top",    "rest",
    "red",    "blue",   "green",  "black",  "white",  "dark",   "warm",   "cold",   "hard",   "soft",   "fast",
    "slow",   "early",  "late",   "young",  "free",   "full",   "open",   "close",  "clear",  "simple", "strong",
    "happy",  "quiet",  "good",   "bad",    "big",    "short",  "near",   "far",    "north",  "south",  "east",
    "west",   "summer", "winter", "morning", "garden", "window", "market", "street", "station", "island", "forest",
    "ocean",  "bridge", "castle", "village", "train",  "ship",   "horse",  "dog",    "cat",    "bird",   "fish",
    "apple",  "bread",  "milk",   "coffee", "dinner", "song",   "dance",  "film",   "picture", "color", "sound",
    "run",    "walk",   "read",   "write",  "speak",  "think",  "know",   "see",    "find",   "give",   "take",
    "come",   "go",     "make",   "keep",   "bring",  "leave",  "call",   "ask",    "help",   "turn",   "move",
    "play",   "live",   "hold",   "stand",  "learn",  "change", "follow", "stop",   "start",  "watch",  "build",
};
constexpr std::size_t kWordCount = sizeof(kWords) / sizeof(kWords[0]);

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

bool is_success(int status) { return status >= 200 && status < 300; }

std::string transport_error(httplib::Error e) {
  switch (e) {
    case httplib::Error::Connection: return "could not connect";
    case httplib::Error::Read: return "connection lost while reading the response";
    case httplib::Error::Write: return "connection lost while sending the request";
    case httplib::Error::ConnectionTimeout: return "connection timed out";
    case httplib::Error::BindIPAddress: return "could not bind the local address";
    default: return fmt::format("request failed ({})", httplib::to_string(e));
  }
}

// An integer field of `usage`, if it is one.
std::optional<std::int64_t> usage_field(const json& usage, const char* name) {
  const auto it = usage.find(name);
  if (it == usage.end() || !it->is_number_integer()) return std::nullopt;
  return it->get<std::int64_t>();
}

bool nonempty_string(const json& j, const char* name) {
  const auto it = j.find(name);
  return it != j.end() && it->is_string() && !it->get_ref<const std::string&>().empty();
}

// Whether a streamed chunk carries generated text: choices[].text (completions) or
// choices[].delta.content / reasoning_content (chat).
bool has_content(const json& chunk) {
  const auto choices = chunk.find("choices");
  if (choices == chunk.end() || !choices->is_array()) return false;
  for (const json& c : *choices) {
    if (!c.is_object()) continue;
    if (nonempty_string(c, "text")) return true;
    const auto delta = c.find("delta");
    if (delta != c.end() && delta->is_object() &&
        (nonempty_string(*delta, "content") || nonempty_string(*delta, "reasoning_content")))
      return true;
  }
  return false;
}

void set_timeouts(httplib::Client& client, double timeout_s) {
  timeout_s = std::min(timeout_s, 1e8);
  const auto sec = static_cast<time_t>(timeout_s);
  const auto usec = static_cast<time_t>((timeout_s - static_cast<double>(sec)) * 1e6);
  client.set_connection_timeout(sec, usec);
  client.set_read_timeout(sec, usec);
  client.set_write_timeout(sec, usec);
}

double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

// Sends one request and times it; a failure of the request is recorded, not thrown.
RequestOutcome send_one(httplib::Client& client, const std::string& path, const httplib::Headers& headers,
                        std::string body, bool stream, double timeout_s) {
  constexpr std::size_t kMaxBody = 1 << 20;  // enough for any non-streamed completion we ask for
  RequestOutcome out;
  httplib::Request req;
  req.method = "POST";
  req.path = path;
  req.headers = headers;
  req.body = std::move(body);
  httplib::Response res;

  std::string raw;  // a body that is not an event stream: JSON, or an error page
  bool decided = false;
  bool sse = false;
  bool timed_out = false;
  Clock::time_point now;
  std::optional<Clock::time_point> first_content;
  Clock::time_point last_content;
  std::int64_t content_chunks = 0;
  std::optional<std::int64_t> usage_completion;
  std::string stream_error;

  auto on_chunk = [&](const json& chunk) {
    if (!chunk.is_object()) return;
    if (chunk.contains("error")) {
      if (stream_error.empty()) stream_error = error_message_of(chunk.dump());
      return;
    }
    if (has_content(chunk)) {
      ++content_chunks;
      if (!first_content) {
        first_content = now;
      } else {
        out.itl_ms.push_back(ms_between(last_content, now));
      }
      last_content = now;
    }
    const auto usage = chunk.find("usage");
    if (usage != chunk.end() && usage->is_object()) {
      if (auto c = usage_field(*usage, "completion_tokens")) usage_completion = c;
      if (auto p = usage_field(*usage, "prompt_tokens")) out.prompt_tokens = p;
    }
  };
  SseParser parser([&](std::string_view data) {
    if (data == "[DONE]") return;
    const json chunk = json::parse(data, nullptr, /*allow_exceptions=*/false);
    if (!chunk.is_discarded()) on_chunk(chunk);
  });

  const Clock::time_point start = Clock::now();
  const Clock::time_point deadline =  // (capped so that the nanoseconds fit)
      start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(std::min(timeout_s, 1e8)));
  req.content_receiver = [&](const char* data, std::size_t n, std::uint64_t, std::uint64_t) {
    now = Clock::now();
    if (!decided) {
      decided = true;
      // A server that ignores "stream" answers with plain JSON; anything else 2xx is taken as SSE.
      sse = stream && is_success(res.status) &&
            !lower(res.get_header_value("Content-Type")).starts_with("application/json");
    }
    if (sse) {
      parser.feed(std::string_view(data, n));
    } else if (raw.size() < kMaxBody) {
      raw.append(data, std::min(n, kMaxBody - raw.size()));
    }
    if (now >= deadline) {
      timed_out = true;
      return false;
    }
    return true;
  };

  httplib::Error err = httplib::Error::Success;
  const bool sent = client.send(req, res, err);
  const Clock::time_point end = Clock::now();
  if (sse) {
    now = end;
    parser.finish();
  }
  out.e2e_ms = ms_between(start, end);
  out.status = res.status > 0 ? res.status : 0;

  if (!sent) {
    if (timed_out || (err == httplib::Error::Read && end >= deadline))
      out.error = fmt::format("timed out after {} s", timeout_s);
    else
      out.error = transport_error(err);
    return out;
  }
  if (!is_success(res.status)) {
    out.error = raw.empty() ? fmt::format("HTTP {}", res.status) : error_message_of(raw);
    return out;
  }
  if (sse) {
    if (!stream_error.empty()) {
      out.error = stream_error;
      return out;
    }
    out.ok = true;
    out.ttft_ms = first_content ? ms_between(start, *first_content) : out.e2e_ms;
    out.usage_reported = usage_completion.has_value();
    out.output_tokens = usage_completion.value_or(content_chunks);
    return out;
  }
  const json j = json::parse(raw, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    out.error = "the response is not a JSON object";
    return out;
  }
  if (j.contains("error")) {
    out.error = error_message_of(raw);
    return out;
  }
  out.ok = true;
  out.ttft_ms = out.e2e_ms;
  const auto usage = j.find("usage");
  if (usage != j.end() && usage->is_object()) {
    if (auto c = usage_field(*usage, "completion_tokens")) {
      out.output_tokens = *c;
      out.usage_reported = true;
    }
    out.prompt_tokens = usage_field(*usage, "prompt_tokens");
  }
  return out;
}

}  // namespace

ServerUrl parse_server_url(const std::string& url) {
  auto bad = [&](const std::string& why) { return InvalidArgument(fmt::format("bad URL '{}': {}", url, why)); };
  std::string rest = url;
  if (const auto scheme_end = rest.find("://"); scheme_end != std::string::npos) {
    const std::string scheme = lower(rest.substr(0, scheme_end));
    if (scheme == "https")
      throw InvalidArgument(fmt::format("bad URL '{}': https is not supported, only plain http:// "
                                        "(put the server behind an http endpoint, or use its http port)",
                                        url));
    if (scheme != "http") throw bad(fmt::format("scheme '{}' is not supported, only http://", scheme));
    rest = rest.substr(scheme_end + 3);
  }
  if (rest.find_first_of("?#") != std::string::npos) throw bad("a query or fragment is not allowed");
  const auto slash = rest.find('/');
  const std::string authority = rest.substr(0, slash);
  std::string path = slash == std::string::npos ? "" : rest.substr(slash);
  if (authority.find('@') != std::string::npos) throw bad("user information is not supported (use --api-key)");

  ServerUrl out;
  std::string port;
  if (authority.starts_with("[")) {  // [IPv6]:port
    const auto close = authority.find(']');
    if (close == std::string::npos) throw bad("missing ']' after an IPv6 address");
    out.host = authority.substr(1, close - 1);
    const std::string after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') throw bad("unexpected text after the IPv6 address");
      port = after.substr(1);
      if (port.empty()) throw bad("empty port");
    }
  } else {
    const auto colon = authority.find(':');
    if (colon != std::string::npos && authority.find(':', colon + 1) != std::string::npos)
      throw bad("an IPv6 address must be in brackets, e.g. http://[::1]:8080");
    out.host = authority.substr(0, colon);
    if (colon != std::string::npos) {
      port = authority.substr(colon + 1);
      if (port.empty()) throw bad("empty port");
    }
  }
  if (out.host.empty()) throw bad("no host");
  if (!port.empty()) {
    if (port.size() > 5 || !std::all_of(port.begin(), port.end(), [](unsigned char c) { return std::isdigit(c); }))
      throw bad(fmt::format("port '{}' is not a number", port));
    out.port = std::stoi(port);
    if (out.port < 1 || out.port > 65535) throw bad(fmt::format("port {} is out of range", out.port));
  }
  while (!path.empty() && path.back() == '/') path.pop_back();
  if (path.ends_with("/v1")) path.resize(path.size() - 3);
  out.base_path = path;
  return out;
}

void validate(const LoadOptions& o) {
  if (o.concurrency < 1) throw InvalidArgument(fmt::format("--concurrency must be at least 1 (got {})", o.concurrency));
  if (o.requests < 1) throw InvalidArgument(fmt::format("--requests must be at least 1 (got {})", o.requests));
  if (o.prompt_tokens < 1)
    throw InvalidArgument(fmt::format("--prompt-tokens must be at least 1 (got {})", o.prompt_tokens));
  if (o.max_tokens < 1) throw InvalidArgument(fmt::format("--max-tokens must be at least 1 (got {})", o.max_tokens));
  if (!(o.timeout_s > 0) || !std::isfinite(o.timeout_s))
    throw InvalidArgument(fmt::format("--timeout-s must be above 0 (got {})", o.timeout_s));
  (void)parse_server_url(o.url);
}

std::string make_prompt(int n_words, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<std::size_t> pick(0, kWordCount - 1);
  std::string out;
  for (int i = 0; i < n_words; ++i) {
    if (i > 0) out += ' ';
    out += kWords[pick(rng)];
  }
  return out;
}

json make_request_body(const LoadOptions& o, int index) {
  const std::string prompt = make_prompt(o.prompt_tokens, o.seed + static_cast<std::uint64_t>(index));
  json body = json::object();
  if (!o.model.empty()) body["model"] = o.model;
  if (o.chat) {
    body["messages"] = json::array({{{"role", "user"}, {"content", prompt}}});
  } else {
    body["prompt"] = prompt;
  }
  body["max_tokens"] = o.max_tokens;
  body["temperature"] = 0;
  body["ignore_eos"] = true;
  body["stream"] = o.stream;
  if (o.stream) body["stream_options"] = {{"include_usage", true}};
  return body;
}

std::string endpoint_path(const ServerUrl& url, bool chat) {
  return url.base_path + (chat ? "/v1/chat/completions" : "/v1/completions");
}

void SseParser::feed(std::string_view bytes) {
  while (!bytes.empty()) {
    const auto nl = bytes.find('\n');
    if (nl == std::string_view::npos) {
      pending_.append(bytes);
      return;
    }
    if (pending_.empty()) {
      line(bytes.substr(0, nl));
    } else {
      pending_.append(bytes.substr(0, nl));
      const std::string l = std::move(pending_);
      pending_.clear();
      line(l);
    }
    bytes.remove_prefix(nl + 1);
  }
}

void SseParser::finish() {
  if (!pending_.empty()) {
    const std::string l = std::move(pending_);
    pending_.clear();
    line(l);
  }
  line("");
}

void SseParser::line(std::string_view l) {
  if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
  if (l.empty()) {  // the end of an event
    if (has_data_) {
      const std::string data = std::move(data_);
      data_.clear();
      has_data_ = false;
      on_event_(data);
    }
    return;
  }
  if (!l.starts_with("data:")) return;  // a comment (":"), event:, id: or retry:
  l.remove_prefix(5);
  if (l.starts_with(' ')) l.remove_prefix(1);
  if (has_data_) data_ += '\n';
  data_.append(l);
  has_data_ = true;
}

std::string error_message_of(std::string_view body) {
  constexpr std::size_t kMax = 200;
  const json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!j.is_discarded() && j.is_object()) {
    const auto error = j.find("error");
    if (error != j.end()) {
      if (error->is_string()) return error->get<std::string>();
      if (error->is_object()) {
        const auto message = error->find("message");
        if (message != error->end() && message->is_string()) return message->get<std::string>();
      }
    }
    const auto message = j.find("message");
    if (message != j.end() && message->is_string()) return message->get<std::string>();
  }
  std::string s(body.substr(0, kMax));
  for (char& c : s)
    if (c == '\n' || c == '\r') c = ' ';
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return body.size() > kMax ? s + "..." : s;
}

LoadResult summarize(const std::vector<RequestOutcome>& outcomes, double seconds) {
  LoadResult r;
  r.requests = static_cast<int>(outcomes.size());
  r.seconds = seconds;
  std::vector<double> ttft, itl, e2e;
  std::map<std::tuple<int, std::string>, int> errors;
  double prompt_sum = 0;
  int prompt_n = 0;
  for (const RequestOutcome& o : outcomes) {
    ++r.status_counts[o.status];
    if (!o.ok) {
      ++r.failed;
      ++errors[{o.status, o.error}];
      continue;
    }
    ++r.ok;
    r.output_tokens += o.output_tokens;
    ttft.push_back(o.ttft_ms);
    e2e.push_back(o.e2e_ms);
    itl.insert(itl.end(), o.itl_ms.begin(), o.itl_ms.end());
    if (o.prompt_tokens) {
      prompt_sum += static_cast<double>(*o.prompt_tokens);
      ++prompt_n;
    }
  }
  for (const auto& [key, count] : errors) r.errors.push_back({std::get<0>(key), std::get<1>(key), count});
  std::stable_sort(r.errors.begin(), r.errors.end(),
                   [](const ErrorCount& a, const ErrorCount& b) { return a.count > b.count; });
  r.n_itl = itl.size();
  r.ttft_ms = percentiles(std::move(ttft));
  r.itl_ms = percentiles(std::move(itl));
  r.e2e_ms = percentiles(std::move(e2e));
  if (prompt_n > 0) r.mean_prompt_tokens = prompt_sum / prompt_n;
  if (r.ok > 0) r.mean_output_tokens = static_cast<double>(r.output_tokens) / r.ok;
  if (seconds > 0) {
    r.requests_per_sec = r.ok / seconds;
    r.output_tokens_per_sec = static_cast<double>(r.output_tokens) / seconds;
  }
  return r;
}

LoadResult run_load(const LoadOptions& o) {
  validate(o);
  const ServerUrl url = parse_server_url(o.url);
  const std::string path = endpoint_path(url, o.chat);
  httplib::Headers headers = {{"Content-Type", "application/json"}};
  if (o.stream) headers.emplace("Accept", "text/event-stream");
  if (!o.api_key.empty()) headers.emplace("Authorization", "Bearer " + o.api_key);
  if (url.host.find(':') != std::string::npos)  // httplib would write an IPv6 address without brackets
    headers.emplace("Host", fmt::format("[{}]:{}", url.host, url.port));

  std::vector<RequestOutcome> outcomes(static_cast<std::size_t>(o.requests));
  std::atomic<int> next{0};
  auto worker = [&] {
    httplib::Client client(url.host, url.port);
    client.set_keep_alive(true);
    client.set_tcp_nodelay(true);  // else Nagle holds the body back behind the headers for a delayed ACK
    set_timeouts(client, o.timeout_s);
    for (int i = next.fetch_add(1); i < o.requests; i = next.fetch_add(1)) {
      RequestOutcome& out = outcomes[static_cast<std::size_t>(i)];
      try {
        out = send_one(client, path, headers, make_request_body(o, i).dump(), o.stream, o.timeout_s);
      } catch (const std::exception& e) {
        out = {};
        out.error = e.what();
      }
    }
  };
  const int n_workers = std::min(o.concurrency, o.requests);
  const Clock::time_point start = Clock::now();
  {
    std::vector<std::jthread> workers;
    workers.reserve(static_cast<std::size_t>(n_workers));
    for (int w = 0; w < n_workers; ++w) workers.emplace_back(worker);
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return summarize(outcomes, seconds);
}

}  // namespace flux::loadgen
