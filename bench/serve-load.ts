// Load test for `ganomaly serve`: throughput and latency with micro-batching on and off, then an
// overload at 2× the measured capacity with a small queue (only 503s beyond capacity, no accepted
// request lost, memory flat). The server runs in a child process; the load generator is a small
// keep-alive HTTP client here (closed loop for capacity, open loop for overload).
// Run:
//   npx esbuild bench/serve-load.ts --bundle --platform=node --format=esm --packages=external \
//     --outfile=.tmp/serve-load.mjs && node .tmp/serve-load.mjs [seconds=6]
// Model: the first folder under models/ with a manifest.json, else one exported from a short
// training run (32×32×1, nz 100, ngf 64: the realistic size), cached in bench/tmp/.
// The session runs in a worker thread (serve's default) except in the runs named "main", which
// use --session-in-main-thread; the overload runs once each way.
// Hostile scenarios (issue 13), run alone with `node .tmp/serve-load.mjs hostile`: 64 and 128
// concurrent uploads of a ~100 KB PNG that decodes to 4900×4900 RGBA, and 260 slow senders
// (1 byte/s) next to 47 legitimate requests; server defaults throughout, plus --health-port.
// Each flood runs SERVE_LOAD_TRIALS times (default 5), each on a fresh server. Peak RSS is the
// child's VmHWM; /healthz is probed every 20 ms on the health port and on the main port, each
// from a process of its own. Writes bench/results/serve-hostile.json.
// Attack scenarios (issue 23), run alone with `node .tmp/serve-load.mjs attack` (a few minutes):
// decode-cost (peak RSS of one decode, in a fresh process, against what the decode budget reserves
// for it, per format and option), idle-socket (130 idle connections held on the health port,
// reopened as soon as the server closes one, while a prober opens a fresh connection every 250 ms),
// cheap-decode (6 clients looping WebPs of ~1 KB that decode to 10000×1525, next to one legitimate
// client), and budget-vs-RSS floods with server defaults. Writes bench/results/serve-attack.json;
// SERVE_ATTACK_ONLY=decodeCost,idleSockets,cheapDecode runs only those and prints them.
// Environment: SERVE_LOAD_SESSION='{"intraOpNumThreads":1}' passes ORT session options to the
// server; SERVE_LOAD_CLOSED_ONLY=1 skips the overload phase (and writes no results file).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { startServer, type ServeOptions } from '../src/gateway/serve/server.js';

const SECONDS = Number(process.argv[2] ?? 6) || 6;
const WARMUP_S = 1;
const OVERLOAD_SOCKETS = 256;
const CACHE = path.resolve('bench/tmp/serve-load-model');


async function findOrMakeModel(): Promise<string> {
  if (existsSync('models')) {
    for (const d of (await fs.readdir('models')).sort()) if (existsSync(path.join('models', d, 'manifest.json'))) return path.resolve('models', d);
  }
  if (existsSync(path.join(CACHE, 'manifest.json'))) return CACHE;
  process.stderr.write('no model under models/: training a few steps (ngf 64) and exporting to bench/tmp/ …\n');
  const { train, DEFAULT_TRAIN_CONFIG } = await import('../src/train/index.js');
  const { exportRun } = await import('../src/export/index.js');
  const runDir = path.resolve('bench/tmp/serve-load-run');
  await fs.rm(runDir, { recursive: true, force: true });
  await train({
    ...DEFAULT_TRAIN_CONFIG, data: 'fashion-mnist', abnormalClass: '0', out: runDir, epochs: 1, batchSize: 32, maxImages: 200,
    backend: 'wasm', model: { isize: 32, nc: 1, nz: 100, ngf: 64, ndf: 64, scoreKind: 'l2' },
  });
  await exportRun(runDir, { out: CACHE, name: 'serve-load-ngf64', backend: 'wasm', force: true });
  return CACHE;
}

async function payloads(isize: number, nc: number, n = 32): Promise<Buffer[]> {
  return Promise.all(Array.from({ length: n }, (_, k) => {
    const data = Buffer.alloc(isize * isize * nc);
    for (let i = 0; i < data.length; i++) data[i] = (Math.sin(i * 0.07 + k) * 90 + 128 + ((i * 2654435761 + k) % 31)) & 255;
    return sharp(data, { raw: { width: isize, height: isize, channels: nc as 1 | 3 } }).png().toBuffer();
  }));
}

interface Child {
  url: string;
  /** The health port's URL, when the child was started with healthPort. */
  healthUrl?: string;
  proc: ChildProcess;
  /** Memory after a full GC, reported by the child on SIGUSR2. */
  afterGc: { rss: number; heap: number; loopDelayMs?: { p50: number; p99: number; max: number } }[];
}

async function startChild(opts: Partial<ServeOptions>): Promise<Child> {
  const proc = spawn(process.execPath, ['--expose-gc', ...(process.env.SERVE_LOAD_NODE_ARGS?.split(' ').filter(Boolean) ?? []), process.argv[1]!, '--child', JSON.stringify(opts)], { stdio: ['pipe', 'pipe', 'inherit'] });
  const afterGc: Child['afterGc'] = [];
  const first = await new Promise<string>((resolve, reject) => {
    let buf = '';
    proc.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.includes('"url"')) resolve(line);
        else if (line.startsWith('{')) afterGc.push(JSON.parse(line) as Child['afterGc'][number]);
        else if (process.env.SERVE_LOAD_CHILD_STDOUT) process.stderr.write(`child: ${line}\n`);
      }
    });
    proc.on('exit', (code) => reject(new Error(`server child exited with ${code}`)));
  });
  const { url, healthUrl } = JSON.parse(first) as { url: string; healthUrl?: string };
  return { url, healthUrl, proc, afterGc };
}

async function stopChild(c: Child): Promise<number | null> {
  const exited = new Promise<number | null>((r) => c.proc.on('exit', (code) => r(code)));
  c.proc.kill('SIGTERM');
  return exited;
}

