// Unit tests of the chat-template Jinja interpreter: errors with positions, undefined values, loops,
// namespaces, macros, limits, built-in templates, and robustness against garbage templates.

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "test_support.hpp"
#include "tokenizer/chat_template.hpp"

namespace flux {
namespace {

using ojson = nlohmann::ordered_json;

const ojson& sample_messages() {
  static const ojson messages = ojson::parse(R"([{"role": "system", "content": "sys"},
      {"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}, {"role": "user", "content": "bye"}])");
  return messages;
}

std::string render(std::string_view source, const ojson& messages = sample_messages(), ChatTemplateOptions options = {}) {
  return ChatTemplate::parse(source).render(messages, options);
}

// The message of the InvalidArgument that parsing or rendering throws ("" when none).
std::string error_of(std::string_view source, ChatTemplateOptions options = {}) {
  try {
    render(source, sample_messages(), options);
  } catch (const InvalidArgument& e) {
    return e.what();
  }
  return "";
}

TEST(ChatTemplate, RendersPlainTextAndExpressions) {
  EXPECT_EQ(render("hello"), "hello");
  EXPECT_EQ(render("{{ messages[1].content }}!"), "hi!");
  EXPECT_EQ(render("{{ bos_token }}{{ eos_token }}", sample_messages(), {.bos_token = "<s>", .eos_token = "</s>"}),
            "<s></s>");
  EXPECT_EQ(render("{{ add_generation_prompt }} {{ tools }}"), "True None");
}

TEST(ChatTemplate, SyntaxErrorsCarryLineAndColumn) {
  const std::string e1 = error_of("line one\n{% if %}");
  EXPECT_NE(e1.find("syntax error at line 2, column 7"), std::string::npos) << e1;
  const std::string e2 = error_of("{% for x in y %}\n{{ x }}");
  EXPECT_NE(e2.find("line 2"), std::string::npos) << e2;
  EXPECT_NE(e2.find("endfor"), std::string::npos) << e2;
  EXPECT_NE(error_of("{{ 'unterminated }}").find("unterminated string"), std::string::npos);
  EXPECT_NE(error_of("{# open comment").find("Missing end of comment tag"), std::string::npos);
  EXPECT_NE(error_of("{{ x | nosuchfilter }}").find("no filter named 'nosuchfilter'"), std::string::npos);
  EXPECT_NE(error_of("{{ x is nosuchtest }}").find("no test named 'nosuchtest'"), std::string::npos);
  EXPECT_NE(error_of("{% include 'x' %}").find("not supported"), std::string::npos);
  EXPECT_NE(error_of("{% endif %}").find("unknown tag 'endif'"), std::string::npos);
  EXPECT_NE(error_of("{% break %}").find("outside of a loop"), std::string::npos);
  EXPECT_NE(error_of("{{ (1 }}").find("line 1"), std::string::npos);
}

TEST(ChatTemplate, RuntimeErrorsCarryLineAndColumn) {
  const std::string e = error_of("ok\n  {{ messages[0].nope.deeper }}");
  EXPECT_NE(e.find("chat template error at line 2"), std::string::npos) << e;
  EXPECT_NE(e.find("has no attribute 'nope'"), std::string::npos) << e;
  EXPECT_NE(error_of("{{ undefined_name + 1 }}").find("'undefined_name' is undefined"), std::string::npos);
  EXPECT_NE(error_of("{{ 1 + 'a' }}").find("unsupported operand"), std::string::npos);
  EXPECT_NE(error_of("{{ undefined_fn() }}").find("'undefined_fn' is undefined"), std::string::npos);
}

TEST(ChatTemplate, RaiseExceptionCarriesTheTemplateMessage) {
  try {
    render("{{ raise_exception('Roles must alternate') }}");
    FAIL() << "no exception";
  } catch (const ChatTemplateRaised& e) {
    EXPECT_STREQ(e.what(), "Roles must alternate");
  }
}

TEST(ChatTemplate, UndefinedIsFalsyEmptyAndIterable) {
  EXPECT_EQ(render("[{{ nothing }}][{{ messages[0].nope }}]"), "[][]");
  EXPECT_EQ(render("{% if nothing %}y{% else %}n{% endif %}"), "n");
  EXPECT_EQ(render("{% for x in nothing %}x{% endfor %}{{ nothing|length }}"), "0");
  EXPECT_EQ(render("{{ nothing is defined }} {{ nothing is undefined }} {{ nothing == nothing }}"), "False True True");
  EXPECT_EQ(render("{{ nothing|default('d') }}"), "d");
}

TEST(ChatTemplate, LoopVariables) {
  EXPECT_EQ(render("{% for m in messages %}{{ loop.index }}{{ loop.index0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }} {% endfor %}"),
            "10TrueFalse4 21FalseFalse4 32FalseFalse4 43FalseTrue4 ");
  EXPECT_EQ(render("{% for m in messages if m.role == 'user' %}{{ loop.index }}/{{ loop.length }} {% endfor %}"), "1/2 2/2 ");
}

TEST(ChatTemplate, NamespaceSurvivesLoopScopes) {
  EXPECT_EQ(render("{% set ns = namespace(n=0) %}{% set plain = 0 %}{% for m in messages %}{% set ns.n = ns.n + 1 %}"
                   "{% set plain = plain + 1 %}{% endfor %}{{ ns.n }} {{ plain }}"),
            "4 0");
  EXPECT_NE(error_of("{% set x = 1 %}{% set x.y = 2 %}").find("non-namespace"), std::string::npos);
}

TEST(ChatTemplate, GenerationBlockRendersItsBody) {
  EXPECT_EQ(render("a{% generation %}b{% endgeneration %}c"), "abc");
}

TEST(ChatTemplate, OrderedJsonKeepsKeyOrderForTojson) {
  const ojson tools = ojson::parse(R"([{"type": "function", "function": {"name": "f"}}])");
  ChatTemplateOptions options;
  options.tools = tools;
  EXPECT_EQ(render("{{ tools[0]|tojson }}", sample_messages(), options), R"({"type": "function", "function": {"name": "f"}})");
  // nlohmann::json (sorted keys) works too.
  const nlohmann::json plain = nlohmann::json::parse(R"([{"role": "user", "content": "x"}])");
  EXPECT_EQ(ChatTemplate::parse("{{ messages[0]|tojson }}").render(plain), R"({"content": "x", "role": "user"})");
}

TEST(ChatTemplate, ExtraContextOverridesVariables) {
  ChatTemplateOptions options;
  options.extra_context = {{"enable_thinking", false}, {"add_generation_prompt", "custom"}};
  EXPECT_EQ(render("{{ enable_thinking }} {{ add_generation_prompt }}", sample_messages(), options), "False custom");
}

TEST(ChatTemplate, StrftimeNowFormatsTheCurrentTime) {
  const std::string year = render("{{ strftime_now('%Y') }}");
  ASSERT_EQ(year.size(), 4u);
  EXPECT_GE(std::stoi(year), 2024);
}

TEST(ChatTemplate, MessagesMustBeAnArray) {
  EXPECT_THROW(ChatTemplate::parse("x").render(ojson::object()), InvalidArgument);
}

TEST(ChatTemplate, RunawayMacroRecursionIsStopped) {
  const std::string e = error_of("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}");
  EXPECT_NE(e.find("runaway recursion"), std::string::npos) << e;
}

TEST(ChatTemplate, HugeOutputIsStopped) {
  ChatTemplateOptions options;
  options.max_output_bytes = 1 << 20;
  EXPECT_NE(error_of("{% for i in range(100000) %}{{ 'x' * 100 }}{% endfor %}", options).find("exceeds the limit"),
            std::string::npos);
  EXPECT_NE(error_of("{{ 'x' * 100000000000 }}", options).find("exceeds the limit"), std::string::npos);
  EXPECT_NE(error_of("{% set ns = namespace(s='xx') %}{% for i in range(64) %}{% set ns.s = ns.s + ns.s %}{% endfor %}", options)
                .find("exceeds the limit"),
            std::string::npos);
}

TEST(ChatTemplate, RunawayLoopsAreStopped) {
  ChatTemplateOptions options;
  options.max_steps = 100000;
  const std::string e = error_of("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", options);
  EXPECT_NE(e.find("steps"), std::string::npos) << e;
}

TEST(ChatTemplate, DeepNestingIsRefusedNotCrashed) {
  EXPECT_THROW(ChatTemplate::parse("{{ " + std::string(5000, '(') + "1" + std::string(5000, ')') + " }}"), InvalidArgument);
  EXPECT_THROW(ChatTemplate::parse("{{ " + std::string(5000, '[') + std::string(5000, ']') + " }}"), InvalidArgument);
  EXPECT_THROW(ChatTemplate::parse("{{ " + std::string(5000, '-') + "1 }}"), InvalidArgument);
  auto repeat = [](std::string_view piece, int n) {
    std::string out;
    for (int i = 0; i < n; ++i) out += piece;
    return out;
  };
  // Long left-deep chains (operators, filters, attributes, calls) are trees too: bounded as well.
  EXPECT_THROW(ChatTemplate::parse("{{ 1" + repeat(" + 1", 100000) + " }}"), InvalidArgument);
  EXPECT_THROW(ChatTemplate::parse("{{ 'x'" + repeat("|trim", 100000) + " }}"), InvalidArgument);
  EXPECT_THROW(ChatTemplate::parse("{{ x" + repeat(".a", 100000) + " }}"), InvalidArgument);
  EXPECT_THROW(ChatTemplate::parse("{{ x" + repeat("()", 100000) + " }}"), InvalidArgument);
  EXPECT_THROW(ChatTemplate::parse("{{ 'a'" + repeat(" ~ 'a'", 100000) + " }}"), InvalidArgument);
  EXPECT_EQ(render("{{ 1" + repeat(" + 1", 200) + " }}"), "201");
  std::string nested_ifs;
  for (int i = 0; i < 1000; ++i) nested_ifs += "{% if true %}";
  EXPECT_THROW(ChatTemplate::parse(nested_ifs), InvalidArgument);
  // A self-referencing namespace cannot be printed forever.
  EXPECT_NE(error_of("{% set ns = namespace() %}{% set ns.me = ns %}{{ ns }}").find("nested too deeply"), std::string::npos);
  // Lists nested by a loop hit the nesting bound.
  EXPECT_NE(error_of("{% set ns = namespace(x=[]) %}{% for i in range(1000) %}{% set ns.x = [ns.x] %}{% endfor %}")
                .find("nested more than"),
            std::string::npos);
  // Deep JSON input is refused.
  ojson deep = ojson::array();
  for (int i = 0; i < 1000; ++i) deep = ojson::array({deep});
  EXPECT_THROW(ChatTemplate::parse("x").render(ojson::array({{{"role", "user"}, {"content", deep}}})), InvalidArgument);
}

TEST(ChatTemplate, BuiltinTemplatesByName) {
  for (const auto name : builtin_chat_template_names()) {
    ASSERT_TRUE(builtin_chat_template(name).has_value()) << name;
    EXPECT_NO_THROW(ChatTemplate::parse(*builtin_chat_template(name)).render(sample_messages())) << name;
  }
  EXPECT_EQ(render(*builtin_chat_template("chatml"), ojson::parse(R"([{"role": "user", "content": "hi"}])")),
            "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n");
  EXPECT_FALSE(builtin_chat_template("nope").has_value());
  try {
    require_builtin_chat_template("nope");
    FAIL();
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("chatml, llama2, llama3, mistral, gemma, phi3"), std::string::npos) << e.what();
  }
}

// Mutated and truncated templates must parse or fail with InvalidArgument, never crash.
TEST(ChatTemplate, GarbageTemplatesNeverCrash) {
  std::vector<std::string> seeds;
  for (const auto name : builtin_chat_template_names()) seeds.emplace_back(*builtin_chat_template(name));
  const auto dir = testing::shared_dir() / "templates";
  if (std::filesystem::is_directory(dir)) {
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
      if (entry.path().extension() != ".jinja") continue;
      std::ifstream in(entry.path(), std::ios::binary);
      std::ostringstream s;
      s << in.rdbuf();
      seeds.push_back(s.str());
    }
  }
  const std::string alphabet = "{}%#-+()[]'\"|.,:=~!<>*/ \n\tabcdefimnorstuxyz0123456789_\\\xc3\xa9";
  std::mt19937 rng(1234);
  ChatTemplateOptions options;
  options.tools = ojson::parse(R"([{"type": "function", "function": {"name": "f", "parameters": {}}}])");
  options.max_steps = 200000;
  int rendered = 0;
  for (int iteration = 0; iteration < 3000; ++iteration) {
    std::string source = seeds[rng() % seeds.size()];
    switch (iteration % 4) {
      case 0: source.resize(rng() % (source.size() + 1)); break;
      case 1:
        for (int k = 0; k < 3; ++k) source.insert(rng() % (source.size() + 1), 1, alphabet[rng() % alphabet.size()]);
        break;
      case 2:
        for (int k = 0; k < 3 && !source.empty(); ++k) source.erase(rng() % source.size(), 1 + rng() % 8);
        break;
      default:
        source.clear();
        for (int k = 0, n = static_cast<int>(rng() % 80); k < n; ++k) source.push_back(alphabet[rng() % alphabet.size()]);
    }
    SCOPED_TRACE(source);
    try {
      const ChatTemplate t = ChatTemplate::parse(source);
      t.render(sample_messages(), options);
      ++rendered;
    } catch (const InvalidArgument&) {
    } catch (const std::exception& e) {
      ADD_FAILURE() << "unexpected exception type: " << e.what();
    }
  }
  EXPECT_GT(rendered, 0);
}

}  // namespace
}  // namespace flux
