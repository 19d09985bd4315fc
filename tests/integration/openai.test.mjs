// Integration tests of `flux serve` driven by the official OpenAI Node client (npm `openai`):
// completions and chat completions (plain and streamed), stop sequences, n > 1, usage, seeds,
// logprobs, several prompts per completion, every error status with OpenAI's error shape, API
// keys, body limits, queue overload and the client's retries, client disconnects, SIGTERM drain
// (and its timeout), 64 concurrent streams, and invalid UTF-8 from a random-weight model.
//
//   node --test tests/integration/openai.test.mjs
//
// Environment: FLUX_BIN (default build/apps/flux/flux), FLUX_SHARED_DIR (default ../shared).
// Needs `npm ci` in tests/integration (scripts/install-deps.sh runs it).
//
// Servers (all on free loopback ports, one thread each):
//   stories  stories260K (context 128) with --chat-template chatml, --api-key, --max-body-bytes
//   tiny     a random-weight byte-vocabulary model from `flux make-model --preset tiny`
//   busy     the tiny model with --max-seqs 1 --max-queue 1 (503 on overload)
//   drain    the tiny model, sent SIGTERM mid-request (twice: within and past --drain-timeout)

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import OpenAI from 'openai';

import {
  FluxServer, STORIES_MODEL, makeTempDir, makeTinyModel, tokenize, runFlux, request, sseData, metrics, poll,
} from './server.mjs';

const API_KEY = 'sk-flux-test-key';
const MAX_BODY = 65536;
const STORIES = 'stories260K.gguf';
const PROMPT = 'Once upon a time';

// Every group finishes well within this on two cores; a hung request fails instead of hanging.
const SUITE = { timeout: 90_000 };

const tmp = makeTempDir();
let tinyModel;
const stories = new FluxServer({
  model: STORIES_MODEL,
  args: ['-t', '1', '--chat-template', 'chatml', '--api-key', API_KEY, '--max-body-bytes', String(MAX_BODY)],
});
stories.apiKey = API_KEY;
let tiny;

function client(server, options = {}) {
  return new OpenAI({
    apiKey: server.apiKey ?? 'unused',
    baseURL: server.baseURL,
    maxRetries: 0,
    timeout: 60_000,
    ...options,
  });
}

// OpenAI's error shape, exactly: {"error": {"message", "type", "param", "code"}}.
function assertErrorShape(body, { type = 'invalid_request_error', param, code = null } = {}) {
  assert.ok(body && typeof body === 'object', `error body is JSON: ${JSON.stringify(body)}`);
  assert.deepEqual(Object.keys(body), ['error']);
  const e = body.error;
  assert.deepEqual(Object.keys(e).sort(), ['code', 'message', 'param', 'type']);
  assert.equal(typeof e.message, 'string');
  assert.ok(e.message.length > 0);
  assert.equal(e.type, type);
  if (param !== undefined) assert.equal(e.param, param, `param of ${e.message}`);
  assert.ok(e.param === null || typeof e.param === 'string');
  assert.equal(e.code, code, `code of ${e.message}`);
}

async function expectError(server, method, route, body, status, shape, options = {}) {
  const res = await request(server, method, route, { body, ...options });
  assert.equal(res.status, status, `${method} ${route} ${typeof body === 'string' ? body : JSON.stringify(body)?.slice(0, 200)} -> ${res.status} ${res.text.slice(0, 300)}`);
  assert.match(res.headers.get('content-type') ?? '', /application\/json/);
  assertErrorShape(res.json, shape);
  return res;
}

// Streams a completion with the client; returns the text pieces per choice and the chunks.
async function streamCompletion(c, params, requestOptions) {
  const stream = await c.completions.create({ ...params, stream: true }, requestOptions);
  const chunks = [];
  for await (const chunk of stream) chunks.push(chunk);
  return chunks;
}

function joinChoices(chunks, field = (ch) => ch.text) {
  const out = new Map();
  for (const chunk of chunks)
    for (const ch of chunk.choices) {
      const e = out.get(ch.index) ?? { text: '', pieces: [], finish: null, finishes: 0 };
      const t = field(ch) ?? '';
      e.text += t;
      e.pieces.push(t);
      if (ch.finish_reason) {
        e.finish = ch.finish_reason;
        e.finishes += 1;
      }
      out.set(ch.index, e);
    }
  return out;
}

before(async () => {
  tinyModel = await makeTinyModel(tmp);
  tiny = new FluxServer({ model: tinyModel, args: ['-t', '1', '-c', '1024'] });
  await Promise.all([stories.start(), tiny.start()]);
});

after(async () => {
  await Promise.all([stories.stop(), tiny.stop()]);
  fs.rmSync(tmp, { recursive: true, force: true });
});

// ---- health and models ----------------------------------------------------------------------------

describe('health and models', SUITE, () => {
  it('GET /health answers 200 {"status":"ok"} once loaded (503 "loading" before, when caught)', async (t) => {
    const res = await request(stories, 'GET', '/health', { apiKey: null });
    assert.equal(res.status, 200);
    assert.deepEqual(res.json, { status: 'ok' });
    for (const seen of [...stories.healthSeen, ...tiny.healthSeen]) {
      if (seen.status === 200) continue;
      assert.equal(seen.status, 503, `health while starting: ${JSON.stringify(seen)}`);
      assert.deepEqual(JSON.parse(seen.body), { status: 'loading' });
    }
    const caught = [...stories.healthSeen, ...tiny.healthSeen].filter((s) => s.status === 503).length;
    t.diagnostic(caught ? `caught ${caught} 503 "loading" answers while starting` : 'no 503 caught while loading (too fast)');
  });

  it('GET /v1/models lists the served model; retrieve by id; unknown id is 404', async () => {
    const c = client(stories);
    const list = await c.models.list();
    assert.equal(list.data.length, 1);
    const m = list.data[0];
    assert.equal(m.id, STORIES);
    assert.equal(m.object, 'model');
    assert.equal(typeof m.created, 'number');
    assert.equal(typeof m.owned_by, 'string');
    const raw = await request(stories, 'GET', '/v1/models');
    assert.equal(raw.status, 200);
    assert.equal(raw.json.object, 'list');
    const one = await c.models.retrieve(STORIES);
    assert.equal(one.id, STORIES);
    assert.equal(one.object, 'model');
    await assert.rejects(c.models.retrieve('gpt-4o'), (e) => {
      assert.ok(e instanceof OpenAI.NotFoundError, String(e));
      assert.equal(e.status, 404);
      assert.equal(e.code, 'model_not_found');
      return true;
    });
  });
});

