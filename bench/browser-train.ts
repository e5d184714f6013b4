// Training in a page (ganomaly-edge/browser) in headless Chromium on this machine: steps/s and
// images/s per laptop-sized configuration (tfjs WASM, the page cross-origin isolated so WASM may use
// threads), and the time to a usable model — train on Fashion-MNIST normals (nine classes, Trouser
// held out) as raw frames, export in the page, then score 1000 test normals + 1000 Trousers in Node
// with the exported detector and report ROC AUC.
// Prints a table and writes bench/results/browser-train.json.
//
//   npm run bench:browser-train [-- --frames 512 --epochs 6] [--quick]
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
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
    quick: { type: 'boolean' }, out: { type: 'string', default: 'bench/results/browser-train.json' },
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
for (let i = 0; i < trainCount && normals.length < FRAMES; i++) if (fm.labels[i] !== TROUSER) normals.push(i);
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

interface PageTrain { steps: Record<string, number>[]; backend: { name: string; reason: string }; seconds: number; history: { seconds: number; steps: number }[] }

async function openPage() {
  const page = await context.newPage();
  await page.goto(server.url);
  await page.waitForFunction(() => document.getElementById('out')?.textContent === 'loaded', null, { timeout: 60_000 });
  return page;
}

const CONFIGS = [
  { name: '32×32, ngf 16, batch 16', model: { isize: 32, ngf: 16, ndf: 16 }, batchSize: 16 },
  { name: '32×32, ngf 32, batch 16', model: { isize: 32, ngf: 32, ndf: 32 }, batchSize: 16 },
  { name: '64×64, ngf 16, batch 16', model: { isize: 64, ngf: 16, ndf: 16 }, batchSize: 16 },
  { name: '32×32, ngf 64, batch 64 (the reference)', model: { isize: 32, ngf: 64, ndf: 64 }, batchSize: 64 },
];

const speed: Record<string, unknown>[] = [];
try {
  for (const c of CONFIGS) {
    const page = await openPage();
    const n = c.batchSize * SPEED_STEPS + Math.ceil((c.batchSize * SPEED_STEPS) / 9) + 1; // one epoch of SPEED_STEPS steps + validation
    const frames = normals.slice(0, n).map(frameAt);
    const r = await page.evaluate(([f, cfg]) => (window as any).fixture.train(f, cfg, 'wasm'), [frames, { model: { ...c.model, nc: 1 }, batchSize: c.batchSize, epochs: 1, seed: 0 }] as const) as PageTrain;
    await page.close();
    const epoch = r.history[0]!;
    const stepsPerSec = epoch.steps / epoch.seconds;
    speed.push({ config: c.name, backend: r.backend.reason, steps: epoch.steps, stepsPerSec, imagesPerSec: stepsPerSec * c.batchSize, secondsPerStep: 1 / stepsPerSec });
    process.stderr.write(`${c.name}: ${stepsPerSec.toFixed(2)} steps/s\n`);
  }

  // Time to a usable model: the first configuration on FRAMES frames for EPOCHS epochs.
  const page = await openPage();
  const t0 = performance.now();
  const cfg = { model: { isize: 32, nc: 1, ngf: 16, ndf: 16 }, batchSize: 16, epochs: EPOCHS, seed: 0 };
  const trained = await page.evaluate(([f, c]) => (window as any).fixture.train(f, c, 'wasm'), [normals.map(frameAt), cfg] as const) as PageTrain;
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
    machine: '2 cores, headless Chromium (Debian), tfjs 4.22 WASM backend, page cross-origin isolated; no GPU adapter here',
    data: 'Fashion-MNIST: normals = first frames of the nine non-Trouser classes from the train part; test = t10k, 1000 normal + 1000 Trouser',
    speed, usable,
  };
  await writeFile(values.out!, `${JSON.stringify(result, null, 2)}\n`);
  console.log('\ntraining in headless Chromium (tfjs WASM, 2 cores)');
  console.log('| configuration | steps/s | images/s | s/step |\n|---|---:|---:|---:|');
  for (const s of speed as { config: string; stepsPerSec: number; imagesPerSec: number; secondsPerStep: number }[]) {
    console.log(`| ${s.config} | ${s.stepsPerSec.toFixed(2)} | ${s.imagesPerSec.toFixed(0)} | ${s.secondsPerStep.toFixed(3)} |`);
  }
  console.log(`\ntime to model: ${FRAMES} frames × ${EPOCHS} epochs at ${usable.config}: train ${usable.trainSeconds.toFixed(0)} s + export ${usable.exportSeconds.toFixed(1)} s; ` +
    `test ROC AUC (Trouser vs the rest, 1000 + 1000 t10k images) ${usable.rocAuc!.toFixed(4)} (int8 ${usable.rocAucInt8!.toFixed(4)})`);
  console.log(`wrote ${values.out}`);
} finally {
  await context.close();
  await server.close();
  await rm(work, { recursive: true, force: true });
}
