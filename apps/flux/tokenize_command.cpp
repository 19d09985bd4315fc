// flux tokenize: show how a text is split into tokens.

#include <cstdio>
#include <fstream>
#include <iterator>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "apps/flux/commands.hpp"
#include "base/error.hpp"
#include "formats/gguf.hpp"
#include "tokenizer/tokenizer.hpp"

namespace flux::cli {
namespace {

struct TokenizeOptions {
  std::string model;
  std::string text;
  std::string file;
  bool ids_only = false;
  bool no_bos = false;
  bool no_parse_special = false;
};

void tokenize(const TokenizeOptions& o) {
  std::string text = o.text;
  if (!o.file.empty()) {
    std::ifstream in(o.file, std::ios::binary);
    if (!in) throw Error(fmt::format("cannot read '{}'", o.file));
    text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  // Only the metadata is needed: a vocab-only GGUF works as well as a full model.
  const gguf::File file = gguf::File::open(o.model);
  const Tokenizer tokenizer = Tokenizer::from_gguf(file.metadata());
  const std::vector<TokenId> ids = tokenizer.encode(text, !o.no_bos, !o.no_parse_special);
  if (o.ids_only) {
    fmt::print("[{}]\n", fmt::join(ids, ", "));
    return;
  }
  for (TokenId id : ids) {
    std::string piece = tokenizer.token_to_piece(id, /*render_special=*/true);
    fmt::print("{:6} -> '{}'\n", id, piece);
  }
  fmt::print("{} tokens\n", ids.size());
}

}  // namespace

void add_tokenize_command(CLI::App& app) {
  auto options = std::make_shared<TokenizeOptions>();
  CLI::App* cmd = app.add_subcommand("tokenize", "Split text into tokens with a model's tokenizer");
  cmd->add_option("-m,--model", options->model, "GGUF model (or vocab-only) file")->required();
  cmd->add_option("text", options->text, "Text to tokenize");
  cmd->add_option("-f,--file", options->file, "Read the text from a file");
  cmd->add_flag("--ids", options->ids_only, "Print only the ids, as a list");
  cmd->add_flag("--no-bos", options->no_bos, "Do not add BOS/EOS tokens");
  cmd->add_flag("--no-parse-special", options->no_parse_special, "Treat special-token text as plain text");
  cmd->callback([options] {
    if (!options->text.empty() && !options->file.empty()) throw InvalidArgument("give either TEXT or -f, not both");
    tokenize(*options);
  });
}

}  // namespace flux::cli