const connectionErrors = new Map<string, number>();

function post(agent: http.Agent, url: string, body: Buffer): Promise<number> {
  return new Promise((resolve) => {
    const req = http.request(`${url}/v1/score`, { method: 'POST', agent, headers: { 'content-type': 'image/png', 'content-length': body.length } }, (res) => {
      res.resume().on('end', () => resolve(res.statusCode!));
    });
    req.on('error', (e: NodeJS.ErrnoException) => {
      const code = e.code ?? e.message;
      connectionErrors.set(code, (connectionErrors.get(code) ?? 0) + 1);
      resolve(-1); // a connection error: counted as lost
    });
    req.end(body);
  });
}

async function scrape(url: string): Promise<string> {
  const r = await fetch(`${url}/metrics`);
  return r.text();
}

const metricValue = (text: string, series: string) => Number(/^(\S+) (\S+)$/m.exec(text.split('\n').find((l) => l.startsWith(`${series} `)) ?? '')?.[2] ?? NaN);

function pct(sorted: number[], p: number): number {
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

interface Tally {
  throughput: number;
  p50: number;
  p99: number;
  ok: number;
  rejected: number;
  other: number;
  lost: number;
  meanBatch: number;
  rejectP50?: number;
  rejectP99?: number;
}

function tally(lat: Map<number, number[]>, counts: Map<number, number>, seconds: number, meanBatch: number): Tally {
  const ok = (lat.get(200) ?? []).sort((a, b) => a - b);
  const rej = (lat.get(503) ?? []).sort((a, b) => a - b);
  let other = 0;
  for (const [s, n] of counts) if (s !== 200 && s !== 503 && s !== -1) other += n;
  return {
    throughput: ok.length / seconds, p50: pct(ok, 0.5), p99: pct(ok, 0.99), ok: counts.get(200) ?? 0, rejected: counts.get(503) ?? 0,
    other, lost: counts.get(-1) ?? 0, meanBatch, ...(rej.length ? { rejectP50: pct(rej, 0.5), rejectP99: pct(rej, 0.99) } : {}),
  };
}

/** `concurrency` clients, each sending its next request when the last is answered. */
async function closedLoop(url: string, bodies: Buffer[], concurrency: number, seconds: number): Promise<Tally> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const lat = new Map<number, number[]>();
  const counts = new Map<number, number>();
  const t0 = performance.now();
  const measureFrom = t0 + WARMUP_S * 1000;
  const end = measureFrom + seconds * 1000;
  let before = '';
  let k = 0;
  const client = async () => {
    while (performance.now() < end) {
      const s = performance.now();
      const status = await post(agent, url, bodies[k++ % bodies.length]!);
      if (s >= measureFrom && performance.now() <= end) {
        if (!lat.has(status)) lat.set(status, []);
        lat.get(status)!.push(performance.now() - s);
        counts.set(status, (counts.get(status) ?? 0) + 1);
      }
    }
  };
  setTimeout(async () => void (before = await scrape(url)), WARMUP_S * 1000);
  await Promise.all(Array.from({ length: concurrency }, client));
  const after = await scrape(url);
  agent.destroy();
  const batches = metricValue(after, 'ganomaly_batch_size_count') - metricValue(before, 'ganomaly_batch_size_count');
  const images = metricValue(after, 'ganomaly_batch_size_sum') - metricValue(before, 'ganomaly_batch_size_sum');
  return tally(lat, counts, seconds, images / batches);
}

/**
 * Requests at a fixed rate whatever the answers, over at most `sockets` keep-alive connections
 * (as a load balancer's pool would); latency counts from the scheduled send time, so time spent
 * waiting for a free connection is included. RSS of the server is sampled along the way.
 */
async function openLoop(child: Child, bodies: Buffer[], rate: number, seconds: number, sockets: number): Promise<Tally & { rssMiB: number[]; sent: number }> {
  const { url } = child;
  const agent = new http.Agent({ keepAlive: true, maxSockets: sockets });
  const lat = new Map<number, number[]>();
  const counts = new Map<number, number>();
  const inflight: Promise<void>[] = [];
  const rss: number[] = [];
  const t0 = performance.now();
  let sent = 0;
  let k = 0;
  let tick = 0;
  const sampler = setInterval(async () => {
    rss.push(metricValue(await scrape(url), 'process_resident_memory_bytes') / 2 ** 20);
    if (++tick % 6 === 0) child.proc.kill('SIGUSR2'); // every 3 s: memory after a full GC
  }, 500);
  while (performance.now() - t0 < seconds * 1000) {
    const due = Math.floor(((performance.now() - t0) / 1000) * rate);
    for (; sent < due; sent++) {
      const s = t0 + (sent / rate) * 1000;
      inflight.push(post(agent, url, bodies[k++ % bodies.length]!).then((status) => {
        if (!lat.has(status)) lat.set(status, []);
        lat.get(status)!.push(performance.now() - s);
        counts.set(status, (counts.get(status) ?? 0) + 1);
      }));
    }
    await new Promise((r) => setTimeout(r, 1));
  }
  await Promise.all(inflight);
  clearInterval(sampler);
  agent.destroy();
  const elapsed = (performance.now() - t0) / 1000;
  return { ...tally(lat, counts, elapsed, NaN), rssMiB: rss.map((x) => Math.round(x)), sent };
}

