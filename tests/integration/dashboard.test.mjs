// Browser test of the `flux serve` dashboard (GET /, src/server/dashboard.html): starts the
// server on the tiny stories260K model, opens the page in headless Chromium, puts streaming
// completions load on the server, and checks that the charts draw and the numbers move, that the
// connection indicator shows a lost server and recovers, and saves a screenshot.
//
//   node --test tests/integration/dashboard.test.mjs
//
// Environment:
//   FLUX_BIN             the flux binary (default build/apps/flux/flux under the repo root)
//   FLUX_SHARED_DIR      holds models/stories260K.gguf (default ../shared beside the repo root)
//   FLUX_SCREENSHOT_DIR  where dashboard.png goes (default build/test-artifacts under the repo root)
//   FLUX_CHROMIUM        the browser (default /usr/bin/chromium, Debian's `chromium` package)
//   FLUX_DASHBOARD_FAKE  1: test the page against dashboard_fake_server.mjs instead of flux
//   FLUX_DASHBOARD_HTML  a file the browser gets for GET / instead of the page compiled into flux
//                        (e.g. src/server/dashboard.html: try page edits without rebuilding)
//
// Needs: Debian package `chromium`, and `npm ci` (or `npm install`) in tests/integration.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '../..');
const FAKE = ['1', 'true', 'yes'].includes(String(process.env.FLUX_DASHBOARD_FAKE || '').toLowerCase());
const FLUX_BIN = process.env.FLUX_BIN ? path.resolve(process.env.FLUX_BIN) : path.join(repoRoot, 'build/apps/flux/flux');
const SHARED_DIR = process.env.FLUX_SHARED_DIR ? path.resolve(process.env.FLUX_SHARED_DIR) : path.resolve(repoRoot, '../shared');
const MODEL = path.join(SHARED_DIR, 'models/stories260K.gguf');
const SCREENSHOT_DIR = process.env.FLUX_SCREENSHOT_DIR
  ? path.resolve(process.env.FLUX_SCREENSHOT_DIR)
  : path.join(repoRoot, 'build/test-artifacts');
const CHROMIUM = process.env.FLUX_CHROMIUM || '/usr/bin/chromium';
const PAGE_OVERRIDE = process.env.FLUX_DASHBOARD_HTML ? path.resolve(process.env.FLUX_DASHBOARD_HTML) : null;

const CHART_IDS = ['chart-throughput', 'chart-running', 'chart-kv', 'chart-ttft'];

// ---- helpers ------------------------------------------------------------------------------------

async function freePort() {
  const srv = net.createServer();
  await new Promise((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', resolve);
  });
  const { port } = srv.address();
  await new Promise((resolve) => srv.close(resolve));
  return port;
}

async function waitFor(what, fn, { timeoutMs = 30_000, intervalMs = 250 } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${last})`);
    await sleep(intervalMs);
  }
}

async function httpStatus(url) {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
    await res.arrayBuffer();
    return res.status;
  } catch {
    return 0;
  }
}

// `flux serve` as a child process; start() can be called again after stop() (same port).
class FluxServer {
  constructor(port) {
    this.port = port;
    this.url = `http://127.0.0.1:${port}`;
    this.proc = null;
    this.log = '';
  }

  async start() {
    const args = ['serve', '-m', MODEL, '--port', String(this.port), '--host', '127.0.0.1'];
    const proc = spawn(FLUX_BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc = proc;
    this.exited = new Promise((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })));
    let exitInfo = null;
    this.exited.then((info) => { exitInfo = info; });
    const keep = (chunk) => { this.log = (this.log + chunk.toString()).slice(-20_000); };
    proc.stdout.on('data', keep);
    proc.stderr.on('data', keep);
    proc.once('error', (e) => { exitInfo = { error: e.message }; });
    await waitFor('GET /health to answer 200', async () => {
      if (exitInfo) throw new Error(`flux serve exited early (${JSON.stringify(exitInfo)}):\n${this.log}`);
      return (await httpStatus(`${this.url}/health`)) === 200;
    }, { timeoutMs: 90_000, intervalMs: 200 }).catch((e) => {
      throw new Error(`${e.message}\n--- flux serve output ---\n${this.log}`);
    });
  }

  async stop() {
    const proc = this.proc;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    proc.kill('SIGTERM');
    const done = await Promise.race([this.exited, sleep(15_000, null, { ref: false })]);
    if (!done) {
      proc.kill('SIGKILL');
      await this.exited;
    }
  }

  killNow() {
    if (this.proc && this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill('SIGKILL');
  }
}

