// Request bodies into engine requests: defaults, ranges, types and the malformed bodies an
// OpenAI-compatible server meets, each refused with 400 (or 404 for another model) naming the
// parameter, never accepted and never a crash.

#include <gtest/gtest.h>

#include <string>

#include <fmt/format.h>

#include "server/openai_request.hpp"

namespace flux::server {
namespace {

RequestContext context() {
  RequestContext c;
  c.served_model = "tiny";
  c.context_length = 128;
  c.render_chat = [](const nlohmann::json& messages, bool) {
    std::string prompt;
    for (const auto& m : messages) prompt += m["role"].get<std::string>() + ":" + m["content"].get<std::string>() + "\n";
    return prompt;
  };
  return c;
}

ApiError refusal(const std::string& body, Endpoint endpoint = Endpoint::Completions,
                 const RequestContext& c = context()) {
  try {
    parse_request(body, endpoint, c);
  } catch (const ApiError& e) {
    return e;
  }
  ADD_FAILURE() << "accepted: " << body;
  return ApiError(0, "", "");
}

TEST(OpenAiRequest, CompletionDefaultsFollowOpenAi) {
  const ParsedRequest r = parse_request(R"({"prompt": "hi"})", Endpoint::Completions, context());
  ASSERT_EQ(r.prompts.size(), 1u);
  EXPECT_EQ(r.prompts[0].text, "hi");
  EXPECT_TRUE(r.engine.prompt.empty() && r.engine.prompt_tokens.empty()) << "prompts travel apart from the rest";
  EXPECT_EQ(r.engine.max_tokens, 16);
  EXPECT_FLOAT_EQ(r.engine.sampling.temperature, 1.0f);
  EXPECT_FLOAT_EQ(r.engine.sampling.top_p, 1.0f);
  EXPECT_EQ(r.engine.sampling.top_k, 0);
  EXPECT_FLOAT_EQ(r.engine.sampling.min_p, 0.0f);
  EXPECT_EQ(r.engine.n, 1);
  EXPECT_EQ(r.engine.logprobs, -1);
  EXPECT_FALSE(r.stream);
}

TEST(OpenAiRequest, FieldsAreRead) {
  const ParsedRequest r = parse_request(
      R"({"model": "tiny", "prompt": [1, 2, 3], "max_tokens": 7, "temperature": 0, "top_p": 0.5, "top_k": 3,
          "min_p": 0.1, "seed": 42, "stop": ["a", "b"], "n": 2, "logprobs": 3, "stream": true,
          "stream_options": {"include_usage": true}, "presence_penalty": 0.5, "frequency_penalty": -0.5,
          "ignore_eos": true, "user": "someone", "unknown_extension": {"x": 1}})",
      Endpoint::Completions, context());
  ASSERT_EQ(r.prompts.size(), 1u);
  EXPECT_EQ(r.prompts[0].tokens, (std::vector<TokenId>{1, 2, 3}));
  EXPECT_EQ(r.engine.max_tokens, 7);
  EXPECT_EQ(r.engine.sampling.temperature, 0.0f);
  EXPECT_EQ(r.engine.sampling.seed, 42u);
  EXPECT_EQ(r.engine.stop, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(r.engine.n, 2);
  EXPECT_EQ(r.engine.logprobs, 3);
  EXPECT_TRUE(r.stream);
  EXPECT_TRUE(r.include_usage);
  EXPECT_TRUE(r.engine.ignore_eos);
}

TEST(OpenAiRequest, ChatMessagesAreRenderedAndNormalised) {
  const ParsedRequest r = parse_request(
      R"({"messages": [{"role": "developer", "content": "be brief"},
                       {"role": "user", "content": [{"type": "text", "text": "he"}, {"type": "text", "text": "llo"}]},
                       {"role": "assistant", "content": null}],
          "max_completion_tokens": 5, "logprobs": true, "top_logprobs": 2})",
      Endpoint::ChatCompletions, context());
  ASSERT_EQ(r.prompts.size(), 1u);
  EXPECT_EQ(r.prompts[0].text, "system:be brief\nuser:hello\nassistant:\n");
  EXPECT_FALSE(r.engine.add_special);
  EXPECT_EQ(r.engine.max_tokens, 5);
  EXPECT_EQ(r.engine.logprobs, 2);
  const ParsedRequest unlimited = parse_request(R"({"messages": [{"role": "user", "content": "x"}]})",
                                                Endpoint::ChatCompletions, context());
  EXPECT_EQ(unlimited.engine.max_tokens, 0) << "chat without a limit runs to the end of the context";
}