async function main(): Promise<void> {
  const modelDir = await findOrMakeModel();
  const manifest = JSON.parse(await fs.readFile(path.join(modelDir, 'manifest.json'), 'utf8')) as { name: string; model: { isize: number; nc: number; ngf: number; nz: number } };
  const bodies = await payloads(manifest.model.isize, manifest.model.nc);
  const session = process.env.SERVE_LOAD_SESSION ? (JSON.parse(process.env.SERVE_LOAD_SESSION) as Record<string, unknown>) : undefined;
  const base: Partial<ServeOptions> = { model: modelDir, executionProviders: ['cpu'], maxQueue: 1024, sessionOptions: session };
  const runs: Record<string, Tally & { config: Partial<ServeOptions>; concurrency: number }> = {};

  const scenarios: [string, Partial<ServeOptions>, number][] = [
    ['off c=1', { maxBatch: 1, maxWaitMs: 0 }, 1],
    ['on c=1', { maxBatch: 32, maxWaitMs: 2 }, 1],
    ['off c=32', { maxBatch: 1, maxWaitMs: 0 }, 32],
    ['on c=32', { maxBatch: 32, maxWaitMs: 2 }, 32],
    ['on c=64', { maxBatch: 32, maxWaitMs: 2 }, 64],
    ['on c=32 main', { maxBatch: 32, maxWaitMs: 2, sessionInWorker: false }, 32],
  ];
  for (const [name, cfg, c] of scenarios) {
    const child = await startChild({ ...base, ...cfg });
    runs[name] = { config: cfg, concurrency: c, ...(await closedLoop(child.url, bodies, c, SECONDS)) };
    await stopChild(child);
    process.stderr.write(`${name}: ${runs[name]!.throughput.toFixed(0)} img/s\n`);
  }

  if (process.env.SERVE_LOAD_CLOSED_ONLY) return void console.log(JSON.stringify(runs, null, 1));
  const capacity = Math.max(runs['on c=32']!.throughput, runs['on c=64']!.throughput);
  const overloadCfg = { maxBatch: 32, maxWaitMs: 2, maxQueue: 64 };
  const f = (x: number, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : '-');
  /** One overload run at 2× capacity; the session in a worker thread (the default) or in the main thread. */
  const overloadRun = async (sessionInWorker: boolean) => {
    connectionErrors.clear();
    const child = await startChild({ ...base, ...overloadCfg, sessionInWorker });
    await closedLoop(child.url, bodies, 8, 1); // warm the session
    const overload = await openLoop(child, bodies, 2 * capacity, SECONDS * 5, OVERLOAD_SOCKETS);
    const exitCode = await stopChild(child);
    // Memory: RSS after a full GC, second quarter of the overload (past warm-up) vs last quarter.
    const gcRss = child.afterGc.map((m) => m.rss / 2 ** 20);
    const q = Math.floor(gcRss.length / 4);
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const rss = {
      maxMiB: Math.max(...overload.rssMiB),
      afterGcMiB: gcRss.map((x) => Math.round(x)),
      afterGcHeapMiB: child.afterGc.map((m) => Math.round(m.heap / 2 ** 10) / 2 ** 10),
      secondQuarterMean: mean(gcRss.slice(q, 2 * q)),
      lastQuarterMean: mean(gcRss.slice(3 * q)),
    };
    console.log(
      `overload (session in ${sessionInWorker ? 'worker thread' : 'main thread'}) at ${f(2 * capacity, 0)} req/s (2× ${f(capacity, 0)}), max-queue ${overloadCfg.maxQueue}: sent ${overload.sent}, 200 ${overload.ok} (${f(overload.throughput, 0)}/s, p99 ${f(overload.p99)} ms), ` +
        `503 ${overload.rejected} (p50 ${f(overload.rejectP50 ?? NaN)}, p99 ${f(overload.rejectP99 ?? NaN)} ms), other ${overload.other}, lost ${overload.lost} ${JSON.stringify(Object.fromEntries(connectionErrors))}; ` +
        `server RSS max ${rss.maxMiB} MiB; after GC ${f(rss.secondQuarterMean)} MiB (2nd quarter) vs ${f(rss.lastQuarterMean)} MiB (last quarter), V8 heap ${f(rss.afterGcHeapMiB.at(-1)!)} MiB; server exit ${exitCode}`,
    );
    return { config: { ...overloadCfg, sessionInWorker }, rate: 2 * capacity, sockets: OVERLOAD_SOCKETS, ...overload, rss, connectionErrors: Object.fromEntries(connectionErrors), serverExitCode: exitCode };
  };

  const rows = Object.entries(runs).map(([n, r]) => `${n.padEnd(15)} ${f(r.throughput, 0).padStart(8)} ${f(r.p50).padStart(8)} ${f(r.p99).padStart(8)} ${f(r.meanBatch).padStart(7)} ${String(r.ok).padStart(7)} ${String(r.rejected + r.other + r.lost).padStart(6)}`);
  console.log(`model ${manifest.name} (isize ${manifest.model.isize}, nc ${manifest.model.nc}, ngf ${manifest.model.ngf}), ${os.cpus().length} CPUs, ${SECONDS} s per run`);
  console.log(`batching             img/s    p50 ms   p99 ms  batch      ok  errors`);
  console.log(rows.join('\n'));
  const overload = await overloadRun(true);
  const overloadMainThread = await overloadRun(false);
  const result = {
    date: new Date().toISOString(), node: process.version, cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, loadavg: os.loadavg(),
    model: { name: manifest.name, ...manifest.model }, payload: `${manifest.model.isize}x${manifest.model.isize}x${manifest.model.nc} PNG`, secondsPerRun: SECONDS,
    closedLoop: runs,
    overload,
    overloadMainThread,
  };
  await fs.mkdir('bench/results', { recursive: true });
  await fs.writeFile('bench/results/serve-load.json', `${JSON.stringify(result, null, 2)}\n`);
  console.log('wrote bench/results/serve-load.json');
}

