#include "apps/flux/chat_renderer.hpp"

#include <cstdio>
#include <memory>

#include <fmt/format.h>

#include "tokenizer/chat_template.hpp"

namespace flux::cli {
namespace {

std::string token_string(const Tokenizer& tokenizer, TokenId id) {
  return id >= 0 ? std::string(tokenizer.token_text(id)) : std::string();
}

}  // namespace

server::ChatRenderer make_chat_renderer(const Model& model, const Tokenizer& tokenizer, const std::string& builtin_name) {
  std::string source;
  // A mistyped key is a FormatError, as for any other metadata.
  const std::optional<std::string> own = model.file().metadata().optional_string("tokenizer.chat_template");
  if (!builtin_name.empty()) {
    source = std::string(require_builtin_chat_template(builtin_name));
  } else if (own) {
    source = *own;
  } else {
    // As llama.cpp's server does for a model without a template.
    std::fprintf(stderr, "flux serve: the model has no chat template; using the built-in chatml "
                         "(choose another with --chat-template)\n");
    source = std::string(require_builtin_chat_template("chatml"));
  }
  auto chat_template = std::make_shared<const ChatTemplate>(ChatTemplate::parse(source));
  ChatTemplateOptions options;
  options.bos_token = token_string(tokenizer, tokenizer.bos());
  options.eos_token = token_string(tokenizer, tokenizer.eos());
  return [chat_template, options](const nlohmann::json& messages, bool add_generation_prompt) {
    ChatTemplateOptions o = options;
    o.add_generation_prompt = add_generation_prompt;
    try {
      return chat_template->render(messages, o);
    } catch (const ChatTemplateRaised& e) {
      // The template refused the conversation (say, roles out of order): the client's fault.
      throw server::ApiError::invalid(e.what(), "messages");
    } catch (const InvalidArgument& e) {
      throw server::ApiError::invalid(fmt::format("the chat template could not render these messages: {}", e.what()),
                                      "messages");
    }
  };
}

}  // namespace flux::cli
