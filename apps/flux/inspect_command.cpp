// flux inspect: what a model file holds.

#include <cstdio>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "apps/flux/commands.hpp"
#include "formats/gguf.hpp"
#include "kernels/dot_kernels.hpp"
#include "model/model.hpp"
#include "tokenizer/tokenizer.hpp"

namespace flux::cli {
namespace {

struct InspectOptions {
  std::string model;
  bool json = false;
  bool metadata = false;
};

std::string human_bytes(std::uint64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  return fmt::format("{:.2f} {}", v, units[u]);
}

std::string describe_value(const gguf::Value& v) {
  if (v.type() == gguf::ValueType::String) return fmt::format("\"{}\"", v.as_string(""));
  if (v.type() == gguf::ValueType::Array) {
    const auto& a = v.as_array("");
    return fmt::format("[{} x {}]", a.items.size(), gguf::value_type_name(a.element_type));
  }
  if (v.type() == gguf::ValueType::Bool) return v.as_bool("") ? "true" : "false";
  if (v.is_float()) return fmt::format("{}", v.as_float(""));
  if (v.type() == gguf::ValueType::Int8 || v.type() == gguf::ValueType::Int16 || v.type() == gguf::ValueType::Int32 ||
      v.type() == gguf::ValueType::Int64)
    return fmt::format("{}", v.as_int(""));
  return fmt::format("{}", v.as_uint(""));
}

void inspect(const InspectOptions& o) {
  // Inspecting reads the file's layout; the layout line says what loading to run would do.
  const Model model = Model::load(o.model, LoadOptions{.repack_weights = false});
  const std::string weight_layout = plan_packing(model.weights(), active_kernels(), LoadOptions{}).describe();
  const Tokenizer tokenizer = Tokenizer::from_gguf(model.file().metadata());
  const ModelConfig& c = model.config();
  const gguf::File& file = model.file();
  std::uint64_t file_tensor_bytes = 0;
  std::uint64_t file_parameters = 0;
  for (const auto& t : file.tensors()) {
    file_tensor_bytes += t.n_bytes;
    file_parameters += t.n_elements;
  }

  if (o.json) {
    nlohmann::json j;
    j["file"] = o.model;
    j["gguf_version"] = file.version();
    j["architecture"] = c.architecture_name;
    j["name"] = c.name;
    j["parameters"] = file_parameters;
    j["tensor_bytes"] = file_tensor_bytes;
    j["hparams"] = {{"n_vocab", c.n_vocab},       {"n_embd", c.n_embd},         {"n_layers", c.n_layers},
                    {"n_heads", c.n_heads},       {"n_kv_heads", c.n_kv_heads}, {"head_dim", c.head_dim},
                    {"n_ff", c.n_ff},             {"n_ctx_train", c.n_ctx_train}, {"rms_eps", c.rms_eps},
                    {"rope_dims", c.rope_dims},   {"rope_freq_base", c.rope_freq_base},
                    {"rope_freq_scale", c.rope_freq_scale}};
    j["tokenizer"] = {{"model", tokenizer.model_name()}, {"pre", tokenizer.pre_name()},
                      {"vocab_size", tokenizer.vocab_size()}, {"bos", tokenizer.bos()}, {"eos", tokenizer.eos()},
                      {"add_bos", tokenizer.add_bos()}};
    nlohmann::json tensors = nlohmann::json::array();
    for (const auto& t : file.tensors())
      tensors.push_back({{"name", t.name}, {"type", type_name(t.type)}, {"dims", t.dims}, {"bytes", t.n_bytes},
                         {"offset", t.offset}});
    j["tensors"] = tensors;
    j["weight_layout"] = weight_layout;
    std::puts(j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
    return;
  }

  fmt::print("file:          {} (GGUF v{})\n", o.model, file.version());
  fmt::print("architecture:  {}{}\n", c.architecture_name, c.name.empty() ? "" : fmt::format(" ({})", c.name));
  fmt::print("parameters:    {} ({:.3f} B)\n", file_parameters, static_cast<double>(file_parameters) / 1e9);
  fmt::print("tensor bytes:  {} ({})\n", file_tensor_bytes, human_bytes(file_tensor_bytes));
  fmt::print("hyper-parameters:\n");
  fmt::print("  n_vocab {}  n_embd {}  n_layers {}  n_heads {}  n_kv_heads {}  head_dim {}  n_ff {}\n", c.n_vocab,
             c.n_embd, c.n_layers, c.n_heads, c.n_kv_heads, c.head_dim, c.n_ff);
  fmt::print("  n_ctx_train {}  rms_eps {}  rope: dims {} base {} scale {}{}\n", c.n_ctx_train, c.rms_eps,
             c.rope_dims, c.rope_freq_base, c.rope_freq_scale, c.rope_neox ? " (neox)" : "");
  fmt::print("tokenizer:     {} (pre: {}), {} tokens, bos {}, eos {}, add_bos {}\n", tokenizer.model_name(),
             tokenizer.pre_name(), tokenizer.vocab_size(), tokenizer.bos(), tokenizer.eos(), tokenizer.add_bos());
  fmt::print("weights:       {}\n", weight_layout);
  if (o.metadata) {
    fmt::print("metadata ({} keys):\n", file.metadata().entries().size());
    for (const auto& [key, value] : file.metadata().entries()) fmt::print("  {} = {}\n", key, describe_value(value));
  }
  fmt::print("tensors ({}):\n", file.tensors().size());
  for (const auto& t : file.tensors())
    fmt::print("  {:<32} {:<6} [{}] {}\n", t.name, type_name(t.type), fmt::join(t.dims, ", "), human_bytes(t.n_bytes));
}

}  // namespace

void add_inspect_command(CLI::App& app) {
  auto options = std::make_shared<InspectOptions>();
  CLI::App* cmd = app.add_subcommand("inspect", "Show a model's architecture, tokenizer and tensors");
  cmd->add_option("-m,--model", options->model, "GGUF model file")->required();
  cmd->add_flag("--metadata", options->metadata, "Also list every metadata key");
  cmd->add_flag("--json", options->json, "Print JSON");
  cmd->callback([options] { inspect(*options); });
}

}  // namespace flux::cli
