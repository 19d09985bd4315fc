// Chat templates rendered by FluxInfer's Jinja interpreter against Python's Jinja2 configured as Hugging
// Face transformers configures it (render_chat_template.py run with /usr/bin/python3): every template in
// ../shared/templates with many message lists, the built-in templates, and small feature templates.

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "process.hpp"
#include "test_support.hpp"
#include "tokenizer/chat_template.hpp"

namespace flux {
namespace {

using ojson = nlohmann::ordered_json;
namespace fs = std::filesystem;

constexpr const char* kPython = "/usr/bin/python3";

struct Case {
  std::string name;
  std::string source;
  ojson messages = ojson::array();
  bool add_generation_prompt = true;
  ojson tools = nullptr;
  ojson extra = ojson::object();
  std::string bos = "<|bos|>";
  std::string eos = "<|eos|>";
};

struct Outcome {
  bool ok = false;
  bool raised = false;
  std::string text;  // output or error message
};

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Renders every case with Python's Jinja2 in one run; fails the test (returns empty) when the
// interpreter or jinja2 is missing.
std::vector<Outcome> render_with_python(const std::vector<Case>& cases) {
  if (!fs::exists(kPython)) {
    ADD_FAILURE() << kPython << " is missing: install python3 and python3-jinja2 (scripts/install-deps.sh)";
    return {};
  }
  ojson input = {{"cases", ojson::array()}};
  for (const auto& c : cases) {
    input["cases"].push_back({{"template", c.source},
                              {"messages", c.messages},
                              {"add_generation_prompt", c.add_generation_prompt},
                              {"bos_token", c.bos},
                              {"eos_token", c.eos},
                              {"tools", c.tools},
                              {"extra_context", c.extra}});
  }
  static std::atomic<int> counter{0};
  const fs::path path = fs::temp_directory_path() /
                        ("flux_chat_template_" + std::to_string(getpid()) + "_" + std::to_string(counter++) + ".json");
  {
    std::ofstream out(path, std::ios::binary);
    out << input.dump();
  }
  const auto result = testing::run_process({kPython, FLUX_CHAT_TEMPLATE_SCRIPT, path.string()});
  fs::remove(path);
  if (result.exit_code != 0) {
    ADD_FAILURE() << "the Jinja2 reference renderer failed (exit " << result.exit_code << "): " << result.err
                  << (result.exit_code == 2 ? "\ninstall python3-jinja2 (scripts/install-deps.sh)" : "");
    return {};
  }
  const ojson parsed = ojson::parse(result.out);
  std::vector<Outcome> outcomes;
  for (const auto& r : parsed) {
    Outcome o;
    o.ok = r.at("ok").get<bool>();
    if (o.ok) {
      o.text = r.at("output").get<std::string>();
    } else {
      o.raised = r.at("raised").get<bool>();
      o.text = r.at("error").get<std::string>();
    }
    outcomes.push_back(std::move(o));
  }
  return outcomes;
}

Outcome render_with_flux(const Case& c) {
  Outcome o;
  try {
    const ChatTemplate t = ChatTemplate::parse(c.source);
    ChatTemplateOptions options;
    options.add_generation_prompt = c.add_generation_prompt;
    options.bos_token = c.bos;
    options.eos_token = c.eos;
    options.tools = c.tools;
    options.extra_context = c.extra;
    o.text = t.render(c.messages, options);
    o.ok = true;
  } catch (const ChatTemplateRaised& e) {
    o.raised = true;
    o.text = e.what();
  } catch (const InvalidArgument& e) {
    o.text = e.what();
  }
  return o;
}

void expect_same_as_jinja2(const std::vector<Case>& cases) {
  const std::vector<Outcome> expected = render_with_python(cases);
  if (expected.size() != cases.size()) return;  // failure already reported
  for (std::size_t i = 0; i < cases.size(); ++i) {
    SCOPED_TRACE("case " + cases[i].name);
    const Outcome got = render_with_flux(cases[i]);
    const Outcome& want = expected[i];
    if (want.ok) {
      EXPECT_TRUE(got.ok) << "Jinja2 rendered it, FluxInfer failed: " << got.text;
      if (got.ok) {
        EXPECT_EQ(got.text, want.text);
      }
    } else if (want.raised) {
      EXPECT_TRUE(got.raised) << "Jinja2 raised '" << want.text << "', FluxInfer: ok=" << got.ok << " " << got.text;
      if (got.raised) {
        EXPECT_EQ(got.text, want.text);
      }
    } else {
      EXPECT_FALSE(got.ok) << "Jinja2 failed (" << want.text << ") but FluxInfer rendered: " << got.text;
      EXPECT_FALSE(got.raised) << got.text;
    }
  }
}

ojson j(const char* text) { return ojson::parse(text); }

const ojson& weather_tools() {
  static const ojson tools = j(R"([{"type": "function", "function": {"name": "get_weather",
      "description": "Get the current weather in a city", "parameters": {"type": "object",
      "properties": {"city": {"type": "string", "description": "City name, e.g. Zürich"},
      "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}}, "required": ["city"]}}}])");
  return tools;
}

// Message lists every template is rendered with, by name.
std::vector<std::pair<std::string, ojson>> conversations() {
  return {
      {"system+user", j(R"([{"role": "system", "content": "You are a terse assistant."},
                             {"role": "user", "content": "Hello there!"}])")},
      {"user", j(R"([{"role": "user", "content": "What is 2+2?"}])")},
      {"multi-turn", j(R"([{"role": "system", "content": "Be helpful."}, {"role": "user", "content": "Hi"},
                           {"role": "assistant", "content": "Hello! How can I help?"},
                           {"role": "user", "content": "Tell me a joke."}])")},
      {"no-system-multi-turn", j(R"([{"role": "user", "content": "One"}, {"role": "assistant", "content": "Two"},
                                     {"role": "user", "content": "Three"}])")},
      {"reasoning", j(R"([{"role": "user", "content": "Solve x+1=2"},
                          {"role": "assistant", "content": "<think>\nx = 2 - 1\n</think>\n\nx is 1."},
                          {"role": "user", "content": "Thanks"}])")},
      {"unicode-whitespace", j(R"([{"role": "user", "content": "  Grüße, 世界! 🎉\n\ttabs and \"quotes\"  \n"}])")},
      {"system-think-flag", j(R"([{"role": "system", "content": "Answer briefly. /no_think"},
                                  {"role": "user", "content": "Why is the sky blue?"}])")},
      {"bad-order", j(R"([{"role": "user", "content": "a"}, {"role": "user", "content": "b"}])")},
      {"assistant-first", j(R"([{"role": "assistant", "content": "hi"}, {"role": "user", "content": "yo"}])")},
      {"system-only", j(R"([{"role": "system", "content": "Only a system prompt."}])")},
      {"empty", ojson::array()},
      {"tool-call", j(R"([{"role": "user", "content": "Weather in Paris?"},
                          {"role": "assistant", "content": "", "tool_calls": [{"id": "call12345", "type": "function",
                           "function": {"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}}}]},
                          {"role": "tool", "tool_call_id": "call12345", "content": "{\"temp\": 21}"},
                          {"role": "assistant", "content": "It is 21 °C in Paris."}])")},
      {"tool-call-null-content", j(R"([{"role": "user", "content": "Weather in Oslo?"},
                          {"role": "assistant", "content": null, "tool_calls": [{"id": "abcdefghi", "type": "function",
                           "function": {"name": "get_weather", "arguments": "{\"city\": \"Oslo\"}"}}]},
                          {"role": "tool", "tool_call_id": "abcdefghi", "content": "cold"}])")},
  };
}

std::vector<Case> cases_for(const std::string& source) {
  std::vector<Case> cases;
  for (const auto& [name, messages] : conversations()) {
    for (const bool agp : {true, false}) {
      Case c;
      c.name = name + (agp ? "" : " (no generation prompt)");
      c.source = source;
      c.messages = messages;
      c.add_generation_prompt = agp;
      cases.push_back(c);
    }
    Case with_tools;
    with_tools.name = name + " (tools)";
    with_tools.source = source;
    with_tools.messages = messages;
    with_tools.tools = weather_tools();
    cases.push_back(with_tools);
    Case no_thinking;
    no_thinking.name = name + " (enable_thinking=false)";
    no_thinking.source = source;
    no_thinking.messages = messages;
    no_thinking.extra = {{"enable_thinking", false}, {"date_string", "01 Jan 2025"}};
    cases.push_back(no_thinking);
  }
  Case builtin;
  builtin.name = "builtin_tools";
  builtin.source = source;
  builtin.messages = j(R"([{"role": "user", "content": "Search it"},
      {"role": "assistant", "tool_calls": [{"type": "function", "function": {"name": "brave_search",
       "arguments": {"query": "flux"}}}]}, {"role": "ipython", "content": {"result": [1, 2]}}])");
  builtin.extra = {{"builtin_tools", {"brave_search", "wolfram_alpha", "code_interpreter"}}};
  builtin.tools = weather_tools();
  cases.push_back(builtin);
  return cases;
}

const std::vector<std::string>& shared_templates() {
  static const std::vector<std::string> names = {
      "HuggingFaceTB-SmolLM3-3B.jinja",
      "Qwen-Qwen2.5-7B-Instruct.jinja",
      "Qwen-Qwen3-0.6B.jinja",
      "deepseek-ai-DeepSeek-R1-Distill-Llama-8B.jinja",
      "google-gemma-2-2b-it.jinja",
      "meta-llama-Llama-3.1-8B-Instruct.jinja",
      "microsoft-Phi-3.5-mini-instruct.jinja",
      "mistralai-Mistral-Nemo-Instruct-2407.jinja",
  };
  return names;
}

class SharedTemplate : public ::testing::TestWithParam<std::string> {};

TEST_P(SharedTemplate, MatchesJinja2) {
  const fs::path path = testing::shared_dir() / "templates" / GetParam();
  ASSERT_TRUE(fs::exists(path)) << path << " is missing (FLUX_SHARED_DIR?)";
  expect_same_as_jinja2(cases_for(read_file(path)));
}

INSTANTIATE_TEST_SUITE_P(ChatTemplateReference, SharedTemplate, ::testing::ValuesIn(shared_templates()),
                         [](const auto& info) {
                           std::string name = info.param.substr(0, info.param.find(".jinja"));
                           std::replace_if(name.begin(), name.end(), [](char c) { return !std::isalnum(static_cast<unsigned char>(c)); }, '_');
                           return name;
                         });

TEST(ChatTemplateReference, EveryTemplateInSharedDirIsCovered) {
  const fs::path dir = testing::shared_dir() / "templates";
  ASSERT_TRUE(fs::is_directory(dir)) << dir;
  std::vector<std::string> missing;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (entry.path().extension() != ".jinja") continue;
    if (std::find(shared_templates().begin(), shared_templates().end(), name) == shared_templates().end())
      missing.push_back(name);
  }
  EXPECT_TRUE(missing.empty()) << "add to shared_templates(): " << ::testing::PrintToString(missing);
}

TEST(ChatTemplateReference, BuiltinTemplatesMatchJinja2) {
  std::vector<Case> all;
  for (const auto name : builtin_chat_template_names()) {
    for (auto& c : cases_for(std::string(*builtin_chat_template(name)))) {
      c.name = std::string(name) + ": " + c.name;
      all.push_back(std::move(c));
    }
  }
  expect_same_as_jinja2(all);
}

// Small templates exercising one feature each, rendered with the conversation below.
const std::vector<std::string>& feature_snippets() {
  static const std::vector<std::string> snippets = {
      // whitespace control, trim_blocks / lstrip_blocks, trailing newline, comments, raw
      "  {% if true %}\n  yes\n  {% endif %}\n  {{ 'v' }}  \n",
      "a  {%- if true -%}  b  {%- endif -%}  c\n\n",
      "a\n  {%+ if true %}x{% endif +%}\nb",
      "{# comment #}\n  {# indented comment #}\nline\n{#- trimmed -#}  end",
      "x {% raw %}{{ not evaluated }}{% endraw %} y",
      "{{ 'a' }}\n{{ 'b' }}\n",
      "line1\r\nline2\r\n{% if true %}\r\nin\r\n{% endif %}\r\n",
      "\t{% for m in messages %}\n\t{{ m.role }}\n\t{% endfor %}\n",
      // literals and printing
      "{{ none }}|{{ true }}|{{ 1.0 }}|{{ 1e20 }}|{{ 0.1 + 0.2 }}|{{ 1.5e-7 }}|{{ -0.0 }}|{{ 123456789.123 }}",
      "{{ [1, 'a', none, 2.5, true, ('t',), {'k': [1]}] }}|{{ (1, 2) }}|{{ () }}|{{ 'it\\'s' }}|{{ [\"it's\"] }}",
      "{{ 'tab\\there' }}|{{ \"q\\\"d\" }}|{{ '\\u00e9\\x41\\101' }}|{{ 'a' 'b' }}|{{ [\"\\n\\x01é\"] }}",
      "{{ 0x1F }} {{ 0o17 }} {{ 0b101 }} {{ 1_000 }} {{ 2.5e3 }}",
      // operators
      "{{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 7 / 2 }} {{ 2 ** 10 }} {{ 7.5 // 2 }} {{ -7.5 % 2 }}",
      "{{ 1 + 2 * 3 }} {{ (1 + 2) * 3 }} {{ 'ab' * 3 }} {{ [1] * 2 }} {{ 'x' ~ 1 ~ none ~ undefined_thing }} {{ -2 ** 2 }}",
      "{{ 1 < 2 < 3 }} {{ 3 > 2 > 2 }} {{ 1 == 1.0 }} {{ true == 1 }} {{ 'a' < 'b' }} {{ [1, 2] < [1, 3] }} {{ 1 != 2 }}",
      "{{ 'a' in 'cat' }} {{ 2 in [1, 2] }} {{ 'k' in {'k': 1} }} {{ 'z' not in 'abc' }} {{ 1 in nothing }}",
      "{{ 1 and 'x' }}|{{ 0 or '' }}|{{ none or 'd' }}|{{ not 0 }}|{{ 'y' if 1 else 'n' }}|{{ 'y' if 0 }}|",
      "{{ not messages[0].role is defined }} {{ not missing is defined }} {{ missing is not defined }}",
      // attribute and item access, slicing, undefined
      "{{ messages[0].role }} {{ messages[0]['content'] }} {{ messages[-1].role }} {{ messages|length }}",
      "[{{ messages[0].nope }}][{{ missing }}][{{ messages[99] }}][{{ none.x }}]",
      "{{ messages[::-1]|map(attribute='role')|join(',') }} {{ 'hello'[1:3] }} {{ 'hello'[::-2] }} {{ 'héllo'[1:] }}",
      "{{ [1,2,3,4,5][1:-1] }} {{ [1,2,3][5:] }} {{ 'abc'[-10:10] }} {{ 'abc'[::-1] }} {{ [1,2,3][:-1] }}",
      "{{ {'a': 1}.a }} {{ {'items': 5}['items'] }} {{ {'a': {'b': 2}}['a'].b }} {{ 'abc'.0 }}",
      // loops
      "{% for m in messages %}{{ loop.index }}/{{ loop.length }}:{{ loop.index0 }}:{{ loop.first }}:{{ loop.last }}:{{ loop.revindex }}:{{ loop.revindex0 }} {% endfor %}",
      "{% for m in messages if m.role != 'system' %}{{ loop.index }}={{ m.role }} {% else %}none{% endfor %}",
      "{% for x in [] %}x{% else %}empty{% endfor %}|{% for k, v in {'a': 1, 'b': 2}.items() %}{{ k }}{{ v }}{% endfor %}",
      "{% for x in [1, 2, 3, 4] %}{% if x == 2 %}{% continue %}{% endif %}{% if x == 4 %}{% break %}{% endif %}{{ x }}{% endfor %}",
      "{% for a, b in [[1, 2], (3, 4)] %}{{ a + b }},{% endfor %}{% for c in 'héy' %}[{{ c }}]{% endfor %}",
      "{% for x in [1, 2, 3] %}{{ loop.previtem }}-{{ loop.nextitem }}-{{ loop.cycle('a', 'b') }} {% endfor %}",
      "{% set x = 0 %}{% for i in [1, 2] %}[{{ x }}]{% set x = i %}({{ x }}){% endfor %}{{ x }}",
      "{% for i in range(3) %}{{ i }}{% endfor %}|{% for i in range(1, 10, 3) %}{{ i }}{% endfor %}|{{ range(5, 0, -2)|list }}",
      // set, namespace, with, macros
      "{% set ns = namespace(count=0, names=[]) %}{% for m in messages %}{% set ns.count = ns.count + 1 %}{% set ns.names = ns.names + [m.role] %}{% endfor %}{{ ns.count }} {{ ns.names }}",
      "{% set a, b = 1, 2 %}{{ a }}{{ b }}{% set t = 1, %}{{ t }}{% set block %}  inside {{ a }}  {% endset %}[{{ block }}]",
      "{% set up | upper %}shout {{ 'it' }}{% endset %}{{ up }}{% filter trim | upper %}  filtered  {% endfilter %}",
      "{% with x = 5, y = 'w' %}{{ x }}{{ y }}{% endwith %}[{{ x }}]",
      "{% macro greet(name, punct='!') %}Hi {{ name }}{{ punct }}{% endmacro %}{{ greet('Ann') }} {{ greet('Bo', punct='?') }} {{ greet(punct='.', name='Cy') }}",
      "{% macro count(n) %}{% if n > 0 %}{{ n }}{{ count(n - 1) }}{% endif %}{% endmacro %}{{ count(5) }}",
      "{% set x = 5 %}{% macro show() %}{{ x }}{% endmacro %}{% set x = 6 %}{{ show() }}",
      "{% macro m(a) %}{{ a }}|{{ varargs }}|{{ kwargs }}{% endmacro %}{{ m(1, 2, 3, k='v') }}|{{ m() }}",
      // filters
      "{{ '  x  '|trim }}|{{ 'xxhixx'|trim('x') }}|{{ 'Hello World'|upper }}|{{ 'HeLLo'|lower }}|{{ 'hELLO wORLD'|capitalize }}",
      "{{ 'hello big-world (of) [things] they\\'re'|title }}|{{ 'aaa'|replace('a', 'b', 2) }}|{{ 'abc'|replace('', '-') }}",
      "{{ [3, 1, 2]|first }} {{ [3, 1, 2]|last }} {{ 'abc'|first }} {{ []|first }} {{ {'k': 1}|first }}",
      "{{ [1, 2, 3]|join(', ') }} {{ messages|join('|', attribute='role') }} {{ 'abc'|join('.') }} {{ [1, 2]|join }}",
      "{{ missing|default('dflt') }} {{ ''|default('d2') }} {{ ''|default('d3', true) }} {{ none|default('d4') }} {{ 0|d('z', boolean=true) }}",
      "{{ 3.7|int }} {{ '42'|int }} {{ '4.5'|int }} {{ 'x'|int }} {{ 'x'|int(7) }} {{ '0x1A'|int(0, 16) }} {{ '  12 '|int }} {{ true|int }}",
      "{{ '3.25'|float }} {{ 2|float }} {{ 'no'|float }} {{ ' 1e3 '|float }} {{ 'inf'|float }}",
      "{{ 'abc'|list }} {{ {'a': 1, 'b': 2}|list }} {{ {'a': 1}|items|list }} {{ missing|items|list }}",
      "{{ [1, 2, 3, 4]|select('odd')|list }} {{ [1, 2, 3, 4]|reject('even')|list }} {{ [0, 1, '', 'x']|select|list }}",
      "{{ messages|selectattr('role', 'equalto', 'user')|list|length }} {{ messages|rejectattr('role', 'eq', 'user')|map(attribute='role')|list }}",
      "{{ [{'a': {'b': 1}}, {'a': {'b': 2}}]|map(attribute='a.b')|list }} {{ ['x', 'Y']|map('upper')|list }} {{ [{}]|map(attribute='q', default='d')|list }}",
      "{{ 2.5|round }} {{ 3.5|round }} {{ 2.675|round(2) }} {{ 3|round }} {{ 42.55|round(1, 'floor') }} {{ 42.51|round(0, 'ceil') }} {{ -1.5|round }}",
      "{{ -3|abs }} {{ -2.5|abs }} {{ 'a\\nb\\n\\nc'|indent }} {{ 'a\\nb'|indent(2, true) }} {{ 'a\\n\\nb'|indent('> ', blank=true) }}",
      "{{ [3, 1, 2]|sort }} {{ ['b', 'A', 'c']|sort }} {{ ['b', 'A', 'c']|sort(case_sensitive=true) }} {{ [3, 1, 2]|sort(reverse=true) }} {{ messages|sort(attribute='role')|map(attribute='role')|list }}",
      "{{ [1, 2, 1, 3]|unique|list }} {{ ['a', 'A', 'b']|unique|list }} {{ [1, 2, 3]|sum }} {{ [1, 5, 3]|max }} {{ ['b', 'A']|min }} {{ [1, 2]|reverse|list }} {{ 'abc'|reverse }}",
      "{{ {'b': 1, 'a': 2}|dictsort }} {{ 'x'|string }}{{ 1|string }}{{ none|string }} {{ 'ok'|safe }} {{ [1, 'a']|pprint }} {{ 'a b  c'|wordcount }}",
      "{{ 'x'|center(5) }}|{{ 'ab'|center(7) }}|{{ 'a long sentence here'|truncate(9) }}|{{ 'abcdefghijkl'|truncate(5, true) }}|{{ '%s-%d-%.2f'|format('a', 3, 2.5) }}",
      "{{ '<a href=\"x\">&\\'</a>'|e }} {{ [1, 2, 3]|count }} {{ {'a': 1}|length }} {{ 'héllo'|length }}",
      // tojson as transformers configures it
      "{{ {'b': 1, 'a': [1, 2.5, none, true, 'é\"\\n<>&']}|tojson }}",
      "{{ {'b': {'c': []}, 'a': [1, {}]}|tojson(indent=2) }}|{{ [1, 2]|tojson(indent=0) }}|{{ {'z': 1, 'a': 2}|tojson(sort_keys=true) }}",
      "{{ 'é😀'|tojson(ensure_ascii=true) }} {{ {'a': 1}|tojson(separators=(',', ':')) }} {{ 1e100|tojson }} {{ {1: 2, none: 3}|tojson }}",
      "{{ tools|tojson }}",
      // tests
      "{{ 1 is number }}{{ 1.5 is float }}{{ 1 is integer }}{{ true is integer }}{{ true is number }}{{ true is boolean }}{{ 'a' is string }}",
      "{{ {} is mapping }}{{ [] is mapping }}{{ 'a' is sequence }}{{ {} is sequence }}{{ 1 is sequence }}{{ missing is iterable }}{{ [] is iterable }}",
      "{{ none is none }}{{ true is true }}{{ 1 is true }}{{ false is false }}{{ 0 is false }}{{ 3 is odd }}{{ 4 is even }}{{ 9 is divisibleby 3 }}{{ 9 is divisibleby(2) }}",
      "{{ 'abc' is lower }}{{ 'ABC' is upper }}{{ 1 is eq 1 }}{{ 1 is ne 2 }}{{ 2 is gt 1 }}{{ 2 is lessthan 1 }}{{ 'a' is in 'cat' }}{{ 'trim' is filter }}{{ 'odd' is test }}",
      "{{ range is callable }}{{ messages is callable }}{{ none is sameas none }}{{ messages[0].role is string }}",
      // string and dict methods
      "{{ '  a b  '.strip() }}|{{ 'xxaxx'.lstrip('x') }}|{{ 'xxaxx'.rstrip('x') }}|{{ 'a,b,,c'.split(',') }}|{{ ' a  b '.split() }}|{{ 'a b c'.split(none, 1) }}",
      "{{ 'a,b,c'.rsplit(',', 1) }}|{{ 'l1\\nl2\\r\\nl3'.splitlines() }}|{{ 'Hello'.startswith('He') }}{{ 'Hello'.endswith(('x', 'lo')) }}{{ 'Hello'.startswith('l', 2) }}",
      "{{ 'hello world'.title() }}|{{ \"they're\".title() }}|{{ 'ABC'.lower() }}|{{ 'abc'.upper() }}|{{ 'aXbX'.replace('X', '-') }}|{{ 'hello'.capitalize() }}",
      "{{ 'héllo'.find('l') }} {{ 'hello'.rfind('l') }} {{ 'hello'.find('z') }} {{ 'banana'.count('an') }} {{ '-'.join(['a', 'b']) }} {{ '{} and {name}'.format(1, name='n') }}",
      "{{ '123'.isdigit() }}{{ 'abc'.isalpha() }}{{ '  '.isspace() }}{{ 'AB'.isupper() }}{{ 'ab'.islower() }}",
      "{{ {'a': 1, 'b': 2}.keys()|list }} {{ {'a': 1}.values()|list }} {{ {'a': 1}.get('a') }} {{ {'a': 1}.get('z') }} {{ {'a': 1}.get('z', 'dflt') }} {{ [1, 2, 2].count(2) }} {{ [1, 2].index(2) }}",
      "{% for k, v in {'z': 1, 'a': 2}.items() %}{{ k }}={{ v }};{% endfor %}{% for k in {'z': 1, 'a': 2} %}{{ k }}{% endfor %}",
      "{{ dict(a=1, b='x') }} {{ namespace(a=1).a }} {{ raise_exception is defined }}",
      "{% if messages[0]['role'] == 'system' %}{{ raise_exception('system messages are not supported') }}{% endif %}ok",
      // errors both sides must report
      "{{ missing.attr }}",
      "{{ 1 + 'a' }}",
      "{{ 'a' + none }}",
      "{{ none|tojson }}{{ missing|tojson }}",
      "{{ [1, 2][0:1:0] }}",
      "{{ range(1000000)|length }}",
      "{{ 1 // 0 }}",
      "{{ messages[0].role.upper.x() }}",
  };
  return snippets;
}

TEST(ChatTemplateReference, FeatureSnippetsMatchJinja2) {
  std::vector<Case> cases;
  for (const auto& snippet : feature_snippets()) {
    Case c;
    c.name = snippet;
    c.source = snippet;
    c.messages = conversations()[2].second;
    c.tools = weather_tools();
    cases.push_back(c);
  }
  expect_same_as_jinja2(cases);
}

}  // namespace
}  // namespace flux
