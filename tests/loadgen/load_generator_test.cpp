// The load generator against a mock OpenAI server on a loopback port: counts, token accounting,
// failures, concurrency, and the pieces (URL parsing, SSE splitting, prompts, error messages).

#include "loadgen/load_generator.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "base/error.hpp"
#include "mock_openai_server.hpp"

namespace flux::testing {
namespace {

using loadgen::LoadOptions;
using loadgen::LoadResult;
using loadgen::parse_server_url;
using loadgen::run_load;

void expect_ordered(const Percentiles& p, const char* what) {
  EXPECT_LE(p.p50, p.p90) << what;
  EXPECT_LE(p.p90, p.p99) << what;
  EXPECT_GE(p.p50, 0.0) << what;
}

LoadOptions options_for(const MockOpenAiServer& server, int concurrency, int requests) {
  LoadOptions o;
  o.url = server.url();
  o.concurrency = concurrency;
  o.requests = requests;
  o.prompt_tokens = 12;
  o.max_tokens = 16;
  o.timeout_s = 10;
  return o;
}

TEST(ServerUrl, Parses) {
  auto u = parse_server_url("http://127.0.0.1:8080");
  EXPECT_EQ(u.host, "127.0.0.1");
  EXPECT_EQ(u.port, 8080);
  EXPECT_EQ(u.base_path, "");
  u = parse_server_url("http://localhost/");
  EXPECT_EQ(u.host, "localhost");
  EXPECT_EQ(u.port, 80);
  EXPECT_EQ(u.base_path, "");
  u = parse_server_url("localhost:9000/api/v1/");
  EXPECT_EQ(u.port, 9000);
  EXPECT_EQ(u.base_path, "/api");
  u = parse_server_url("HTTP://[::1]:8000/v1");
  EXPECT_EQ(u.host, "::1");
  EXPECT_EQ(u.port, 8000);
  EXPECT_EQ(u.base_path, "");
  EXPECT_EQ(loadgen::endpoint_path(parse_server_url("http://h/x"), true), "/x/v1/chat/completions");
  EXPECT_EQ(loadgen::endpoint_path(parse_server_url("http://h"), false), "/v1/completions");
}

TEST(ServerUrl, RejectsWhatItCannotUse) {
  try {
    parse_server_url("https://api.example.com");
    FAIL() << "https was accepted";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("https is not supported"), std::string::npos) << e.what();
  }
  for (const char* bad : {"ftp://h", "http://", "http://:80", "http://h:", "http://h:abc", "http://h:70000",
                          "http://h:0", "http://::1:80", "http://u:p@h", "http://h/?q=1", "http://[::1"})
    EXPECT_THROW(parse_server_url(bad), InvalidArgument) << bad;
}

TEST(SseParser, SplitsEventsFedInPieces) {
  std::vector<std::string> events;
  loadgen::SseParser parser([&](std::string_view d) { events.emplace_back(d); });
  const std::string stream =
      ": comment\r\n\r\nevent: message\ndata: {\"a\":1}\n\ndata:{\"b\":2}\r\nid: 7\r\n\r\ndata: one\ndata: two\n\n"
      "data: [DONE]\n\ndata: tail";
  for (char c : stream) parser.feed(std::string_view(&c, 1));  // the worst split there is
  parser.finish();
  EXPECT_EQ(events, (std::vector<std::string>{"{\"a\":1}", "{\"b\":2}", "one\ntwo", "[DONE]", "tail"}));
  events.clear();
  loadgen::SseParser whole([&](std::string_view d) { events.emplace_back(d); });
  whole.feed(stream);
  EXPECT_EQ(events.size(), 4u);  // "tail" waits for its empty line or finish()
}

TEST(Prompts, AreSeededAndSized) {
  const std::string a = loadgen::make_prompt(50, 1);
  EXPECT_EQ(a, loadgen::make_prompt(50, 1));
  EXPECT_NE(a, loadgen::make_prompt(50, 2));
  EXPECT_EQ(std::count(a.begin(), a.end(), ' '), 49);

  LoadOptions o;
  o.prompt_tokens = 5;
  o.max_tokens = 7;
  auto body = loadgen::make_request_body(o, 3);
  EXPECT_EQ(body.at("prompt").get<std::string>(), loadgen::make_prompt(5, o.seed + 3));
  EXPECT_EQ(body.at("max_tokens"), 7);
  EXPECT_EQ(body.at("temperature"), 0);
  EXPECT_EQ(body.at("ignore_eos"), true);
  EXPECT_EQ(body.at("stream"), false);
  EXPECT_FALSE(body.contains("stream_options"));
  EXPECT_FALSE(body.contains("model"));
  EXPECT_NE(body.at("prompt"), loadgen::make_request_body(o, 4).at("prompt"));

  o.chat = true;
  o.stream = true;
  o.model = "m";
  body = loadgen::make_request_body(o, 0);
  EXPECT_EQ(body.at("model"), "m");
  EXPECT_EQ(body.at("messages").at(0).at("role"), "user");
  EXPECT_FALSE(body.contains("prompt"));
  EXPECT_EQ(body.at("stream_options").at("include_usage"), true);
}

TEST(ErrorMessage, ReadsOpenAiShapes) {
  EXPECT_EQ(loadgen::error_message_of(R"({"error":{"message":"busy","code":503}})"), "busy");
  EXPECT_EQ(loadgen::error_message_of(R"({"error":"nope"})"), "nope");
  EXPECT_EQ(loadgen::error_message_of(R"({"detail":"x","message":"m"})"), "m");
  EXPECT_EQ(loadgen::error_message_of("Bad Gateway\n"), "Bad Gateway");
  EXPECT_EQ(loadgen::error_message_of(std::string(300, 'x')), std::string(200, 'x') + "...");
}

TEST(Validate, RejectsBadCounts) {
  LoadOptions o;
  o.url = "http://127.0.0.1:1";
  EXPECT_NO_THROW(loadgen::validate(o));
  for (auto set : std::vector<void (*)(LoadOptions&)>{
           [](LoadOptions& x) { x.concurrency = 0; }, [](LoadOptions& x) { x.requests = 0; },
           [](LoadOptions& x) { x.prompt_tokens = 0; }, [](LoadOptions& x) { x.max_tokens = 0; },
           [](LoadOptions& x) { x.timeout_s = 0; }, [](LoadOptions& x) { x.url = "https://h"; }}) {
    LoadOptions bad = o;
    set(bad);
    EXPECT_THROW(loadgen::validate(bad), InvalidArgument);
  }
}

TEST(LoadGenerator, NonStreamedCompletions) {
  MockOpenAiServer server({.delay_ms = 5});
  const LoadResult r = run_load(options_for(server, 3, 10));
  EXPECT_EQ(r.requests, 10);
  EXPECT_EQ(r.ok, 10);
  EXPECT_EQ(r.failed, 0);
  EXPECT_EQ(r.status_counts, (std::map<int, int>{{200, 10}}));
  EXPECT_EQ(r.output_tokens, 10 * 16);  // usage.completion_tokens, not the 3 words of text
  EXPECT_DOUBLE_EQ(r.mean_output_tokens, 16.0);
  ASSERT_TRUE(r.mean_prompt_tokens.has_value());
  EXPECT_DOUBLE_EQ(*r.mean_prompt_tokens, 13.0);  // the mock counts words + 1
  EXPECT_EQ(r.n_itl, 0u);
  EXPECT_DOUBLE_EQ(r.ttft_ms.p50, r.e2e_ms.p50);  // no stream: the first token is the whole answer
  EXPECT_GE(r.e2e_ms.p50, 5.0);
  expect_ordered(r.e2e_ms, "e2e");
  EXPECT_GT(r.seconds, 0.0);
  EXPECT_NEAR(r.requests_per_sec, 10 / r.seconds, 1e-9);
  EXPECT_NEAR(r.output_tokens_per_sec, 160 / r.seconds, 1e-9);

  const auto seen = server.seen();
  ASSERT_EQ(seen.size(), 10u);
  std::set<std::string> prompts;
  for (const SeenRequest& s : seen) {
    EXPECT_EQ(s.path, "/v1/completions");
    EXPECT_EQ(s.authorization, "");
    EXPECT_EQ(s.body.at("max_tokens"), 16);
    EXPECT_EQ(s.body.at("temperature"), 0);
    EXPECT_EQ(s.body.at("ignore_eos"), true);
    EXPECT_EQ(s.body.at("stream"), false);
    prompts.insert(s.body.at("prompt").get<std::string>());
  }
  EXPECT_EQ(prompts.size(), 10u);  // every request its own prompt
}

TEST(LoadGenerator, StreamedCompletionsUseTheUsageChunk) {
  MockOpenAiServer server({.delay_ms = 3, .content_chunks = 4});
  LoadOptions o = options_for(server, 2, 6);
  o.stream = true;
  const LoadResult r = run_load(o);
  EXPECT_EQ(r.ok, 6);
  EXPECT_EQ(r.output_tokens, 6 * 16);   // from usage, though only 4 chunks carried text
  EXPECT_EQ(r.n_itl, 6u * 3u);          // 4 content chunks: 3 gaps each
  ASSERT_TRUE(r.mean_prompt_tokens.has_value());
  EXPECT_DOUBLE_EQ(*r.mean_prompt_tokens, 13.0);
  expect_ordered(r.ttft_ms, "ttft");
  expect_ordered(r.itl_ms, "itl");
  expect_ordered(r.e2e_ms, "e2e");
  EXPECT_GE(r.ttft_ms.p50, 3.0);        // the mock sleeps before the first chunk
  EXPECT_GE(r.e2e_ms.p50, 12.0);        // and before each of the 4
  EXPECT_LT(r.ttft_ms.p99, r.e2e_ms.p99);
  for (const SeenRequest& s : server.seen()) {
    EXPECT_EQ(s.body.at("stream"), true);
    EXPECT_EQ(s.body.at("stream_options").at("include_usage"), true);
  }
}

TEST(LoadGenerator, StreamedChatCountsChunksWithoutUsage) {
  MockOpenAiServer server({.delay_ms = 2, .content_chunks = 5, .send_usage = false});
  LoadOptions o = options_for(server, 2, 4);
  o.stream = true;
  o.chat = true;
  const LoadResult r = run_load(o);
  EXPECT_EQ(r.ok, 4);
  EXPECT_EQ(r.output_tokens, 4 * 5);  // the role chunk and the empty finish chunk do not count
  EXPECT_EQ(r.n_itl, 4u * 4u);
  EXPECT_FALSE(r.mean_prompt_tokens.has_value());
  for (const SeenRequest& s : server.seen()) {
    EXPECT_EQ(s.path, "/v1/chat/completions");
    EXPECT_EQ(s.body.at("messages").at(0).at("role"), "user");
  }
}

TEST(LoadGenerator, FailuresAreCountedAndTheRunGoesOn) {
  for (bool stream : {false, true}) {
    MockOpenAiServer server({.delay_ms = 1, .fail_every = 3});
    LoadOptions o = options_for(server, 3, 9);
    o.stream = stream;
    const LoadResult r = run_load(o);
    EXPECT_EQ(r.ok, 6) << stream;
    EXPECT_EQ(r.failed, 3) << stream;
    EXPECT_EQ(r.status_counts, (std::map<int, int>{{200, 6}, {503, 3}})) << stream;
    ASSERT_EQ(r.errors.size(), 1u);
    EXPECT_EQ(r.errors[0].status, 503);
    EXPECT_EQ(r.errors[0].message, "server busy");
    EXPECT_EQ(r.errors[0].count, 3);
    EXPECT_EQ(r.output_tokens, 6 * 16);  // only successful requests count
    EXPECT_NEAR(r.requests_per_sec, 6 / r.seconds, 1e-9);
  }
}

TEST(LoadGenerator, KeepsExactlyConcurrencyRequestsInFlight) {
  for (int c : {1, 4}) {
    // The first c requests wait at the mock until c are in flight, so a generator that sends
    // fewer at once would be seen (and one that sends more would push the peak above c).
    MockOpenAiServer server({.delay_ms = 10, .content_chunks = 2, .wait_for_concurrency = c});
    LoadOptions o = options_for(server, c, 3 * c);
    o.stream = c > 1;
    const LoadResult r = run_load(o);
    EXPECT_EQ(r.ok, 3 * c);
    EXPECT_EQ(server.received(), 3 * c);
    EXPECT_EQ(server.peak_in_flight(), c);
  }
}

TEST(LoadGenerator, MoreConcurrencyThanRequests) {
  MockOpenAiServer server({});
  const LoadResult r = run_load(options_for(server, 8, 3));
  EXPECT_EQ(r.ok, 3);
  EXPECT_LE(server.peak_in_flight(), 3);
}

TEST(LoadGenerator, BasePathAndApiKey) {
  MockOpenAiServer server({});
  LoadOptions o = options_for(server, 1, 2);
  o.url = server.url() + "/proxy/v1/";
  o.api_key = "sk-test";
  o.model = "tiny";
  o.chat = true;
  const LoadResult r = run_load(o);
  EXPECT_EQ(r.ok, 2);
  for (const SeenRequest& s : server.seen()) {
    EXPECT_EQ(s.path, "/proxy/v1/chat/completions");
    EXPECT_EQ(s.authorization, "Bearer sk-test");
    EXPECT_EQ(s.body.at("model"), "tiny");
  }
}

TEST(LoadGenerator, NoServerIsAFailurePerRequest) {
  LoadOptions o;
  o.url = "http://127.0.0.1:1";  // nothing listens on port 1
  o.concurrency = 2;
  o.requests = 3;
  o.timeout_s = 5;
  const LoadResult r = run_load(o);
  EXPECT_EQ(r.ok, 0);
  EXPECT_EQ(r.failed, 3);
  EXPECT_EQ(r.status_counts, (std::map<int, int>{{0, 3}}));
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].message, "could not connect");
  EXPECT_EQ(r.output_tokens_per_sec, 0.0);
}