// The dev-only fake server, same interface.
class FakeServer {
  constructor(port) {
    this.port = port;
    this.url = `http://127.0.0.1:${port}`;
    this.srv = null;
    this.log = '';
  }
  async start() {
    const { startFakeServer } = await import('./dashboard_fake_server.mjs');
    this.srv = await startFakeServer({ port: this.port, host: '127.0.0.1', background: false });
  }
  async stop() {
    if (this.srv) await this.srv.close();
    this.srv = null;
  }
  killNow() {}
}

// Streaming completions in a few loops until stop(); bounded in count and time.
function startLoad(baseUrl, { concurrency = 3, maxRequests = 5000, maxSeconds = 150 } = {}) {
  const state = { started: 0, completed: 0, failed: 0, chunks: 0, lastError: '', stopped: false };
  const controllers = new Set();
  const deadline = Date.now() + maxSeconds * 1000;
  const body = JSON.stringify({ prompt: 'Once upon a time', max_tokens: 40, stream: true, temperature: 0 });

  async function worker() {
    while (!state.stopped && Date.now() < deadline && state.started < maxRequests) {
      state.started++;
      const ctl = new AbortController();
      controllers.add(ctl);
      try {
        const res = await fetch(`${baseUrl}/v1/completions`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json', Accept: 'text/event-stream' },
          body,
          signal: ctl.signal,
        });
        if (!res.ok) {
          state.failed++;
          state.lastError = `HTTP ${res.status}: ${(await res.text()).slice(0, 200)}`;
          await sleep(200);
          continue;
        }
        const reader = res.body.getReader();
        const decoder = new TextDecoder();
        let buf = '';
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          buf += decoder.decode(value, { stream: true });
          let i;
          while ((i = buf.indexOf('\n\n')) >= 0) {
            if (buf.slice(0, i).startsWith('data:')) state.chunks++;
            buf = buf.slice(i + 2);
          }
        }
        state.completed++;
      } catch (e) {
        if (!state.stopped) {
          state.failed++;
          state.lastError = String(e && e.message ? e.message : e);
          await sleep(200);
        }
      } finally {
        controllers.delete(ctl);
      }
    }
  }

  const workers = Array.from({ length: concurrency }, () => worker());
  state.stop = async () => {
    state.stopped = true;
    for (const c of controllers) c.abort();
    await Promise.allSettled(workers);
  };
  return state;
}

// What the page shows now, read from the DOM.
async function readDashboard(page) {
  return page.evaluate((chartIds) => {
    const val = (id) => {
      const el = document.getElementById(id);
      if (!el) return null;
      return { text: el.textContent.trim(), value: el.dataset.value === '' || el.dataset.value === undefined ? null : Number(el.dataset.value) };
    };
    const points = {};
    for (const id of chartIds) points[id] = Number(document.getElementById(id)?.dataset.points ?? NaN);
    return {
      connection: document.getElementById('conn-status')?.dataset.state,
      model: document.getElementById('model-name')?.textContent.trim(),
      throughput: val('throughput-value'),
      running: val('running-value'),
      waiting: val('waiting-value'),
      kvUsed: val('kv-used-value'),
      kvTotal: val('kv-total-blocks'),
      prefixHit: val('prefix-hit-value'),
      spec: val('spec-accept-value'),
      ttftP50: val('ttft-p50-value'),
      ttftP99: val('ttft-p99-value'),
      itlP50: val('itl-p50-value'),
      gen: val('gen-tokens-value'),
      requestsTotal: val('requests-total-value'),
      latencyWindow: document.getElementById('latency-window')?.textContent.trim(),
      statusRows: [...document.querySelectorAll('#requests-body tr[data-status]')].map((tr) => ({
        endpoint: tr.dataset.endpoint, status: tr.dataset.status, count: Number(tr.dataset.count),
      })),
      points,
    };
  }, CHART_IDS);
}