// ---- completions ----------------------------------------------------------------------------------

describe('completions', SUITE, () => {
  it('non-streamed: response shape, usage, finish_reason', async () => {
    const c = client(stories);
    const r = await c.completions.create({ model: STORIES, prompt: PROMPT, max_tokens: 20, temperature: 0 });
    assert.match(r.id, /^cmpl-/);
    assert.equal(r.object, 'text_completion');
    assert.equal(r.model, STORIES);
    assert.equal(typeof r.created, 'number');
    assert.equal(r.choices.length, 1);
    const ch = r.choices[0];
    assert.equal(ch.index, 0);
    assert.equal(typeof ch.text, 'string');
    assert.ok(ch.text.length > 0);
    assert.ok(['length', 'stop'].includes(ch.finish_reason));
    assert.equal(ch.logprobs, null);
    const u = r.usage;
    assert.equal(u.prompt_tokens, (await tokenize(STORIES_MODEL, PROMPT)).length);
    if (ch.finish_reason === 'length') assert.equal(u.completion_tokens, 20);
    else assert.ok(u.completion_tokens >= 1 && u.completion_tokens <= 20);
    assert.equal(u.total_tokens, u.prompt_tokens + u.completion_tokens);
  });

  it('streamed: chunks join into the non-streamed text; include_usage adds a usage chunk', async () => {
    const c = client(stories);
    const params = { model: STORIES, prompt: PROMPT, max_tokens: 40, temperature: 0 };
    const full = await c.completions.create(params);
    const chunks = await streamCompletion(c, { ...params, stream_options: { include_usage: true } });
    assert.ok(chunks.length >= 2);
    for (const chunk of chunks) {
      assert.equal(chunk.object, 'text_completion');
      assert.equal(chunk.id, chunks[0].id);
    }
    const last = chunks.at(-1);
    assert.deepEqual(last.choices, []);
    assert.deepEqual(last.usage, full.usage);
    const joined = joinChoices(chunks).get(0);
    assert.equal(joined.text, full.choices[0].text);
    assert.equal(joined.finish, full.choices[0].finish_reason);
    assert.equal(joined.finishes, 1);
  });

  it('a token-id prompt gives the same completion as its text', async () => {
    const c = client(stories);
    const ids = await tokenize(STORIES_MODEL, PROMPT);
    const a = await c.completions.create({ model: STORIES, prompt: PROMPT, max_tokens: 12, temperature: 0 });
    const b = await c.completions.create({ model: STORIES, prompt: ids, max_tokens: 12, temperature: 0 });
    assert.equal(b.choices[0].text, a.choices[0].text);
    assert.equal(b.usage.prompt_tokens, ids.length);
  });
});

// ---- chat completions -----------------------------------------------------------------------------

describe('chat completions (--chat-template chatml)', SUITE, () => {
  // Short: the context is 128 tokens and stories260K spells chatml's markup out letter by letter.
  const messages = [
    { role: 'system', content: 'Be kind.' },
    { role: 'user', content: 'A story.' },
  ];

  it('non-streamed', async () => {
    const c = client(stories);
    const r = await c.chat.completions.create({ model: STORIES, messages, max_tokens: 16, temperature: 0 });
    assert.match(r.id, /^chatcmpl-/);
    assert.equal(r.object, 'chat.completion');
    assert.equal(r.choices.length, 1);
    const ch = r.choices[0];
    assert.equal(ch.index, 0);
    assert.equal(ch.message.role, 'assistant');
    assert.equal(typeof ch.message.content, 'string');
    assert.ok(['length', 'stop'].includes(ch.finish_reason));
    assert.ok(r.usage.prompt_tokens > 10);
    assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens);
  });

  it('streamed: role first, deltas join into the non-streamed content', async () => {
    const c = client(stories);
    const params = { model: STORIES, messages, max_tokens: 16, temperature: 0 };
    const full = await c.chat.completions.create(params);
    const stream = await c.chat.completions.create({ ...params, stream: true, stream_options: { include_usage: true } });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    assert.equal(chunks[0].object, 'chat.completion.chunk');
    assert.equal(chunks[0].choices[0].delta.role, 'assistant');
    const joined = joinChoices(chunks, (ch) => ch.delta?.content).get(0);
    assert.equal(joined.text, full.choices[0].message.content);
    assert.equal(joined.finish, full.choices[0].finish_reason);
    assert.deepEqual(chunks.at(-1).usage, full.usage);
  });

  it('logprobs with top_logprobs: content entries {token, logprob, bytes, top_logprobs}', async () => {
    const c = client(stories);
    const r = await c.chat.completions.create({
      model: STORIES, messages, max_tokens: 8, temperature: 0, logprobs: true, top_logprobs: 2,
    });
    const content = r.choices[0].logprobs.content;
    assert.equal(content.length, r.usage.completion_tokens);
    for (const lp of content) {
      assert.equal(typeof lp.token, 'string');
      assert.ok(lp.logprob <= 0);
      assert.ok(Array.isArray(lp.bytes));
      assert.equal(lp.top_logprobs.length, 2);
      for (const t of lp.top_logprobs) {
        assert.deepEqual(Object.keys(t).sort(), ['bytes', 'logprob', 'token']);
        assert.ok(t.logprob <= 0);
      }
      const best = Math.max(...lp.top_logprobs.map((t) => t.logprob));
      assert.ok(Math.abs(lp.logprob - best) < 1e-4, 'greedy picks the most likely token');
      const text = Buffer.from(lp.bytes).toString('utf8');
      if (!text.includes('\uFFFD')) assert.equal(text, lp.token, 'bytes spell the token');
    }
  });
});

// ---- stop sequences -------------------------------------------------------------------------------

