// Training in a page (ganomaly-edge/browser) in headless Chromium on this machine: steps/s and
// images/s per laptop-sized configuration, tfjs WASM on its threaded build (every core; the page is
// cross-origin isolated) and on its single-threaded build side by side in the same run, a WebGPU row
// at a tiny configuration when Chromium gives an adapter (here SwiftShader: software), and the time
// to a usable model — train on Fashion-MNIST normals (nine classes, Trouser held out) as raw frames,
// export in the page, then score 1000 test normals + 1000 Trousers in Node with the exported
// detector and report ROC AUC. The load average is recorded: the machine may be shared.
// Prints a table and writes bench/results/browser-train.json.
//
//   npm run bench:browser-train [-- --frames 512 --epochs 6] [--quick]
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';
import { rocAuc } from '../src/eval/metrics.js';
import { createDetector } from '../src/runtime/node.js';
import { loadIdxFolder } from '../src/data/idx.js';
import { buildTrainPage } from '../test/helpers/browser-train-page.js';
import { serveFolder } from '../test/helpers/static-server.js';
import { CHROMIUM, CHROMIUM_FLAGS } from '../test/helpers/chromium.js';

const { values } = parseArgs({
  options: {
    frames: { type: 'string', default: '512' }, epochs: { type: 'string', default: '6' }, 'speed-steps': { type: 'string', default: '12' },
    quick: { type: 'boolean' }, config: { type: 'string' }, out: { type: 'string', default: 'bench/results/browser-train.json' },
  },
});
const FRAMES = values.quick ? 128 : Number(values.frames);
const EPOCHS = values.quick ? 2 : Number(values.epochs);
const SPEED_STEPS = Number(values['speed-steps']);
const TROUSER = 1;

const fm = await loadIdxFolder('/usr/share/datasets/fashion-mnist');
const per = fm.height * fm.width;
const trainCount = fm.parts[0]!.count;
const frameAt = (i: number) => ({ data: Array.from(fm.images.subarray(i * per, (i + 1) * per)), width: fm.width, height: fm.height, channels: 1 });
// Normal frames from the training part; the test images from t10k (never seen in training).
const normals: number[] = [];
// Enough for the usable-model run and for the largest speed row (batch 64).
const NORMALS = Math.max(FRAMES, 64 * (SPEED_STEPS + 2) * 2);
for (let i = 0; i < trainCount && normals.length < NORMALS; i++) if (fm.labels[i] !== TROUSER) normals.push(i);
const testIdx: { i: number; abnormal: boolean }[] = [];
let nNormal = 0;
let nAbnormal = 0;
for (let i = trainCount; i < fm.count && (nNormal < 1000 || nAbnormal < 1000); i++) {
  const abnormal = fm.labels[i] === TROUSER;
  if (abnormal ? nAbnormal++ < 1000 : nNormal++ < 1000) testIdx.push({ i, abnormal });
}

const work = await mkdtemp(join(tmpdir(), 'ganomaly-bench-browser-train-'));
await buildTrainPage(work, { minify: true });
const server = await serveFolder(work, { isolated: true });
const context = await chromium.launchPersistentContext(join(work, 'profile'), { executablePath: CHROMIUM, headless: true, args: [...CHROMIUM_FLAGS] });
// WebGPU needs the flag (without it Chromium blocklists the CPU adapter); its own browser, so the
// WASM rows run exactly as a page without it would.
const gpuContext = await chromium.launchPersistentContext(join(work, 'profile-webgpu'), { executablePath: CHROMIUM, headless: true, args: [...CHROMIUM_FLAGS, '--enable-unsafe-webgpu'] });

interface PageTrain {
  steps: Record<string, number>[]; stepAt: number[]; fused: boolean; seconds: number; history: { seconds: number; steps: number }[];
  backend: { name: string; reason: string; threads?: number; threadsWhy?: string };
}

async function openPage(ctx = context) {
  const page = await ctx.newPage();
  await page.goto(server.url);
  await page.waitForFunction(() => document.getElementById('out')?.textContent === 'loaded', null, { timeout: 60_000 });
  return page;
}

