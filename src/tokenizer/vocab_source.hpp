#pragma once
// The tokenizer.ggml.* fields of a model file, read but not yet interpreted. Tokenizer::from_gguf
// fills one from GGUF metadata; tests and tools fill one by hand (Tokenizer::from_source).

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "formats/gguf.hpp"

namespace flux::tokenization {

// Ids as the file states them; nullopt keeps llama.cpp's per-model default. Values outside the
// vocabulary are ignored the same way llama.cpp ignores them (with the default kept).
struct DeclaredSpecialIds {
  std::optional<std::int64_t> bos, eos, eot, eom, unk, sep, pad, mask;
  std::optional<std::int64_t> fim_pre, fim_suf, fim_mid, fim_pad, fim_rep, fim_sep;
};

struct VocabSource {
  std::string model;                      // tokenizer.ggml.model: "llama" (SPM) or "gpt2" (BPE)
  std::string pre;                        // tokenizer.ggml.pre; "" when absent
  std::vector<std::string> tokens;        // tokenizer.ggml.tokens
  std::vector<float> scores;              // tokenizer.ggml.scores; empty means all 0
  std::vector<std::int64_t> token_types;  // tokenizer.ggml.token_type; empty means all normal
  std::vector<std::string> merges;        // tokenizer.ggml.merges ("left right"), BPE only
  DeclaredSpecialIds special_ids;
  std::optional<bool> add_bos;            // tokenizer.ggml.add_bos_token
  std::optional<bool> add_eos;            // tokenizer.ggml.add_eos_token
  std::optional<bool> add_space_prefix;   // tokenizer.ggml.add_space_prefix
  // general.name and general.architecture: llama.cpp keys a few per-model token attributes on them
  // (e.g. Phi-3's special tokens swallow the whitespace that follows them).
  std::string general_name;
  std::string general_architecture;
};

// Reads every tokenizer.ggml.* key the tokenizer understands. Throws FormatError naming the key
// when one is missing (model, tokens) or has the wrong type.
VocabSource read_vocab_source(const gguf::Metadata& metadata);

// GGUF token_type values (llama.cpp's llama_token_type).
enum class TokenType : std::int64_t {
  Undefined = 0, Normal = 1, Unknown = 2, Control = 3, UserDefined = 4, Unused = 5, Byte = 6,
};

}  // namespace flux::tokenization
