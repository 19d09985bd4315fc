// Special ids, end-of-generation tokens and per-model token attributes. GGUF files carry few of
// these explicitly, so llama.cpp recognises many by their text; we apply the same rules so that a
// model stops, and parses its chat markers, exactly as it does under llama.cpp.

#include <algorithm>
#include <array>
#include <cctype>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tokenizer/vocab.hpp"

namespace flux::tokenization {

namespace {

using TextList = std::span<const std::string_view>;

constexpr std::array<std::string_view, 11> kEndOfTurnTexts = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|end_of_text|>",
    "<EOT>", "_<EOT>", "[EOT]",
    "<\xEF\xBD\x9C" "end\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>",  // DeepSeek
    "<end_of_utterance>"};
constexpr std::array<std::string_view, 1> kEndOfMessageTexts = {"<|eom_id|>"};
// Fill-in-the-middle markers (Qwen, StarCoder, Granite, DeepSeek, CodeLlama, GLM-4.5, Falcon-H1).
constexpr std::array<std::string_view, 8> kFimPrefixTexts = {
    "<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>",
    "<\xEF\xBD\x9C" "fim\xE2\x96\x81" "begin\xEF\xBD\x9C>", "<PRE>", "\xE2\x96\x81<PRE>",
    "<|code_prefix|>", "<|prefix|>"};
constexpr std::array<std::string_view, 8> kFimSuffixTexts = {
    "<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>",
    "<\xEF\xBD\x9C" "fim\xE2\x96\x81hole\xEF\xBD\x9C>", "<SUF>", "\xE2\x96\x81<SUF>",
    "<|code_suffix|>", "<|suffix|>"};
constexpr std::array<std::string_view, 8> kFimMiddleTexts = {
    "<|fim_middle|>", "<fim-middle>", "<fim_middle>",
    "<\xEF\xBD\x9C" "fim\xE2\x96\x81" "end\xEF\xBD\x9C>", "<MID>", "\xE2\x96\x81<MID>",
    "<|code_middle|>", "<|middle|>"};
constexpr std::array<std::string_view, 5> kFimPadTexts = {"<|fim_pad|>", "<fim-pad>", "<fim_pad>",
                                                          "<PAD>", "[PAD]"};
constexpr std::array<std::string_view, 5> kFimRepoTexts = {"<|fim_repo|>", "<|repo_name|>",
                                                           "<fim-repo>", "<REPO>", "<reponame>"};
constexpr std::array<std::string_view, 1> kFimSeparatorTexts = {"<|file_sep|>"};

// Tokens that end generation wherever they appear in the vocabulary.
constexpr std::array<std::string_view, 22> kEndOfGenerationTexts = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>",
    "<end_of_turn>", "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]",
    "<|end_of_text|>", "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>",
    "<\xEF\xBD\x9C" "end\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>", "[e~["};

// gpt-oss's channel markers must stay visible in decoded text.
constexpr std::array<std::string_view, 4> kAlwaysRenderedTexts = {"<|channel|>", "<|message|>",
                                                                  "<|start|>", "<|constrain|>"};

bool is_one_of(std::string_view text, TextList list) {
  return std::find(list.begin(), list.end(), text) != list.end();
}

bool contains_any(std::string_view text, std::initializer_list<std::string_view> needles) {
  return std::any_of(needles.begin(), needles.end(),
                     [&](std::string_view needle) { return text.find(needle) != text.npos; });
}

void apply_declared_ids(Vocab& vocab, const DeclaredSpecialIds& declared) {
  SpecialIds& ids = vocab.ids;
  const std::array<std::pair<TokenId*, const std::optional<std::int64_t>*>, 14> fields = {{
      {&ids.bos, &declared.bos},         {&ids.eos, &declared.eos},
      {&ids.eot, &declared.eot},         {&ids.eom, &declared.eom},
      {&ids.unk, &declared.unk},         {&ids.sep, &declared.sep},
      {&ids.pad, &declared.pad},         {&ids.mask, &declared.mask},
      {&ids.fim_pre, &declared.fim_pre}, {&ids.fim_suf, &declared.fim_suf},
      {&ids.fim_mid, &declared.fim_mid}, {&ids.fim_pad, &declared.fim_pad},
      {&ids.fim_rep, &declared.fim_rep}, {&ids.fim_sep, &declared.fim_sep},
  }};
  for (const auto& [id, value] : fields) {
    // A default that does not exist in this vocabulary is dropped; a declared id outside it is
    // ignored (files use 0xFFFFFFFF for "none"), keeping the default, as llama.cpp does.
    if (!vocab.contains(*id)) *id = kNoToken;
    if (value->has_value() && **value >= 0 && **value < static_cast<std::int64_t>(vocab.size())) {
      *id = static_cast<TokenId>(**value);
    }
  }
}

// Finds ids the file does not declare by their text; such tokens become control tokens.
void detect_ids_by_text(Vocab& vocab) {
  SpecialIds& ids = vocab.ids;
  const std::array<std::pair<TokenId*, TextList>, 8> rules = {{
      {&ids.eot, kEndOfTurnTexts},
      {&ids.eom, kEndOfMessageTexts},
      {&ids.fim_pre, kFimPrefixTexts},
      {&ids.fim_suf, kFimSuffixTexts},
      {&ids.fim_mid, kFimMiddleTexts},
      {&ids.fim_pad, kFimPadTexts},
      {&ids.fim_rep, kFimRepoTexts},
      {&ids.fim_sep, kFimSeparatorTexts},
  }};
  // llama.cpp walks a hash map here, so which of several candidates wins is unspecified there;
  // we take the lowest id.
  for (TokenId id = 0; id < static_cast<TokenId>(vocab.size()); ++id) {
    TokenInfo& token = vocab.tokens[id];
    for (const auto& [field, texts] : rules) {
      if (*field == kNoToken && is_one_of(token.text, texts)) {
        *field = id;
        token.attrs |= token_attr::kControl;
      }
    }
  }
}