describe('stop sequences', SUITE, () => {
  const params = { model: STORIES, prompt: PROMPT, max_tokens: 60, temperature: 0 };
  let greedy; // {text, pieces}
  let stop;   // a string that begins inside one streamed piece and ends in the next
  let at;     // where it first occurs in the greedy text

  before(async () => {
    const chunks = await streamCompletion(client(stories), params);
    greedy = joinChoices(chunks).get(0);
    let offset = 0;
    for (let i = 0; i + 1 < greedy.pieces.length && !stop; i++) {
      const a = greedy.pieces[i];
      const b = greedy.pieces[i + 1];
      offset += a.length;
      if (a.length < 2 || b.length < 1 || offset < 4) continue;
      const candidate = a.slice(-2) + b.slice(0, 2);
      if (greedy.text.indexOf(candidate) === offset - 2) {
        stop = candidate;
        at = offset - 2;
      }
    }
    if (!stop) {
      // Single-character pieces: the stop still spans a token boundary.
      offset = 0;
      for (let i = 0; i + 1 < greedy.pieces.length && !stop; i++) {
        offset += greedy.pieces[i].length;
        const candidate = greedy.pieces[i] + greedy.pieces[i + 1];
        if (offset > 4 && candidate.length >= 2 && greedy.text.indexOf(candidate) === offset - greedy.pieces[i].length) {
          stop = candidate;
          at = offset - greedy.pieces[i].length;
        }
      }
    }
    assert.ok(stop, `no usable stop string in ${JSON.stringify(greedy.pieces)}`);
  });

  it('a string stop spanning a token boundary ends the text right before it (finish_reason stop)', async (t) => {
    t.diagnostic(`stop ${JSON.stringify(stop)} at ${at} of ${JSON.stringify(greedy.text)}`);
    const r = await client(stories).completions.create({ ...params, stop });
    assert.equal(r.choices[0].text, greedy.text.slice(0, at), `stop ${JSON.stringify(stop)}`);
    assert.equal(r.choices[0].finish_reason, 'stop');
  });

  it('a list of stops, streamed: same cut, nothing of the stop string leaks into a chunk', async () => {
    const chunks = await streamCompletion(client(stories), { ...params, stop: ['never-in-this-text', stop] });
    const joined = joinChoices(chunks).get(0);
    assert.equal(joined.text, greedy.text.slice(0, at));
    assert.equal(joined.finish, 'stop');
  });

  it('a stop string that never occurs changes nothing', async () => {
    const r = await client(stories).completions.create({ ...params, stop: ['never-in-this-text'] });
    assert.equal(r.choices[0].text, greedy.text);
    assert.equal(r.choices[0].finish_reason, greedy.finish);
  });
});

// ---- n, usage, seeds, logprobs --------------------------------------------------------------------

describe('n > 1, usage, seeds, logprobs', SUITE, () => {
  it('n = 3: choices indexed 0..2, usage counts every choice', async () => {
    const r = await client(stories).completions.create({
      model: STORIES, prompt: PROMPT, max_tokens: 10, temperature: 1, seed: 7, n: 3, logprobs: 0,
    });
    assert.deepEqual(r.choices.map((c) => c.index), [0, 1, 2]);
    assert.ok(new Set(r.choices.map((c) => c.text)).size > 1, 'the choices are sampled independently');
    const generated = r.choices.reduce((s, c) => s + c.logprobs.tokens.length, 0);
    assert.equal(r.usage.completion_tokens, generated);
    assert.equal(r.usage.prompt_tokens, (await tokenize(STORIES_MODEL, PROMPT)).length);
  });

  it('n = 3 streamed: every index 0..2 appears and finishes once, same texts as non-streamed', async () => {
    const params = { model: STORIES, prompt: PROMPT, max_tokens: 10, temperature: 1, seed: 11, n: 3 };
    const full = await client(stories).completions.create(params);
    const joined = joinChoices(await streamCompletion(client(stories), params));
    assert.deepEqual([...joined.keys()].sort(), [0, 1, 2]);
    for (const [i, e] of joined) {
      assert.equal(e.finishes, 1, `choice ${i} finishes once`);
      assert.equal(e.text, full.choices[i].text, `choice ${i}`);
    }
  });

  it('chat n = 2 streamed: both indexes', async () => {
    const stream = await client(stories).chat.completions.create({
      model: STORIES, messages: [{ role: 'user', content: 'Hi' }], max_tokens: 6, n: 2, stream: true,
    });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    const joined = joinChoices(chunks, (ch) => ch.delta?.content);
    assert.deepEqual([...joined.keys()].sort(), [0, 1]);
  });

  it('usage: prompt_tokens is the tokenized length; completion_tokens the tokens generated; cached tokens on a repeat', async () => {
    const c = client(stories);
    // A prompt no other test sends, long enough for whole KV blocks to be cached.
    const prompt = `Zq${Date.now() % 1000} the little dog ran to the park and saw a big red ball near the tree`;
    const ids = await tokenize(STORIES_MODEL, prompt);
    assert.ok(ids.length > 40 && ids.length < 100, `prompt of ${ids.length} tokens`);
    const params = { model: STORIES, prompt, max_tokens: 8, temperature: 0, logprobs: 0 };
    const first = await c.completions.create(params);
    assert.equal(first.usage.prompt_tokens, ids.length);
    assert.equal(first.usage.completion_tokens, first.choices[0].logprobs.tokens.length);
    assert.equal(first.usage.prompt_tokens_details.cached_tokens, 0);
    const second = await c.completions.create(params);
    assert.equal(second.usage.prompt_tokens, ids.length);
    assert.equal(second.choices[0].text, first.choices[0].text);
    const cached = second.usage.prompt_tokens_details.cached_tokens;
    assert.ok(cached > 0 && cached < ids.length, `cached_tokens ${cached} of ${ids.length}`);
  });

  it('seeds: same seed at temperature 1 repeats the text; different seeds differ', async () => {
    const c = client(stories);
    const run = (seed) => c.completions.create({ model: STORIES, prompt: PROMPT, max_tokens: 30, temperature: 1, seed })
      .then((r) => r.choices[0].text);
    const [a, b] = [await run(1234), await run(1234)];
    assert.equal(a, b);
    const others = [await run(1), await run(2), await run(3)];
    assert.ok(new Set([a, ...others]).size > 1, `four seeds, one text: ${a}`);
    assert.notEqual(others[0], others[1]);
  });

  it('completions logprobs: parallel arrays, greedy token is the most likely alternative', async () => {
    const r = await client(stories).completions.create({
      model: STORIES, prompt: PROMPT, max_tokens: 10, temperature: 0, logprobs: 3,
    });
    const lp = r.choices[0].logprobs;
    const n = r.usage.completion_tokens;
    assert.equal(lp.tokens.length, n);
    assert.equal(lp.token_logprobs.length, n);
    assert.equal(lp.top_logprobs.length, n);
    assert.equal(lp.text_offset.length, n);
    assert.equal(lp.tokens.join(''), r.choices[0].text);
    for (let i = 0; i < n; i++) {
      assert.ok(lp.token_logprobs[i] <= 0);
      const alts = Object.values(lp.top_logprobs[i]);
      assert.ok(alts.length >= 1 && alts.length <= 3);
      assert.ok(Math.abs(lp.token_logprobs[i] - Math.max(...alts)) < 1e-4);
      if (i) assert.equal(lp.text_offset[i], lp.text_offset[i - 1] + lp.tokens[i - 1].length);
    }
  });
});

