// A dev-only stand-in for `flux serve`, for working on the dashboard (src/server/dashboard.html)
// without the C++ server: it serves the page at GET / (re-read on every request, so edits show on
// reload), a simulated engine's Prometheus metrics at GET /metrics, GET /v1/models, GET /health,
// and a streaming POST /v1/completions whose fake tokens count in the metrics.
//
//   node tests/integration/dashboard_fake_server.mjs [--port 8089] [--host 127.0.0.1]
//        [--no-background] [--speculative]
//
// By default it also simulates background traffic so the page has something to show; the test
// (dashboard.test.mjs with FLUX_DASHBOARD_FAKE=1) turns that off and drives it with real requests.

import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const DASHBOARD_PATH = path.resolve(here, '../../src/server/dashboard.html');

const BOUNDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

class Histogram {
  constructor() {
    this.counts = new Array(BOUNDS.length + 1).fill(0);
    this.sum = 0;
    this.count = 0;
  }
  observe(seconds) {
    let i = 0;
    while (i < BOUNDS.length && seconds > BOUNDS[i]) i++;
    this.counts[i]++;
    this.sum += seconds;
    this.count++;
  }
  render(name, help) {
    let out = `# HELP ${name} ${help}\n# TYPE ${name} histogram\n`;
    let cumulative = 0;
    BOUNDS.forEach((b, i) => {
      cumulative += this.counts[i];
      out += `${name}_bucket{le="${b}"} ${cumulative}\n`;
    });
    cumulative += this.counts[BOUNDS.length];
    out += `${name}_bucket{le="+Inf"} ${cumulative}\n${name}_sum ${this.sum}\n${name}_count ${this.count}\n`;
    return out;
  }
}

// A toy continuous-batching engine: sequences wait for a batch slot and KV blocks, generate at a
// per-step rate that falls as the batch grows, and record TTFT / TPOT / E2E when they finish.
class FakeEngine {
  constructor({ maxBatch = 8, kvBlocksTotal = 512, blockTokens = 16, speculative = false } = {}) {
    this.maxBatch = maxBatch;
    this.kvTotal = kvBlocksTotal;
    this.blockTokens = blockTokens;
    this.speculative = speculative;
    this.waiting = [];
    this.running = [];
    this.cached = 0;
    this.promptTokens = 0;
    this.generatedTokens = 0;
    this.preemptions = 0;
    this.prefixLooked = 0;
    this.prefixHit = 0;
    this.recent = [];   // [time s, tokens] for tokens/s over the last few seconds
    this.ttft = new Histogram();
    this.tpot = new Histogram();
    this.e2e = new Histogram();
    this.requests = new Map();
    this.accepted = 0;
    this.drafted = 0;
  }

  now() { return performance.now() / 1000; }

  countRequest(endpoint, status) {
    const key = `${endpoint}|${status}`;
    this.requests.set(key, (this.requests.get(key) || 0) + 1);
  }

  // Queues a sequence; onToken(text) per token, onDone() at the end.
  add({ promptTokens, maxTokens, onToken = () => {}, onDone = () => {} }) {
    const seq = { promptTokens, maxTokens, generated: 0, arrived: this.now(), first: null, onToken, onDone, progress: 0 };
    this.waiting.push(seq);
    return seq;
  }

  blocksFor(seq) { return Math.ceil((seq.promptTokens + seq.generated + 1) / this.blockTokens); }
  usedBlocks() { return this.running.reduce((n, s) => n + this.blocksFor(s), 0); }