/** The server side: one server, drained by SIGTERM; it also stops if the parent goes away (stdin closes). */
async function child(): Promise<void> {
  const opts = JSON.parse(process.argv[3]!) as ServeOptions;
  const s = await startServer({ ...opts, port: 0, log: null });
  process.stdout.write(`${JSON.stringify({ url: s.url, healthUrl: s.healthUrl, provider: s.detector.provider })}\n`);
  const stop = () => void s.close().then(() => process.exit(0));
  process.once('SIGTERM', stop);
  process.stdin.on('end', stop).resume();
  // The server's own event-loop delay (what /healthz waits for, without the load generator's share).
  const { monitorEventLoopDelay } = await import('node:perf_hooks');
  const loop = monitorEventLoopDelay({ resolution: 5 });
  loop.enable();
  process.on('SIGUSR2', () => {
    (globalThis as { gc?: () => void }).gc?.();
    const m = process.memoryUsage();
    const loopDelayMs = { p50: loop.percentile(50) / 1e6, p99: loop.percentile(99) / 1e6, max: loop.max / 1e6 };
    loop.reset();
    process.stdout.write(`${JSON.stringify({ rss: m.rss, heap: m.heapUsed, loopDelayMs })}\n`);
  });
}

/** A PNG of a few hundred KB at most that decodes to w×h RGBA: smooth bands compress well. */
async function bombLikePng(w: number, h: number): Promise<Buffer> {
  const row = Buffer.alloc(w * 4);
  for (let x = 0; x < w; x++) row.writeUInt32BE((((x >> 10) + 1) * 2654435761) >>> 0, x * 4);
  const raw = Buffer.alloc(w * h * 4);
  for (let y = 0; y < h; y++) row.copy(raw, y * w * 4);
  return sharp(raw, { raw: { width: w, height: h, channels: 4 } }).png({ compressionLevel: 9 }).toBuffer();
}

/** Peak resident set of a process (VmHWM), in MiB. */
async function peakRssMiB(pid: number): Promise<number> {
  const status = await fs.readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/^VmHWM:\s+(\d+) kB/m.exec(status)![1]) / 1024;
}

/**
 * /healthz probed from a process of its own, so the upload generator's work in this process does
 * not delay the probes' own timing; latencies in ms.
 */
function healthProbeProcess(url: string): { stop(): Promise<number[]> } {
  const proc = spawn(process.execPath, [process.argv[1]!, '--probe', url], { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  const done = new Promise<number[]>((resolve) => proc.on('exit', () => resolve(JSON.parse(out || '[]') as number[])));
  return {
    stop() {
      proc.stdin!.end();
      return done;
    },
  };
}

async function probeMain(url: string): Promise<void> {
  const p = healthProbe(url);
  await new Promise<void>((r) => process.stdin.on('end', r).resume());
  process.stdout.write(JSON.stringify(await p.stop()));
}

/** GETs /healthz every `everyMs` until stopped; latencies in ms (a failure or >20 s counts as 20000). */
function healthProbe(url: string, everyMs = 20): { stop(): Promise<number[]> } {
  const lat: number[] = [];
  const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
  let running = true;
  const pending: Promise<void>[] = [];
  const one = () => new Promise<void>((resolve) => {
    const t0 = performance.now();
    const req = http.get(`${url}/healthz`, { agent, timeout: 20_000 }, (res) => res.resume().on('end', () => (lat.push(performance.now() - t0), resolve())));
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => (lat.push(20_000), resolve()));
  });
  const timer = setInterval(() => { if (running) pending.push(one()); }, everyMs);
  return {
    async stop() {
      running = false;
      clearInterval(timer);
      await Promise.all(pending);
      agent.destroy();
      return lat;
    },
  };
}

function tallyCodes(codes: (number | string)[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const c of codes) out[String(c)] = (out[String(c)] ?? 0) + 1;
  return out;
}

/** One POST on its own connection; resolves to the status, or the error code (a reset, a hang past 120 s). */
function postOnce(url: string, body: Buffer): Promise<number | string> {
  return new Promise((resolve) => {
    const req = http.request(`${url}/v1/score`, { method: 'POST', agent: false, timeout: 120_000, headers: { 'content-type': 'image/png', 'content-length': body.length } }, (res) => {
      res.resume().on('end', () => resolve(res.statusCode!));
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('hang'), { code: 'HANG' })));
    req.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
    req.end(body);
  });
}

