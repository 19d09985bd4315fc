// Helpers for the Node integration tests of `flux serve`: where the binary and the models are,
// starting a server on a free loopback port, raw HTTP requests, Server-Sent Events parsing and
// Prometheus /metrics parsing.
//
// Environment:
//   FLUX_BIN         the flux binary (default build/apps/flux/flux under the repo root)
//   FLUX_SHARED_DIR  holds models/stories260K.gguf (default ../shared beside the repo root)

import { spawn, execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';

const execFileAsync = promisify(execFile);

const here = path.dirname(fileURLToPath(import.meta.url));
export const repoRoot = path.resolve(here, '../..');
export const FLUX_BIN = process.env.FLUX_BIN
  ? path.resolve(process.env.FLUX_BIN)
  : path.join(repoRoot, 'build/apps/flux/flux');
export const SHARED_DIR = process.env.FLUX_SHARED_DIR
  ? path.resolve(process.env.FLUX_SHARED_DIR)
  : path.resolve(repoRoot, '../shared');
export const STORIES_MODEL = path.join(SHARED_DIR, 'models/stories260K.gguf');

// Runs `flux ARGS...` to completion; returns {stdout, stderr} (stdout as a Buffer when raw).
export async function runFlux(args, { raw = false, timeoutMs = 60_000 } = {}) {
  const { stdout, stderr } = await execFileAsync(FLUX_BIN, args, {
    encoding: raw ? 'buffer' : 'utf8',
    timeout: timeoutMs,
    maxBuffer: 64 << 20,
  });
  return { stdout, stderr: stderr.toString() };
}

export function makeTempDir() {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'flux-openai-test-'));
}

// A random-weight model with a byte vocabulary: `flux make-model --preset tiny --type q8_0`.
export async function makeTinyModel(dir, { seed = 42 } = {}) {
  const out = path.join(dir, 'tiny.gguf');
  await runFlux(['make-model', '--preset', 'tiny', '--type', 'q8_0', '--seed', String(seed), '-t', '1', '-o', out]);
  return out;
}

// Token ids of `text` as the server's tokenizer makes them (BOS included): `flux tokenize --ids`.
export async function tokenize(model, text) {
  const { stdout } = await runFlux(['tokenize', '-m', model, '--ids', '--', text]);
  return JSON.parse(stdout);
}

// Servers still running when this process exits (a failed or timed-out test) are killed with it.
const live = new Set();
process.on('exit', () => {
  for (const proc of live) if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
});

// `flux serve` as a child process on a free loopback port (--port 0: the server picks one and
// prints it). start() resolves once GET /health answers 200; every /health status seen on the way
// is kept in healthSeen (a 503 {"status":"loading"} while the model loads, if it was caught).
export class FluxServer {
  constructor({ model, args = [], name = path.basename(model) } = {}) {
    this.model = model;
    this.args = args;
    this.name = name;
    this.proc = null;
    this.log = '';
    this.url = null;
    this.healthSeen = [];
  }

  get baseURL() {
    return `${this.url}/v1`;
  }

