#include "engine/scheduler.hpp"

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <numeric>
#include <optional>
#include <ostream>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "base/error.hpp"

namespace flux {
namespace {

constexpr KvLayout kLayout{.n_layers = 1, .kv_dim = 4, .block_size = 4};
constexpr int kBs = 4;

std::vector<TokenId> iota_tokens(int n, TokenId first = 100) {
  std::vector<TokenId> t(static_cast<std::size_t>(n));
  std::iota(t.begin(), t.end(), first);
  return t;
}

std::vector<int> blocks_of(const Sequence& s) { return {s.blocks.blocks().begin(), s.blocks.blocks().end()}; }

std::string message_of(Scheduler& sched, Sequence& seq) {
  try {
    sched.add(seq);
  } catch (const InvalidArgument& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected InvalidArgument";
  return {};
}

// Drives a Scheduler with a made-up model. The "forward pass" writes, for every computed
// position, a hash of the tokens up to and including it into that position's key and value rows
// (what a real model's K/V depends on), and before writing a chunk it checks that every earlier
// position of the sequence holds the right hash: shared, cached, copied and recomputed blocks
// must all hold exactly what this sequence would have computed. "Sampling" appends
// id * 1000 + n_generated; a sequence that reaches max_tokens is removed.
class Harness {
 public:
  Harness(SchedulerConfig config, int n_blocks, bool prefix_caching)
      : kv_(kLayout, n_blocks, prefix_caching), sched_(config, kv_), config_(config) {}

  KvManager& kv() { return kv_; }
  Scheduler& sched() { return sched_; }

  Sequence& make(std::uint64_t id, std::vector<TokenId> prompt, std::int64_t max_tokens, int priority = 0) {
    auto& s = *owned_.emplace_back(std::make_unique<Sequence>());
    s.id = id;
    s.n_prompt = static_cast<std::int64_t>(prompt.size());
    s.tokens = std::move(prompt);
    s.max_tokens = max_tokens;
    s.priority = priority;
    s.arrival = id;
    return s;
  }
  Sequence& add(std::uint64_t id, std::vector<TokenId> prompt, std::int64_t max_tokens, int priority = 0) {
    Sequence& s = make(id, std::move(prompt), max_tokens, priority);
    sched_.add(s);
    live_.insert(&s);
    return s;
  }
  Sequence& fork(const Sequence& parent, std::uint64_t id) {
    auto& child = *owned_.emplace_back(std::make_unique<Sequence>());
    child.id = id;
    sched_.fork(parent, child);
    live_.insert(&child);
    return child;
  }
  void remove(Sequence& s) {
    sched_.remove(s);
    live_.erase(&s);
  }
  const std::set<Sequence*>& live() const { return live_; }

  // schedule() with every invariant checked; complete() is left to the caller.
  SchedulerStep schedule() {
    // Which group each sequence's chunk must belong to: 0 decode, 1 continuing prefill, 2 admitted.
    std::map<const Sequence*, int> group;
    for (Sequence* s : live_) {
      if (s->state == SequenceState::Running) group[s] = s->n_uncomputed() == 1 ? 0 : 1;
      else group[s] = 2;
    }
    SchedulerStep step = sched_.schedule();
    check_step(step, group);
    return step;
  }

  // The model's forward pass over a scheduled step.
  void forward(const SchedulerStep& step) {
    for (const ScheduledChunk& c : step.chunks) {
      std::uint64_t h = kSeed;
      for (std::int64_t p = 0; p < c.first_pos + c.n_tokens; ++p) {
        h = next_hash(h, c.seq->tokens[static_cast<std::size_t>(p)]);
        if (p < c.first_pos) {
          EXPECT_EQ(read_position(*c.seq, p), h) << "seq " << c.seq->id << " position " << p;
        } else {
          write_position(*c.seq, p, h);
        }
      }
    }
  }

  // Appends a token to every sequence whose chunk sampled; removes finished ones.
  std::vector<Sequence*> sample(const SchedulerStep& step) {
    std::vector<Sequence*> finished;
    for (const ScheduledChunk& c : step.chunks) {
      if (!c.samples) continue;
      Sequence& s = *c.seq;
      s.tokens.push_back(static_cast<TokenId>(s.id * 1000 + static_cast<std::uint64_t>(s.n_generated())));
      if (s.n_generated() == s.max_tokens) {
        remove(s);
        finished.push_back(&s);
      }
    }
    return finished;
  }

  // One whole iteration of the engine loop.
  SchedulerStep step() {
    SchedulerStep step = schedule();
    forward(step);
    sched_.complete(step);
    check_after_complete();
    sample(step);
    return step;
  }

  // Runs until nothing is left, with a bound against livelock.
  int run_to_end(int max_steps = 10000) {
    int steps = 0;
    while (sched_.has_work()) {
      step();
      if (++steps > max_steps) {
        ADD_FAILURE() << "no progress after " << max_steps << " steps";
        break;
      }
    }
    return steps;
  }

  // Every block's reference count is the number of live tables holding it.
  void check_refcounts() {
    std::map<int, int> holders;
    for (const Sequence* s : live_)
      for (int b : s->blocks.blocks()) ++holders[b];
    for (int b = 0; b < kv_.n_blocks(); ++b)
      ASSERT_EQ(kv_.pool().refcount(b), holders.contains(b) ? holders[b] : 0) << "block " << b;
    const KvStats st = kv_.stats();
    ASSERT_EQ(st.used_blocks, static_cast<int>(holders.size()));
    ASSERT_EQ(st.used_blocks + st.free_blocks + kv_.pool().cached_unused_blocks(), st.total_blocks);
  }

  void check_after_complete() {
    for (const Sequence* s : live_) {
      if (s->state == SequenceState::Running) {
        ASSERT_GE(s->blocks.capacity(kBs), s->n_computed) << "seq " << s->id;
      } else {
        ASSERT_EQ(s->state, SequenceState::Waiting);
        ASSERT_TRUE(s->blocks.empty()) << "waiting seq " << s->id << " holds blocks";
        ASSERT_EQ(s->n_computed, 0);
      }
      ASSERT_LE(s->n_tokens(), config_.max_model_len);
    }
    check_refcounts();
  }

 private:
  static constexpr std::uint64_t kSeed = 0x9E3779B97F4A7C15ull;
  static std::uint64_t next_hash(std::uint64_t h, TokenId t) {
    h ^= static_cast<std::uint64_t>(static_cast<std::uint32_t>(t)) + 0x632BE59BD9B4E019ull;
    h *= 0xBF58476D1CE4E5B9ull;
    return h ^ (h >> 29);
  }

  void write_position(const Sequence& s, std::int64_t p, std::uint64_t h) {
    const int block = s.blocks.blocks()[static_cast<std::size_t>(p / kBs)];
    auto k = kv_.cache().key(0, block, static_cast<int>(p % kBs));
    auto v = kv_.cache().value(0, block, static_cast<int>(p % kBs));
    for (int d = 0; d < 4; ++d) {
      k[static_cast<std::size_t>(d)] = static_cast<std::uint16_t>(h >> (16 * d));
      v[static_cast<std::size_t>(d)] = static_cast<std::uint16_t>(~h >> (16 * d));
    }
  }
  std::uint64_t read_position(const Sequence& s, std::int64_t p) const {
    const int block = s.blocks.blocks()[static_cast<std::size_t>(p / kBs)];
    const auto k = kv_.cache().key(0, block, static_cast<int>(p % kBs));
    const auto v = kv_.cache().value(0, block, static_cast<int>(p % kBs));
    std::uint64_t hk = 0, hv = 0;
    for (int d = 0; d < 4; ++d) {
      hk |= static_cast<std::uint64_t>(k[static_cast<std::size_t>(d)]) << (16 * d);
      hv |= static_cast<std::uint64_t>(v[static_cast<std::size_t>(d)]) << (16 * d);
    }
    EXPECT_EQ(hv, ~hk);
    return hk;
  }

  void check_step(const SchedulerStep& step, const std::map<const Sequence*, int>& group) {
    std::int64_t total = 0;
    std::set<const Sequence*> seen;
    int last_group = 0;
    for (const ScheduledChunk& c : step.chunks) {
      ASSERT_NE(c.seq, nullptr);
      const Sequence& s = *c.seq;
      ASSERT_TRUE(live_.contains(c.seq)) << "scheduled a removed sequence";
      ASSERT_TRUE(seen.insert(c.seq).second) << "seq " << s.id << " scheduled twice";
      ASSERT_EQ(s.state, SequenceState::Running);
      ASSERT_EQ(c.first_pos, s.n_computed) << "seq " << s.id;
      ASSERT_GE(c.n_tokens, 1);
      ASSERT_LE(c.first_pos + c.n_tokens, s.n_tokens());
      ASSERT_EQ(c.samples, c.first_pos + c.n_tokens == s.n_tokens());
      const std::int64_t end =
          std::min(c.first_pos + c.n_tokens + (c.samples ? config_.lookahead : 0), config_.max_model_len);
      ASSERT_GE(s.blocks.capacity(kBs), end) << "seq " << s.id << " table does not cover its chunk";
      const int g = group.at(c.seq);
      ASSERT_GE(g, last_group) << "seq " << s.id << ": decodes, then prefills, then admissions";
      last_group = g;
      total += c.n_tokens;
    }
    ASSERT_EQ(step.n_tokens, total);
    ASSERT_LE(total, config_.max_batched_tokens);
    ASSERT_LE(static_cast<int>(step.chunks.size()), config_.max_seqs);
    ASSERT_LE(sched_.n_running(), config_.max_seqs);
    for (const Sequence* p : step.preempted) {
      ASSERT_EQ(p->state, SequenceState::Waiting);
      ASSERT_TRUE(p->blocks.empty());
      ASSERT_EQ(p->n_computed, 0);
      ASSERT_FALSE(seen.contains(p)) << "a preempted sequence kept its chunk";
    }
    int running = 0, waiting = 0;
    for (const Sequence* s : live_) (s->state == SequenceState::Running ? running : waiting)++;
    ASSERT_EQ(running, sched_.n_running());
    ASSERT_EQ(waiting, sched_.n_waiting());
  }

  KvManager kv_;
  Scheduler sched_;
  SchedulerConfig config_;
  std::vector<std::unique_ptr<Sequence>> owned_;
  std::set<Sequence*> live_;
};

SchedulerConfig config(int max_seqs, std::int64_t max_batched_tokens, std::int64_t max_model_len = 64,
                       int lookahead = 0) {
  return {.max_seqs = max_seqs, .max_batched_tokens = max_batched_tokens, .max_model_len = max_model_len,
          .lookahead = lookahead};
}

TEST(Scheduler, RejectsBadLimits) {
  KvManager kv(kLayout, 8, false);
  EXPECT_THROW((Scheduler{config(0, 16), kv}), InvalidArgument);
  EXPECT_THROW((Scheduler{config(1, 0), kv}), InvalidArgument);
  EXPECT_THROW((Scheduler{config(1, 16, 1), kv}), InvalidArgument);
  EXPECT_THROW((Scheduler{config(1, 16, 64, -1), kv}), InvalidArgument);
  EXPECT_NO_THROW((Scheduler{config(1, 1, 2), kv}));
}

TEST(Scheduler, AdmissionErrorsAreClear) {
  Harness h(config(4, 16, 32), 4, false);  // 4 blocks: 16 positions
  Scheduler& sched = h.sched();

  Sequence& empty = h.make(1, {}, 4);
  std::string msg = message_of(sched, empty);
  EXPECT_NE(msg.find("empty"), std::string::npos) << msg;

  Sequence& too_long = h.make(2, iota_tokens(20), 20);
  msg = message_of(sched, too_long);
  EXPECT_NE(msg.find("20 tokens"), std::string::npos) << msg;
  EXPECT_NE(msg.find("context holds 32"), std::string::npos) << msg;

  Sequence& too_big = h.make(3, iota_tokens(10), 10);  // 20 positions: 5 blocks
  msg = message_of(sched, too_big);
  EXPECT_NE(msg.find("5 KV blocks"), std::string::npos) << msg;
  EXPECT_NE(msg.find("pool has 4"), std::string::npos) << msg;

  Sequence& no_tokens = h.make(4, iota_tokens(3), 0);
  msg = message_of(sched, no_tokens);
  EXPECT_NE(msg.find("max_tokens"), std::string::npos) << msg;

  Sequence& fits = h.make(5, iota_tokens(10), 6);  // exactly 16 positions
  EXPECT_EQ(sched.admission_error(fits), std::nullopt);
  EXPECT_EQ(sched.n_waiting(), 0);
  EXPECT_FALSE(sched.has_work());
}

TEST(Scheduler, AdmissionCountsLookaheadSlots) {
  Harness h(config(4, 16, 64, 2), 4, false);
  Sequence& s = h.make(1, iota_tokens(10), 6);  // 16 positions + 2 lookahead: 5 blocks
  EXPECT_NE(h.sched().admission_error(s), std::nullopt);
  Sequence& t = h.make(2, iota_tokens(10), 4);
  EXPECT_EQ(h.sched().admission_error(t), std::nullopt);
}

TEST(Scheduler, RespectsTheTokenBudgetByChunking) {
  Harness h(config(8, 16), 64, false);
  std::vector<Sequence*> s;
  for (std::uint64_t id = 1; id <= 5; ++id) s.push_back(&h.add(id, iota_tokens(10), 4));

  SchedulerStep step = h.step();
  ASSERT_EQ(step.chunks.size(), 2u);
  EXPECT_EQ(step.chunks[0].seq, s[0]);
  EXPECT_EQ(step.chunks[0].n_tokens, 10);
  EXPECT_TRUE(step.chunks[0].samples);
  EXPECT_EQ(step.chunks[1].seq, s[1]);
  EXPECT_EQ(step.chunks[1].n_tokens, 6);
  EXPECT_FALSE(step.chunks[1].samples);
  EXPECT_EQ(step.n_tokens, 16);

  step = h.step();  // s1 decodes, s2 finishes its prompt, s3 whole, s4 gets the last token
  ASSERT_EQ(step.chunks.size(), 4u);
  EXPECT_EQ(step.chunks[0].seq, s[0]);
  EXPECT_EQ(step.chunks[0].n_tokens, 1);
  EXPECT_EQ(step.chunks[1].seq, s[1]);
  EXPECT_EQ(step.chunks[1].first_pos, 6);
  EXPECT_EQ(step.chunks[1].n_tokens, 4);
  EXPECT_EQ(step.chunks[2].seq, s[2]);
  EXPECT_EQ(step.chunks[2].n_tokens, 10);
  EXPECT_EQ(step.chunks[3].seq, s[3]);
  EXPECT_EQ(step.chunks[3].n_tokens, 1);
  EXPECT_FALSE(step.chunks[3].samples);
  EXPECT_EQ(step.n_tokens, 16);

  h.run_to_end();
  for (Sequence* q : s) {
    EXPECT_EQ(q->state, SequenceState::Finished);
    EXPECT_EQ(q->n_generated(), 4);
  }
  EXPECT_EQ(h.kv().stats().used_blocks, 0);
}

TEST(Scheduler, RespectsMaxSeqs) {
  Harness h(config(2, 64), 64, false);
  std::vector<Sequence*> s;
  for (std::uint64_t id = 1; id <= 4; ++id) s.push_back(&h.add(id, iota_tokens(3), 3));
  SchedulerStep step = h.step();
  EXPECT_EQ(step.chunks.size(), 2u);
  EXPECT_EQ(h.sched().n_running(), 2);
  EXPECT_EQ(h.sched().n_waiting(), 2);
  EXPECT_EQ(s[2]->state, SequenceState::Waiting);
  int steps = 1;
  while (s[2]->state == SequenceState::Waiting) {
    h.step();  // the harness checks max_seqs every step
    ASSERT_LT(++steps, 20);
  }
  EXPECT_EQ(s[0]->state, SequenceState::Finished);
  EXPECT_EQ(s[1]->state, SequenceState::Finished);
  h.run_to_end();
  for (Sequence* q : s) EXPECT_EQ(q->n_generated(), 3);
}

TEST(Scheduler, LongPromptIsChunkedWhileOthersDecodeEveryStep) {
  Harness h(config(4, 10), 64, false);
  Sequence& a = h.add(1, iota_tokens(4), 20);
  Sequence& b = h.add(2, iota_tokens(4, 200), 20);
  SchedulerStep step = h.step();
  ASSERT_EQ(step.chunks.size(), 2u);

  Sequence& c = h.add(3, iota_tokens(40, 300), 2);
  for (std::int64_t first = 0; first < 40; first += 8) {
    step = h.step();
    ASSERT_EQ(step.chunks.size(), 3u);
    EXPECT_EQ(step.chunks[0].seq, &a);
    EXPECT_EQ(step.chunks[0].n_tokens, 1);
    EXPECT_EQ(step.chunks[1].seq, &b);
    EXPECT_EQ(step.chunks[1].n_tokens, 1);
    EXPECT_EQ(step.chunks[2].seq, &c);
    EXPECT_EQ(step.chunks[2].first_pos, first);
    EXPECT_EQ(step.chunks[2].n_tokens, 8);
    EXPECT_EQ(step.chunks[2].samples, first == 32);
  }
  EXPECT_EQ(c.n_generated(), 1);
  EXPECT_EQ(a.n_generated(), 6);
  step = h.step();
  ASSERT_EQ(step.chunks.size(), 3u);
  for (const auto& chunk : step.chunks) EXPECT_EQ(chunk.n_tokens, 1);
  EXPECT_EQ(c.state, SequenceState::Finished);
  h.run_to_end();
  EXPECT_EQ(a.n_generated(), 20);
  EXPECT_EQ(b.n_generated(), 20);
}

TEST(Scheduler, DecodesComeBeforePrefillChunks) {
  // a (priority 1) runs first and decodes; b (priority 0) arrives later with a long prompt. b
  // sorts before a among the running, yet a's decode leads every batch while b prefills.
  Harness h(config(4, 6), 64, false);
  Sequence& a = h.add(1, iota_tokens(2), 10, 1);
  h.step();
  Sequence& b = h.add(2, iota_tokens(30, 500), 2, 0);
  SchedulerStep step = h.step();  // a decodes, b is admitted with the 5 tokens left
  ASSERT_EQ(step.chunks.size(), 2u);
  EXPECT_EQ(step.chunks[0].seq, &a);
  EXPECT_EQ(step.chunks[1].seq, &b);
  EXPECT_EQ(step.chunks[1].n_tokens, 5);
  for (std::int64_t first = 5; first < 30; first += 5) {
    step = h.step();
    ASSERT_EQ(step.chunks.size(), 2u);
    EXPECT_EQ(step.chunks[0].seq, &a);
    EXPECT_EQ(step.chunks[0].n_tokens, 1);
    EXPECT_EQ(step.chunks[1].seq, &b);
    EXPECT_EQ(step.chunks[1].first_pos, first);
    EXPECT_EQ(step.chunks[1].n_tokens, 5);
  }
  // Both decoding now: running order (priority) decides.
  step = h.step();
  ASSERT_EQ(step.chunks.size(), 2u);
  EXPECT_EQ(step.chunks[0].seq, &b);
  EXPECT_EQ(step.chunks[1].seq, &a);
  h.run_to_end();
}

TEST(Scheduler, PreemptsTheLatestArrivedRunningSequence) {
  // 6 blocks of 4: two sequences of 8 + 12 positions cannot both finish.
  Harness h(config(4, 64), 6, false);
  Sequence& a = h.add(1, iota_tokens(8), 12);
  Sequence& b = h.add(2, iota_tokens(8, 200), 12);
  SchedulerStep step;
  int steps = 0;
  do {
    step = h.step();
    ASSERT_LT(++steps, 50);
  } while (step.preempted.empty());
  ASSERT_EQ(step.preempted.size(), 1u);
  EXPECT_EQ(step.preempted[0], &b);
  ASSERT_EQ(step.chunks.size(), 1u);
  EXPECT_EQ(step.chunks[0].seq, &a);
  EXPECT_EQ(b.state, SequenceState::Waiting);
  EXPECT_EQ(b.n_preemptions, 1);
  EXPECT_EQ(b.n_computed, 0);
  EXPECT_TRUE(b.blocks.empty());
  EXPECT_EQ(h.sched().n_waiting(), 1);
  EXPECT_EQ(h.kv().stats().used_blocks, a.blocks.size());
  EXPECT_EQ(a.n_preemptions, 0);
  const std::vector<TokenId> b_tokens = b.tokens;  // its generated tokens are kept
  EXPECT_GT(b.n_generated(), 0);

  // b waits (waiting sequences never preempt) until a is done, then recomputes everything.
  std::optional<ScheduledChunk> resumed;
  while (!resumed) {
    step = h.step();
    ASSERT_LT(++steps, 100);
    for (const auto& c : step.chunks)
      if (c.seq == &b) resumed = c;
    EXPECT_TRUE(step.preempted.empty());
  }
  EXPECT_EQ(a.state, SequenceState::Finished);
  EXPECT_EQ(a.n_generated(), 12);
  EXPECT_EQ(resumed->first_pos, 0);
  EXPECT_EQ(resumed->n_tokens, static_cast<std::int64_t>(b_tokens.size()));
  EXPECT_TRUE(resumed->samples);
  EXPECT_TRUE(std::equal(b_tokens.begin(), b_tokens.end(), b.tokens.begin()));
  h.run_to_end();
  EXPECT_EQ(b.n_generated(), 12);
  EXPECT_EQ(b.n_preemptions, 1);
  EXPECT_EQ(h.kv().stats().used_blocks, 0);
}

TEST(Scheduler, PreemptingAnAlreadyScheduledSequenceReturnsItsBudget) {
  // b (priority 1) runs and decodes; a (priority 0) arrives later and prefills in chunks of 3.
  // When a's chunk needs a block, the victim is b, whose decode is already in the batch.
  Harness h(config(4, 4), 4, false);
  Sequence& b = h.add(1, iota_tokens(4), 8, 1);
  h.step();
  Sequence& a = h.add(2, iota_tokens(12, 300), 1, 0);
  SchedulerStep step = h.step();
  ASSERT_EQ(step.chunks.size(), 2u);  // b decodes at 4, a gets 3 tokens
  step = h.step();
  ASSERT_EQ(step.chunks.size(), 2u);
  EXPECT_EQ(h.kv().stats().used_blocks, 4);
  step = h.step();
  ASSERT_EQ(step.preempted.size(), 1u);
  EXPECT_EQ(step.preempted[0], &b);
  ASSERT_EQ(step.chunks.size(), 1u);
  EXPECT_EQ(step.chunks[0].seq, &a);
  EXPECT_EQ(step.chunks[0].first_pos, 6);
  EXPECT_EQ(step.n_tokens, 3);
  h.run_to_end();
  EXPECT_EQ(a.n_generated(), 1);
  EXPECT_EQ(b.n_generated(), 8);
}

TEST(Scheduler, WaitingSequencesRunByPriorityThenArrival) {
  Harness h(config(1, 64), 64, false);
  Sequence& s1 = h.add(1, iota_tokens(3), 1, 5);
  Sequence& s2 = h.add(2, iota_tokens(3), 1, 1);
  Sequence& s3 = h.add(3, iota_tokens(3), 1, 3);
  Sequence& s4 = h.add(4, iota_tokens(3), 1, 1);
  std::vector<Sequence*> order;
  while (h.sched().has_work()) {
    const SchedulerStep step = h.step();
    ASSERT_EQ(step.chunks.size(), 1u);
    order.push_back(step.chunks[0].seq);
  }
  EXPECT_EQ(order, (std::vector<Sequence*>{&s2, &s4, &s3, &s1}));
}

TEST(Scheduler, RemoveFreesBlocksOfRunningAndWaitingSequences) {
  Harness h(config(1, 64), 16, false);
  Sequence& run = h.add(1, iota_tokens(9), 4);
  Sequence& wait = h.add(2, iota_tokens(5), 4);
  h.step();
  EXPECT_EQ(run.state, SequenceState::Running);
  EXPECT_EQ(wait.state, SequenceState::Waiting);
  EXPECT_EQ(h.kv().stats().used_blocks, 3);
  h.remove(wait);
  EXPECT_EQ(wait.state, SequenceState::Finished);
  EXPECT_EQ(h.sched().n_waiting(), 0);
  EXPECT_EQ(h.kv().stats().used_blocks, 3);
  h.remove(run);
  EXPECT_EQ(run.state, SequenceState::Finished);
  EXPECT_TRUE(run.blocks.empty());
  EXPECT_EQ(h.sched().n_running(), 0);
  EXPECT_FALSE(h.sched().has_work());
  EXPECT_EQ(h.kv().stats().used_blocks, 0);
  EXPECT_EQ(h.kv().stats().free_blocks, 16);
  EXPECT_TRUE(h.schedule().empty());

  // A preempted sequence (back in waiting) is removed cleanly too.
  Harness p(config(4, 64), 6, false);
  p.add(1, iota_tokens(8), 12);
  Sequence& victim = p.add(2, iota_tokens(8), 12);
  while (victim.n_preemptions == 0) p.step();
  p.remove(victim);
  p.run_to_end();
  EXPECT_EQ(p.kv().stats().used_blocks, 0);
}

TEST(Scheduler, ForkSharesBlocksAndDivergingDecodesCopyThePartialBlock) {
  Harness h(config(4, 64), 16, false);
  Sequence& parent = h.add(1, iota_tokens(6), 4);
  h.step();  // prefill 6, samples one token
  ASSERT_EQ(parent.n_tokens(), 7);
  Sequence& child = h.fork(parent, 2);
  EXPECT_EQ(child.state, SequenceState::Running);
  EXPECT_EQ(child.tokens, parent.tokens);
  EXPECT_EQ(child.n_computed, 6);
  EXPECT_EQ(child.n_prompt, 6);
  EXPECT_EQ(blocks_of(child), blocks_of(parent));
  for (int b : parent.blocks.blocks()) EXPECT_EQ(h.kv().pool().refcount(b), 2);
  EXPECT_EQ(h.sched().n_running(), 2);
  EXPECT_EQ(h.kv().stats().used_blocks, 2);
  child.tokens.back() = 4242;  // the child sampled something else

  const auto shared = blocks_of(parent);
  const SchedulerStep step = h.step();  // both write position 6, inside shared block 1
  ASSERT_EQ(step.chunks.size(), 2u);
  EXPECT_EQ(parent.blocks.blocks()[0], shared[0]);
  EXPECT_EQ(child.blocks.blocks()[0], shared[0]);
  EXPECT_EQ(h.kv().pool().refcount(shared[0]), 2);
  EXPECT_NE(parent.blocks.blocks()[1], child.blocks.blocks()[1]);
  EXPECT_EQ(h.kv().pool().refcount(parent.blocks.blocks()[1]), 1);
  EXPECT_EQ(h.kv().pool().refcount(child.blocks.blocks()[1]), 1);
  EXPECT_EQ(h.kv().stats().used_blocks, 3);
  h.run_to_end();  // the harness checks both K/V histories on every step
  EXPECT_EQ(parent.n_generated(), 4);
  EXPECT_EQ(child.n_generated(), 4);
  EXPECT_EQ(h.kv().stats().used_blocks, 0);
}

TEST(Scheduler, ChoicesForkedAtTheFirstTokenShareThePromptBlocks) {
  // As the engine forks an n-choice request: after the prompt's chunk sampled, before any token
  // is appended. An 8-token prompt fills two published blocks; a 6-token one leaves a partial.
  for (const int prompt_len : {8, 6}) {
    SCOPED_TRACE(prompt_len);
    Harness h(config(4, 64), 16, true);
    Sequence& parent = h.add(1, iota_tokens(prompt_len), 3);
    const SchedulerStep first = h.schedule();
    h.forward(first);
    h.sched().complete(first);
    ASSERT_EQ(parent.n_uncomputed(), 0);
    Sequence& child = h.fork(parent, 2);
    EXPECT_EQ(child.n_computed, prompt_len);
    EXPECT_EQ(blocks_of(child), blocks_of(parent));
    EXPECT_EQ(h.kv().stats().cached_blocks, prompt_len / kBs);
    parent.tokens.push_back(7);
    child.tokens.push_back(8);
    const SchedulerStep step = h.step();
    ASSERT_EQ(step.chunks.size(), 2u);
    // Full prompt blocks stay shared; the block position prompt_len falls in is each one's own.
    const int written = prompt_len / kBs;
    for (int i = 0; i < written; ++i) {
      EXPECT_EQ(parent.blocks.blocks()[static_cast<std::size_t>(i)], child.blocks.blocks()[static_cast<std::size_t>(i)]);
      EXPECT_EQ(h.kv().pool().refcount(parent.blocks.blocks()[static_cast<std::size_t>(i)]), 2);
    }
    EXPECT_NE(parent.blocks.blocks()[static_cast<std::size_t>(written)], child.blocks.blocks()[static_cast<std::size_t>(written)]);
    EXPECT_EQ(h.kv().stats().used_blocks, written + 2);
    h.run_to_end();
    EXPECT_EQ(h.kv().stats().used_blocks, 0);
  }
}

TEST(Scheduler, PrefixCacheHitSkipsTheCachedBlocks) {
  Harness h(config(4, 64), 16, true);
  auto prompt = iota_tokens(10);
  Sequence& first = h.add(1, prompt, 1);
  h.run_to_end();
  EXPECT_EQ(first.state, SequenceState::Finished);
  EXPECT_EQ(first.n_cached_prompt, 0);
  EXPECT_EQ(h.kv().stats().cached_blocks, 2);
  EXPECT_EQ(h.kv().stats().used_blocks, 0);

  prompt.resize(8);
  prompt.insert(prompt.end(), {1, 2, 3});
  Sequence& second = h.add(2, prompt, 3);
  SchedulerStep step = h.step();
  ASSERT_EQ(step.chunks.size(), 1u);
  EXPECT_EQ(step.chunks[0].first_pos, 8);
  EXPECT_EQ(step.chunks[0].n_tokens, 3);
  EXPECT_EQ(second.n_cached_prompt, 8);
  KvStats stats = h.kv().stats();
  EXPECT_EQ(stats.prefix_query_tokens, 21u);
  EXPECT_EQ(stats.prefix_hit_tokens, 8u);
  h.run_to_end();

  // A prompt the cache holds entirely still computes its last token.
  prompt.resize(8);
  Sequence& third = h.add(3, prompt, 2);
  step = h.step();
  ASSERT_EQ(step.chunks.size(), 1u);
  EXPECT_EQ(step.chunks[0].first_pos, 7);
  EXPECT_EQ(step.chunks[0].n_tokens, 1);
  EXPECT_TRUE(step.chunks[0].samples);
  EXPECT_EQ(third.n_cached_prompt, 7);
  h.run_to_end();
  EXPECT_EQ(h.kv().stats().used_blocks, 0);
}

TEST(Scheduler, PreemptedSequenceResumesFromTheCache) {
  Harness h(config(4, 64), 6, true);
  Sequence& a = h.add(1, iota_tokens(8), 12);
  Sequence& b = h.add(2, iota_tokens(8, 200), 12);
  h.run_to_end();
  EXPECT_EQ(b.n_preemptions, 1);
  EXPECT_EQ(a.n_generated(), 12);
  EXPECT_EQ(b.n_generated(), 12);
  const KvStats s = h.kv().stats();
  EXPECT_EQ(s.used_blocks, 0);
  EXPECT_EQ(s.free_blocks + h.kv().pool().cached_unused_blocks(), s.total_blocks);
}

struct StressParams {
  bool prefix_caching;
  int lookahead;
  unsigned seed;
  friend void PrintTo(const StressParams& p, std::ostream* os) {
    *os << "{prefix_caching " << p.prefix_caching << ", lookahead " << p.lookahead << ", seed " << p.seed << "}";
  }
};

class SchedulerStress : public ::testing::TestWithParam<StressParams> {};

TEST_P(SchedulerStress, RandomArrivalsAbortsAndForksKeepEveryInvariant) {
  const StressParams param = GetParam();
  const SchedulerConfig cfg = config(6, 24, 48, param.lookahead);
  Harness h(cfg, 30, param.prefix_caching);
  std::mt19937 rng(param.seed);
  auto uniform = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  auto random_tokens = [&](int n) {
    std::vector<TokenId> t(static_cast<std::size_t>(n));
    for (auto& x : t) x = uniform(0, 49);
    return t;
  };
  std::vector<std::vector<TokenId>> prefixes;
  for (int i = 0; i < 4; ++i) prefixes.push_back(random_tokens(12));

  constexpr std::uint64_t kSequences = 2500;
  std::uint64_t next_id = 1;
  int steps = 0, aborted = 0, forked = 0, forked_at_first_token = 0, preemptions = 0;
  std::uint64_t finished_tokens = 0;
  while (next_id <= kSequences || h.sched().has_work()) {
    // Arrivals, while the queue is short (an engine would refuse or hold back the rest).
    for (int n = uniform(0, 2); n > 0 && next_id <= kSequences && h.sched().n_waiting() < 16; --n) {
      std::vector<TokenId> prompt;
      if (uniform(0, 9) < 4) {
        // Some or all of a shared 12-token prefix, then maybe a tail of its own.
        const int n = uniform(1, 26);
        prompt = prefixes[static_cast<std::size_t>(uniform(0, 3))];
        prompt.resize(static_cast<std::size_t>(std::min(n, 12)));
        const auto tail = random_tokens(std::max(n - 12, 0));
        prompt.insert(prompt.end(), tail.begin(), tail.end());
      } else {
        prompt = random_tokens(uniform(1, 30));
      }
      const int max_tokens = uniform(1, std::min(16, static_cast<int>(cfg.max_model_len) - static_cast<int>(prompt.size())));
      h.add(next_id, std::move(prompt), max_tokens, uniform(0, 9) == 0 ? 1 : 0);
      ++next_id;
    }
    // Aborts, of waiting and running sequences alike.
    if (!h.live().empty() && uniform(0, 19) == 0) {
      auto it = h.live().begin();
      std::advance(it, uniform(0, static_cast<int>(h.live().size()) - 1));
      h.remove(**it);
      ++aborted;
    }
    // Parallel samples: fork a running sequence that is about to decode.
    if (uniform(0, 29) == 0 && h.sched().n_running() < cfg.max_seqs) {
      std::vector<Sequence*> candidates;
      for (Sequence* s : h.live())
        if (s->state == SequenceState::Running && s->n_uncomputed() == 1 && s->n_generated() > 0) candidates.push_back(s);
      if (!candidates.empty()) {
        Sequence& parent = *candidates[static_cast<std::size_t>(uniform(0, static_cast<int>(candidates.size()) - 1))];
        Sequence& child = h.fork(parent, 1000000 + static_cast<std::uint64_t>(forked));
        child.tokens.back() = static_cast<TokenId>(uniform(0, 49));
        ++forked;
      }
    }

    const SchedulerStep step = h.schedule();
    if (::testing::Test::HasFatalFailure()) return;
    preemptions += static_cast<int>(step.preempted.size());
    h.forward(step);
    h.sched().complete(step);
    h.check_after_complete();
    if (::testing::Test::HasFatalFailure()) return;
    // Sampling, the way the engine does it: an n-choice request forks its choices at the first
    // token, before any of them appends one; each then samples its own.
    for (const ScheduledChunk& c : step.chunks) {
      if (!c.samples) continue;
      std::vector<Sequence*> takers{c.seq};
      if (c.seq->n_generated() == 0 && uniform(0, 14) == 0 && h.sched().n_running() < cfg.max_seqs) {
        takers.push_back(&h.fork(*c.seq, 2000000 + static_cast<std::uint64_t>(forked_at_first_token)));
        ++forked_at_first_token;
      }
      for (Sequence* t : takers) {
        t->tokens.push_back(static_cast<TokenId>(uniform(0, 49)));
        if (t->n_generated() == t->max_tokens) {
          finished_tokens += static_cast<std::uint64_t>(t->n_generated());
          h.remove(*t);
        }
      }
    }
    ASSERT_LT(++steps, 200000) << "no progress";
  }

  // Everything removed: no block is held, every block is free or cached.
  const KvStats s = h.kv().stats();
  EXPECT_EQ(s.used_blocks, 0);
  EXPECT_EQ(s.free_blocks + h.kv().pool().cached_unused_blocks(), s.total_blocks);
  EXPECT_EQ(h.kv().pool().cached_unused_blocks(), s.cached_blocks);
  if (!param.prefix_caching) {
    EXPECT_EQ(s.free_blocks, s.total_blocks);
  }
  // The run exercised what it is meant to.
  EXPECT_GT(aborted, 20);
  EXPECT_GT(forked, 5);
  EXPECT_GT(forked_at_first_token, 5);
  EXPECT_GT(preemptions, 5);
  EXPECT_GT(finished_tokens, 5000u);
  if (param.prefix_caching) {
    EXPECT_GT(s.prefix_hit_tokens, 1000u);
  }
  RecordProperty("steps", steps);
  RecordProperty("preemptions", preemptions);
}

INSTANTIATE_TEST_SUITE_P(Configs, SchedulerStress,
                         ::testing::Values(StressParams{true, 0, 1}, StressParams{false, 0, 2},
                                           StressParams{true, 2, 3}, StressParams{false, 3, 4}),
                         [](const auto& info) {
                           return std::string(info.param.prefix_caching ? "Prefix" : "NoPrefix") + "Lookahead" +
                                  std::to_string(info.param.lookahead);
                         });

}  // namespace
}  // namespace flux