async function hostile(): Promise<void> {
  const modelDir = await findOrMakeModel();
  // Defaults, plus a health port (probed next to the main port's /healthz).
  const base: Partial<ServeOptions> = { model: modelDir, executionProviders: ['cpu'], healthPort: 0 };
  const big = await bombLikePng(4900, 4900);
  const f = (x: number, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : '-');
  const results: Record<string, unknown> = {};
  const lines: string[] = [];
  const TRIALS = Number(process.env.SERVE_LOAD_TRIALS ?? 5) || 5;
  const stats = (xs: number[]) => ({ n: xs.length, p50: pct(xs, 0.5), p99: pct(xs, 0.99), max: xs.at(-1) });
  for (const n of [64, 128]) {
    const trials = [];
    const allMain: number[] = [];
    const allHealth: number[] = [];
    for (let trial = 0; trial < TRIALS; trial++) {
      const child = await startChild(base);
      const probe = healthProbeProcess(child.url);
      const healthPortProbe = healthProbeProcess(child.healthUrl!);
      await new Promise((r) => setTimeout(r, 500));
      child.proc.kill('SIGUSR2'); // resets the server's event-loop histogram: the flood starts here
      await new Promise((r) => setTimeout(r, 100));
      const t0 = performance.now();
      const codes = await Promise.all(Array.from({ length: n }, () => postOnce(child.url, big)));
      const seconds = (performance.now() - t0) / 1000;
      const lat = (await probe.stop()).sort((a, b) => a - b);
      const hp = (await healthPortProbe.stop()).sort((a, b) => a - b);
      const peak = await peakRssMiB(child.proc.pid!);
      const reports = child.afterGc.length;
      child.proc.kill('SIGUSR2');
      while (child.afterGc.length === reports) await new Promise((r) => setTimeout(r, 10));
      const loop = child.afterGc.at(-1)!.loopDelayMs!;
      await stopChild(child);
      allMain.push(...lat);
      allHealth.push(...hp);
      const t = { seconds, peakRssMiB: Math.round(peak), healthPortHealthz: stats(hp), mainPortHealthz: stats(lat), serverEventLoopDelayMs: loop, codes: tallyCodes(codes) };
      trials.push(t);
      process.stderr.write(`flood ${n} trial ${trial + 1}/${TRIALS}: peak RSS ${t.peakRssMiB} MiB, /healthz p99 ${f(t.healthPortHealthz.p99)} ms on the health port, ${f(t.mainPortHealthz.p99)} ms on the main port, event-loop delay max ${f(loop.max)} ms, codes ${JSON.stringify(t.codes)}\n`);
    }
    allMain.sort((a, b) => a - b);
    allHealth.sort((a, b) => a - b);
    const codes: Record<string, number> = {};
    for (const t of trials) for (const [k, v] of Object.entries(t.codes)) codes[k] = (codes[k] ?? 0) + v;
    const r = {
      uploads: n, pngBytes: big.length, decoded: '4900x4900x4', trials: trials.length,
      peakRssMiB: Math.max(...trials.map((t) => t.peakRssMiB)),
      healthPortHealthz: stats(allHealth), mainPortHealthz: stats(allMain),
      worstTrialP99: { healthPort: Math.max(...trials.map((t) => t.healthPortHealthz.p99)), mainPort: Math.max(...trials.map((t) => t.mainPortHealthz.p99)) },
      codes, perTrial: trials,
    };
    results[`flood${n}`] = r;
    lines.push(`flood ${String(n).padStart(3)} × ${(big.length / 1024).toFixed(0)} KB PNG (4900×4900 RGBA), ${trials.length} runs: peak RSS ≤ ${r.peakRssMiB} MiB; /healthz on the health port p50 ${f(r.healthPortHealthz.p50)} p99 ${f(r.healthPortHealthz.p99)} max ${f(r.healthPortHealthz.max ?? NaN)} ms (${allHealth.length} probes; worst run p99 ${f(r.worstTrialP99.healthPort)}); on the main port p50 ${f(r.mainPortHealthz.p50)} p99 ${f(r.mainPortHealthz.p99)} max ${f(r.mainPortHealthz.max ?? NaN)} ms (worst run p99 ${f(r.worstTrialP99.mainPort)}); codes ${JSON.stringify(codes)}`);
    process.stderr.write(`${lines.at(-1)}\n`);
  }

  // Slow senders: 260 connections each declaring a 4 KB body and sending 1 byte/s, then 47
  // legitimate requests (a normal-size PNG) spread over 10 s while they hold their connections.
  {
    const child = await startChild(base);
    const manifest = JSON.parse(await fs.readFile(path.join(modelDir, 'manifest.json'), 'utf8')) as { model: { isize: number; nc: number } };
    const [png] = await payloads(manifest.model.isize, manifest.model.nc, 1);
    const slow: http.ClientRequest[] = [];
    const slowCodes: (number | string)[] = [];
    const timers: NodeJS.Timeout[] = [];
    for (let i = 0; i < 260; i++) {
      const req = http.request(`${child.url}/v1/score`, { method: 'POST', agent: false, headers: { 'content-type': 'image/png', 'content-length': 4096 } }, (res) => {
        res.resume().on('end', () => slowCodes.push(res.statusCode!));
      });
      req.on('error', () => undefined);
      req.write(png!.subarray(0, 1));
      timers.push(setInterval(() => req.write(Buffer.from([0])), 1000));
      slow.push(req);
    }
    await new Promise((r) => setTimeout(r, 1000));
    const probe = healthProbeProcess(child.url);
    const legit: Promise<number | string>[] = [];
    for (let i = 0; i < 47; i++) {
      legit.push(postOnce(child.url, png!));
      await new Promise((r) => setTimeout(r, 10_000 / 47));
    }
    const codes = await Promise.all(legit);
    const lat = (await probe.stop()).sort((a, b) => a - b);
    timers.forEach(clearInterval);
    slow.forEach((r) => r.destroy());
    const peak = await peakRssMiB(child.proc.pid!);
    await stopChild(child);
    const ok = codes.filter((c) => c === 200).length;
    const r = { slowSenders: 260, legitimate: 47, ok, success: ok / 47, codes: tallyCodes(codes), slowAnsweredMeanwhile: tallyCodes(slowCodes), healthz: { p50: pct(lat, 0.5), p99: pct(lat, 0.99) }, peakRssMiB: Math.round(peak) };
    results.slowUpload = r;
    lines.push(`slow upload: 260 senders at 1 byte/s + 47 legitimate: ${ok}/47 succeeded (${f(100 * r.success, 0)} %), codes ${JSON.stringify(r.codes)}, /healthz p99 ${f(r.healthz.p99)} ms, peak RSS ${r.peakRssMiB} MiB`);
    process.stderr.write(`${lines.at(-1)}\n`);
  }
  console.log(`server defaults, ${os.cpus().length} CPUs (shared machine: timings are indicative, memory is the measure)`);
  console.log(lines.join('\n'));
  await fs.mkdir('bench/results', { recursive: true });
  const out = { date: new Date().toISOString(), node: process.version, cpus: os.cpus().length, loadavg: os.loadavg(), model: path.basename(modelDir), ...results };
  await fs.writeFile('bench/results/serve-hostile.json', `${JSON.stringify(out, null, 2)}\n`);
  console.log('wrote bench/results/serve-hostile.json');
}

/** Bands of colour: compresses to little in every format, decodes to w×h×c like any photo. */
function banded(w: number, h: number, c: 3 | 4): ReturnType<typeof sharp> {
  const row = Buffer.alloc(w * c);
  for (let x = 0; x < w; x++) for (let k = 0; k < c; k++) row[x * c + k] = k === 3 ? 128 + ((x >> 7) & 1) * 127 : ((x >> 6) * (37 + 50 * k)) & 255; // alpha varies: RGBA stays RGBA
  const raw = Buffer.alloc(w * h * c);
  for (let y = 0; y < h; y++) row.copy(raw, y * w * c);
  return sharp(raw, { raw: { width: w, height: h, channels: c } });
}