  async start({ timeoutMs = 60_000 } = {}) {
    if (!fs.existsSync(FLUX_BIN)) throw new Error(`no flux binary at ${FLUX_BIN} (build it, or set FLUX_BIN)`);
    if (!fs.existsSync(this.model)) throw new Error(`no model at ${this.model} (set FLUX_SHARED_DIR)`);
    const args = ['serve', '-m', this.model, '--host', '127.0.0.1', '--port', '0', ...this.args];
    const proc = spawn(FLUX_BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc = proc;
    live.add(proc);
    proc.once('exit', () => live.delete(proc));
    this.exited = new Promise((resolve) => {
      proc.once('exit', (code, signal) => resolve({ code, signal }));
      proc.once('error', (e) => resolve({ code: null, signal: null, error: e.message }));
    });
    let exitInfo = null;
    this.exited.then((info) => { exitInfo = info; });

    let onListening;
    const listening = new Promise((resolve) => { onListening = resolve; });
    const keep = (chunk) => {
      this.log = (this.log + chunk.toString('latin1')).slice(-50_000);
      const m = /flux serve: listening on (http:\/\/[^\s:]+:(\d+))/.exec(this.log);
      if (m && !this.url) {
        this.url = m[1];
        this.port = Number(m[2]);
        onListening();
      }
    };
    proc.stdout.on('data', keep);
    proc.stderr.on('data', keep);

    const deadline = Date.now() + timeoutMs;
    const fail = (what) => new Error(`flux serve ${what}\n--- ${FLUX_BIN} ${args.join(' ')} ---\n${this.log}`);
    await Promise.race([
      listening,
      this.exited.then((info) => { throw fail(`exited before listening (${JSON.stringify(info)})`); }),
      sleep(timeoutMs, null, { ref: false }).then(() => { throw fail('printed no "listening on" line'); }),
    ]);
    // Poll /health at once and tightly: a 503 while the model loads is recorded when caught.
    for (;;) {
      if (exitInfo) throw fail(`exited while starting (${JSON.stringify(exitInfo)})`);
      try {
        const res = await fetch(`${this.url}/health`, { signal: AbortSignal.timeout(2000) });
        const body = await res.text();
        this.healthSeen.push({ status: res.status, body });
        if (res.status === 200) break;
      } catch (e) {
        this.healthSeen.push({ status: 0, body: String(e) });
      }
      if (Date.now() > deadline) throw fail('never answered GET /health with 200');
      await sleep(5);
    }
    return this;
  }

  get running() {
    return this.proc && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  // SIGTERM, then SIGKILL after graceMs. Resolves with {code, signal}.
  async stop({ graceMs = 15_000 } = {}) {
    if (!this.proc) return null;
    if (this.running) this.proc.kill('SIGTERM');
    const done = await Promise.race([this.exited, sleep(graceMs, null, { ref: false })]);
    if (done) return done;
    this.proc.kill('SIGKILL');
    return this.exited;
  }
}

// fetch with JSON in and out; never throws on an HTTP error status. body: a string or Buffer is
// sent as is, anything else as JSON.
export async function request(server, method, route, { body, headers = {}, apiKey = server.apiKey, signal } = {}) {
  const h = { ...headers };
  if (apiKey && !('authorization' in Object.fromEntries(Object.entries(h).map(([k, v]) => [k.toLowerCase(), v]))))
    h.Authorization = `Bearer ${apiKey}`;
  let payload;
  if (body !== undefined) {
    payload = typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body);
    if (!Object.keys(h).some((k) => k.toLowerCase() === 'content-type')) h['Content-Type'] = 'application/json';
  }
  const res = await fetch(`${server.url}${route}`, {
    method,
    headers: h,
    body: payload,
    signal: signal ?? AbortSignal.timeout(60_000),
  });
  const text = await res.text();
  let json = null;
  try {
    json = JSON.parse(text);
  } catch {
    // not JSON: json stays null
  }
  return { status: res.status, headers: res.headers, text, json };
}

// Parses a Server-Sent Events body into its data payloads (strings, '[DONE]' included).
export function sseData(text) {
  const out = [];
  for (const event of text.split(/\n\n/)) {
    const lines = event.split('\n').filter((l) => l.startsWith('data:'));
    if (lines.length) out.push(lines.map((l) => l.slice(5).replace(/^ /, '')).join('\n'));
  }
  return out;
}

// Prometheus text exposition into {'name{labels}': value}.
export function parseMetrics(text) {
  const out = {};
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    out[line.slice(0, i)] = Number(line.slice(i + 1));
  }
  return out;
}

export async function metrics(server) {
  const res = await fetch(`${server.url}/metrics`, { signal: AbortSignal.timeout(5000) });
  return parseMetrics(await res.text());
}

// Polls fn until it returns something truthy or timeoutMs passes; returns the last value.
export async function poll(fn, { timeoutMs = 1000, intervalMs = 20 } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v || Date.now() >= deadline) return v;
    await sleep(intervalMs);
  }
}
