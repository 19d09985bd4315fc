#include "server/openai_response.hpp"

namespace flux::server {
namespace {

using nlohmann::json;

bool is_chat(const ParsedRequest& r) { return r.endpoint == Endpoint::ChatCompletions; }

std::string piece(const Tokenizer& tokenizer, TokenId token) { return tokenizer.token_to_piece(token, true); }

json bytes_of(const std::string& s) {
  json bytes = json::array();
  for (unsigned char c : s) bytes.push_back(static_cast<int>(c));
  return bytes;
}

// Chat: {"content": [{"token", "logprob", "bytes", "top_logprobs": [...]}]}.
json chat_logprobs(const std::vector<TokenLogprobs>& lps, const Tokenizer& tokenizer) {
  json content = json::array();
  for (const TokenLogprobs& lp : lps) {
    const std::string text = piece(tokenizer, lp.token);
    json top = json::array();
    for (const TopLogprob& t : lp.top) {
      const std::string alt = piece(tokenizer, t.token);
      top.push_back({{"token", alt}, {"logprob", t.logprob}, {"bytes", bytes_of(alt)}});
    }
    content.push_back({{"token", text}, {"logprob", lp.logprob}, {"bytes", bytes_of(text)}, {"top_logprobs", top}});
  }
  return {{"content", content}};
}

// Completions: parallel arrays, top_logprobs as {token text: logprob} objects.
json completion_logprobs(const std::vector<TokenLogprobs>& lps, const Tokenizer& tokenizer, std::size_t text_offset) {
  json tokens = json::array(), token_logprobs = json::array(), top = json::array(), offsets = json::array();
  for (const TokenLogprobs& lp : lps) {
    const std::string text = piece(tokenizer, lp.token);
    tokens.push_back(text);
    token_logprobs.push_back(lp.logprob);
    json alternatives = json::object();
    for (const TopLogprob& t : lp.top) alternatives[piece(tokenizer, t.token)] = t.logprob;
    top.push_back(alternatives);
    offsets.push_back(text_offset);
    text_offset += text.size();
  }
  return {{"tokens", tokens}, {"token_logprobs", token_logprobs}, {"top_logprobs", top}, {"text_offset", offsets}};
}

json logprobs_json(const ParsedRequest& r, const ChoiceContent& c, const Tokenizer& tokenizer) {
  if (!r.logprobs) return nullptr;
  return is_chat(r) ? chat_logprobs(c.logprobs, tokenizer) : completion_logprobs(c.logprobs, tokenizer, c.text_offset);
}

}  // namespace

const std::string& echo_text(const ParsedRequest& r, int choice_index) {
  static const std::string none;
  if (!r.echo) return none;
  return r.prompts.at(static_cast<std::size_t>(choice_index / r.engine.n)).text;
}

json finish_json(FinishReason reason) {
  switch (reason) {
    case FinishReason::Length: return "length";
    case FinishReason::Stop:
    case FinishReason::Abort: return "stop";
    case FinishReason::None: break;
  }
  return nullptr;
}

json usage_json(const Usage& u) {
  return {{"prompt_tokens", u.prompt_tokens},
          {"completion_tokens", u.completion_tokens},
          {"total_tokens", u.prompt_tokens + u.completion_tokens},
          {"prompt_tokens_details", {{"cached_tokens", u.cached_tokens}}}};
}

json full_response(const ParsedRequest& r, const ResponseIdentity& id, const std::vector<ChoiceContent>& choices,
                   const Usage& usage, const Tokenizer& tokenizer) {
  json out_choices = json::array();
  for (ChoiceContent c : choices) {
    const std::string& echo = echo_text(r, c.index);
    c.text_offset = echo.size();
    json choice = {{"index", c.index}, {"logprobs", logprobs_json(r, c, tokenizer)}, {"finish_reason", finish_json(c.finish)}};
    if (is_chat(r)) choice["message"] = {{"role", "assistant"}, {"content", c.text}};
    else choice["text"] = echo + c.text;
    out_choices.push_back(std::move(choice));
  }
  return {{"id", id.id},
          {"object", is_chat(r) ? "chat.completion" : "text_completion"},
          {"created", id.created},
          {"model", id.model},
          {"system_fingerprint", "fluxinfer"},
          {"choices", out_choices},
          {"usage", usage_json(usage)}};
}

json stream_chunk(const ParsedRequest& r, const ResponseIdentity& id, const ChoiceContent& c, bool first,
                  const Tokenizer& tokenizer) {
  json choice = {{"index", c.index}, {"logprobs", logprobs_json(r, c, tokenizer)}, {"finish_reason", finish_json(c.finish)}};
  if (is_chat(r)) {
    json delta = json::object();
    if (first) delta["role"] = "assistant";
    if (!c.text.empty() || first) delta["content"] = c.text;
    choice["delta"] = delta;
  } else {
    choice["text"] = c.text;
  }
  json chunk = {{"id", id.id},
                {"object", is_chat(r) ? "chat.completion.chunk" : "text_completion"},
                {"created", id.created},
                {"model", id.model},
                {"system_fingerprint", "fluxinfer"},
                {"choices", json::array({choice})}};
  if (r.include_usage) chunk["usage"] = nullptr;
  return chunk;
}

json usage_chunk(const ParsedRequest& r, const ResponseIdentity& id, const Usage& usage) {
  return {{"id", id.id},
          {"object", is_chat(r) ? "chat.completion.chunk" : "text_completion"},
          {"created", id.created},
          {"model", id.model},
          {"system_fingerprint", "fluxinfer"},
          {"choices", json::array()},
          {"usage", usage_json(usage)}};
}

}  // namespace flux::server