// ---- several prompts ------------------------------------------------------------------------------

describe('several prompts in one completion request', SUITE, () => {
  const prompts = [PROMPT, 'The little dog', 'Lily and Ben went to'];
  const params = { model: STORIES, max_tokens: 12, temperature: 0 };
  let alone; // the completion of each prompt run alone

  before(async () => {
    const c = client(stories);
    alone = [];
    for (const prompt of prompts) alone.push((await c.completions.create({ ...params, prompt })).choices[0]);
    assert.ok(new Set(alone.map((a) => a.text)).size > 1, 'the prompts lead to different texts');
  });

  it('n = 2: choice i*n + j is prompt i run alone; usage sums over the prompts', async () => {
    const r = await client(stories).completions.create({ ...params, prompt: prompts, n: 2 });
    assert.deepEqual(r.choices.map((c) => c.index), [0, 1, 2, 3, 4, 5]);
    r.choices.forEach((ch, k) => {
      const i = Math.floor(k / 2);
      assert.equal(ch.text, alone[i].text, `prompt ${i}, choice ${k % 2}`);
      assert.equal(ch.finish_reason, alone[i].finish_reason);
    });
    let promptTokens = 0;
    for (const p of prompts) promptTokens += (await tokenize(STORIES_MODEL, p)).length;
    assert.equal(r.usage.prompt_tokens, promptTokens);
    assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens);
    const full = await client(stories).completions.create({ ...params, prompt: prompts, logprobs: 0 });
    assert.equal(full.usage.completion_tokens, full.choices.reduce((s, c) => s + c.logprobs.tokens.length, 0));
  });

  it('streamed: chunks carry the choice index; each choice joins into its prompt alone, finishes once', async () => {
    const chunks = await streamCompletion(client(stories),
      { ...params, prompt: prompts, n: 2, stream_options: { include_usage: true } });
    const joined = joinChoices(chunks);
    assert.deepEqual([...joined.keys()].sort(), [0, 1, 2, 3, 4, 5]);
    for (const [k, e] of joined) {
      const i = Math.floor(k / 2);
      assert.equal(e.text, alone[i].text, `choice ${k}`);
      assert.equal(e.finishes, 1, `choice ${k} finishes once`);
      assert.equal(e.finish, alone[i].finish_reason);
    }
    const whole = await client(stories).completions.create({ ...params, prompt: prompts, n: 2 });
    assert.deepEqual(chunks.at(-1).choices, []);
    assert.equal(chunks.at(-1).usage.prompt_tokens, whole.usage.prompt_tokens);
    assert.equal(chunks.at(-1).usage.completion_tokens, whole.usage.completion_tokens);
  });

  it('an array of token-id arrays gives the same choices as the texts', async () => {
    const ids = [];
    for (const p of prompts) ids.push(await tokenize(STORIES_MODEL, p));
    const r = await client(stories).completions.create({ ...params, prompt: ids });
    assert.deepEqual(r.choices.map((c) => c.text), alone.map((a) => a.text));
    assert.equal(r.usage.prompt_tokens, ids.reduce((s, x) => s + x.length, 0));
  });

  it('echo puts each choice\'s own prompt first, streamed or not', async () => {
    const two = prompts.slice(0, 2);
    const r = await client(stories).completions.create({ ...params, prompt: two, echo: true, max_tokens: 4 });
    const streamed = joinChoices(await streamCompletion(client(stories),
      { ...params, prompt: two, echo: true, max_tokens: 4 }));
    r.choices.forEach((ch, i) => {
      assert.ok(ch.text.startsWith(two[i]), `${JSON.stringify(ch.text)} starts with its prompt`);
      assert.equal(streamed.get(i).text, ch.text);
    });
  });

  it('over 64 prompts -> 400 naming prompt; prompts x n over 128 -> 400 naming n', async () => {
    const many = Array.from({ length: 65 }, (_, i) => `p${i}`);
    const res = await expectError(stories, 'POST', '/v1/completions', { prompt: many, max_tokens: 1 }, 400,
      { param: 'prompt' });
    assert.match(res.json.error.message, /at most 64 prompts/);
    await expectError(stories, 'POST', '/v1/completions', { prompt: many.slice(0, 64), n: 3, max_tokens: 1 }, 400,
      { param: 'n' });
  });

  it('one bad prompt refuses the request, naming it, and leaves nothing running', async () => {
    const long = 'the cat sat on the mat and looked at the dog '.repeat(12);
    const res = await expectError(stories, 'POST', '/v1/completions',
      { prompt: [PROMPT, long], max_tokens: 4 }, 400, { param: 'prompt', code: 'context_length_exceeded' });
    assert.match(res.json.error.message, /prompt 1 has \d+ tokens/);
    await expectError(stories, 'POST', '/v1/completions', { prompt: [[1, 2], [1, 99999]] }, 400, { param: 'prompt' });
    const m = await metrics(stories);
    assert.equal(m.flux_requests_running + m.flux_requests_waiting, 0);
  });
});

