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

#include "base/token_id.hpp"
#include "formats/gguf.hpp"

namespace flux {

namespace tokenization {
struct VocabSource;  // tokenizer/vocab_source.hpp
}

class Tokenizer {
 public:
  // Throws FormatError (missing/mistyped tokenizer keys) or UnsupportedError (unknown model or
  // pre-tokenizer) with a message naming the key and value.
  static Tokenizer from_gguf(const gguf::Metadata& metadata);
  // The same from tokenizer fields already read (hand-made vocabularies in tests, converters).
  static Tokenizer from_source(tokenization::VocabSource source);

  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;
  ~Tokenizer();

  // add_special: prepend BOS / append EOS as the metadata asks (add_bos_token / add_eos_token).
  // parse_special: recognise special and control tokens written in the text (e.g. "<|im_start|>").
  std::vector<TokenId> encode(std::string_view text, bool add_special, bool parse_special) const;

  // The bytes a token stands for (SPM's ▁ becomes a space, byte tokens <0xNN> become the byte,
  // BPE's byte-level unicode is mapped back). Control tokens give "" unless render_special.
  std::string token_to_piece(TokenId id, bool render_special = false) const;
  // Decodes ids as llama.cpp's detokenizer does: SPM drops the leading space of the first token
  // (the one encode() added); remove_special drops a leading BOS / trailing EOS the vocabulary
  // adds, and then keeps that space, as llama.cpp does; BPE vocabularies with
  // clean_up_tokenization_spaces remove the space before . , ! ? and some contractions.
  // Throws InvalidArgument for an id outside the vocabulary.
  std::string decode(std::span<const TokenId> ids, bool remove_special = false,
                     bool render_special = false) const;

  std::size_t vocab_size() const;
  std::string_view token_text(TokenId id) const;  // the raw vocabulary entry
  TokenId bos() const;  // -1 when the vocabulary has none
  TokenId eos() const;
  TokenId eot() const;  // end of turn (e.g. <|eot_id|>, <|im_end|>); -1 when none
  bool add_bos() const;
  bool add_eos() const;
  // SPM: encode() puts a space before text that starts the input or follows a special token, and
  // decode() removes it again from the first token.
  bool add_space_prefix() const;
  bool is_end_of_generation(TokenId id) const;  // EOS, EOT, and other end tokens in the vocab
  std::span<const TokenId> end_of_generation_tokens() const;  // sorted
  bool is_control(TokenId id) const;
  std::string_view model_name() const;  // "llama", "gpt2"
  std::string_view pre_name() const;    // "default", "llama3", ...

 private:
  struct Impl;
  explicit Tokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Turns a stream of token ids into text without ever emitting half a UTF-8 character: bytes of an
// incomplete sequence are held back until the rest arrives (or flush() at the end). Everything it
// returns is valid UTF-8 (bytes that can never form a character become U+FFFD). When decode() of
// the same ids is valid UTF-8, the pieces joined equal it, except that BPE's clean-up of spaces
// before punctuation (which would need to see the next token) is not applied.
class StreamDecoder {
 public:
  explicit StreamDecoder(const Tokenizer& tokenizer, bool render_special = false);
  // For text that continues a prompt (completions): the first token keeps its leading space, as
  // llama.cpp's server streams it, instead of being treated as the start of a text.
  static StreamDecoder after_prompt(const Tokenizer& tokenizer, bool render_special = false);
  std::string push(TokenId id);  // the complete characters now available (maybe "")
  std::string flush();           // whatever is held back, invalid bytes replaced by U+FFFD

 private:
  const Tokenizer* tokenizer_;
  bool render_special_;
  bool at_start_ = true;
  std::string pending_;
};

}  // namespace flux
