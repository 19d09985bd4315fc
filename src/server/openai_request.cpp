#include "server/openai_request.hpp"

#include <cmath>
#include <limits>
#include <random>

#include <fmt/format.h>

namespace flux::server {
namespace {

using nlohmann::json;

constexpr int kMaxJsonDepth = 64;

// nlohmann's parser recurses once per nesting level: a body of a million '[' would exhaust the
// stack, so nesting is measured first, outside strings, without recursion.
void check_nesting(std::string_view body) {
  int depth = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < body.size(); ++i) {
    const char c = body[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') in_string = true;
    else if (c == '[' || c == '{') {
      if (++depth > kMaxJsonDepth)
        throw ApiError::invalid(fmt::format("the request body nests deeper than {} levels", kMaxJsonDepth));
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
}

std::string type_name(const json& v) {
  switch (v.type()) {
    case json::value_t::null: return "null";
    case json::value_t::boolean: return "a boolean";
    case json::value_t::string: return "a string";
    case json::value_t::array: return "an array";
    case json::value_t::object: return "an object";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned: return "an integer";
    case json::value_t::number_float: return "a number";
    default: return "an unexpected value";
  }
}

// Field readers: absent and null mean "use the default"; anything else must have the right type
// and range, or the request is refused naming the field.
class Fields {
 public:
  explicit Fields(const json& body) : body_(body) {}

  const json* get(const char* name) const {
    const auto it = body_.find(name);
    if (it == body_.end() || it->is_null()) return nullptr;
    return &*it;
  }

  bool boolean(const char* name, bool fallback) const {
    const json* v = get(name);
    if (!v) return fallback;
    if (!v->is_boolean()) throw ApiError::invalid(fmt::format("'{}' must be a boolean, not {}", name, type_name(*v)), name);
    return v->get<bool>();
  }

  double number(const char* name, double fallback, double lo, double hi) const {
    const json* v = get(name);
    if (!v) return fallback;
    if (!v->is_number()) throw ApiError::invalid(fmt::format("'{}' must be a number, not {}", name, type_name(*v)), name);
    const double x = v->get<double>();
    if (!std::isfinite(x) || x < lo || x > hi)
      throw ApiError::invalid(fmt::format("'{}' must be between {} and {} (got {})", name, lo, hi, x), name);
    return x;
  }

  std::int64_t integer(const char* name, std::int64_t fallback, std::int64_t lo, std::int64_t hi) const {
    const json* v = get(name);
    if (!v) return fallback;
    if (v->is_number_float()) {
      const double x = v->get<double>();
      if (std::isfinite(x) && x == std::floor(x) && x >= -9.0e18 && x <= 9.0e18) return check_range(name, static_cast<std::int64_t>(x), lo, hi);
    }
    if (v->is_number_unsigned()) {
      const auto u = v->get<std::uint64_t>();
      if (u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
        throw ApiError::invalid(fmt::format("'{}' must be between {} and {}", name, lo, hi), name);
      return check_range(name, static_cast<std::int64_t>(u), lo, hi);
    }
    if (!v->is_number_integer())
      throw ApiError::invalid(fmt::format("'{}' must be an integer, not {}", name, type_name(*v)), name);
    return check_range(name, v->get<std::int64_t>(), lo, hi);
  }

 private:
  static std::int64_t check_range(const char* name, std::int64_t x, std::int64_t lo, std::int64_t hi) {
    if (x < lo || x > hi) throw ApiError::invalid(fmt::format("'{}' must be between {} and {} (got {})", name, lo, hi, x), name);
    return x;
  }
  const json& body_;
};

std::vector<std::string> parse_stop(const Fields& f, const RequestLimits& limits) {
  const json* v = f.get("stop");
  if (!v) return {};
  std::vector<std::string> stops;
  if (v->is_string()) {
    stops.push_back(v->get<std::string>());
  } else if (v->is_array()) {
    for (const json& s : *v) {
      if (!s.is_string()) throw ApiError::invalid("'stop' must be a string or an array of strings", "stop");
      stops.push_back(s.get<std::string>());
    }
  } else {
    throw ApiError::invalid(fmt::format("'stop' must be a string or an array of strings, not {}", type_name(*v)), "stop");
  }
  if (static_cast<int>(stops.size()) > limits.max_stop)
    throw ApiError::invalid(fmt::format("at most {} stop sequences are allowed (got {})", limits.max_stop, stops.size()),
                            "stop");
  for (const std::string& s : stops)
    if (static_cast<int>(s.size()) > limits.max_stop_bytes)
      throw ApiError::invalid(fmt::format("a stop sequence may be at most {} bytes (got {})", limits.max_stop_bytes, s.size()),
                              "stop");
  return stops;
}

// One prompt, given as a string or an array (the caller checked which): a non-empty string or a
// non-empty array of token ids. `which` names it in errors ("the prompt", or "prompt 3" of several).
Prompt parse_one_prompt(const json& prompt, const std::string& which) {
  Prompt out;
  if (prompt.is_string()) {
    out.text = prompt.get<std::string>();
    // Tokenizing "" would still give BOS, and a completion from nothing but BOS is not what was asked.
    if (out.text.empty()) throw ApiError::invalid(fmt::format("{} is empty", which), "prompt");
    return out;
  }
  if (prompt.empty()) throw ApiError::invalid(fmt::format("{} is empty", which), "prompt");
  for (const json& t : prompt) {
    if (!t.is_number_integer() && !t.is_number_unsigned())
      throw ApiError::invalid(fmt::format("{} must hold only integer token ids", which), "prompt");
    const auto id = t.is_number_unsigned() ? static_cast<std::int64_t>(std::min<std::uint64_t>(t.get<std::uint64_t>(), 1ull << 40))
                                           : t.get<std::int64_t>();
    if (id < std::numeric_limits<TokenId>::min() || id > std::numeric_limits<TokenId>::max())
      throw ApiError::invalid(fmt::format("token id {} of {} is outside the vocabulary", id, which), "prompt");
    out.tokens.push_back(static_cast<TokenId>(id));
  }
  return out;
}

// Completions, as OpenAI takes them: one prompt (a string or an array of token ids), or several
// (an array of strings or of token-id arrays). Each prompt becomes its own engine request.
std::vector<Prompt> parse_prompts(const json* prompt, const RequestLimits& limits) {
  if (!prompt) throw ApiError::invalid("'prompt' is required", "prompt");
  const bool single = prompt->is_string() || (prompt->is_array() && (prompt->empty() || (*prompt)[0].is_number()));
  if (single) return {parse_one_prompt(*prompt, "the prompt")};
  if (!prompt->is_array())
    throw ApiError::invalid(fmt::format("'prompt' must be a string or an array of token ids, not {}", type_name(*prompt)),
                            "prompt");
  if (static_cast<int>(prompt->size()) > limits.max_prompts)
    throw ApiError::invalid(fmt::format("at most {} prompts are allowed per request (got {})", limits.max_prompts,
                                        prompt->size()),
                            "prompt");
  std::vector<Prompt> prompts;
  for (std::size_t i = 0; i < prompt->size(); ++i) {
    const json& p = (*prompt)[i];
    if (!p.is_string() && !p.is_array())
      throw ApiError::invalid(fmt::format("'prompt' must be a string, an array of strings, an array of token ids or an "
                                          "array of token-id arrays; element {} is {}",
                                          i, type_name(p)),
                              "prompt");
    prompts.push_back(parse_one_prompt(p, prompt->size() > 1 ? fmt::format("prompt {}", i) : "the prompt"));
  }
  return prompts;
}

// Chat: a non-empty array of {role, content} objects. Content is a string, null (an assistant
// turn holding only tool calls) or an array of text parts, which are joined.
json parse_messages(const json* messages, const RequestLimits& limits) {
  if (!messages) throw ApiError::invalid("'messages' is required", "messages");
  if (!messages->is_array())
    throw ApiError::invalid(fmt::format("'messages' must be an array, not {}", type_name(*messages)), "messages");
  if (messages->empty()) throw ApiError::invalid("'messages' must not be empty", "messages");
  if (static_cast<int>(messages->size()) > limits.max_messages)
    throw ApiError::invalid(fmt::format("at most {} messages are allowed", limits.max_messages), "messages");
  json normalised = json::array();
  for (std::size_t i = 0; i < messages->size(); ++i) {
    const json& m = (*messages)[i];
    const std::string where = fmt::format("messages[{}]", i);
    if (!m.is_object()) throw ApiError::invalid(fmt::format("{} must be an object, not {}", where, type_name(m)), where);
    const auto role = m.find("role");
    if (role == m.end() || !role->is_string())
      throw ApiError::invalid(fmt::format("{}.role must be a string", where), where + ".role");
    const std::string r = role->get<std::string>();
    if (r != "system" && r != "user" && r != "assistant" && r != "tool" && r != "developer")
      throw ApiError::invalid(fmt::format("{}.role '{}' is not one of system, developer, user, assistant, tool", where, r),
                              where + ".role");
    json out = m;
    out["role"] = r == "developer" ? "system" : r;
    const auto content = m.find("content");
    if (content == m.end() || content->is_null()) {
      if (r != "assistant") throw ApiError::invalid(fmt::format("{}.content is required", where), where + ".content");
      out["content"] = "";
    } else if (content->is_array()) {
      std::string text;
      for (const json& part : *content) {
        const auto type = part.is_object() ? part.find("type") : part.end();
        if (!part.is_object() || type == part.end() || !type->is_string() || *type != "text" || !part.contains("text") ||
            !part["text"].is_string())
          throw ApiError::invalid(fmt::format("{}.content parts must be {{\"type\": \"text\", \"text\": string}}", where),
                                  where + ".content");
        text += part["text"].get<std::string>();
      }
      out["content"] = text;
    } else if (!content->is_string()) {
      throw ApiError::invalid(fmt::format("{}.content must be a string or an array of text parts, not {}", where,
                                          type_name(*content)),
                              where + ".content");
    }
    normalised.push_back(std::move(out));
  }
  return normalised;
}

}  // namespace

json ApiError::to_json() const {
  return {{"error",
           {{"message", message_},
            {"type", type_},
            {"param", param_.empty() ? json(nullptr) : json(param_)},
            {"code", code_.empty() ? json(nullptr) : json(code_)}}}};
}

ParsedRequest parse_request(std::string_view body, Endpoint endpoint, const RequestContext& context) {
  check_nesting(body);
  const json parsed = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) throw ApiError::invalid("the request body is not valid JSON");
  if (!parsed.is_object())
    throw ApiError::invalid(fmt::format("the request body must be a JSON object, not {}", type_name(parsed)));
  const Fields f(parsed);
  const RequestLimits& limits = context.limits;
  ParsedRequest out;
  out.endpoint = endpoint;

  if (const json* model = f.get("model")) {
    if (!model->is_string()) throw ApiError::invalid("'model' must be a string", "model");
    if (model->get<std::string>() != context.served_model)
      throw ApiError(404, fmt::format("the model '{}' does not exist; this server serves '{}'", model->get<std::string>(),
                                      context.served_model),
                     "invalid_request_error", "model", "model_not_found");
  }

  if (endpoint == Endpoint::Completions) {
    out.prompts = parse_prompts(f.get("prompt"), limits);
    out.echo = f.boolean("echo", false);
    if (const json* suffix = f.get("suffix"); suffix && !(suffix->is_string() && suffix->get<std::string>().empty()))
      throw ApiError::invalid("'suffix' (fill-in-the-middle) is not supported", "suffix");
  }
  // Chat messages are checked here but rendered last, once every other field is known to be
  // valid: a bad parameter is a 400 whatever the template does.
  json messages;
  if (endpoint == Endpoint::ChatCompletions) messages = parse_messages(f.get("messages"), limits);

  const std::int64_t max_allowed = limits.max_tokens > 0 ? limits.max_tokens : context.context_length;
  // OpenAI's defaults: 16 tokens for completions; chat runs until the context is full.
  const char* tokens_field = endpoint == Endpoint::ChatCompletions && f.get("max_completion_tokens")
                                 ? "max_completion_tokens"
                                 : "max_tokens";
  const std::int64_t fallback = endpoint == Endpoint::Completions ? 16 : 0;
  out.engine.max_tokens = static_cast<int>(f.integer(tokens_field, fallback, 1, max_allowed));

  SamplingParams& s = out.engine.sampling;
  s.temperature = static_cast<float>(f.number("temperature", 1.0, 0.0, 2.0));
  s.top_p = static_cast<float>(f.number("top_p", 1.0, 0.0, 1.0));
  if (f.get("top_p") && s.top_p <= 0.0f) throw ApiError::invalid("'top_p' must be greater than 0", "top_p");
  s.top_k = static_cast<int>(f.integer("top_k", 0, -1, 1 << 20));
  s.min_p = static_cast<float>(f.number("min_p", 0.0, 0.0, 1.0));
  s.presence_penalty = static_cast<float>(f.number("presence_penalty", 0.0, -2.0, 2.0));
  s.frequency_penalty = static_cast<float>(f.number("frequency_penalty", 0.0, -2.0, 2.0));
  s.repetition_penalty = static_cast<float>(f.number("repetition_penalty", 1.0, 0.01, 10.0));
  s.penalty_last_n = -1;  // OpenAI's penalties count every generated token
  s.seed = static_cast<std::uint64_t>(
      f.integer("seed", static_cast<std::int64_t>(std::random_device{}()), std::numeric_limits<std::int64_t>::min(),
                std::numeric_limits<std::int64_t>::max()));
  out.engine.n = static_cast<int>(f.integer("n", 1, 1, limits.max_n));
  if (const auto choices = static_cast<std::int64_t>(out.prompts.size()) * out.engine.n; choices > limits.max_choices)
    throw ApiError::invalid(fmt::format("{} prompts with n = {} make {} choices; at most {} are allowed per request",
                                        out.prompts.size(), out.engine.n, choices, limits.max_choices),
                            "n");
  out.engine.stop = parse_stop(f, limits);
  out.engine.ignore_eos = f.boolean("ignore_eos", false);

  if (endpoint == Endpoint::Completions) {
    // Completions: logprobs is the number of alternatives (0..limit), null for none.
    if (f.get("logprobs")) {
      out.logprobs = true;
      out.top_logprobs = static_cast<int>(f.integer("logprobs", 0, 0, limits.max_top_logprobs));
    }
  } else {
    out.logprobs = f.boolean("logprobs", false);
    out.top_logprobs = static_cast<int>(f.integer("top_logprobs", 0, 0, limits.max_top_logprobs));
    if (out.top_logprobs > 0 && !out.logprobs)
      throw ApiError::invalid("'top_logprobs' needs 'logprobs' set to true", "top_logprobs");
  }
  out.engine.logprobs = out.logprobs ? out.top_logprobs : -1;

  out.stream = f.boolean("stream", false);
  if (const json* options = f.get("stream_options")) {
    if (!options->is_object()) throw ApiError::invalid("'stream_options' must be an object", "stream_options");
    if (!out.stream) throw ApiError::invalid("'stream_options' is only allowed with 'stream': true", "stream_options");
    out.include_usage = Fields(*options).boolean("include_usage", false);
  }
  if (const json* bias = f.get("logit_bias"); bias && !(bias->is_object() && bias->empty()))
    throw ApiError::invalid("'logit_bias' is not supported", "logit_bias");
  if (const json* tools = f.get("tools"); tools && !(tools->is_array() && tools->empty()))
    throw ApiError::invalid("'tools' (function calling) is not supported yet", "tools");
  if (const json* format = f.get("response_format")) {
    const auto type = format->is_object() ? format->find("type") : format->end();
    if (type == format->end() || *type != "text")
      throw ApiError::invalid("only 'response_format' {\"type\": \"text\"} is supported", "response_format");
  }
  if (endpoint == Endpoint::ChatCompletions) {
    if (!context.render_chat) throw ApiError(500, "this server has no chat template", "server_error");
    out.prompts = {Prompt{context.render_chat(messages, /*add_generation_prompt=*/true), {}}};
    // The template writes BOS itself where the model wants one; special tokens in it are parsed.
    out.engine.add_special = false;
  }
  return out;
}

}  // namespace flux::server
