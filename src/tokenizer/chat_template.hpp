#pragma once
// Chat templates: the Jinja source a model ships in `tokenizer.chat_template`, rendered the way
// Hugging Face transformers renders it (Jinja2 with trim_blocks and lstrip_blocks, an immutable
// sandbox, tojson without ASCII escaping, raise_exception and strftime_now), by a Jinja-subset
// interpreter written for the purpose (src/tokenizer/jinja_*). Named built-in templates cover
// models that ship none.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/error.hpp"

namespace flux {

namespace jinja {
struct Program;
}

struct ChatTemplateOptions {
  bool add_generation_prompt = true;
  std::string bos_token;
  std::string eos_token;
  // The `tools` variable (a list of tool schemas); null renders as None, as transformers passes it.
  nlohmann::ordered_json tools = nullptr;
  // More variables for the template (enable_thinking, date_string, ...); they override the above.
  nlohmann::ordered_json extra_context = nlohmann::ordered_json::object();
  // Bounds on a render: output (and any string built) size, work, and nested macro calls.
  std::size_t max_output_bytes = std::size_t{32} << 20;
  std::uint64_t max_steps = 20'000'000;
  int max_call_depth = 100;
};

// The template called raise_exception(message): what() is the template's message exactly.
class ChatTemplateRaised : public InvalidArgument {
 public:
  using InvalidArgument::InvalidArgument;
};

class ChatTemplate {
 public:
  // Throws InvalidArgument "chat template syntax error at line L, column C: ..." when the source
  // does not parse or uses something the interpreter does not support.
  static ChatTemplate parse(std::string_view source);

  // Renders `messages` (a JSON array of {"role", "content", ...} objects; extra fields such as
  // tool_calls pass through). ordered_json keeps object keys in document order, which `tojson`
  // then reproduces as Python does; nlohmann::json sorts keys. Throws ChatTemplateRaised for
  // raise_exception, InvalidArgument "chat template error at line L, column C: ..." for any
  // other failure (undefined values used, bad types, limits exceeded).
  std::string render(const nlohmann::ordered_json& messages, const ChatTemplateOptions& options = {}) const;
  std::string render(const nlohmann::json& messages, const ChatTemplateOptions& options = {}) const;

  const std::string& source() const { return *source_; }

 private:
  ChatTemplate(std::shared_ptr<const jinja::Program> program, std::shared_ptr<const std::string> source);

  std::shared_ptr<const jinja::Program> program_;
  std::shared_ptr<const std::string> source_;
};

// Built-in templates (Jinja sources) for models without one, by name: chatml, llama2, llama3,
// mistral, gemma, phi3.
std::optional<std::string_view> builtin_chat_template(std::string_view name);
std::vector<std::string_view> builtin_chat_template_names();
// The same, throwing InvalidArgument that lists the known names for an unknown one.
std::string_view require_builtin_chat_template(std::string_view name);

}  // namespace flux