// ---- errors ---------------------------------------------------------------------------------------

describe('errors: 400 with the parameter named', SUITE, () => {
  const C = '/v1/completions';
  const CHAT = '/v1/chat/completions';
  const long = 'the cat sat on the mat and looked at the dog '.repeat(12); // far over 128 tokens
  const cases = [
    ['malformed JSON', C, '{"prompt": "x",', null],
    ['truncated JSON', C, '{"prompt": ', null],
    ['body not an object', C, '[1,2]', null],
    ['prompt a number', C, { prompt: 123 }, 'prompt'],
    ['prompt missing', C, { max_tokens: 3 }, 'prompt'],
    ['max_tokens a string', C, { prompt: 'x', max_tokens: '10' }, 'max_tokens'],
    ['temperature a string', C, { prompt: 'x', temperature: 'hot' }, 'temperature'],
    ['stream a string', C, { prompt: 'x', stream: 'yes' }, 'stream'],
    ['stop a number', C, { prompt: 'x', stop: 5 }, 'stop'],
    ['n not an integer', C, { prompt: 'x', n: 1.5 }, 'n'],
    ['seed a string', C, { prompt: 'x', seed: 'abc' }, 'seed'],
    ['temperature 3', C, { prompt: 'x', temperature: 3 }, 'temperature'],
    ['top_p 0', C, { prompt: 'x', top_p: 0 }, 'top_p'],
    ['n 0', C, { prompt: 'x', n: 0 }, 'n'],
    ['n 1000', C, { prompt: 'x', n: 1000 }, 'n'],
    ['max_tokens 0', C, { prompt: 'x', max_tokens: 0 }, 'max_tokens'],
    ['completions logprobs 100', C, { prompt: 'x', logprobs: 100 }, 'logprobs'],
    ['chat top_logprobs 100', CHAT, { messages: [{ role: 'user', content: 'x' }], logprobs: true, top_logprobs: 100 }, 'top_logprobs'],
    ['17 stop strings', C, { prompt: 'x', stop: Array.from({ length: 17 }, (_, i) => `s${i}`) }, 'stop'],
    ['stop string of 300 bytes', C, { prompt: 'x', stop: ['y'.repeat(300)] }, 'stop'],
    ['empty prompt', C, { prompt: '' }, 'prompt'],
    ['empty token-id prompt', C, { prompt: [] }, 'prompt'],
    ['prompt token id outside the vocabulary', C, { prompt: [1, 99999] }, 'prompt'],
    ['negative prompt token id', C, { prompt: [1, -5] }, 'prompt'],
    ['chat body null', CHAT, 'null', null],
    ['chat body "string"', CHAT, '"string"', null],
    ['chat body [123]', CHAT, '[123]', null],
    ['chat body [{}]', CHAT, '[{}]', null],
    ['chat messages null', CHAT, { messages: null }, 'messages'],
    ['chat messages "x"', CHAT, { messages: 'x' }, 'messages'],
    ['chat messages [123]', CHAT, { messages: [123] }, 'messages[0]'],
    ['chat messages [{}]', CHAT, { messages: [{}] }, 'messages[0].role'],
    ['chat messages []', CHAT, { messages: [] }, 'messages'],
    ['chat numeric role', CHAT, { messages: [{ role: 5, content: 'x' }] }, 'messages[0].role'],
    ['chat unknown role', CHAT, { messages: [{ role: 'wizard', content: 'x' }] }, 'messages[0].role'],
    ['chat numeric content', CHAT, { messages: [{ role: 'user', content: 5 }] }, 'messages[0].content'],
  ];
  for (const [name, route, body, param] of cases) {
    it(`${name} -> 400`, async () => {
      await expectError(stories, 'POST', route, body, 400, { param });
    });
  }

  it('prompt longer than the context -> 400 context_length_exceeded', async () => {
    await expectError(stories, 'POST', C, { prompt: long }, 400, { param: 'prompt', code: 'context_length_exceeded' });
  });

  it('prompt plus max_tokens beyond the context -> 400 context_length_exceeded', async () => {
    const ids = await tokenize(STORIES_MODEL, PROMPT);
    await expectError(stories, 'POST', C, { prompt: PROMPT, max_tokens: 128 - ids.length + 1 }, 400,
      { code: 'context_length_exceeded' });
  });

  it('chat messages longer than the context -> 400 context_length_exceeded', async () => {
    await expectError(stories, 'POST', CHAT, { messages: [{ role: 'user', content: long }] }, 400,
      { param: 'messages', code: 'context_length_exceeded' });
  });

  it('invalid UTF-8 in the body -> 400', async () => {
    const body = Buffer.concat([Buffer.from('{"prompt": "ab'), Buffer.from([0xff, 0xfe, 0xc3]), Buffer.from('"}')]);
    await expectError(stories, 'POST', C, body, 400, { param: null });
  });

  it('the client raises BadRequestError with the error fields', async () => {
    await assert.rejects(client(stories).completions.create({ model: STORIES, prompt: 'x', temperature: 3 }), (e) => {
      assert.ok(e instanceof OpenAI.BadRequestError, String(e));
      assert.equal(e.status, 400);
      assert.equal(e.param, 'temperature');
      assert.equal(e.type, 'invalid_request_error');
      return true;
    });
  });

  it('the server is still healthy after all of them (never a 500)', async () => {
    const m = await metrics(stories);
    const fivehundreds = Object.entries(m).filter(([k]) => k.startsWith('flux_requests_total') && k.includes('status="500"'));
    assert.deepEqual(fivehundreds, []);
    assert.equal((await request(stories, 'GET', '/health')).status, 200);
  });
});

