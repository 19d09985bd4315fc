#include "engine/generator.hpp"

#include <algorithm>
#include <chrono>

#include <fmt/format.h>

#include "base/error.hpp"

namespace flux {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int kDefaultContext = 4096;
constexpr int kMaxContext = 1 << 24;

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

int resolve_context(const Model& model, const GeneratorOptions& o) {
  if (o.n_ctx < 0) throw InvalidArgument(fmt::format("context length must not be negative (got {})", o.n_ctx));
  if (o.n_batch <= 0) throw InvalidArgument(fmt::format("batch size must be positive (got {})", o.n_batch));
  if (o.block_size <= 0) throw InvalidArgument(fmt::format("KV block size must be positive (got {})", o.block_size));
  if (o.n_ctx > kMaxContext)
    throw InvalidArgument(fmt::format("context length {} is larger than the supported {}", o.n_ctx, kMaxContext));
  // Like llama.cpp's CLI: the model's training context, but at most kDefaultContext unless asked,
  // so a 128k-context model does not reserve gigabytes of KV cache for a short prompt.
  return o.n_ctx > 0 ? o.n_ctx : static_cast<int>(std::min<std::int64_t>(model.config().n_ctx_train, kDefaultContext));
}

KvLayout layout_for(const Model& model, int block_size) {
  return KvLayout{static_cast<int>(model.config().n_layers), static_cast<int>(model.config().kv_dim()), block_size};
}

}  // namespace

Generator::Generator(const Model& model, const Tokenizer& tokenizer, ThreadPool& pool, GeneratorOptions options)
    : model_(model),
      tokenizer_(tokenizer),
      pool_(pool),
      options_(options),
      n_ctx_(resolve_context(model, options)),
      kv_(layout_for(model, options.block_size), (n_ctx_ + options.block_size - 1) / options.block_size, false) {}

GenerationResult Generator::generate(const GenerationRequest& request,
                                     const std::function<bool(std::string_view)>& on_text) {
  const auto start = Clock::now();
  const auto n_prompt = static_cast<std::int64_t>(request.prompt.size());
  if (n_prompt == 0) throw InvalidArgument("the prompt is empty (no tokens to start from)");
  if (n_prompt >= n_ctx_)
    throw InvalidArgument(fmt::format("the prompt has {} tokens but the context holds {}", n_prompt, n_ctx_));
  if (request.max_tokens < 0) throw InvalidArgument("max_tokens must not be negative");

  Sampler sampler(request.sampling);
  StopMatcher stops(request.stop);
  // Keeps the leading space of the first generated piece, as llama.cpp's CLI and server do.
  StreamDecoder decoder = StreamDecoder::after_prompt(tokenizer_);
  GenerationResult result;
  std::vector<TokenId> history = request.prompt;
  const auto n_vocab = static_cast<std::size_t>(model_.config().n_vocab);
  std::vector<float> logits(n_vocab);

  BlockTable table;
  struct ReleaseOnExit {
    BlockTable& table;
    KvManager& kv;
    ~ReleaseOnExit() { kv.free(table); }
  } release{table, kv_};

  // The cache is sized for n_ctx, so it never runs out within the checks above.
  auto run = [&](std::span<const TokenId> tokens, std::int64_t first_pos) {
    forward_last_token(model_, tokens, first_pos, table, kv_, scratch_, pool_, logits);
  };

  // Prompt processing in chunks of n_batch tokens; only the last row's logits are kept.
  for (std::int64_t begin = 0; begin < n_prompt; begin += options_.n_batch) {
    const std::int64_t len = std::min<std::int64_t>(options_.n_batch, n_prompt - begin);
    run(std::span(request.prompt).subspan(static_cast<std::size_t>(begin), static_cast<std::size_t>(len)), begin);
  }
  result.metrics.prompt_ms = ms_since(start);

  bool keep_going = true;
  auto emit = [&](const std::string& text) {
    if (text.empty() || !keep_going) return;
    result.text += text;
    if (on_text && !on_text(text)) {
      keep_going = false;
      result.finish_reason = "cancelled";
    }
  };

  result.finish_reason = "length";
  Clock::time_point first_token_time = start;
  std::int64_t pos = n_prompt;
  while (keep_going && static_cast<int>(result.tokens.size()) < request.max_tokens) {
    const TokenId token = sampler.sample(logits, history);
    if (result.tokens.empty()) {
      first_token_time = Clock::now();
      result.metrics.ttft_ms = ms_since(start);
    }
    result.tokens.push_back(token);
    history.push_back(token);
    if (!request.ignore_eos && tokenizer_.is_end_of_generation(token)) {
      result.finish_reason = "stop";
      break;
    }
    emit(stops.push(decoder.push(token)));
    if (stops.stopped()) {
      result.finish_reason = "stop";
      break;
    }
    if (static_cast<int>(result.tokens.size()) >= request.max_tokens) break;
    if (pos + 1 > n_ctx_) break;  // the context is full: finish with "length"
    run(std::span(&token, 1), pos);
    ++pos;
  }
  if (!stops.stopped()) emit(stops.push(decoder.flush()) + stops.flush());

  result.metrics.latency_ms = ms_since(start);
  const double prompt_s = result.metrics.prompt_ms / 1000.0;
  result.metrics.prompt_tokens_per_sec = prompt_s > 0 ? static_cast<double>(n_prompt) / prompt_s : 0;
  const double decode_s = std::chrono::duration<double>(Clock::now() - first_token_time).count();
  const auto decoded = static_cast<double>(result.tokens.size()) - 1.0;
  result.metrics.tokens_per_sec = decoded > 0 && decode_s > 0 ? decoded / decode_s : 0;
  return result;
}

}  // namespace flux