/** The decode-cost cases: [name, media type, bytes]. */
async function decodeCostCases(): Promise<[string, string, Buffer][]> {
  const S = 4000;
  return [
    ['JPEG baseline 4000² RGB', 'image/jpeg', await banded(S, S, 3).jpeg().toBuffer()],
    ['JPEG baseline, orientation 6', 'image/jpeg', await banded(S, S, 3).withMetadata({ orientation: 6 }).jpeg().toBuffer()],
    ['JPEG progressive', 'image/jpeg', await banded(S, S, 3).jpeg({ progressive: true }).toBuffer()],
    ['JPEG progressive, orientation 6', 'image/jpeg', await banded(S, S, 3).withMetadata({ orientation: 6 }).jpeg({ progressive: true }).toBuffer()],
    ['JPEG progressive 5000², orientation 6', 'image/jpeg', await banded(5000, 5000, 3).withMetadata({ orientation: 6 }).jpeg({ progressive: true }).toBuffer()],
    ['PNG RGBA 4000²', 'image/png', await banded(S, S, 4).png().toBuffer()],
    ['PNG RGB, orientation 8', 'image/png', await banded(S, S, 3).withMetadata({ orientation: 8 }).png().toBuffer()],
    ['PNG interlaced RGBA', 'image/png', await banded(S, S, 4).png({ progressive: true }).toBuffer()],
    ['WebP lossy RGB 4000²', 'image/webp', await banded(S, S, 3).webp().toBuffer()],
    ['WebP lossless RGBA', 'image/webp', await banded(S, S, 4).webp({ lossless: true }).toBuffer()],
    ['WebP lossless 16383×1525 (flat)', 'image/webp', await sharp({ create: { width: 16383, height: 1525, channels: 3, background: '#123456' } }).webp({ lossless: true }).toBuffer()],
  ];
}

/** One decode in this fresh process, as a decode worker runs it; prints peak RSS growth and the reservation. */
async function decodeCostChild(file: string, type: string): Promise<void> {
  const { decodeNodeImage, preprocessPixels } = await import('../src/runtime/node.js');
  const { decodedSize } = await import('../src/gateway/serve/inputs.js');
  const body = await fs.readFile(file);
  const tiny = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#000' } }).png().toBuffer();
  await decodeNodeImage(tiny, 1e9); // libvips loaded and warm
  const reserved = await decodedSize(body, type, {}, 1e9);
  await fs.writeFile('/proc/self/clear_refs', '5'); // peak RSS := current RSS
  const base = Number(/^VmRSS:\s+(\d+) kB/m.exec(await fs.readFile('/proc/self/status', 'utf8'))![1]) * 1024;
  const t0 = performance.now();
  const pixels = await decodeNodeImage(body, 1e9);
  preprocessPixels(pixels, { resize: { width: 32, height: 32 }, channelOrder: 'gray', mean: [0.5], std: [0.5] } as never);
  const ms = performance.now() - t0;
  const peak = (await peakRssMiB(process.pid)) * 2 ** 20;
  process.stdout.write(JSON.stringify({ width: pixels.width, height: pixels.height, channels: pixels.channels, measured: peak - base, reserved, ms }));
}

async function decodeCost(): Promise<Record<string, unknown>[]> {
  const dir = path.resolve('bench/tmp/decode-cost');
  await fs.mkdir(dir, { recursive: true });
  const rows: Record<string, unknown>[] = [];
  for (const [name, type, body] of await decodeCostCases()) {
    const file = path.join(dir, `${rows.length}.img`);
    await fs.writeFile(file, body);
    const out = await new Promise<string>((resolve, reject) => {
      const proc = spawn(process.execPath, [process.argv[1]!, '--decode-cost-child', file, type], { stdio: ['ignore', 'pipe', 'inherit'] });
      let text = '';
      proc.stdout!.on('data', (d: Buffer) => (text += d.toString()));
      proc.on('exit', (code) => (code === 0 ? resolve(text) : reject(new Error(`decode-cost child exited ${code}`))));
    });
    const r = JSON.parse(out) as { width: number; height: number; channels: number; measured: number; reserved: number; ms: number };
    const output = r.width * r.height * r.channels;
    const row = {
      name, bytes: body.length, decoded: `${r.width}x${r.height}x${r.channels}`, outputMiB: +(output / 2 ** 20).toFixed(1),
      measuredMiB: +(r.measured / 2 ** 20).toFixed(1), reservedMiB: +(r.reserved / 2 ** 20).toFixed(1), oldReservationMiB: +(output / 2 ** 20).toFixed(1),
      measuredOverOutput: +(r.measured / output).toFixed(2), measuredOverReserved: +(r.measured / r.reserved).toFixed(2), decodeMs: Math.round(r.ms),
    };
    rows.push(row);
    process.stderr.write(`decode-cost ${name}: measured ${row.measuredMiB} MiB, reserved ${row.reservedMiB} MiB (was ${row.oldReservationMiB}), ${row.measuredOverReserved} of the reservation\n`);
  }
  return rows;
}

/** One GET /healthz on a fresh connection: the status, or the error (timeout after 2 s). */
function probeOnce(url: string): Promise<number | string> {
  return new Promise((resolve) => {
    const req = http.get(`${url}/healthz`, { agent: false, timeout: 2000 }, (res) => res.resume().on('end', () => resolve(res.statusCode!)));
    req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })));
    req.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
  });
}

