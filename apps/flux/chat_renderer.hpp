#pragma once
// The chat template a served model uses: its own tokenizer.chat_template from the GGUF metadata,
// or a named built-in one when it has none (--chat-template), rendered with the Jinja-subset
// interpreter of src/tokenizer.

#include <string>

#include "model/model.hpp"
#include "server/openai_request.hpp"
#include "tokenizer/tokenizer.hpp"

namespace flux::cli {

// `builtin_name` (--chat-template) wins over the model's own template; with neither, chatml.
// Throws flux::Error when the template does not parse, or InvalidArgument for an unknown built-in
// name. The renderer turns the template's refusals into 400 errors naming `messages`.
server::ChatRenderer make_chat_renderer(const Model& model, const Tokenizer& tokenizer, const std::string& builtin_name);

}  // namespace flux::cli