describe('errors: 401, 404, 413', SUITE, () => {
  it('401 without an API key; 401 with a wrong one; /health and /metrics stay public', async () => {
    const body = { prompt: 'x', max_tokens: 1 };
    await expectError(stories, 'POST', '/v1/completions', body, 401,
      { type: 'authentication_error', code: 'invalid_api_key', param: null }, { apiKey: null });
    await expectError(stories, 'POST', '/v1/completions', body, 401,
      { type: 'authentication_error', code: 'invalid_api_key', param: null }, { apiKey: 'sk-wrong' });
    await expectError(stories, 'GET', '/v1/models', undefined, 401,
      { type: 'authentication_error', code: 'invalid_api_key' }, { headers: { Authorization: 'Basic abc' } });
    assert.equal((await request(stories, 'GET', '/health', { apiKey: null })).status, 200);
    assert.equal((await request(stories, 'GET', '/metrics', { apiKey: null })).status, 200);
    await assert.rejects(
      new OpenAI({ apiKey: 'sk-wrong', baseURL: stories.baseURL, maxRetries: 0 }).models.list(),
      (e) => e instanceof OpenAI.AuthenticationError && e.status === 401 && e.code === 'invalid_api_key',
    );
  });

  it('404 for an unknown route', async () => {
    await expectError(stories, 'GET', '/v1/nope', undefined, 404, { code: 'not_found', param: null });
    await expectError(stories, 'POST', '/v1/embeddings', { input: 'x' }, 404, { code: 'not_found', param: null });
  });

  it('404 for an unknown model name', async () => {
    await expectError(stories, 'POST', '/v1/completions', { model: 'gpt-4o', prompt: 'x' }, 404,
      { param: 'model', code: 'model_not_found' });
    await assert.rejects(
      client(stories).chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] }),
      (e) => e instanceof OpenAI.NotFoundError && e.code === 'model_not_found' && e.param === 'model',
    );
  });

  it('413 for a body over --max-body-bytes', async () => {
    const body = JSON.stringify({ prompt: 'a'.repeat(MAX_BODY + 10) });
    await expectError(stories, 'POST', '/v1/completions', body, 413, { code: 'request_too_large', param: null });
  });
});

// ---- overload, retries ----------------------------------------------------------------------------

describe('queue overload (--max-seqs 1 --max-queue 1)', SUITE, () => {
  let busy;
  // A request that keeps the only sequence slot busy for a while.
  const long = { prompt: 'busy', max_tokens: 700, temperature: 0, ignore_eos: true };

  before(async () => {
    busy = new FluxServer({ model: tinyModel, args: ['-t', '1', '-c', '4096', '--max-seqs', '1', '--max-queue', '1'] });
    await busy.start();
  });
  after(() => busy.stop());

  it('503 server_overloaded with Retry-After when the queue is full (maxRetries: 0)', async () => {
    const c = client(busy, { maxRetries: 0 });
    const outcomes = await Promise.allSettled(
      Array.from({ length: 5 }, () => c.completions.create({ model: busy.name, ...long })),
    );
    const ok = outcomes.filter((o) => o.status === 'fulfilled');
    const refused = outcomes.filter((o) => o.status === 'rejected').map((o) => o.reason);
    assert.ok(ok.length >= 1 && ok.length <= 4, `${ok.length} of 5 succeeded`);
    assert.ok(refused.length >= 1, 'at least one refused');
    for (const o of ok) assert.equal(o.value.usage.completion_tokens, long.max_tokens);
    for (const e of refused) {
      assert.ok(e instanceof OpenAI.InternalServerError, String(e));
      assert.equal(e.status, 503);
      assert.equal(e.code, 'server_overloaded');
      assert.equal(e.type, 'server_error');
      assert.equal(e.headers.get('retry-after'), '1');
      assertErrorShape({ error: e.error }, { type: 'server_error', code: 'server_overloaded', param: null });
    }
  });

  it('several prompts beyond the queue: 503, and the prompts already queued are aborted', async () => {
    const before = await metrics(busy);
    await expectError(busy, 'POST', '/v1/completions', { ...long, prompt: ['a', 'b', 'c'] }, 503,
      { type: 'server_error', code: 'server_overloaded', param: null });
    const idle = await poll(async () => {
      const m = await metrics(busy);
      return m.flux_requests_running === 0 && m.flux_requests_waiting === 0 ? m : null;
    }, { timeoutMs: 5000 });
    assert.ok(idle, 'nothing left queued or running');
    const generated = idle.flux_generation_tokens_total - before.flux_generation_tokens_total;
    assert.ok(generated < long.max_tokens, `the prompt that got in was aborted (${generated} tokens generated)`);
  });

  it("the client's retries (Retry-After) get through once the queue drains", async () => {
    // The second filler is sent once the first runs: sent together, the second could find the
    // first still queued and be refused. 4000 tokens keep each busy for a while even on a quiet
    // machine, where the tiny model makes thousands of tokens a second.
    const filler = () => request(busy, 'POST', '/v1/completions', { body: { ...long, max_tokens: 4000 } });
    const fillers = [filler()];
    const running = await poll(async () => (await metrics(busy)).flux_requests_running === 1,
      { timeoutMs: 5000, intervalMs: 10 });
    assert.ok(running, 'the first filler is running');
    fillers.push(filler());
    const full = await poll(async () => {
      const m = await metrics(busy);
      return m.flux_requests_running === 1 && m.flux_requests_waiting === 1;
    }, { timeoutMs: 5000, intervalMs: 10 });
    assert.ok(full, 'one request running and one waiting');
    const statuses = [];
    const c = new OpenAI({
      apiKey: 'unused',
      baseURL: busy.baseURL,
      maxRetries: 6,
      fetch: async (url, init) => {
        const res = await fetch(url, init);
        statuses.push(res.status);
        return res;
      },
    });
    const r = await c.completions.create({ model: busy.name, prompt: 'retry', max_tokens: 4, temperature: 0 });
    assert.equal(r.choices.length, 1);
    assert.equal(statuses[0], 503, `statuses ${statuses}`);
    assert.equal(statuses.at(-1), 200);
    for (const f of await Promise.all(fillers)) assert.equal(f.status, 200);
  });
});

// ---- client disconnect ----------------------------------------------------------------------------