/** 130 idle connections to the health port, each reopened as soon as it closes; fresh-connection probes every 250 ms for 20 s. */
async function idleSockets(base: Partial<ServeOptions>): Promise<Record<string, unknown>> {
  const child = await startChild(base);
  const { port, hostname } = new URL(child.healthUrl!);
  let running = true;
  let opened = 0;
  let closedByServer = 0;
  const sockets = new Set<net.Socket>();
  const open = () => {
    if (!running) return;
    const s = net.connect(Number(port), hostname);
    opened++;
    sockets.add(s);
    s.on('error', () => undefined).on('close', () => {
      sockets.delete(s);
      if (!running) return;
      closedByServer++;
      setTimeout(open, 1); // the attacker takes its place back at once
    });
  };
  for (let i = 0; i < 130; i++) open();
  await new Promise((r) => setTimeout(r, 1000));
  const codes: (number | string)[] = [];
  const lat: number[] = [];
  for (let i = 0; i < 80; i++) {
    const t0 = performance.now();
    codes.push(await probeOnce(child.healthUrl!));
    lat.push(performance.now() - t0);
    await new Promise((r) => setTimeout(r, 250));
  }
  running = false;
  sockets.forEach((s) => s.destroy());
  const peak = await peakRssMiB(child.proc.pid!);
  await stopChild(child);
  lat.sort((a, b) => a - b);
  const ok = codes.filter((c) => c === 200).length;
  return { idleConnections: 130, probes: codes.length, answered: ok, answeredShare: ok / codes.length, codes: tallyCodes(codes), probeMs: { p50: pct(lat, 0.5), p99: pct(lat, 0.99) }, attackerConnectionsOpened: opened, closedByServer, peakRssMiB: Math.round(peak) };
}

/** `clients` loops (each: send, await the answer, again) from their own source addresses until stopped; statuses tallied. */
function loopers(url: string, body: Buffer, type: string, clients: number, firstAddress = 2): { stop(): Promise<Record<string, number>> } {
  let running = true;
  const codes: (number | string)[] = [];
  const loops = Array.from({ length: clients }, async (_, i) => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1, localAddress: `127.0.0.${firstAddress + i}` } as http.AgentOptions);
    while (running) {
      codes.push(await new Promise<number | string>((resolve) => {
        const req = http.request(`${url}/v1/score`, { method: 'POST', agent, headers: { 'content-type': type, 'content-length': body.length } }, (res) => res.resume().on('end', () => resolve(res.statusCode!)));
        req.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
        req.end(body);
      }));
      if (codes.at(-1) === 503) await new Promise((r) => setTimeout(r, 50)); // Retry-After, shortened: still a flood
    }
    agent.destroy();
  });
  return {
    async stop() {
      running = false;
      await Promise.all(loops);
      return tallyCodes(codes);
    },
  };
}

/** One legitimate client (127.0.0.1): a small PNG every 100 ms for `seconds`; latencies in ms. */
async function legitimate(url: string, png: Buffer, seconds: number): Promise<{ lat: number[]; codes: Record<string, number> }> {
  const lat: number[] = [];
  const codes: (number | string)[] = [];
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const end = performance.now() + seconds * 1000;
  while (performance.now() < end) {
    const t0 = performance.now();
    const status = await new Promise<number | string>((resolve) => {
      const req = http.request(`${url}/v1/score`, { method: 'POST', agent, headers: { 'content-type': 'image/png', 'content-length': png.length } }, (res) => res.resume().on('end', () => resolve(res.statusCode!)));
      req.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
      req.end(png);
    });
    lat.push(performance.now() - t0);
    codes.push(status);
    await new Promise((r) => setTimeout(r, Math.max(0, 100 - (performance.now() - t0))));
  }
  agent.destroy();
  return { lat: lat.sort((a, b) => a - b), codes: tallyCodes(codes) };
}

/** 6 clients looping cheap WebPs that decode to 10000×1525 next to one legitimate client; then the legitimate client alone. */
async function cheapDecode(base: Partial<ServeOptions>, png: Buffer): Promise<Record<string, unknown>> {
  const webp = await sharp({ create: { width: 10000, height: 1525, channels: 3, background: '#123456' } }).webp({ lossless: true }).toBuffer();
  const child = await startChild(base);
  await legitimate(child.url, png, 1); // warm
  const quiet = await legitimate(child.url, png, 5);
  const flood = loopers(child.url, webp, 'image/webp', 6);
  await new Promise((r) => setTimeout(r, 2000));
  const during = await legitimate(child.url, png, 20);
  const attackerCodes = await flood.stop();
  const peak = await peakRssMiB(child.proc.pid!);
  await stopChild(child);
  const stat = (xs: number[]) => ({ n: xs.length, p50: pct(xs, 0.5), p99: pct(xs, 0.99), max: xs.at(-1) });
  return {
    attackers: 6, attackBody: `${webp.length}-byte lossless WebP, 10000x1525`, legitimateBody: `${png.length}-byte PNG`,
    legitimateQuiet: { ...stat(quiet.lat), codes: quiet.codes }, legitimateUnderFlood: { ...stat(during.lat), codes: during.codes }, attackerCodes, peakRssMiB: Math.round(peak),
  };
}

/** `clients` looping uploads of `body` for `seconds` against a fresh server with `opts`; the server's peak RSS. */
async function flood(base: Partial<ServeOptions>, opts: Partial<ServeOptions>, body: Buffer, type: string, clients: number, seconds: number): Promise<Record<string, unknown>> {
  const child = await startChild({ ...base, ...opts });
  const l = loopers(child.url, body, type, clients);
  let maxDecoded = 0;
  const end = performance.now() + seconds * 1000;
  while (performance.now() < end) {
    maxDecoded = Math.max(maxDecoded, metricValue(await scrape(child.url), 'ganomaly_decoded_bytes'));
    await new Promise((r) => setTimeout(r, 100));
  }
  const codes = await l.stop();
  const peak = await peakRssMiB(child.proc.pid!);
  await stopChild(child);
  return { clients, seconds, bodyBytes: body.length, codes, maxReservedMiB: Math.round(maxDecoded / 2 ** 20), peakRssMiB: Math.round(peak), options: opts };
}