TEST(OpenAiRequest, MalformedBodiesAre400) {
  for (const char* body : {"", "{", "null", "\"string\"", "[123]", "[{}]", "123", "{\"prompt\": }", "\xff\xfe"}) {
    const ApiError e = refusal(body);
    EXPECT_EQ(e.status(), 400) << body;
  }
  for (const char* body : {"null", "\"string\"", "[123]", "[{}]", R"({"messages": null})", R"({"messages": "x"})",
                           R"({"messages": []})", R"({"messages": [123]})", R"({"messages": [{}]})",
                           R"({"messages": [{"role": 1, "content": "x"}]})",
                           R"({"messages": [{"role": "user", "content": 5}]})",
                           R"({"messages": [{"role": "user", "content": [{"type": "image_url"}]}]})",
                           R"({"messages": [{"role": "wizard", "content": "x"}]})",
                           R"({"messages": [{"role": "user"}]})"}) {
    EXPECT_EQ(refusal(body, Endpoint::ChatCompletions).status(), 400) << body;
  }
}

TEST(OpenAiRequest, DeepNestingIsRefusedBeforeParsing) {
  const std::string deep = R"({"prompt": "x", "a": )" + std::string(100000, '[') + std::string(100000, ']') + "}";
  const ApiError e = refusal(deep);
  EXPECT_EQ(e.status(), 400);
  EXPECT_NE(std::string(e.what()).find("nests deeper"), std::string::npos);
}

TEST(OpenAiRequest, OutOfRangeAndWrongTypesNameTheParameter) {
  struct Case {
    const char* body;
    const char* param;
  };
  for (const Case& c : {Case{R"({"prompt": "x", "temperature": 3})", "temperature"},
                        Case{R"({"prompt": "x", "temperature": "hot"})", "temperature"},
                        Case{R"({"prompt": "x", "top_p": 0})", "top_p"},
                        Case{R"({"prompt": "x", "n": 0})", "n"},
                        Case{R"({"prompt": "x", "n": 1000})", "n"},
                        Case{R"({"prompt": "x", "n": 1.5})", "n"},
                        Case{R"({"prompt": "x", "max_tokens": 0})", "max_tokens"},
                        Case{R"({"prompt": "x", "max_tokens": 129})", "max_tokens"},
                        Case{R"({"prompt": "x", "max_tokens": 1e300})", "max_tokens"},
                        Case{R"({"prompt": "x", "logprobs": 100})", "logprobs"},
                        Case{R"({"prompt": "x", "stop": 5})", "stop"},
                        Case{R"({"prompt": "x", "stop": ["a","b","c","d","e","f","g","h","i","j","k","l","m","n","o","p","q"]})", "stop"},
                        Case{R"({"prompt": "x", "stream": "yes"})", "stream"},
                        Case{R"({"prompt": "x", "stream_options": {"include_usage": true}})", "stream_options"},
                        Case{R"({"prompt": "x", "logit_bias": {"5": 10}})", "logit_bias"},
                        Case{R"({"prompt": "x", "seed": 1e30})", "seed"},
                        Case{R"({"prompt": 5})", "prompt"},
                        Case{R"({"prompt": ["a", 5]})", "prompt"},
                        Case{R"({"prompt": ["a", ""]})", "prompt"},
                        Case{R"({"prompt": [[1, 2], []]})", "prompt"},
                        Case{R"({"prompt": [[1, 2], [3, "x"]]})", "prompt"},
                        Case{R"({"prompt": [[1, 2], [3, 99999999999]]})", "prompt"},
                        Case{R"({"prompt": [["a"]]})", "prompt"},
                        Case{R"({"prompt": []})", "prompt"},
                        Case{R"({"prompt": [1, "b"]})", "prompt"},
                        Case{R"({"prompt": [1, 99999999999]})", "prompt"},
                        Case{R"({"prompt": ""})", "prompt"},
                        Case{R"({"prompt": [""]})", "prompt"},
                        Case{R"({})", "prompt"}}) {
    const ApiError e = refusal(c.body);
    EXPECT_EQ(e.status(), 400) << c.body;
    EXPECT_EQ(e.to_json()["error"]["param"], c.param) << c.body;
    EXPECT_EQ(e.to_json()["error"]["type"], "invalid_request_error");
  }
  const ApiError chat = refusal(R"({"messages": [{"role": "user", "content": "x"}], "top_logprobs": 2})",
                                Endpoint::ChatCompletions);
  EXPECT_EQ(chat.to_json()["error"]["param"], "top_logprobs");
  const std::string long_stop = R"({"prompt": "x", "stop": ")" + std::string(300, 'a') + R"("})";
  EXPECT_EQ(refusal(long_stop).status(), 400);
}

