// Reads the tokenizer.ggml.* keys of a GGUF file into a VocabSource.

#include <string>

#include "base/error.hpp"
#include "tokenizer/vocab_source.hpp"

namespace flux::tokenization {

namespace {

// Special ids are uint32 in files written by llama.cpp, but any integer type is accepted; a value
// outside the vocabulary (often 0xFFFFFFFF for "none") is judged later.
std::optional<std::int64_t> read_token_id(const gguf::Metadata& metadata, std::string_view key) {
  const gguf::Value* value = metadata.find(key);
  if (value == nullptr) return std::nullopt;
  if (!value->is_integer()) {
    throw FormatError(std::string(key) + " must be an integer token id, not " +
                      std::string(gguf::value_type_name(value->type())));
  }
  if (value->type() == gguf::ValueType::UInt64) {
    const std::uint64_t id = value->as_uint(key);
    return id > static_cast<std::uint64_t>(INT64_MAX) ? std::int64_t{-1}
                                                      : static_cast<std::int64_t>(id);
  }
  return value->as_int(key);
}

}  // namespace

VocabSource read_vocab_source(const gguf::Metadata& metadata) {
  VocabSource source;
  source.model = metadata.get_string("tokenizer.ggml.model");
  source.pre = metadata.optional_string("tokenizer.ggml.pre").value_or("");
  source.tokens = metadata.get_string_array("tokenizer.ggml.tokens");
  if (metadata.contains("tokenizer.ggml.scores")) {
    source.scores = metadata.get_float_array("tokenizer.ggml.scores");
  }
  if (metadata.contains("tokenizer.ggml.token_type")) {
    source.token_types = metadata.get_int_array("tokenizer.ggml.token_type");
  }
  // Byte-level BPE cannot work without merges (get_string_array names the missing key).
  if (source.model == "gpt2" || metadata.contains("tokenizer.ggml.merges")) {
    source.merges = metadata.get_string_array("tokenizer.ggml.merges");
  }

  DeclaredSpecialIds& ids = source.special_ids;
  ids.bos = read_token_id(metadata, "tokenizer.ggml.bos_token_id");
  ids.eos = read_token_id(metadata, "tokenizer.ggml.eos_token_id");
  ids.eot = read_token_id(metadata, "tokenizer.ggml.eot_token_id");
  ids.eom = read_token_id(metadata, "tokenizer.ggml.eom_token_id");
  ids.unk = read_token_id(metadata, "tokenizer.ggml.unknown_token_id");
  ids.sep = read_token_id(metadata, "tokenizer.ggml.seperator_token_id");  // sic, llama.cpp's key
  ids.pad = read_token_id(metadata, "tokenizer.ggml.padding_token_id");
  ids.mask = read_token_id(metadata, "tokenizer.ggml.mask_token_id");
  ids.fim_pre = read_token_id(metadata, "tokenizer.ggml.fim_pre_token_id");
  ids.fim_suf = read_token_id(metadata, "tokenizer.ggml.fim_suf_token_id");
  ids.fim_mid = read_token_id(metadata, "tokenizer.ggml.fim_mid_token_id");
  ids.fim_pad = read_token_id(metadata, "tokenizer.ggml.fim_pad_token_id");
  ids.fim_rep = read_token_id(metadata, "tokenizer.ggml.fim_rep_token_id");
  ids.fim_sep = read_token_id(metadata, "tokenizer.ggml.fim_sep_token_id");
  // Deprecated spellings of the first three FIM ids; llama.cpp lets them win.
  if (auto id = read_token_id(metadata, "tokenizer.ggml.prefix_token_id")) ids.fim_pre = id;
  if (auto id = read_token_id(metadata, "tokenizer.ggml.suffix_token_id")) ids.fim_suf = id;
  if (auto id = read_token_id(metadata, "tokenizer.ggml.middle_token_id")) ids.fim_mid = id;

  source.add_bos = metadata.optional_bool("tokenizer.ggml.add_bos_token");
  source.add_eos = metadata.optional_bool("tokenizer.ggml.add_eos_token");
  source.add_space_prefix = metadata.optional_bool("tokenizer.ggml.add_space_prefix");
  source.general_name = metadata.optional_string("general.name").value_or("");
  source.general_architecture = metadata.optional_string("general.architecture").value_or("");
  return source;
}

}  // namespace flux::tokenization