void collect_end_of_generation(Vocab& vocab) {
  std::vector<TokenId> eog;
  const auto add = [&eog](TokenId id) {
    if (id != kNoToken) eog.push_back(id);
  };
  add(vocab.ids.fim_pad);
  add(vocab.ids.fim_rep);
  add(vocab.ids.fim_sep);
  for (TokenId id = 0; id < static_cast<TokenId>(vocab.size()); ++id) {
    TokenInfo& token = vocab.tokens[id];
    if (is_one_of(token.text, kEndOfGenerationTexts)) {
      add(id);
      token.attrs |= token_attr::kControl;
    }
    if (is_one_of(token.text, kAlwaysRenderedTexts)) token.attrs = token_attr::kUserDefined;
  }
  add(vocab.ids.eos);
  add(vocab.ids.eot);
  add(vocab.ids.eom);
  std::sort(eog.begin(), eog.end());
  eog.erase(std::unique(eog.begin(), eog.end()), eog.end());

  const auto find_text = [&](std::string_view text) -> TokenId {
    for (const TokenId id : eog) {
      if (vocab.tokens[id].text == text) return id;
    }
    return kNoToken;
  };
  const auto drop = [&eog](TokenId id) { eog.erase(std::find(eog.begin(), eog.end(), id)); };

  // o200k_harmony and solar-open end a message with <|end|> but a turn with <|return|>/<|call|>
  // (or <|flush|>/<|calls|>): there <|end|> must not stop generation.
  const bool has_return = find_text("<|return|>") != kNoToken;
  const bool has_call = find_text("<|call|>") != kNoToken || find_text("<|calls|>") != kNoToken;
  const bool has_flush = find_text("<|flush|>") != kNoToken;
  if (const TokenId end = find_text("<|end|>");
      end != kNoToken && ((has_return && has_call) || (has_call && has_flush))) {
    drop(end);
    vocab.tokens[end].attrs = token_attr::kUserDefined;
  }
  // Gemma 4 (and PaddleOCR) use </s> as ordinary text next to <|tool_response>.
  const TokenId s = find_text("</s>");
  if (s != kNoToken && find_text("<|tool_response>") != kNoToken) {
    drop(s);
    vocab.tokens[s].attrs = token_attr::kNormal;
  }
  vocab.end_of_generation = std::move(eog);
}

void mark_unused_control_tokens(Vocab& vocab) {
  for (TokenInfo& token : vocab.tokens) {
    if ((token.attrs & token_attr::kControl) && token.text.find("unused") != std::string::npos) {
      token.attrs |= token_attr::kUnused;
    }
  }
}

void sort_special_tokens(Vocab& vocab) {
  constexpr std::uint16_t kSpecial =
      token_attr::kControl | token_attr::kUserDefined | token_attr::kUnknown;
  std::vector<TokenId>& special = vocab.special_tokens_longest_first;
  special.clear();
  for (TokenId id = 0; id < static_cast<TokenId>(vocab.size()); ++id) {
    if (vocab.tokens[id].attrs & kSpecial) special.push_back(id);
  }
  std::stable_sort(special.begin(), special.end(), [&](TokenId a, TokenId b) {
    return vocab.tokens[a].text.size() > vocab.tokens[b].text.size();
  });
}

// Attributes llama.cpp keys on the model's name, pre-tokenizer or architecture.
void apply_per_model_attributes(Vocab& vocab, const VocabSource& source) {
  std::string name = source.general_name;
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  const auto set_attr = [&vocab](std::string_view text, std::uint16_t attr, bool on) {
    const TokenId id = vocab.find(text);
    if (id == kNoToken) return;
    if (on) vocab.tokens[id].attrs |= attr;
    else vocab.tokens[id].attrs &= static_cast<std::uint16_t>(~attr);
  };

  if (contains_any(source.pre, {"jina-v2-de", "jina-v2-es", "jina-v2-code"}) ||
      contains_any(source.general_architecture, {"nomic-bert-moe", "jina-bert-v3"})) {
    set_attr("<mask>", token_attr::kStripLeft, true);
  } else if (contains_any(name, {"phi-3", "phi3"})) {
    // Phi-3's markers swallow the whitespace after them ("<|user|>\n" reads as "<|user|>").
    for (const TokenId id : vocab.special_tokens_longest_first) {
      vocab.tokens[id].attrs |= token_attr::kStripRight;
    }
    set_attr("</s>", token_attr::kStripRight, true);
    for (const std::string_view text : {"<unk>", "<s>", "<|endoftext|>"}) {
      set_attr(text, token_attr::kStripRight, false);
    }
  } else if (contains_any(name, {"modern-bert"})) {
    set_attr("[MASK]", token_attr::kStripLeft, true);
  }
}

}  // namespace

void apply_special_token_rules(Vocab& vocab, const VocabSource& source) {
  apply_declared_ids(vocab, source.special_ids);
  if (source.add_bos) vocab.add_bos = *source.add_bos;
  if (source.add_eos) vocab.add_eos = *source.add_eos;
  detect_ids_by_text(vocab);
  mark_unused_control_tokens(vocab);
  collect_end_of_generation(vocab);
  sort_special_tokens(vocab);
  apply_per_model_attributes(vocab, source);
}

}  // namespace flux::tokenization