TEST(LoadGenerator, SlowRequestsTimeOut) {
  MockOpenAiServer server({.delay_ms = 600});
  LoadOptions o = options_for(server, 1, 1);
  o.timeout_s = 0.15;
  const LoadResult r = run_load(o);
  EXPECT_EQ(r.failed, 1);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].status, 0);
  EXPECT_NE(r.errors[0].message.find("timed out"), std::string::npos) << r.errors[0].message;
}

TEST(Summarize, FoldsOutcomes) {
  std::vector<loadgen::RequestOutcome> outcomes(4);
  for (int i = 0; i < 3; ++i) {
    outcomes[i].ok = true;
    outcomes[i].status = 200;
    outcomes[i].ttft_ms = 10.0 * (i + 1);
    outcomes[i].e2e_ms = 100.0 * (i + 1);
    outcomes[i].itl_ms = {1.0, 2.0};
    outcomes[i].output_tokens = 8;
  }
  outcomes[1].prompt_tokens = 20;
  outcomes[3].status = 500;
  outcomes[3].error = "boom";
  const LoadResult r = loadgen::summarize(outcomes, 2.0);
  EXPECT_EQ(r.ok, 3);
  EXPECT_EQ(r.failed, 1);
  EXPECT_EQ(r.output_tokens, 24);
  EXPECT_DOUBLE_EQ(r.output_tokens_per_sec, 12.0);
  EXPECT_DOUBLE_EQ(r.requests_per_sec, 1.5);
  EXPECT_DOUBLE_EQ(r.ttft_ms.p50, 20.0);  // nearest rank
  EXPECT_DOUBLE_EQ(r.ttft_ms.p99, 30.0);
  EXPECT_DOUBLE_EQ(r.e2e_ms.p90, 300.0);
  EXPECT_EQ(r.n_itl, 6u);
  EXPECT_DOUBLE_EQ(r.itl_ms.p50, 1.0);
  EXPECT_DOUBLE_EQ(r.itl_ms.p90, 2.0);
  EXPECT_DOUBLE_EQ(*r.mean_prompt_tokens, 20.0);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].message, "boom");
}

}  // namespace
}  // namespace flux::testing