type Config = { name: string; model: Record<string, number>; batchSize: number };
const CONFIGS: Config[] = [
  { name: '32×32, ngf 16, batch 16', model: { isize: 32, ngf: 16, ndf: 16 }, batchSize: 16 },
  { name: '32×32, ngf 32, batch 16', model: { isize: 32, ngf: 32, ndf: 32 }, batchSize: 16 },
  { name: '64×64, ngf 16, batch 16', model: { isize: 64, ngf: 16, ndf: 16 }, batchSize: 16 },
  { name: '32×32, ngf 64, batch 64 (the reference)', model: { isize: 32, ngf: 64, ndf: 64 }, batchSize: 64 },
];
/** Small enough for SwiftShader (software WebGPU, ~300× slower than a GPU), run on WASM too for scale. */
const TINY: Config = { name: '16×16, ngf 8, batch 4 (tiny)', model: { isize: 16, ngf: 8, ndf: 8, nz: 16 }, batchSize: 4 };
const TINY_STEPS = 4;

type Path = { label: string; backend: 'wasm' | 'webgpu'; wasmThreads?: number; ctx?: typeof context };
const THREADED: Path = { label: 'WASM, threaded (every core)', backend: 'wasm' };
const SINGLE: Path = { label: 'WASM, single-threaded', backend: 'wasm', wasmThreads: 1 };