  step(dt) {
    const t = this.now();
    // admit
    while (this.waiting.length && this.running.length < this.maxBatch) {
      const seq = this.waiting[0];
      if (this.usedBlocks() + this.blocksFor(seq) > this.kvTotal - 8) break;
      this.waiting.shift();
      const hit = Math.random() < 0.5 ? Math.floor(seq.promptTokens * 0.6) : 0;
      this.prefixLooked += seq.promptTokens;
      this.prefixHit += hit;
      this.promptTokens += seq.promptTokens - hit;
      this.running.push(seq);
    }
    // preempt the newest sequence now and then when the pool is nearly full
    if (this.usedBlocks() > this.kvTotal * 0.95 && this.running.length > 1) {
      const seq = this.running.pop();
      this.preemptions++;
      this.waiting.unshift(seq);
    }
    // generate: ~160 tok/s for one sequence, sub-linear in the batch
    const perSeq = (160 / Math.sqrt(Math.max(1, this.running.length))) * dt;
    const done = [];
    for (const seq of this.running) {
      seq.progress += perSeq * (0.8 + 0.4 * Math.random());
      while (seq.progress >= 1 && seq.generated < seq.maxTokens) {
        seq.progress -= 1;
        seq.generated++;
        this.generatedTokens++;
        this.recent.push([t, 1]);
        if (seq.first == null) {
          seq.first = t;
          this.ttft.observe(t - seq.arrived);
        }
        if (this.speculative) {
          this.drafted += 4;
          this.accepted += Math.random() < 0.7 ? 3 : 2;
        }
        seq.onToken(seq.generated === 1 ? ' Once' : ' token');
      }
      if (seq.generated >= seq.maxTokens) done.push(seq);
    }
    for (const seq of done) {
      this.running.splice(this.running.indexOf(seq), 1);
      if (seq.generated > 1) this.tpot.observe((t - seq.first) / (seq.generated - 1));
      this.e2e.observe(t - seq.arrived);
      this.cached = Math.min(this.kvTotal - this.usedBlocks(), this.cached + Math.ceil(seq.promptTokens / this.blockTokens));
      seq.onDone();
    }
    while (this.recent.length && this.recent[0][0] < t - 3) this.recent.shift();
  }

  render() {
    let out = '# HELP flux_requests_total HTTP generation requests by endpoint and status\n# TYPE flux_requests_total counter\n';
    for (const [key, n] of [...this.requests.entries()].sort()) {
      const [endpoint, status] = key.split('|');
      out += `flux_requests_total{endpoint="${endpoint}",status="${status}"} ${n}\n`;
    }
    out += this.ttft.render('flux_request_ttft_seconds', 'Time to first token');
    out += this.tpot.render('flux_request_tpot_seconds', 'Time per output token after the first');
    out += this.e2e.render('flux_request_e2e_seconds', 'Request latency from arrival to the last token');
    const gauge = (name, help, v) => `# HELP ${name} ${help}\n# TYPE ${name} gauge\n${name} ${v}\n`;
    const counter = (name, help, v) => `# HELP ${name} ${help}\n# TYPE ${name} counter\n${name} ${v}\n`;
    const used = this.usedBlocks();
    const cached = Math.min(this.cached, this.kvTotal - used);
    const free = this.kvTotal - used;
    out += gauge('flux_requests_running', 'Sequences in the running batch', this.running.length);
    out += gauge('flux_requests_waiting', 'Sequences waiting to be scheduled', this.waiting.length);
    out += '# HELP flux_kv_blocks KV cache blocks by state\n# TYPE flux_kv_blocks gauge\n';
    out += `flux_kv_blocks{state="used"} ${used}\nflux_kv_blocks{state="free"} ${free}\nflux_kv_blocks{state="cached"} ${cached}\n`;
    out += gauge('flux_kv_blocks_total', 'KV cache blocks in the pool', this.kvTotal);
    out += gauge('flux_prefix_cache_hit_rate', 'Prompt tokens found in the prefix cache / looked up',
      this.prefixLooked ? this.prefixHit / this.prefixLooked : 0);
    const windowS = 3;
    const tps = this.recent.length / windowS;
    out += gauge('flux_generation_tokens_per_second', 'Generated tokens per second over the last seconds', tps);
    out += counter('flux_prompt_tokens_total', 'Prompt tokens computed (recomputation included)', this.promptTokens);
    out += counter('flux_generation_tokens_total', 'Tokens generated', this.generatedTokens);
    out += counter('flux_preemptions_total', 'Sequences preempted for lack of KV blocks', this.preemptions);
    if (this.speculative)
      out += gauge('flux_speculative_acceptance_rate', 'Draft tokens accepted / proposed', this.drafted ? this.accepted / this.drafted : 0);
    return out;
  }
}

