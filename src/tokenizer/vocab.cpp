#include "tokenizer/vocab.hpp"

#include <array>
#include <limits>
#include <string>
#include <utility>

#include "base/error.hpp"
#include "tokenizer/pretokenize.hpp"

namespace flux::tokenization {

namespace {

std::uint16_t attrs_of_type(std::int64_t type) {
  switch (static_cast<TokenType>(type)) {
    case TokenType::Normal: return token_attr::kNormal;
    case TokenType::Unknown: return token_attr::kUnknown;
    case TokenType::Control: return token_attr::kControl;
    case TokenType::UserDefined: return token_attr::kUserDefined;
    case TokenType::Unused: return token_attr::kUnused;
    case TokenType::Byte: return token_attr::kByte;
    case TokenType::Undefined: break;
  }
  return 0;  // undefined or unknown type values: never produced, decoded as nothing
}

// The defaults llama.cpp's loader starts from for each tokenizer model, before the file's keys.
void apply_model_defaults(Vocab& vocab, const VocabSource& source) {
  vocab.model = source.model;
  if (source.model == "llama") {
    vocab.kind = VocabKind::SentencePiece;
    vocab.pre = "default";  // SPM has no pre-tokenizer; tokenizer.ggml.pre is ignored
    vocab.ids.bos = 1;
    vocab.ids.eos = 2;
    vocab.ids.unk = 0;
    vocab.add_space_prefix = true;
    vocab.clean_spaces = false;
    vocab.add_bos = true;
    vocab.add_eos = false;
  } else if (source.model == "gpt2") {
    vocab.kind = VocabKind::BytePairEncoding;
    vocab.pre = source.pre.empty() ? "default" : source.pre;
    vocab.ids.bos = 11;
    vocab.ids.eos = 11;
    vocab.add_space_prefix = false;
    vocab.clean_spaces = true;
    const PreTokenizerTraits* traits = find_pre_tokenizer(vocab.pre);
    if (traits == nullptr) {
      throw UnsupportedError("unsupported pre-tokenizer '" + vocab.pre +
                             "' (tokenizer.ggml.pre); FluxInfer implements llama.cpp's regex "
                             "pre-tokenizers such as default, gpt-2, llama3, qwen2, deepseek-llm, "
                             "deepseek-coder, falcon, starcoder, mpt, refact, command-r");
    }
    vocab.clean_spaces = traits->clean_spaces;
    vocab.ignore_merges = traits->ignore_merges;
    if (traits->adds_bos) vocab.add_bos = true;
    if (traits->has_no_bos) vocab.ids.bos = kNoToken;
  } else {
    throw UnsupportedError("unsupported tokenizer model '" + source.model +
                           "' (tokenizer.ggml.model); FluxInfer implements 'llama' "
                           "(SentencePiece) and 'gpt2' (byte-level BPE)");
  }
  if (source.add_space_prefix) vocab.add_space_prefix = *source.add_space_prefix;
}

void check_array_length(std::string_view key, std::size_t length, std::size_t n_tokens) {
  if (length != 0 && length < n_tokens) {
    throw FormatError("tokenizer." + std::string(key) + " has " + std::to_string(length) +
                      " entries for " + std::to_string(n_tokens) + " tokens");
  }
}

}  // namespace

TokenId Vocab::byte_token(std::uint8_t byte) const {
  static constexpr char kHex[] = "0123456789ABCDEF";
  const std::array<char, 6> spelled = {'<', '0', 'x', kHex[byte >> 4], kHex[byte & 0x0F], '>'};
  if (const TokenId token = find(std::string_view(spelled.data(), spelled.size()));
      token != kNoToken) {
    return token;
  }
  const char raw = static_cast<char>(byte);
  return find(std::string_view(&raw, 1));
}

Vocab build_vocab(VocabSource source) {
  Vocab vocab;
  apply_model_defaults(vocab, source);

  const std::size_t n_tokens = source.tokens.size();
  if (n_tokens == 0) throw FormatError("tokenizer.ggml.tokens is empty");
  if (n_tokens > static_cast<std::size_t>(std::numeric_limits<TokenId>::max())) {
    throw FormatError("tokenizer.ggml.tokens has too many entries: " + std::to_string(n_tokens));
  }
  check_array_length("ggml.scores", source.scores.size(), n_tokens);
  check_array_length("ggml.token_type", source.token_types.size(), n_tokens);

  vocab.tokens.resize(n_tokens);
  vocab.token_of_text.reserve(n_tokens);
  for (std::size_t i = 0; i < n_tokens; ++i) {
    TokenInfo& token = vocab.tokens[i];
    token.text = std::move(source.tokens[i]);
    // An empty entry would match everywhere when special tokens are cut out of the text.
    if (token.text.empty()) token.text = "[EMPTY_" + std::to_string(i) + "]";
    token.score = source.scores.empty() ? 0.0f : source.scores[i];
    token.attrs =
        source.token_types.empty() ? token_attr::kNormal : attrs_of_type(source.token_types[i]);
    const auto [it, inserted] =
        vocab.token_of_text.try_emplace(token.text, static_cast<TokenId>(i));
    if (!inserted) {
      throw FormatError("tokenizer.ggml.tokens holds '" + token.text + "' twice (ids " +
                        std::to_string(it->second) + " and " + std::to_string(i) + ")");
    }
  }

  apply_special_token_rules(vocab, source);
  return vocab;
}

}  // namespace flux::tokenization