const median = (xs: number[]) => {
  const s = [...xs].sort((p, q) => p - q);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

/** One page per row: tfjs fixes the WASM build and thread count when a page first starts it. */
async function speedRow(c: Config, path: Path, steps: number): Promise<Record<string, unknown>> {
  const page = await openPage(path.ctx);
  const n = c.batchSize * steps + Math.ceil((c.batchSize * steps) / 9) + 1; // one epoch of `steps` steps + validation
  const frames = normals.slice(0, n).map(frameAt);
  const load = loadavg()[0]!;
  const cfg = { model: { ...c.model, nc: 1 }, batchSize: c.batchSize, epochs: 1, seed: 0 };
  const r = await page.evaluate(([f, k, b, o]) => (window as any).fixture.train(f, k, b, o), [frames, cfg, path.backend, path.wasmThreads === undefined ? {} : { wasmThreads: path.wasmThreads }] as const) as PageTrain;
  const env = await page.evaluate(() => (window as any).fixture.environment()) as { webgpuAdapter: string | null; crossOriginIsolated: boolean; hardwareConcurrency: number };
  await page.close();
  // Per-step times from the step events; the first step (kernel setup, shader compiles) is left out.
  const intervals = r.stepAt.slice(1).map((t, i) => (t - r.stepAt[i]!) / 1000).slice(1);
  const secondsPerStep = median(intervals);
  const row = {
    config: c.name, path: path.backend === 'webgpu' ? `${path.label} (${env.webgpuAdapter ?? 'no adapter'})` : path.label,
    backend: r.backend.reason, threads: r.backend.threads ?? null, threadsWhy: r.backend.threadsWhy ?? null, fusedKernels: r.fused,
    crossOriginIsolated: env.crossOriginIsolated, hardwareConcurrency: env.hardwareConcurrency,
    steps: r.steps.length, timedSteps: intervals.length, secondsPerStep, fastestSecondsPerStep: Math.min(...intervals),
    stepsPerSec: 1 / secondsPerStep, imagesPerSec: c.batchSize / secondsPerStep,
    epochSecondsPerStep: r.history[0]!.seconds / r.history[0]!.steps, loadAverage1m: [load, loadavg()[0]!],
  };
  process.stderr.write(`${c.name} · ${row.path}: ${secondsPerStep.toFixed(3)} s/step (${row.threads ?? '-'} threads; load ${load.toFixed(2)})\n`);
  return row;
}

const speed: Record<string, unknown>[] = [];
const loadAtStart = loadavg();
try {
  // Threaded and single-threaded back to back per configuration, alternating which goes first,
  // so a change in the machine's load hits both.
  for (const [i, c] of CONFIGS.filter((k) => values.config === undefined || k.name.includes(values.config!)).entries()) {
    for (const p of i % 2 === 0 ? [THREADED, SINGLE] : [SINGLE, THREADED]) speed.push(await speedRow(c, p, SPEED_STEPS + 2));
  }
  const webgpuProbe = await openPage(gpuContext);
  const adapter = (await webgpuProbe.evaluate(() => (window as any).fixture.environment()) as { webgpuAdapter: string | null }).webgpuAdapter;
  await webgpuProbe.close();
  const tiny: Path[] = [THREADED, SINGLE];
  if (adapter !== null) tiny.push({ label: 'WebGPU, software', backend: 'webgpu', ctx: gpuContext });
  else process.stderr.write('no WebGPU adapter with --enable-unsafe-webgpu: no WebGPU row\n');
  for (const p of tiny) speed.push(await speedRow(TINY, p, TINY_STEPS + 2));

  // Time to a usable model: the first configuration on FRAMES frames for EPOCHS epochs.
  const page = await openPage();
  const t0 = performance.now();
  const cfg = { model: { isize: 32, nc: 1, ngf: 16, ndf: 16 }, batchSize: 16, epochs: EPOCHS, seed: 0 };
  const trained = await page.evaluate(([f, c]) => (window as any).fixture.train(f, c, 'wasm'), [normals.slice(0, FRAMES).map(frameAt), cfg] as const) as PageTrain;
  const tExport = performance.now();
  const ex = await page.evaluate(() => (window as any).fixture.exportAndScore([])) as { files: Record<string, string> };
  const tDone = performance.now();
  await page.close();
  const dir = join(work, 'model');
  await import('node:fs/promises').then((fs) => fs.mkdir(dir));
  for (const [k, v] of Object.entries(ex.files)) await writeFile(join(dir, k), Buffer.from(v, 'base64'));
  const aucs: Record<string, number> = {};
  for (const precision of ['fp32', 'int8'] as const) {
    const d = await createDetector({ model: dir, executionProviders: ['cpu'], precision, logger: null });
    const scores = (await d.score(testIdx.map((t) => ({ ...frameAt(t.i), data: fm.images.subarray(t.i * per, (t.i + 1) * per) })))).map((r) => r.score);
    await d.dispose();
    aucs[precision] = rocAuc(scores, testIdx.map((t) => (t.abnormal ? 1 : 0)));
  }
  const usable = {
    config: '32×32, ngf 16, batch 16', frames: FRAMES, epochs: EPOCHS, backend: trained.backend.reason,
    trainSeconds: (tExport - t0) / 1000, exportSeconds: (tDone - tExport) / 1000,
    testNormal: nNormal > 1000 ? 1000 : nNormal, testAbnormal: nAbnormal > 1000 ? 1000 : nAbnormal,
    rocAuc: aucs.fp32, rocAucInt8: aucs.int8,
    perEpochSeconds: trained.history.map((h) => h.seconds),
  };
  const result = {
    date: new Date().toISOString(),
    machine: '2 cores, headless Chromium (Debian), tfjs 4.22; page cross-origin isolated (COOP/COEP); WebGPU only through SwiftShader (software)',
    timing: 's/step = median of the intervals between step events, the first step (setup, shader compiles) left out',
    data: 'Fashion-MNIST: normals = first frames of the nine non-Trouser classes from the train part; test = t10k, 1000 normal + 1000 Trouser',
    loadAverage: { atStart: loadAtStart, atEnd: loadavg() },
    speed, usable,
  };
  await writeFile(values.out!, `${JSON.stringify(result, null, 2)}\n`);
  console.log(`\ntraining in headless Chromium (2 cores; load average ${loadAtStart.map((l) => l.toFixed(2)).join(' ')} at start, ${loadavg().map((l) => l.toFixed(2)).join(' ')} at end)`);
  console.log('| configuration | path | threads | fused | steps/s | images/s | s/step | load (1 min) |\n|---|---|---:|---|---:|---:|---:|---:|');
  for (const s of speed as { config: string; path: string; threads: number | null; fusedKernels: boolean; stepsPerSec: number; imagesPerSec: number; secondsPerStep: number; loadAverage1m: number[] }[]) {
    console.log(`| ${s.config} | ${s.path} | ${s.threads ?? '–'} | ${s.fusedKernels ? 'yes' : 'no'} | ${s.stepsPerSec.toFixed(2)} | ${s.imagesPerSec.toFixed(1)} | ${s.secondsPerStep.toFixed(3)} | ${s.loadAverage1m[0]!.toFixed(2)} |`);
  }
  console.log(`\ntime to model: ${FRAMES} frames × ${EPOCHS} epochs at ${usable.config}: train ${usable.trainSeconds.toFixed(0)} s + export ${usable.exportSeconds.toFixed(1)} s; ` +
    `test ROC AUC (Trouser vs the rest, 1000 + 1000 t10k images) ${usable.rocAuc!.toFixed(4)} (int8 ${usable.rocAucInt8!.toFixed(4)})`);
  console.log(`wrote ${values.out}`);
} finally {
  await context.close();
  await gpuContext.close();
  await server.close();
  await rm(work, { recursive: true, force: true });
}