async function attack(): Promise<void> {
  const modelDir = await findOrMakeModel();
  const manifest = JSON.parse(await fs.readFile(path.join(modelDir, 'manifest.json'), 'utf8')) as { model: { isize: number; nc: number } };
  const [png] = await payloads(manifest.model.isize, manifest.model.nc, 1);
  const base: Partial<ServeOptions> = { model: modelDir, executionProviders: ['cpu'], healthPort: 0 };
  const loadBefore = os.loadavg();
  const results: Record<string, unknown> = {};
  // SERVE_ATTACK_ONLY=cheapDecode (comma-separated scenario names) runs only those, and writes no file.
  const only = process.env.SERVE_ATTACK_ONLY?.split(',');
  if (only) {
    for (const name of only) {
      const r = name === 'decodeCost' ? await decodeCost() : name === 'idleSockets' ? await idleSockets(base) : name === 'cheapDecode' ? await cheapDecode(base, png!) : undefined;
      console.log(`${name}: ${JSON.stringify(r, null, 1)}`);
    }
    return;
  }
  results.decodeCost = await decodeCost();
  results.idleSockets = await idleSockets(base);
  process.stderr.write(`idle sockets: ${JSON.stringify(results.idleSockets)}\n`);
  results.cheapDecode = await cheapDecode(base, png!);
  process.stderr.write(`cheap decode: ${JSON.stringify(results.cheapDecode)}\n`);
  const progO6 = await banded(5000, 5000, 3).withMetadata({ orientation: 6 }).jpeg({ progressive: true }).toBuffer();
  const losslessWide = await sharp({ create: { width: 16383, height: 1525, channels: 3, background: '#123456' } }).webp({ lossless: true }).toBuffer();
  const bomb = await bombLikePng(4900, 4900);
  const floods: Record<string, Record<string, unknown>> = {};
  const runs: [string, Partial<ServeOptions>, Buffer, string, number][] = [
    ['8 × progressive JPEG 5000², orientation 6, defaults', {}, progO6, 'image/jpeg', 8],
    ['8 × progressive JPEG 5000², orientation 6, --max-decoded 300mb', { maxDecodedBytes: 300 * 2 ** 20 }, progO6, 'image/jpeg', 8],
    ['8 × lossless WebP 16383×1525, defaults', {}, losslessWide, 'image/webp', 8],
    ['64 × PNG 4900² RGBA, defaults', {}, bomb, 'image/png', 64],
  ];
  for (const [name, opts, body, type, clients] of runs) {
    floods[name] = await flood(base, opts, body, type, clients, 12);
    process.stderr.write(`flood ${name}: ${JSON.stringify(floods[name])}\n`);
  }
  results.floods = floods;
  const f = (x: number, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : '-');
  console.log(`decode cost (one decode in a fresh process; measured = peak RSS growth)`);
  console.log(`case                                        output MiB  measured  reserved  (before)  measured/reserved`);
  for (const r of results.decodeCost as { name: string; outputMiB: number; measuredMiB: number; reservedMiB: number; oldReservationMiB: number; measuredOverReserved: number }[]) {
    console.log(`${r.name.padEnd(44)}${f(r.outputMiB).padStart(10)}${f(r.measuredMiB).padStart(10)}${f(r.reservedMiB).padStart(10)}${f(r.oldReservationMiB).padStart(10)}${f(r.measuredOverReserved, 2).padStart(19)}`);
  }
  const idle = results.idleSockets as { answered: number; probes: number; probeMs: { p50: number; p99: number }; peakRssMiB: number };
  console.log(`idle sockets: 130 held on the health port (reopened when closed): ${idle.answered}/${idle.probes} fresh-connection probes answered, p50 ${f(idle.probeMs.p50)} ms, p99 ${f(idle.probeMs.p99)} ms`);
  const cheap = results.cheapDecode as { legitimateQuiet: { p50: number; p99: number }; legitimateUnderFlood: { p50: number; p99: number; codes: unknown }; attackerCodes: unknown; peakRssMiB: number };
  console.log(`cheap decode: legitimate p50/p99 ${f(cheap.legitimateQuiet.p50)}/${f(cheap.legitimateQuiet.p99)} ms alone, ${f(cheap.legitimateUnderFlood.p50)}/${f(cheap.legitimateUnderFlood.p99)} ms under 6 looping attackers (codes ${JSON.stringify(cheap.legitimateUnderFlood.codes)}; attackers ${JSON.stringify(cheap.attackerCodes)}); peak RSS ${cheap.peakRssMiB} MiB`);
  for (const [name, r] of Object.entries(floods)) console.log(`flood ${name}: peak RSS ${r.peakRssMiB} MiB, most reserved ${r.maxReservedMiB} MiB, codes ${JSON.stringify(r.codes)}`);
  const out = {
    date: new Date().toISOString(), node: process.version, cpus: os.cpus().length, loadavgBefore: loadBefore, loadavgAfter: os.loadavg(),
    note: 'run on a 2-core machine shared with other jobs (other workers building and testing): timings are indicative; rerun on a quiet machine for latency figures',
    model: path.basename(modelDir), ...results,
  };
  await fs.mkdir('bench/results', { recursive: true });
  await fs.writeFile('bench/results/serve-attack.json', `${JSON.stringify(out, null, 2)}\n`);
  console.log('wrote bench/results/serve-attack.json');
}

const mode = process.argv[2];
await (mode === '--child' ? child()
  : mode === '--probe' ? probeMain(process.argv[3]!)
  : mode === '--decode-cost-child' ? decodeCostChild(process.argv[3]!, process.argv[4]!)
  : mode === 'hostile' ? hostile()
  : mode === 'attack' ? attack()
  : main());
