// flux::Engine: the request-facing side (add, abort, poll, metrics) shares an inbox with the step
// loop under one mutex; everything else — scheduler, KV cache, runner, request states — belongs
// to the loop thread alone, so the hot path takes the lock only to drain the inbox.

#include "flux/engine.hpp"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>
#include <thread>
#include <unordered_map>

#include <fmt/format.h>

#include "base/error.hpp"
#include "base/system_memory.hpp"
#include "base/thread_pool.hpp"
#include "engine/engine_stats.hpp"
#include "engine/model_runner.hpp"
#include "engine/request_state.hpp"
#include "engine/scheduler.hpp"
#include "kv/kv_budget.hpp"
#include "kv/kv_manager.hpp"
#include "model/model.hpp"
#include "tokenizer/tokenizer.hpp"

namespace flux {
namespace {

constexpr int kDefaultContext = 4096;
constexpr int kMaxContext = 1 << 24;

int resolve_context(const Model& model, const EngineOptions& o) {
  if (o.n_ctx < 0) throw InvalidArgument(fmt::format("context length must not be negative (got {})", o.n_ctx));
  if (o.n_ctx > kMaxContext)
    throw InvalidArgument(fmt::format("context length {} is larger than the supported {}", o.n_ctx, kMaxContext));
  if (o.block_size < 1) throw InvalidArgument(fmt::format("KV block size must be positive (got {})", o.block_size));
  if (o.max_queue < 0) throw InvalidArgument(fmt::format("max_queue must not be negative (got {})", o.max_queue));
  if (o.threads < 0) throw InvalidArgument(fmt::format("threads must not be negative (got {})", o.threads));
  // Like llama.cpp's CLI: the model's training context, but at most kDefaultContext unless asked,
  // so a 128k-context model does not reserve gigabytes of KV cache for a short prompt.
  return o.n_ctx > 0 ? o.n_ctx : static_cast<int>(std::min<std::int64_t>(model.config().n_ctx_train, kDefaultContext));
}

KvLayout layout_for(const Model& model, const EngineOptions& o) {
  const ModelConfig& c = model.config();
  const TensorType type = o.kv_type == KvCacheType::Q8_0 ? TensorType::Q8_0 : TensorType::F16;
  // Attention reads each head's slice of a row, so a quantised cache needs whole blocks per head.
  if (c.head_dim % static_cast<std::int64_t>(traits(type).block_size) != 0)
    throw InvalidArgument(fmt::format("a {} KV cache needs a head size that is a multiple of {} (this model's is {})",
                                      type_name(type), traits(type).block_size, c.head_dim));
  return KvLayout{static_cast<int>(c.n_layers), static_cast<int>(c.kv_dim()), o.block_size, type};
}

int resolve_threads(int requested) {
  if (requested > 0) return requested;
  return std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
}

}  // namespace

struct Engine::Impl {
  Impl(const Model& m, const Tokenizer& t, EngineOptions o)
      : model(m),
        tokenizer(t),
        options(o),
        n_ctx(resolve_context(m, o)),
        kv_layout(layout_for(m, o)),
        kv(kv_layout,
           text_kv_blocks(kv_layout, MemoryBudgetRequest{o.kv_mem_bytes, o.kv_mem_fraction},
                          static_cast<std::int64_t>(std::max(o.max_seqs, 1)) * n_ctx,
                          read_system_memory().available_bytes),
           o.prefix_caching),
        scheduler(SchedulerConfig{o.max_seqs, o.max_batched_tokens, n_ctx, 0}, kv),
        pool(resolve_threads(o.threads)),
        runner(m, pool) {}