// Per canvas: how many pixels are painted at all, and how many in a saturated (series) colour,
// as opposed to the grey grid and labels.
async function canvasPixels(page) {
  return page.evaluate((chartIds) => {
    const out = {};
    for (const id of chartIds) {
      const c = document.getElementById(id);
      const { data } = c.getContext('2d').getImageData(0, 0, c.width, c.height);
      let painted = 0, colored = 0;
      for (let i = 0; i < data.length; i += 4) {
        const [r, g, b, a] = [data[i], data[i + 1], data[i + 2], data[i + 3]];
        if (a > 0) painted++;
        if (a > 120 && Math.max(r, g, b) - Math.min(r, g, b) > 60) colored++;
      }
      out[id] = { width: c.width, height: c.height, painted, colored };
    }
    return out;
  }, CHART_IDS);
}

// ---- the test -----------------------------------------------------------------------------------

let server = null;
let browser = null;
let load = null;
const pageErrors = [];

after(async () => {
  // Always: stop the load, close the browser, stop the server.
  if (load) await load.stop().catch(() => {});
  if (browser) await browser.close().catch(() => {});
  if (server) await server.stop().catch(() => server.killNow());
});
process.on('exit', () => { if (server) server.killNow(); });

test(`dashboard (${FAKE ? 'fake server' : 'flux serve'})`, { timeout: 300_000 }, async (t) => {
  if (!FAKE) {
    assert.ok(fs.existsSync(FLUX_BIN), `no flux binary at ${FLUX_BIN} (build it, or set FLUX_BIN)`);
    assert.ok(fs.existsSync(MODEL), `no model at ${MODEL} (set FLUX_SHARED_DIR)`);
  }
  assert.ok(fs.existsSync(CHROMIUM), `no browser at ${CHROMIUM}: apt-get install -y chromium (or set FLUX_CHROMIUM)`);

  const port = await freePort();
  server = FAKE ? new FakeServer(port) : new FluxServer(port);
  await server.start();

  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
  const page = await browser.newPage({ viewport: { width: 1440, height: 1000 } });
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  if (PAGE_OVERRIDE) {
    await page.route(`${server.url}/`, (route) =>
      route.fulfill({ status: 200, contentType: 'text/html; charset=utf-8', body: fs.readFileSync(PAGE_OVERRIDE) }));
  }
  await page.goto(`${server.url}/`, { waitUntil: 'load' });
  fs.mkdirSync(SCREENSHOT_DIR, { recursive: true });
  const screenshot = path.join(SCREENSHOT_DIR, 'dashboard.png');

  await t.test('connects and names the model', async () => {
    await waitFor('the connection indicator to show connected', async () =>
      (await readDashboard(page)).connection === 'connected', { timeoutMs: 15_000 });
    const model = await waitFor('the model name', async () => {
      const m = (await readDashboard(page)).model;
      return m && m !== '—' && m !== 'unknown' ? m : null;
    }, { timeoutMs: 15_000 });
    const listed = await (await fetch(`${server.url}/v1/models`)).json();
    assert.equal(model, listed.data[0].id);
    assert.equal(await page.locator('#conn-text').textContent(), 'connected');
  });

  await t.test('charts and numbers update under load', async () => {
    try {
      await underLoad();
    } catch (e) {
      await page.screenshot({ path: path.join(SCREENSHOT_DIR, 'dashboard-failure.png'), fullPage: true }).catch(() => {});
      throw e;
    }
  });

  async function underLoad() {
    const first = await readDashboard(page);
    const gen0 = first.gen.value ?? 0;
    load = startLoad(server.url);

    const started = Date.now();
    let maxThroughput = 0;
    let sawTtft = false;
    let last = first;
    const met = () => {
      const grown = CHART_IDS.every((id) => last.points[id] >= first.points[id] + 6 || last.points[id] >= 100);
      return grown && maxThroughput > 0 && (last.gen.value ?? 0) > gen0 && sawTtft && Date.now() - started > 12_000;
    };
    while (!met() && Date.now() - started < 60_000) {
      await sleep(500);
      last = await readDashboard(page);
      if (last.throughput.value > maxThroughput) maxThroughput = last.throughput.value;
      if (last.ttftP50.value != null) sawTtft = true;
    }
    const detail = `\nfirst: ${JSON.stringify(first)}\nlast: ${JSON.stringify(last)}\nload: ${JSON.stringify(load)}\n${server.log.slice(-2000)}`;

    assert.ok(load.completed > 0, `no completion request finished: ${load.lastError}${detail}`);
    for (const id of CHART_IDS)
      assert.ok(last.points[id] > first.points[id] || last.points[id] >= 100, `#${id} data-points did not grow${detail}`);
    assert.ok(maxThroughput > 0, `throughput never went above 0${detail}`);
    assert.ok(last.gen.value > gen0, `generated tokens did not increase${detail}`);
    assert.ok(sawTtft, `TTFT p50 never shown${detail}`);
    assert.ok(last.itlP50.value != null, `inter-token latency p50 not shown${detail}`);
    assert.match(last.ttftP50.text, /^\d+(\.\d+)? (ms|s)$/);
    assert.ok(last.ttftP99.value >= last.ttftP50.value, `p99 < p50${detail}`);
    assert.ok(last.requestsTotal.value > 0, `no requests counted${detail}`);
    assert.ok(last.statusRows.some((r) => r.endpoint === 'completions' && r.status === '200' && r.count > 0),
      `no completions/200 row in the status table${detail}`);
    assert.ok(last.running.value != null && last.waiting.value != null, `running/waiting not shown${detail}`);
    assert.ok(last.kvUsed.value != null && last.kvUsed.value >= 0 && last.kvUsed.value <= 100, `KV use not a percentage${detail}`);
    assert.ok(last.prefixHit.value != null, `prefix-cache hit rate not shown${detail}`);

    // The page agrees with /metrics where the value is steady.
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    const kvTotal = Number(/^flux_kv_blocks_total (\S+)$/m.exec(metrics)?.[1]);
    assert.equal(last.kvTotal.value, kvTotal);
    if (/^flux_speculative_acceptance_rate /m.test(metrics)) assert.notEqual(last.spec.text, 'n/a');
    else assert.equal(last.spec.text, 'n/a');

    // The canvases carry drawn series, not only the grid.
    const pixels = await canvasPixels(page);
    for (const id of CHART_IDS) {
      assert.ok(pixels[id].width > 100 && pixels[id].height > 100, `#${id} has no size: ${JSON.stringify(pixels[id])}`);
      assert.ok(pixels[id].colored > 50, `#${id} looks blank: ${JSON.stringify(pixels[id])}`);
    }

    await page.screenshot({ path: screenshot, fullPage: true });
    t.diagnostic(`screenshot: ${screenshot}`);
    t.diagnostic(`load: ${load.completed} requests completed, ${load.failed} failed; max throughput shown ${maxThroughput} tok/s`);
    await load.stop();
  }

  await t.test('shows disconnected when the server goes away, and recovers', async () => {
    await server.stop();
    await waitFor('the indicator to show disconnected', async () => {
      const s = await readDashboard(page);
      return s.connection === 'disconnected' && (await page.locator('#conn-text').textContent()) === 'disconnected';
    }, { timeoutMs: 15_000 });
    await server.start();
    await waitFor('the indicator to show connected again', async () =>
      (await readDashboard(page)).connection === 'connected', { timeoutMs: 20_000 });
    const pointsAfter = (await readDashboard(page)).points['chart-throughput'];
    await sleep(2500);
    assert.ok((await readDashboard(page)).points['chart-throughput'] > pointsAfter, 'charts stopped updating after reconnecting');
  });

  if (pageErrors.length) {
    await page.screenshot({ path: path.join(SCREENSHOT_DIR, 'dashboard-failure.png'), fullPage: true }).catch(() => {});
  }
  assert.deepEqual(pageErrors, [], 'uncaught errors in the page');
});
