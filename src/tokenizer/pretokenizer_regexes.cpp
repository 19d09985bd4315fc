// The regex sets of llama.cpp's pre-tokenizers and the tokenizer.ggml.pre names that select them.

#include <array>

#include "base/error.hpp"
#include "tokenizer/pretokenize.hpp"

namespace flux::tokenization {

namespace {

// ---- the regexes (llama.cpp's, from each model's tokenizer.json; see PreTokenizer::adapt_pattern)

// GPT-2's pattern without its final `|\s+`: a lone whitespace before a non-space then matches
// nothing, and llama.cpp keeps such a gap as a piece of its own, which gives the same split.
constexpr std::string_view kGpt2 =
    R"re('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S))re";
// (?i:...) spelled out as character pairs, as llama.cpp does.
constexpr std::string_view kLlama3 =
    R"re((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|)re"
    R"re([^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|)re"
    R"re( ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)re";
constexpr std::string_view kQwen2 =
    R"re((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|)re"
    R"re([^\r\n\p{L}\p{N}]?\p{L}+|\p{N}|)re"
    R"re( ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)re";
constexpr std::string_view kQwen35 =
    R"re((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|)re"
    R"re([^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}|)re"
    R"re( ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)re";
// [\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]* written with lookaheads, as llama.cpp does: "a letter that is
// not a-z" / "a letter that is not A-Z".
constexpr std::string_view kGpt4o =
    R"re([^\r\n\p{L}\p{N}]?(?:(?=\p{L})[^a-z])*(?:(?=\p{L})[^A-Z])+)re"
    R"re((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|)re"
    R"re([^\r\n\p{L}\p{N}]?(?:(?=\p{L})[^a-z])+(?:(?=\p{L})[^A-Z])*)re"
    R"re((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|)re"
    R"re(\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)re";
constexpr std::string_view kTekken =
    R"re([^\r\n\p{L}\p{N}]?(?:(?=\p{L})[^a-z])*(?:(?=\p{L})[^A-Z])+|)re"
    R"re([^\r\n\p{L}\p{N}]?(?:(?=\p{L})[^a-z])+(?:(?=\p{L})[^A-Z])*|)re"
    R"re(\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)re";
constexpr std::string_view kSeedCoder =
    R"re((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|)re"
    R"re([^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1}|)re"
    R"re( ?[^\s\p{L}\p{N}\r\n]+|\s*[\r\n]+|\s+(?!\S)|\s+)re";
constexpr std::string_view kBailingMoe =
    R"re('(?:[sSdDmMtT]|[lL][lL]|[vV][eE]|[rR][eE])|)re"
    R"re([^\r\n\p{L}\p{N}]?\p{L}+|\p{N}|)re"
    R"re( ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+)re";
constexpr std::string_view kMiniCpm5 =
    R"re((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|)re"
    R"re([^\r\n\p{L}\p{N}]?\p{L}+|\p{N}+|)re"
    R"re( ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)re";
// Words up to sentence punctuation (…。，、।۔،).
constexpr std::string_view kBloom =
    R"re( ?[^(\s|.,!?\x{2026}\x{3002}\x{FF0C}\x{3001}\x{0964}\x{06D4}\x{060C})]+)re";
// CJK ideographs, the blocks before them and Hangul, as one run.
constexpr std::string_view kCjkRun =
    R"re([\x{4E00}-\x{9FA5}\x{0800}-\x{4E00}\x{AC00}-\x{D7FF}]+)re";
// DeepSeek-LLM's cased letters (Lu/Ll/Lt of its tokenizer.json), one optional space before.
constexpr std::string_view kDeepseekCasedLetters =
    R"re(\s?[A-Za-z\x{B5}\x{C0}-\x{D6}\x{D8}-\x{F6}\x{F8}-\x{1BA}\x{1BC}-\x{1BF}\x{1C4}-\x{293})re"
    R"re(\x{295}-\x{2AF}\x{370}-\x{373}\x{376}\x{377}\x{37B}-\x{37D}\x{37F}\x{386})re"
    R"re(\x{388}-\x{38A}\x{38C}\x{38E}-\x{3A1}\x{3A3}-\x{3F5}\x{3F7}-\x{481}\x{48A}-\x{52F})re"
    R"re(\x{531}-\x{556}\x{10A0}-\x{10C5}\x{13A0}-\x{13F5}\x{13F8}-\x{13FD}\x{1C90}-\x{1CBA})re"
    R"re(\x{1CBD}-\x{1CBF}\x{1D00}-\x{1D2B}\x{1D6B}-\x{1D77}\x{1D79}-\x{1D9A}\x{1E00}-\x{1F15})re"
    R"re(\x{1F18}-\x{1F1D}\x{1F20}-\x{1F45}\x{1F48}-\x{1F4D}\x{1F50}-\x{1F57}\x{1F59}\x{1F5B})re"
    R"re(\x{1F5D}\x{1F5F}-\x{1F7D}\x{1F80}-\x{1FB4}\x{1FB6}-\x{1FBC}\x{1FBE}\x{1FC2}-\x{1FC4})re"
    R"re(\x{1FC6}-\x{1FCC}\x{1FD0}-\x{1FD3}\x{1FD6}-\x{1FDB}\x{1FE0}-\x{1FEC}\x{1FF2}-\x{1FF4})re"
    R"re(\x{1FF6}-\x{1FFC}\x{2102}\x{2107}\x{210A}-\x{2113}\x{2115}\x{2119}-\x{211D}\x{2124})re"
    R"re(\x{2126}\x{2128}\x{212A}-\x{212D}\x{212F}-\x{2134}\x{2139}\x{213C}-\x{213F})re"
    R"re(\x{2145}-\x{2149}\x{214E}\x{2183}\x{2184}\x{2C00}-\x{2C7B}\x{2C7E}-\x{2CE4})re"
    R"re(\x{2CEB}-\x{2CEE}\x{2CF2}\x{2CF3}\x{A640}-\x{A66D}\x{A680}-\x{A69B}\x{A722}-\x{A76F})re"
    R"re(\x{A771}-\x{A787}\x{A78B}-\x{A78E}\x{AB70}-\x{ABBF}\x{FB00}-\x{FB06}\x{FB13}-\x{FB17})re"
    R"re(\x{FF21}-\x{FF3A}\x{FF41}-\x{FF5A}\x{10400}-\x{1044F}\x{104B0}-\x{104D3})re"
    R"re(\x{104D8}-\x{104FB}\x{10C80}-\x{10CB2}\x{10CC0}-\x{10CF2}\x{118A0}-\x{118DF})re"
    R"re(\x{1E900}-\x{1E943}]+)re";
// ASCII and full-width punctuation, quotes and CJK full stops.
constexpr std::string_view kDeepseekPunctuation =
    R"re(\s?[!-/:-~\x{FF01}-\x{FF0F}\x{FF1A}-\x{FF5E}\x{2018}-\x{201F}\x{3000}-\x{3002}]+)re";

constexpr std::array kDefaultSet = {std::string_view(R"re([\p{P}\$\+<=>\^~\|]+)re"), kGpt2,
                                    std::string_view(R"re(\p{N}+)re"),
                                    std::string_view("[0-9][0-9][0-9]")};
constexpr std::array kGpt2Set = {kGpt2};
constexpr std::array kLlama3Set = {kLlama3};
constexpr std::array kQwen2Set = {kQwen2};
constexpr std::array kQwen35Set = {kQwen35};
constexpr std::array kDeepseekLlmSet = {std::string_view("[\\r\\n]"), kDeepseekCasedLetters,
                                        kDeepseekPunctuation, std::string_view(R"re(\s+$)re"),
                                        kCjkRun, std::string_view(R"re(\p{N}+)re")};
constexpr std::array kDeepseekCoderSet = {
    std::string_view("[\\r\\n]"), std::string_view(R"re(\s?\p{L}+)re"),
    std::string_view(R"re(\s?\p{P}+)re"), kCjkRun, std::string_view(R"re(\p{N})re")};
constexpr std::array kFalconSet = {std::string_view(R"re([\p{P}\$\+<=>\^~\|`]+)re"), kGpt2,
                                   std::string_view("[0-9][0-9][0-9]")};
constexpr std::array kStarcoderSet = {std::string_view(R"re(\p{N})re"), kGpt2};
constexpr std::array kGpt4oSet = {kGpt4o};
constexpr std::array kTekkenSet = {kTekken};
constexpr std::array kSeedCoderSet = {kSeedCoder};
constexpr std::array kBailingMoeSet = {kBailingMoe};
constexpr std::array kBloomSet = {kBloom};
constexpr std::array kVikingSet = {kBloom, std::string_view(R"re(\p{N})re")};
constexpr std::array kMiniCpm5Set = {std::string_view(R"re(\p{N}{1,3})re"), kMiniCpm5};

}  // namespace

std::span<const std::string_view> regex_patterns(RegexSet set) {
  switch (set) {
    case RegexSet::Default: return kDefaultSet;
    case RegexSet::Gpt2: return kGpt2Set;
    case RegexSet::Llama3: return kLlama3Set;
    case RegexSet::Qwen2: return kQwen2Set;
    case RegexSet::Qwen35: return kQwen35Set;
    case RegexSet::DeepseekLlm: return kDeepseekLlmSet;
    case RegexSet::DeepseekCoder: return kDeepseekCoderSet;
    case RegexSet::Falcon: return kFalconSet;
    case RegexSet::Starcoder: return kStarcoderSet;
    case RegexSet::Gpt4o: return kGpt4oSet;
    case RegexSet::Tekken: return kTekkenSet;
    case RegexSet::SeedCoder: return kSeedCoderSet;
    case RegexSet::BailingMoe: return kBailingMoeSet;
    case RegexSet::Bloom: return kBloomSet;
    case RegexSet::Viking: return kVikingSet;
    case RegexSet::MiniCpm5: return kMiniCpm5Set;
  }
  invariant_failed("unknown RegexSet", std::source_location::current());
}

namespace {

// ---- tokenizer.ggml.pre names, as llama.cpp's vocab loader maps them ---------------------------

struct NamedPreTokenizer {
  std::string_view name;
  PreTokenizerTraits traits;
};

constexpr PreTokenizerTraits traits(RegexSet set, bool clean_spaces = true,
                                    bool ignore_merges = false, bool adds_bos = false) {
  return {set, clean_spaces, ignore_merges, adds_bos, false};
}

constexpr PreTokenizerTraits kLlama3Traits = traits(RegexSet::Llama3, true, true, true);
constexpr PreTokenizerTraits kChatGlmTraits = {RegexSet::Llama3, true, false, false, true};

constexpr std::array kPreTokenizers = {
    NamedPreTokenizer{"default", traits(RegexSet::Default)},
    NamedPreTokenizer{"llama3", kLlama3Traits},
    NamedPreTokenizer{"llama-v3", kLlama3Traits},
    NamedPreTokenizer{"llama-bpe", kLlama3Traits},
    NamedPreTokenizer{"falcon3", kLlama3Traits},
    NamedPreTokenizer{"falcon-h1", kLlama3Traits},
    NamedPreTokenizer{"pixtral", kLlama3Traits},
    NamedPreTokenizer{"midm-2.0", kLlama3Traits},
    NamedPreTokenizer{"lfm2", kLlama3Traits},
    NamedPreTokenizer{"jina-v5-nano", kLlama3Traits},
    NamedPreTokenizer{"dbrx", traits(RegexSet::Llama3)},
    NamedPreTokenizer{"smaug-bpe", traits(RegexSet::Llama3)},
    NamedPreTokenizer{"glm4", kChatGlmTraits},
    NamedPreTokenizer{"chatglm-bpe", kChatGlmTraits},
    NamedPreTokenizer{"deepseek-llm", traits(RegexSet::DeepseekLlm, false)},
    NamedPreTokenizer{"deepseek-coder", traits(RegexSet::DeepseekCoder, false)},
    NamedPreTokenizer{"falcon", traits(RegexSet::Falcon)},
    NamedPreTokenizer{"starcoder", traits(RegexSet::Starcoder)},
    NamedPreTokenizer{"refact", traits(RegexSet::Starcoder)},
    NamedPreTokenizer{"command-r", traits(RegexSet::Starcoder, false)},
    NamedPreTokenizer{"smollm", traits(RegexSet::Starcoder, false)},
    NamedPreTokenizer{"codeshell", traits(RegexSet::Starcoder)},
    NamedPreTokenizer{"exaone", traits(RegexSet::Starcoder)},
    NamedPreTokenizer{"minerva-7b", traits(RegexSet::Starcoder)},
    NamedPreTokenizer{"mellum2", traits(RegexSet::Starcoder)},
    NamedPreTokenizer{"gpt-2", traits(RegexSet::Gpt2)},
    NamedPreTokenizer{"phi-2", traits(RegexSet::Gpt2)},
    NamedPreTokenizer{"mpt", traits(RegexSet::Gpt2)},
    NamedPreTokenizer{"olmo", traits(RegexSet::Gpt2)},
    NamedPreTokenizer{"jais", traits(RegexSet::Gpt2)},
    NamedPreTokenizer{"jina-es", traits(RegexSet::Gpt2)},
    NamedPreTokenizer{"jina-de", traits(RegexSet::Gpt2)},
    NamedPreTokenizer{"jina-v1-en", traits(RegexSet::Gpt2)},
    NamedPreTokenizer{"jina-v2-es", traits(RegexSet::Gpt2)},
    NamedPreTokenizer{"jina-v2-de", traits(RegexSet::Gpt2)},
    NamedPreTokenizer{"jina-v2-code", traits(RegexSet::Gpt2)},
    NamedPreTokenizer{"roberta-bpe", traits(RegexSet::Gpt2)},
    NamedPreTokenizer{"gigachat", traits(RegexSet::Gpt2)},
    NamedPreTokenizer{"a.x-4.0", traits(RegexSet::Gpt2)},
    NamedPreTokenizer{"mellum", traits(RegexSet::Gpt2)},
    NamedPreTokenizer{"modern-bert", traits(RegexSet::Gpt2)},
    NamedPreTokenizer{"exaone4", traits(RegexSet::Gpt2)},
    NamedPreTokenizer{"trillion", traits(RegexSet::Gpt2, false)},
    NamedPreTokenizer{"granite-docling", traits(RegexSet::Gpt2, false)},
    NamedPreTokenizer{"qwen2", traits(RegexSet::Qwen2, false)},
    NamedPreTokenizer{"deepseek-r1-qwen", traits(RegexSet::Qwen2, false)},
    NamedPreTokenizer{"kormo", traits(RegexSet::Qwen2, false)},
    NamedPreTokenizer{"f2llmv2", traits(RegexSet::Qwen2, false)},
    NamedPreTokenizer{"hunyuan", traits(RegexSet::Qwen2, false)},
    NamedPreTokenizer{"solar-open", traits(RegexSet::Qwen2, false)},
    NamedPreTokenizer{"grok-2", traits(RegexSet::Qwen2, false)},
    NamedPreTokenizer{"megrez", traits(RegexSet::Qwen2)},
    NamedPreTokenizer{"stablelm2", traits(RegexSet::Qwen2)},
    NamedPreTokenizer{"qwen35", traits(RegexSet::Qwen35, false)},
    NamedPreTokenizer{"gpt-4o", traits(RegexSet::Gpt4o, false)},
    NamedPreTokenizer{"llama4", traits(RegexSet::Gpt4o, false)},
    NamedPreTokenizer{"kanana2", traits(RegexSet::Gpt4o, false)},
    NamedPreTokenizer{"talkie", traits(RegexSet::Gpt4o, false)},
    NamedPreTokenizer{"minimax-m2", traits(RegexSet::Gpt4o, false)},
    NamedPreTokenizer{"tekken", traits(RegexSet::Tekken, false, true, true)},
    NamedPreTokenizer{"seed-coder", traits(RegexSet::SeedCoder, false)},
    NamedPreTokenizer{"bailingmoe", traits(RegexSet::BailingMoe, false)},
    NamedPreTokenizer{"bailingmoe2", traits(RegexSet::BailingMoe, false)},
    NamedPreTokenizer{"llada-moe", traits(RegexSet::BailingMoe, false)},
    NamedPreTokenizer{"bloom", traits(RegexSet::Bloom)},
    NamedPreTokenizer{"gpt3-finnish", traits(RegexSet::Bloom)},
    NamedPreTokenizer{"poro-chat", traits(RegexSet::Bloom, false)},
    NamedPreTokenizer{"viking", traits(RegexSet::Viking, false)},
    NamedPreTokenizer{"minicpm5", traits(RegexSet::MiniCpm5, true, true)},
};

}  // namespace

const PreTokenizerTraits* find_pre_tokenizer(std::string_view name) {
  for (const NamedPreTokenizer& entry : kPreTokenizers) {
    if (entry.name == name) return &entry.traits;
  }
  return nullptr;
}

}  // namespace flux::tokenization
