#include "tokenizer/tokenizer.hpp"

#include <algorithm>

#include "base/error.hpp"
#include "tokenizer/special_tokens.hpp"
#include "tokenizer/spm.hpp"
#include "tokenizer/tokenizer_impl.hpp"
#include "tokenizer/unicode.hpp"

namespace flux {

using tokenization::kNoToken;

const tokenization::TokenInfo& Tokenizer::Impl::token(TokenId id) const {
  if (!vocab.contains(id)) {
    throw InvalidArgument("token id " + std::to_string(id) + " is outside the vocabulary of " +
                          std::to_string(vocab.size()) + " tokens");
  }
  return vocab.tokens[id];
}

Tokenizer Tokenizer::from_gguf(const gguf::Metadata& metadata) {
  return from_source(tokenization::read_vocab_source(metadata));
}

Tokenizer Tokenizer::from_source(tokenization::VocabSource source) {
  auto impl = std::make_unique<Impl>();
  std::vector<std::string> merges = std::move(source.merges);
  impl->vocab = tokenization::build_vocab(std::move(source));
  if (impl->vocab.kind == tokenization::VocabKind::BytePairEncoding) {
    impl->merges = std::make_unique<tokenization::BpeMerges>(impl->vocab, merges);
    const tokenization::PreTokenizerTraits* traits =
        tokenization::find_pre_tokenizer(impl->vocab.pre);
    check(traits != nullptr, "build_vocab accepted an unknown pre-tokenizer");
    impl->pre_tokenizer = std::make_unique<tokenization::PreTokenizer>(traits->regex_set);
  }
  return Tokenizer(std::move(impl));
}

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::~Tokenizer() = default;

std::vector<TokenId> Tokenizer::encode(std::string_view text, bool add_special,
                                       bool parse_special) const {
  const tokenization::Vocab& vocab = impl_->vocab;
  std::vector<TokenId> out;
  out.reserve(text.size() / 3 + 2);
  // llama.cpp asserts that the id exists; a vocabulary without one simply gets nothing added.
  if (add_special && vocab.add_bos && vocab.ids.bos != kNoToken) out.push_back(vocab.ids.bos);

  const std::vector<tokenization::Fragment> fragments =
      tokenization::split_on_special_tokens(vocab, text, parse_special);

  if (vocab.kind == tokenization::VocabKind::SentencePiece) {
    tokenization::SpmEncoder encoder(vocab);
    // SentencePiece tokenizes "Hello" at the start of a text as " Hello"; llama.cpp applies the
    // same rule after every special token.
    bool after_special = true;
    std::string piece;
    for (const tokenization::Fragment& fragment : fragments) {
      if (fragment.is_token()) {
        out.push_back(fragment.token);
        after_special = true;
        continue;
      }
      piece.clear();
      if (vocab.add_space_prefix && after_special) piece.push_back(' ');
      piece.append(text.substr(fragment.offset, fragment.length));
      encoder.encode(tokenization::escape_spaces(piece), out);
      after_special = false;
    }
  } else {
    tokenization::BpeWordEncoder encoder(vocab, *impl_->merges);
    std::string spelled;
    for (const tokenization::Fragment& fragment : fragments) {
      if (fragment.is_token()) {
        out.push_back(fragment.token);
        continue;
      }
      for (const std::string& word :
           impl_->pre_tokenizer->split(text.substr(fragment.offset, fragment.length))) {
        spelled.clear();
        tokenization::append_byte_level(spelled, word);
        encoder.encode(spelled, out);
      }
    }
  }

  if (add_special && vocab.add_eos && vocab.ids.eos != kNoToken) out.push_back(vocab.ids.eos);
  return out;
}

std::size_t Tokenizer::vocab_size() const { return impl_->vocab.size(); }

std::string_view Tokenizer::token_text(TokenId id) const { return impl_->token(id).text; }

TokenId Tokenizer::bos() const { return impl_->vocab.ids.bos; }
TokenId Tokenizer::eos() const { return impl_->vocab.ids.eos; }
TokenId Tokenizer::eot() const { return impl_->vocab.ids.eot; }
bool Tokenizer::add_bos() const { return impl_->vocab.add_bos; }
bool Tokenizer::add_eos() const { return impl_->vocab.add_eos; }
bool Tokenizer::add_space_prefix() const { return impl_->vocab.add_space_prefix; }

bool Tokenizer::is_end_of_generation(TokenId id) const {
  const std::vector<TokenId>& eog = impl_->vocab.end_of_generation;
  return std::binary_search(eog.begin(), eog.end(), id);
}

std::span<const TokenId> Tokenizer::end_of_generation_tokens() const {
  return impl_->vocab.end_of_generation;
}

bool Tokenizer::is_control(TokenId id) const {
  return impl_->vocab.contains(id) &&
         impl_->vocab.has_attr(id, tokenization::token_attr::kControl);
}

std::string_view Tokenizer::model_name() const { return impl_->vocab.model; }
std::string_view Tokenizer::pre_name() const { return impl_->vocab.pre; }

}  // namespace flux