function readBody(req, limit = 1 << 20) {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks = [];
    req.on('data', (c) => {
      size += c.length;
      if (size > limit) { reject(new Error('body too large')); req.destroy(); return; }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function sendJson(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

// Starts the fake server; resolves to {url, port, engine, close()}.
export async function startFakeServer({ port = 0, host = '127.0.0.1', background = true, speculative = false,
  model = 'stories260K-fake' } = {}) {
  const engine = new FakeEngine({ speculative });
  const created = Math.floor(Date.now() / 1000);
  let nextId = 1;

  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url, 'http://x');
    try {
      if (req.method === 'GET' && (url.pathname === '/' || url.pathname === '/index.html')) {
        const html = fs.readFileSync(DASHBOARD_PATH);
        res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
        res.end(html);
      } else if (req.method === 'GET' && url.pathname === '/metrics') {
        const text = engine.render();
        res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4' });
        res.end(text);
      } else if (req.method === 'GET' && url.pathname === '/health') {
        sendJson(res, 200, { status: 'ok' });
      } else if (req.method === 'GET' && url.pathname === '/v1/models') {
        sendJson(res, 200, { object: 'list', data: [{ id: model, object: 'model', created, owned_by: 'fluxinfer' }] });
      } else if (req.method === 'POST' && (url.pathname === '/v1/completions' || url.pathname === '/v1/chat/completions')) {
        const endpoint = url.pathname === '/v1/completions' ? 'completions' : 'chat_completions';
        let body;
        try {
          body = JSON.parse(await readBody(req));
        } catch {
          engine.countRequest(endpoint, 400);
          sendJson(res, 400, { error: { message: 'invalid JSON', type: 'invalid_request_error' } });
          return;
        }
        const maxTokens = Math.max(1, Math.min(256, Number(body.max_tokens) || 16));
        const prompt = String(body.prompt ?? JSON.stringify(body.messages ?? ''));
        const id = `cmpl-fake-${nextId++}`;
        engine.countRequest(endpoint, 200);
        const stream = !!body.stream;
        let text = '';
        if (stream) res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' });
        const seq = engine.add({
          promptTokens: Math.max(1, Math.ceil(prompt.length / 4)),
          maxTokens,
          onToken: (tok) => {
            text += tok;
            if (stream && !res.writableEnded)
              res.write(`data: ${JSON.stringify({ id, object: 'text_completion', created, model, choices: [{ index: 0, text: tok, finish_reason: null }] })}\n\n`);
          },
          onDone: () => {
            if (res.writableEnded) return;
            if (stream) {
              res.write(`data: ${JSON.stringify({ id, object: 'text_completion', created, model, choices: [{ index: 0, text: '', finish_reason: 'length' }] })}\n\n`);
              res.end('data: [DONE]\n\n');
            } else {
              sendJson(res, 200, { id, object: 'text_completion', created, model,
                choices: [{ index: 0, text, finish_reason: 'length' }],
                usage: { prompt_tokens: seq.promptTokens, completion_tokens: seq.generated, total_tokens: seq.promptTokens + seq.generated } });
            }
          },
        });
        res.on('close', () => {
          // the client went away: drop the sequence
          if (seq.generated < seq.maxTokens) {
            for (const list of [engine.waiting, engine.running]) {
              const i = list.indexOf(seq);
              if (i >= 0) list.splice(i, 1);
            }
          }
        });
      } else {
        sendJson(res, 404, { error: { message: `no route for ${req.method} ${url.pathname}`, type: 'invalid_request_error' } });
      }
    } catch (e) {
      if (!res.headersSent) sendJson(res, 500, { error: { message: String(e), type: 'server_error' } });
      else res.end();
    }
  });

  // simulated engine steps, plus optional background traffic with a slow wave in its rate
  let last = performance.now() / 1000;
  const started = last;
  const ticker = setInterval(() => {
    const t = performance.now() / 1000;
    const dt = t - last;
    last = t;
    if (background) {
      const ratePerS = 2.2 + 1.8 * Math.sin((t - started) / 12);   // requests per second
      if (Math.random() < ratePerS * dt) {
        const status = Math.random() < 0.04 ? (Math.random() < 0.5 ? 400 : 503) : 200;
        const endpoint = Math.random() < 0.6 ? 'chat_completions' : 'completions';
        engine.countRequest(endpoint, status);
        if (status === 200)
          engine.add({ promptTokens: 20 + Math.floor(Math.random() * 200), maxTokens: 16 + Math.floor(Math.random() * 120) });
      }
    }
    engine.step(dt);
  }, 50);
  ticker.unref();

  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  const actualPort = server.address().port;
  return {
    url: `http://${host}:${actualPort}`,
    port: actualPort,
    engine,
    close: () => new Promise((resolve) => {
      clearInterval(ticker);
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const opt = (name, dflt) => {
    const i = args.indexOf(name);
    return i >= 0 && i + 1 < args.length ? args[i + 1] : dflt;
  };
  const srv = await startFakeServer({
    port: Number(opt('--port', 8089)),
    host: opt('--host', '127.0.0.1'),
    background: !args.includes('--no-background'),
    speculative: args.includes('--speculative'),
  });
  console.log(`fake flux server: ${srv.url}/  (dashboard), ${srv.url}/metrics`);
  const stop = async () => { await srv.close(); process.exit(0); };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}
