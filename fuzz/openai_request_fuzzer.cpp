// libFuzzer target for the server's request path: any body, for either endpoint, must become an
// engine request or an ApiError with a 4xx status; every other exception, crash or sanitizer
// report is a bug. The chat path renders through the built-in ChatML template, so the Jinja
// interpreter is fuzzed with hostile message contents too. See docs/fuzzing.md.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "server/openai_request.hpp"
#include "tokenizer/chat_template.hpp"

namespace {

flux::server::RequestContext make_context() {
  static const flux::ChatTemplate chatml = flux::ChatTemplate::parse(*flux::builtin_chat_template("chatml"));
  flux::server::RequestContext c;
  c.served_model = "fuzz";
  c.context_length = 4096;
  c.render_chat = [](const nlohmann::json& messages, bool add_generation_prompt) {
    flux::ChatTemplateOptions options;
    options.add_generation_prompt = add_generation_prompt;
    options.bos_token = "<s>";
    options.eos_token = "</s>";
    return chatml.render(messages, options);
  };
  return c;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const flux::server::RequestContext context = make_context();
  if (size == 0) return 0;
  // The first byte picks the endpoint, the rest is the body.
  const auto endpoint = data[0] & 1 ? flux::server::Endpoint::ChatCompletions : flux::server::Endpoint::Completions;
  const std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);
  try {
    const flux::server::ParsedRequest r = flux::server::parse_request(body, endpoint, context);
    if (r.engine.max_tokens < 0 || r.engine.n < 1) __builtin_trap();
    // Every accepted request has a prompt, and no more prompts and choices than the limits allow;
    // a completion's prompt is text or token ids, never empty.
    const auto prompts = static_cast<std::int64_t>(r.prompts.size());
    if (prompts < 1 || prompts > context.limits.max_prompts || prompts * r.engine.n > context.limits.max_choices)
      __builtin_trap();
    if (endpoint == flux::server::Endpoint::Completions)
      for (const flux::server::Prompt& p : r.prompts)
        if (p.text.empty() == p.tokens.empty()) __builtin_trap();
  } catch (const flux::server::ApiError& e) {
    if (e.status() < 400 || e.status() >= 500) __builtin_trap();
  } catch (const flux::Error&) {
    // A template refusal (raise_exception) surfaces as flux::InvalidArgument: a 400 upstream.
  }
  return 0;
}