  // --- shared with callers, under `mutex` ---
  struct Mailbox {
    std::deque<RequestOutput> outputs;
  };
  mutable std::mutex mutex;
  std::condition_variable wake_loop;
  std::condition_variable output_ready;
  std::vector<std::unique_ptr<RequestState>> inbox;
  std::vector<RequestId> aborts;
  std::unordered_map<RequestId, bool> live;  // requests not yet finished (value unused)
  std::unordered_map<RequestId, Mailbox> mailboxes;
  RequestId next_id = 1;
  int queued = 0;  // added but not yet scheduled, for max_queue
  bool stopping = false;
  EngineMetrics published_metrics;

  // --- the loop's own ---
  const Model& model;
  const Tokenizer& tokenizer;
  EngineOptions options;
  int n_ctx;
  KvLayout kv_layout;
  KvManager kv;
  Scheduler scheduler;
  ThreadPool pool;
  ModelRunner runner;
  std::unordered_map<RequestId, std::unique_ptr<RequestState>> requests;
  std::unordered_map<std::uint64_t, ChoiceRun*> by_sequence;
  std::uint64_t next_sequence = 1;
  std::uint64_t arrivals = 0;
  EngineStats stats;
  std::thread loop_thread;

  RequestId add(Request request);
  void admit(std::unique_ptr<RequestState> state);
  void abort_request(RequestState& state);
  bool step();
  void sample(const ScheduledChunk& chunk, std::span<const float> logits);
  void fork_choices(RequestState& state, ChoiceRun& parent);
  void fail_request(RequestState& state, const std::string& message);
  void fail_step(const SchedulerStep& step, const std::string& message);
  void deliver();
  void publish_metrics(const SchedulerStep* step);
  void loop();
  void shutdown();
};

RequestId Engine::Impl::add(Request request) {
  const auto n_vocab = model.config().n_vocab;
  std::vector<TokenId> prompt;
  if (!request.prompt_tokens.empty()) {
    for (std::size_t i = 0; i < request.prompt_tokens.size(); ++i) {
      const TokenId t = request.prompt_tokens[i];
      if (t < 0 || t >= n_vocab)
        throw InvalidArgument(fmt::format("prompt token {} (id {}) is outside the vocabulary of {} tokens", i, t,
                                          n_vocab));
    }
    prompt = std::move(request.prompt_tokens);
  } else {
    prompt = tokenizer.encode(request.prompt, request.add_special, /*parse_special=*/true);
  }
  request.prompt.clear();
  request.prompt_tokens.clear();
  if (request.n < 1) throw InvalidArgument(fmt::format("n must be at least 1 (got {})", request.n));
  if (request.logprobs < -1 || request.logprobs > n_vocab)
    throw InvalidArgument(fmt::format("logprobs must be between -1 and the vocabulary size (got {})", request.logprobs));
  validate(request.sampling);

  auto state = std::make_unique<RequestState>();
  state->request = std::move(request);
  state->prompt = std::move(prompt);
  Sequence probe;
  probe.tokens = state->prompt;
  probe.n_prompt = static_cast<std::int64_t>(probe.tokens.size());
  probe.max_tokens = state->request.max_tokens;
  if (auto error = scheduler.admission_error(probe)) {
    std::lock_guard lock(mutex);
    ++published_metrics.requests_rejected;
    throw InvalidArgument(*error);
  }

  std::lock_guard lock(mutex);
  if (stopping) throw Error("the engine is shutting down");
  if (options.max_queue > 0 && queued >= options.max_queue) {
    ++published_metrics.requests_rejected;
    throw QueueFullError(fmt::format("the waiting queue is full ({} requests)", options.max_queue));
  }
  state->id = next_id++;
  state->added = EngineClock::now();
  live.emplace(state->id, true);
  if (!state->request.on_output) mailboxes.emplace(state->id, Mailbox{});
  ++queued;
  const RequestId id = state->id;
  inbox.push_back(std::move(state));
  wake_loop.notify_one();
  return id;
}

void Engine::Impl::admit(std::unique_ptr<RequestState> state) {
  auto choice = std::make_unique<ChoiceRun>(*state, 0, tokenizer, next_sequence++);
  Sequence& seq = choice->seq;
  seq.tokens = state->prompt;
  seq.n_prompt = static_cast<std::int64_t>(seq.tokens.size());
  seq.max_tokens = state->request.max_tokens;
  seq.priority = state->request.priority;
  seq.arrival = arrivals++;
  scheduler.add(seq);  // checked in add(): cannot be refused here
  by_sequence.emplace(seq.id, choice.get());
  state->choices.push_back(std::move(choice));
  const RequestId id = state->id;
  requests.emplace(id, std::move(state));
}

void Engine::Impl::abort_request(RequestState& state) {
  for (auto& choice : state.choices) {
    if (choice->finish != FinishReason::None) continue;
    scheduler.remove(choice->seq);
    end_choice(*choice, FinishReason::Abort);
  }
  // Choices not forked yet end too: the request is over.
  for (int index = static_cast<int>(state.choices.size()); index < state.request.n; ++index) {
    state.news(index).finish = FinishReason::Abort;
    ++state.n_finished;
  }
}

void Engine::Impl::fork_choices(RequestState& state, ChoiceRun& parent) {
  for (int index = 1; index < state.request.n; ++index) {
    auto child = std::make_unique<ChoiceRun>(state, index, tokenizer, next_sequence++);
    scheduler.fork(parent.seq, child->seq);
    by_sequence.emplace(child->seq.id, child.get());
    state.choices.push_back(std::move(child));
  }
}

void Engine::Impl::sample(const ScheduledChunk& chunk, std::span<const float> logits) {
  ChoiceRun& choice = *by_sequence.at(chunk.seq->id);
  RequestState& state = choice.request;
  // The prompt of an n-choice request is computed once; its choices part at the first token.
  std::vector<ChoiceRun*> takers{&choice};
  if (!state.forked() && choice.index == 0 && choice.seq.n_generated() == 0) {
    fork_choices(state, choice);
    for (std::size_t i = 1; i < state.choices.size(); ++i) takers.push_back(state.choices[i].get());
  }
  const auto now = EngineClock::now();
  for (ChoiceRun* taker : takers) {
    const TokenId token = taker->sampler.sample(logits, taker->seq.tokens);
    accept_token(*taker, token, logits, tokenizer, n_ctx);
    if (taker->finish != FinishReason::None) scheduler.remove(taker->seq);
  }
  if (!state.has_token) {
    state.has_token = true;
    state.first_token = now;
  }
  state.last_token = now;
  stats.generated_tokens += takers.size();
}

void Engine::Impl::fail_request(RequestState& state, const std::string& message) {
  if (state.finished()) return;
  state.pending.error = message;
  abort_request(state);
}

void Engine::Impl::fail_step(const SchedulerStep& step, const std::string& message) {
  for (const ScheduledChunk& chunk : step.chunks) {
    auto it = by_sequence.find(chunk.seq->id);
    if (it != by_sequence.end()) fail_request(it->second->request, message);
  }
}

bool Engine::Impl::step() {
  std::vector<std::unique_ptr<RequestState>> arrived;
  std::vector<RequestId> to_abort;
  {
    std::lock_guard lock(mutex);
    arrived.swap(inbox);
    to_abort.swap(aborts);
  }
  for (auto& state : arrived) admit(std::move(state));
  for (RequestId id : to_abort) {
    auto it = requests.find(id);
    if (it == requests.end() || it->second->finished()) continue;
    abort_request(*it->second);
  }

  const SchedulerStep step = scheduler.schedule();
  stats.preemptions += step.preempted.size();
  int newly_scheduled = 0;
  const auto now = EngineClock::now();
  for (const ScheduledChunk& chunk : step.chunks) {
    RequestState& state = by_sequence.at(chunk.seq->id)->request;
    if (!state.scheduled) {
      state.scheduled = true;
      state.first_scheduled = now;
      ++newly_scheduled;
    }
    if (chunk.first_pos < chunk.seq->n_prompt)
      stats.prompt_tokens += static_cast<std::uint64_t>(std::min(chunk.first_pos + chunk.n_tokens, chunk.seq->n_prompt) -
                                                        chunk.first_pos);
  }
  if (newly_scheduled > 0) {
    std::lock_guard lock(mutex);
    queued -= newly_scheduled;
  }

  if (!step.empty()) {
    try {
      const std::span<const float> logits = runner.run(step, kv.cache());
      scheduler.complete(step);
      const auto n_vocab = static_cast<std::size_t>(model.config().n_vocab);
      std::size_t row = 0;
      for (const ScheduledChunk& chunk : step.chunks) {
        if (!chunk.samples) continue;
        try {
          sample(chunk, logits.subspan(row * n_vocab, n_vocab));
        } catch (const Error& e) {
          // A row with nothing to sample (all NaN or -inf: a broken model) fails its own
          // request only.
          fail_request(by_sequence.at(chunk.seq->id)->request, e.what());
        }
        ++row;
      }
    } catch (const Error& e) {
      // Input was validated at add(); a forward pass that fails anyway fails the requests of this
      // step and nothing else.
      fail_step(step, e.what());
    }
  }
  deliver();
  publish_metrics(step.empty() ? nullptr : &step);
  return !step.empty() || !arrived.empty() || !to_abort.empty();
}

void Engine::Impl::deliver() {
  const auto now = EngineClock::now();
  std::vector<std::pair<RequestState*, RequestOutput>> ready;
  for (auto& [id, state] : requests) {
    if (state->pending.choices.empty() && state->pending.error.empty()) continue;
    RequestOutput out = std::move(state->pending);
    state->pending = RequestOutput{};
    out.id = id;
    out.finished = state->finished();
    out.metrics = state->metrics(now);
    std::sort(out.choices.begin(), out.choices.end(),
              [](const ChoiceOutput& a, const ChoiceOutput& b) { return a.index < b.index; });
    ready.emplace_back(state.get(), std::move(out));
  }
  std::vector<RequestId> done;
  int never_scheduled = 0;
  for (auto& [state, out] : ready) {
    if (out.finished) {
      done.push_back(out.id);
      const bool aborted = std::any_of(out.choices.begin(), out.choices.end(),
                                       [](const ChoiceOutput& ch) { return ch.finish == FinishReason::Abort; });
      stats.on_request_finished(out.metrics, aborted);
      if (!state->scheduled) ++never_scheduled;
    }
    if (state->request.on_output) {
      state->request.on_output(out);
    } else {
      std::lock_guard lock(mutex);
      mailboxes[out.id].outputs.push_back(std::move(out));
      output_ready.notify_all();
    }
  }
  if (done.empty()) return;
  {
    std::lock_guard lock(mutex);
    for (RequestId id : done) live.erase(id);
    queued -= never_scheduled;  // aborted while waiting: no longer queued
  }
  for (RequestId id : done) {
    auto it = requests.find(id);
    for (auto& choice : it->second->choices) by_sequence.erase(choice->seq.id);
    requests.erase(it);
  }
}

void Engine::Impl::publish_metrics(const SchedulerStep* step) {
  const KvStats kvs = kv.stats();
  stats.on_step(step ? step->n_tokens : 0, step ? static_cast<int>(step->chunks.size()) : 0, kvs.used_blocks);
  std::lock_guard lock(mutex);
  EngineMetrics& m = published_metrics;
  stats.fill(m);
  m.running = scheduler.n_running();
  m.waiting = scheduler.n_waiting() + static_cast<int>(inbox.size());
  m.kv_blocks_total = kvs.total_blocks;
  m.kv_blocks_used = kvs.used_blocks;
  m.kv_blocks_free = kvs.free_blocks;
  m.kv_blocks_cached = kvs.cached_blocks;
  m.prefix_hit_rate = kvs.prefix_hit_rate();
}

void Engine::Impl::loop() {
  for (;;) {
    {
      std::unique_lock lock(mutex);
      wake_loop.wait(lock, [&] { return stopping || !inbox.empty() || !aborts.empty() || scheduler.has_work(); });
      if (stopping) break;
    }
    step();
  }
  shutdown();
}

void Engine::Impl::shutdown() {
  // Everything still queued or running ends with "abort", and its blocks go back.
  std::vector<std::unique_ptr<RequestState>> arrived;
  {
    std::lock_guard lock(mutex);
    arrived.swap(inbox);
    aborts.clear();
  }
  for (auto& state : arrived) admit(std::move(state));
  for (auto& [id, state] : requests)
    if (!state->finished()) abort_request(*state);
  deliver();
  publish_metrics(nullptr);
}

Engine::Engine(const Model& model, const Tokenizer& tokenizer, EngineOptions options)
    : impl_(std::make_unique<Impl>(model, tokenizer, options)) {
  impl_->publish_metrics(nullptr);
  if (options.background) impl_->loop_thread = std::thread([this] { impl_->loop(); });
}

Engine::~Engine() {
  {
    std::lock_guard lock(impl_->mutex);
    impl_->stopping = true;
    impl_->wake_loop.notify_all();
  }
  if (impl_->loop_thread.joinable()) impl_->loop_thread.join();
  else impl_->shutdown();
}

RequestId Engine::add(Request request) { return impl_->add(std::move(request)); }

bool Engine::abort(RequestId id) {
  std::lock_guard lock(impl_->mutex);
  if (!impl_->live.contains(id)) return false;
  impl_->aborts.push_back(id);
  impl_->wake_loop.notify_one();
  return true;
}

int Engine::abort_all() {
  std::lock_guard lock(impl_->mutex);
  // `live` holds every request not yet finished, those still in the inbox included: the loop
  // admits the inbox before it takes the aborts, so none slips through.
  for (const auto& [id, unused] : impl_->live) impl_->aborts.push_back(id);
  impl_->wake_loop.notify_one();
  return static_cast<int>(impl_->live.size());
}

std::optional<RequestOutput> Engine::poll(RequestId id, std::chrono::milliseconds timeout) {
  std::unique_lock lock(impl_->mutex);
  auto it = impl_->mailboxes.find(id);
  if (it == impl_->mailboxes.end()) return std::nullopt;
  if (!impl_->output_ready.wait_for(lock, timeout, [&] { return !impl_->mailboxes[id].outputs.empty(); }))
    return std::nullopt;
  Impl::Mailbox& box = impl_->mailboxes[id];
  RequestOutput out = std::move(box.outputs.front());
  box.outputs.pop_front();
  if (out.finished) impl_->mailboxes.erase(id);
  return out;
}

bool Engine::step() {
  if (impl_->options.background) throw InvalidArgument("step() is for engines without a background loop");
  return impl_->step();
}

RequestOutput Engine::generate(Request request) {
  auto collected = std::make_shared<RequestOutput>();
  auto done = std::make_shared<std::promise<void>>();
  std::future<void> finished = done->get_future();
  auto user_callback = std::move(request.on_output);
  request.on_output = [collected, done, user_callback](const RequestOutput& out) {
    if (user_callback) user_callback(out);
    append_output(*collected, out);
    if (out.finished) done->set_value();
  };
  add(std::move(request));
  if (!impl_->options.background) {
    while (finished.wait_for(std::chrono::seconds(0)) != std::future_status::ready) impl_->step();
  }
  finished.wait();
  return std::move(*collected);
}

EngineMetrics Engine::metrics() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->published_metrics;
}

int Engine::context_length() const { return impl_->n_ctx; }
const EngineOptions& Engine::options() const { return impl_->options; }

}  // namespace flux
