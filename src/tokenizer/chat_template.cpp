#include "tokenizer/chat_template.hpp"

#include <fmt/format.h>

#include "tokenizer/jinja_evaluator.hpp"
#include "tokenizer/jinja_parser.hpp"

namespace flux {

namespace {

std::string render_program(const jinja::Program& program, jinja::Value messages, const ChatTemplateOptions& options) {
  try {
    jinja::DictData context;
    context.set(jinja::Value("messages"), std::move(messages));
    context.set(jinja::Value("tools"), jinja::Value::from_json(options.tools));
    context.set(jinja::Value("documents"), jinja::Value::none());
    context.set(jinja::Value("add_generation_prompt"), jinja::Value(options.add_generation_prompt));
    context.set(jinja::Value("bos_token"), jinja::Value(options.bos_token));
    context.set(jinja::Value("eos_token"), jinja::Value(options.eos_token));
    if (!options.extra_context.is_null()) {
      if (!options.extra_context.is_object()) throw InvalidArgument("chat template extra context must be a JSON object");
      for (auto it = options.extra_context.begin(); it != options.extra_context.end(); ++it)
        context.set(jinja::Value(it.key()), jinja::Value::from_json(it.value()));
    }
    jinja::RenderLimits limits;
    limits.max_output_bytes = options.max_output_bytes;
    limits.max_steps = options.max_steps;
    limits.max_call_depth = options.max_call_depth;
    jinja::Interpreter interpreter(limits);
    return interpreter.render(program, context);
  } catch (const jinja::TemplateRaised& raised) {
    throw ChatTemplateRaised(raised.message);
  } catch (const jinja::JinjaError& e) {
    if (e.line > 0)
      throw InvalidArgument(fmt::format("chat template error at line {}, column {}: {}", e.line, e.column, e.message));
    throw InvalidArgument("chat template error: " + e.message);
  }
}

jinja::Value convert_messages(const auto& messages) {
  try {
    if (!messages.is_array()) throw InvalidArgument("chat messages must be a JSON array");
    return jinja::Value::from_json(messages);
  } catch (const jinja::JinjaError& e) {
    throw InvalidArgument("chat messages: " + e.message);
  }
}

}  // namespace

ChatTemplate::ChatTemplate(std::shared_ptr<const jinja::Program> program, std::shared_ptr<const std::string> source)
    : program_(std::move(program)), source_(std::move(source)) {}

ChatTemplate ChatTemplate::parse(std::string_view source) {
  try {
    auto program = std::make_shared<jinja::Program>(jinja::parse_template(source));
    return ChatTemplate(std::move(program), std::make_shared<const std::string>(source));
  } catch (const jinja::SyntaxError& e) {
    throw InvalidArgument(
        fmt::format("chat template syntax error at line {}, column {}: {}", e.pos.line, e.pos.column, e.message));
  } catch (const jinja::JinjaError& e) {
    throw InvalidArgument("chat template syntax error: " + e.message);
  }
}

std::string ChatTemplate::render(const nlohmann::ordered_json& messages, const ChatTemplateOptions& options) const {
  return render_program(*program_, convert_messages(messages), options);
}

std::string ChatTemplate::render(const nlohmann::json& messages, const ChatTemplateOptions& options) const {
  return render_program(*program_, convert_messages(messages), options);
}

}  // namespace flux