describe('client disconnect mid-stream', SUITE, () => {
  const long = { prompt: 'go on', max_tokens: 900, temperature: 0, ignore_eos: true };

  async function expectRunning(sequences = 1) {
    const m = await poll(async () => {
      const x = await metrics(tiny);
      return x.flux_requests_running === sequences && x['flux_kv_blocks{state="used"}'] > 0 ? x : null;
    }, { timeoutMs: 2000 });
    assert.ok(m, `${sequences} sequences are running and hold KV blocks`);
  }

  async function expectReleased() {
    const t0 = Date.now();
    let last;
    const done = await poll(async () => {
      last = await metrics(tiny);
      return last['flux_kv_blocks{state="used"}'] === 0 && last.flux_requests_running === 0;
    }, { timeoutMs: 1000, intervalMs: 10 });
    assert.ok(done, `KV blocks used ${last['flux_kv_blocks{state="used"}']}, running ${last.flux_requests_running} after 1 s`);
    return Date.now() - t0;
  }

  it('breaking out of the stream iterator frees the KV blocks within 1 s', async () => {
    const stream = await client(tiny).completions.create({ model: tiny.name, ...long, stream: true });
    let n = 0;
    for await (const chunk of stream) {
      assert.equal(chunk.choices[0].finish_reason, null);
      if (++n === 3) {
        await expectRunning();
        break;
      }
    }
    await expectReleased();
  });

  it('leaving a stream of several prompts aborts every one of them', async () => {
    const stream = await client(tiny).completions.create(
      { model: tiny.name, ...long, prompt: ['go on', 'and on', 'further'], stream: true });
    let n = 0;
    for await (const chunk of stream) {
      assert.equal(chunk.choices[0].finish_reason, null);
      if (++n === 6) {
        await expectRunning(3);
        break;
      }
    }
    await expectReleased();
  });

  it('AbortController.abort() frees the KV blocks within 1 s', async () => {
    const controller = new AbortController();
    const stream = await client(tiny).completions.create({ model: tiny.name, ...long, stream: true },
      { signal: controller.signal });
    let n = 0;
    let finished = false;
    // The client ends the iteration quietly once its signal aborts (no exception).
    try {
      for await (const chunk of stream) {
        if (chunk.choices[0]?.finish_reason) finished = true;
        if (++n === 3) {
          await expectRunning();
          controller.abort();
        }
      }
    } catch (e) {
      assert.ok(e instanceof OpenAI.APIUserAbortError || e.name === 'AbortError', String(e));
    }
    assert.ok(!finished && n < long.max_tokens, `the stream stopped early (${n} chunks)`);
    await expectReleased();
  });
});

// ---- SIGTERM drain --------------------------------------------------------------------------------

describe('SIGTERM drain', SUITE, () => {
  it('a running stream completes with [DONE], new requests get 503, the process exits 0', async () => {
    const drain = new FluxServer({ model: tinyModel, args: ['-t', '1', '-c', '1024'] });
    await drain.start();
    try {
      const maxTokens = 800;
      const res = await fetch(`${drain.baseURL}/completions`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({
          prompt: 'drain', max_tokens: maxTokens, temperature: 0, ignore_eos: true, stream: true,
          stream_options: { include_usage: true },
        }),
      });
      assert.equal(res.status, 200);
      const reader = res.body.getReader();
      const decoder = new TextDecoder();
      let text = '';
      while (!text.includes('data: ')) {
        const { value, done } = await reader.read();
        assert.ok(!done, 'the stream ended before its first event');
        text += decoder.decode(value, { stream: true });
      }
      drain.proc.kill('SIGTERM');
      await poll(() => /draining/.test(drain.log), { timeoutMs: 2000 });
      assert.match(drain.log, /SIGTERM: draining/);

      // New work is refused while the drain runs (or the port is closed once it stopped).
      try {
        const refused = await request(drain, 'POST', '/v1/completions', { body: { prompt: 'x', max_tokens: 2 } });
        assert.equal(refused.status, 503, refused.text);
        assertErrorShape(refused.json, { type: 'server_error', code: 'server_shutting_down', param: null });
        assert.equal(refused.headers.get('retry-after'), '1');
        const health = await request(drain, 'GET', '/health');
        assert.equal(health.status, 503);
        assert.deepEqual(health.json, { status: 'draining' });
      } catch (e) {
        if (!/fetch failed/.test(String(e))) throw e;
        assert.match(String(e.cause?.code ?? e.cause), /ECONNREFUSED|ECONNRESET|UND_ERR_SOCKET/);
      }

      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        text += decoder.decode(value, { stream: true });
      }
      const events = sseData(text);
      assert.equal(events.at(-1), '[DONE]');
      const json = events.slice(0, -1).map((e) => JSON.parse(e));
      const usage = json.at(-1).usage;
      assert.equal(usage.completion_tokens, maxTokens);
      assert.equal(json.at(-2).choices[0].finish_reason, 'length');

      const exit = await Promise.race([drain.exited, sleep(10_000, 'timeout')]);
      assert.deepEqual(exit, { code: 0, signal: null }, drain.log);
      assert.match(drain.log, /flux serve: stopped/);
    } finally {
      await drain.stop();
    }
  });
});

