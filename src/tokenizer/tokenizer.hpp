#pragma once
// Text <-> token ids, built from GGUF metadata alone (tokenizer.ggml.*), reproducing llama.cpp's
// tokenizers exactly: SentencePiece-style ("llama") and byte-level BPE ("gpt2") with the
// pre-tokenizer that tokenizer.ggml.pre selects.

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "formats/gguf.hpp"

namespace flux {

using TokenId = std::int32_t;

class Tokenizer {
 public:
  // Throws FormatError (missing/mistyped tokenizer keys) or UnsupportedError (unknown model or
  // pre-tokenizer) with a message naming the key and value.
  static Tokenizer from_gguf(const gguf::Metadata& metadata);

  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;
  ~Tokenizer();

  // add_special: prepend BOS / append EOS as the metadata asks (add_bos_token / add_eos_token).
  // parse_special: recognise special and control tokens written in the text (e.g. "<|im_start|>").
  std::vector<TokenId> encode(std::string_view text, bool add_special, bool parse_special) const;

  // The bytes a token stands for (SPM's ▁ becomes a space, byte tokens <0xNN> become the byte,
  // BPE's byte-level unicode is mapped back). Control tokens give "" unless render_special.
  std::string token_to_piece(TokenId id, bool render_special = false) const;
  // Decodes ids as llama.cpp's detokenizer does (drops SPM's leading space after BOS when asked).
  std::string decode(std::span<const TokenId> ids, bool remove_special = false,
                     bool render_special = false) const;

  std::size_t vocab_size() const;
  std::string_view token_text(TokenId id) const;  // the raw vocabulary entry
  TokenId bos() const;  // -1 when the vocabulary has none
  TokenId eos() const;
  bool add_bos() const;
  bool add_eos() const;
  bool is_end_of_generation(TokenId id) const;  // EOS, EOT, and other end tokens in the vocab
  bool is_control(TokenId id) const;
  std::string_view model_name() const;  // "llama", "gpt2"
  std::string_view pre_name() const;    // "default", "llama3", ...

 private:
  struct Impl;
  explicit Tokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Turns a stream of token ids into text without ever emitting half a UTF-8 character: bytes of an
// incomplete sequence are held back until the rest arrives (or flush() at the end).
class StreamDecoder {
 public:
  explicit StreamDecoder(const Tokenizer& tokenizer, bool render_special = false);
  std::string push(TokenId id);  // the complete characters now available (maybe "")
  std::string flush();           // whatever is held back, invalid bytes replaced by U+FFFD

 private:
  const Tokenizer* tokenizer_;
  bool render_special_;
  bool at_start_ = true;
  std::string pending_;
};

}  // namespace flux