// OpenAI's four prompt shapes: a string, token ids, strings, token-id arrays (mixed is taken too).
TEST(OpenAiRequest, SeveralPromptsAreReadInOrder) {
  const ParsedRequest strings = parse_request(R"({"prompt": ["a", "bc", "d"], "n": 2})", Endpoint::Completions, context());
  ASSERT_EQ(strings.prompts.size(), 3u);
  EXPECT_EQ(strings.prompts[0].text, "a");
  EXPECT_EQ(strings.prompts[1].text, "bc");
  EXPECT_EQ(strings.prompts[2].text, "d");
  EXPECT_EQ(strings.engine.n, 2);
  const ParsedRequest ids = parse_request(R"({"prompt": [[1, 2], [3], [4, 5, 6]]})", Endpoint::Completions, context());
  ASSERT_EQ(ids.prompts.size(), 3u);
  EXPECT_EQ(ids.prompts[0].tokens, (std::vector<TokenId>{1, 2}));
  EXPECT_EQ(ids.prompts[1].tokens, (std::vector<TokenId>{3}));
  EXPECT_EQ(ids.prompts[2].tokens, (std::vector<TokenId>{4, 5, 6}));
  EXPECT_TRUE(ids.prompts[0].text.empty());
  const ParsedRequest mixed = parse_request(R"({"prompt": ["x", [7, 8]]})", Endpoint::Completions, context());
  ASSERT_EQ(mixed.prompts.size(), 2u);
  EXPECT_EQ(mixed.prompts[0].text, "x");
  EXPECT_EQ(mixed.prompts[1].tokens, (std::vector<TokenId>{7, 8}));
  const ParsedRequest one = parse_request(R"({"prompt": ["only"]})", Endpoint::Completions, context());
  ASSERT_EQ(one.prompts.size(), 1u);
  EXPECT_EQ(one.prompts[0].text, "only");
}

TEST(OpenAiRequest, SeveralPromptsAreBounded) {
  RequestContext c = context();
  c.limits.max_prompts = 3;
  c.limits.max_choices = 6;
  auto body = [](int prompts, int n) {
    std::string list;
    for (int i = 0; i < prompts; ++i) list += (i ? ", \"p" : "\"p") + std::to_string(i) + "\"";
    return fmt::format(R"({{"prompt": [{}], "n": {}}})", list, n);
  };
  EXPECT_EQ(parse_request(body(3, 2), Endpoint::Completions, c).prompts.size(), 3u) << "at both limits";
  const ApiError prompts = refusal(body(4, 1), Endpoint::Completions, c);
  EXPECT_EQ(prompts.status(), 400);
  EXPECT_EQ(prompts.to_json()["error"]["param"], "prompt");
  EXPECT_NE(std::string(prompts.what()).find("at most 3 prompts"), std::string::npos) << prompts.what();
  const ApiError choices = refusal(body(2, 4), Endpoint::Completions, c);
  EXPECT_EQ(choices.status(), 400);
  EXPECT_EQ(choices.to_json()["error"]["param"], "n");
  EXPECT_NE(std::string(choices.what()).find("2 prompts with n = 4 make 8 choices; at most 6"), std::string::npos)
      << choices.what();
  // The defaults: 64 prompts, 128 choices.
  EXPECT_EQ(parse_request(body(64, 2), Endpoint::Completions, context()).prompts.size(), 64u);
  EXPECT_EQ(refusal(body(65, 1)).to_json()["error"]["param"], "prompt");
  EXPECT_EQ(refusal(body(64, 3)).to_json()["error"]["param"], "n");
}

TEST(OpenAiRequest, ABadPromptAmongSeveralIsNamed) {
  const ApiError empty = refusal(R"({"prompt": ["a", "b", ""]})");
  EXPECT_NE(std::string(empty.what()).find("prompt 2 is empty"), std::string::npos) << empty.what();
  const ApiError type = refusal(R"({"prompt": ["a", {"x": 1}]})");
  EXPECT_NE(std::string(type.what()).find("element 1 is an object"), std::string::npos) << type.what();
  const ApiError ids = refusal(R"({"prompt": [[1], [2, 2.5]]})");
  EXPECT_NE(std::string(ids.what()).find("prompt 1 must hold only integer token ids"), std::string::npos) << ids.what();
}

TEST(OpenAiRequest, ChatParametersAreCheckedBeforeTheTemplateRuns) {
  RequestContext c = context();
  c.render_chat = [](const nlohmann::json&, bool) -> std::string {
    throw ApiError(500, "the template failed", "server_error");
  };
  try {
    parse_request(R"({"messages": [{"role": "user", "content": "x"}], "logprobs": true, "top_logprobs": 100})",
                  Endpoint::ChatCompletions, c);
    ADD_FAILURE() << "accepted";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status(), 400);
    EXPECT_EQ(e.to_json()["error"]["param"], "top_logprobs");
  }
}

TEST(OpenAiRequest, AnotherModelIs404) {
  const ApiError e = refusal(R"({"model": "gpt-4", "prompt": "x"})");
  EXPECT_EQ(e.status(), 404);
  EXPECT_EQ(e.to_json()["error"]["code"], "model_not_found");
}

}  // namespace
}  // namespace flux::server