describe('SIGTERM drain timeout', SUITE, () => {
  it('--drain-timeout 1: generations still running are aborted (error event, 503), the process exits 0 at once', async () => {
    // 16000 tokens take the tiny model about 20 s alone on one core: far beyond the drain timeout.
    const maxTokens = 16_000;
    const drain = new FluxServer({
      model: tinyModel, args: ['-t', '1', '-c', '16384', '--max-seqs', '3', '--drain-timeout', '1'],
    });
    await drain.start();
    try {
      const c = client(drain);
      const long = { model: drain.name, max_tokens: maxTokens, temperature: 0, ignore_eos: true };
      const whole = c.completions.create({ ...long, prompt: 'whole' }).then((r) => ({ r }), (e) => ({ e }));
      const raw = request(drain, 'POST', '/v1/completions', {
        body: { ...long, prompt: 'raw', stream: true, stream_options: { include_usage: true } },
      });
      const stream = await c.completions.create({ ...long, prompt: 'drain', stream: true });
      const chunks = [];
      let error = null;
      let signalled = 0;
      try {
        for await (const chunk of stream) {
          chunks.push(chunk);
          if (chunks.length === 5) {
            const all = await poll(async () => (await metrics(drain)).flux_requests_running === 3, { timeoutMs: 5000 });
            assert.ok(all, 'the three requests are running');
            signalled = Date.now();
            drain.proc.kill('SIGTERM');
          }
        }
      } catch (e) {
        error = e;
      }
      assert.ok(signalled, `SIGTERM was sent (${chunks.length} chunks, ${error})`);
      const streamEnded = Date.now() - signalled;

      // The client's stream ends with the error event as an APIError, after every chunk before it.
      assert.ok(error instanceof OpenAI.APIError, `the stream ends with an error event: ${error}`);
      assert.equal(error.code, 'server_shutting_down');
      assert.equal(error.type, 'server_error');
      const text = joinChoices(chunks).get(0);
      assert.equal(text.finish, null, 'a cut-off choice never claims a finish_reason');
      assert.ok(chunks.length < maxTokens);

      // On the wire: text chunks, the error event, the usage chunk, [DONE], and a proper end.
      const wire = await raw;
      assert.equal(wire.status, 200);
      const events = sseData(wire.text);
      assert.equal(events.at(-1), '[DONE]');
      const json = events.slice(0, -1).map((e) => JSON.parse(e));
      const usage = json.at(-1).usage;
      assert.ok(usage.completion_tokens > 0 && usage.completion_tokens < maxTokens, JSON.stringify(usage));
      assertErrorShape(json.at(-2), { type: 'server_error', code: 'server_shutting_down', param: null });
      assert.equal(json.filter((j) => j.error).length, 1, 'one error event');
      assert.ok(json.every((j) => j.error || j.choices.every((ch) => ch.finish_reason === null)));

      // The non-streamed request gets 503 server_shutting_down, not a cut-off text passed off as whole.
      const { e } = await whole;
      assert.ok(e instanceof OpenAI.InternalServerError, String(e));
      assert.equal(e.status, 503);
      assert.equal(e.code, 'server_shutting_down');

      const exit = await Promise.race([drain.exited, sleep(10_000, 'timeout')]);
      const exited = Date.now() - signalled;
      assert.deepEqual(exit, { code: 0, signal: null }, drain.log);
      assert.ok(streamEnded < 5000 && exited < 6000, `stream ended after ${streamEnded} ms, exit after ${exited} ms`);
      assert.match(drain.log, /3 requests still running at the deadline: aborting 3 generations/);
      assert.doesNotMatch(drain.log, /still unwritten/);
      assert.match(drain.log, /flux serve: stopped/);
    } finally {
      await drain.stop();
    }
  });
});

// ---- concurrency ----------------------------------------------------------------------------------

describe('64 concurrent streams', SUITE, () => {
  it('each stream equals the same request run alone, non-streamed, at temperature 0', async () => {
    const c = client(tiny);
    const prompts = Array.from({ length: 64 }, (_, i) => `request ${i}: ${'abcdefghijklmnopqrstuvwxyz'.slice(i % 26)} ${i * 7919}`);
    const params = (prompt) => ({ model: tiny.name, prompt, max_tokens: 24, temperature: 0, ignore_eos: true });
    const alone = [];
    for (const p of prompts) alone.push((await c.completions.create(params(p))).choices[0]);
    const streams = await Promise.all(prompts.map((p) => streamCompletion(c, params(p))));
    const distinct = new Set(alone.map((a) => a.text)).size;
    assert.ok(distinct > 1, 'the prompts lead to different texts');
    streams.forEach((chunks, i) => {
      const joined = joinChoices(chunks).get(0);
      assert.equal(joined.text, alone[i].text, `request ${i}`);
      assert.equal(joined.finish, 'length');
      assert.equal(joined.finishes, 1);
    });
  });
});

// ---- invalid UTF-8 from the model -----------------------------------------------------------------

describe('invalid UTF-8 from a random-weight model', SUITE, () => {
  it('streamed text is valid UTF-8 with U+FFFD where the bytes were invalid; ends with length', async () => {
    const prompt = 'bytes';
    const maxTokens = 64;
    // The ids greedy decoding makes, from `flux run` (byte vocabulary: id = byte + 3).
    const { stdout } = await runFlux(['run', '-m', tinyModel, '-p', prompt, '-n', String(maxTokens), '--temp', '0',
      '--ignore-eos', '-t', '1', '--json']);
    const run = JSON.parse(stdout);
    const bytes = Buffer.from(run.tokens.map((id) => {
      assert.ok(id >= 3 && id < 259, `token ${id} is a byte token`);
      return id - 3;
    }));
    assert.throws(() => new TextDecoder('utf-8', { fatal: true }).decode(bytes), 'the model emits invalid UTF-8');
    const expected = new TextDecoder('utf-8').decode(bytes); // U+FFFD per maximal invalid subpart

    const res = await fetch(`${tiny.baseURL}/completions`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ prompt, max_tokens: maxTokens, temperature: 0, ignore_eos: true, stream: true }),
    });
    assert.equal(res.status, 200);
    const raw = Buffer.from(await res.arrayBuffer());
    const body = new TextDecoder('utf-8', { fatal: true }).decode(raw); // throws on invalid UTF-8
    const events = sseData(body);
    assert.equal(events.at(-1), '[DONE]');
    const chunks = events.slice(0, -1).map((e) => JSON.parse(e));
    const joined = joinChoices(chunks).get(0);
    assert.ok(joined.text.isWellFormed(), 'no lone surrogates');
    for (const p of joined.pieces) assert.ok(p.isWellFormed());
    assert.ok(joined.text.includes('\uFFFD'), 'replacement characters for the invalid bytes');
    assert.equal(joined.finish, 'length');
    assert.equal(joined.text, expected);

    const full = await client(tiny).completions.create({ model: tiny.name, prompt, max_tokens: maxTokens, temperature: 0, ignore_eos: true });
    assert.equal(full.choices[0].text, expected);
    assert.equal(full.choices[0].finish_reason, 'length');
    assert.equal(full.usage.completion_tokens, maxTokens);
  });
});
