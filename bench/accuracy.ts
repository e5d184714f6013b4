// Accuracy on Fashion-MNIST: each of the 10 classes as the anomaly in turn (reference protocol,
// fixed seed), train → export → eval through the runtime, ROC AUC per class and mean, next to the
// pixel-reconstruction baseline of the same model. The budget is recorded with the results.
//
//   npx esbuild bench/accuracy.ts --bundle --platform=node --format=esm --packages=external \
//     --outfile=.tmp/accuracy.mjs && node .tmp/accuracy.mjs [--budget quick|default|full]
//     [--classes 0,1,…] [--seed 0] [--out bench/results/accuracy-<budget>.json]
//
// Budgets: quick (2000 images, 1 epoch, ngf 32: minutes on 2 cores), default (6000 images,
// 3 epochs, ngf 64: about two hours for all 10 classes on 2 cores), full (all 70000 images,
// 15 epochs, ngf 64: the reference setting, for GPU machines), tiny (300 images, 1 epoch, ngf 8:
// no accuracy to speak of; shows in a minute or two that ten classes run in one process with flat
// memory). After each class the live tfjs tensors, tfjs bytes, wasm heap and RSS are printed.
import * as tf from '@tensorflow/tfjs';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { evaluateModel } from '../src/eval/index.js';
import { exportRun } from '../src/export/index.js';
import { FASHION_MNIST_CLASSES } from '../src/data/index.js';
import { DEFAULT_TRAIN_CONFIG, train } from '../src/train/trainer.js';
import { fusedKernelsActive } from '../src/backend/fused/ops.js';

const BUDGETS = {
  quick: { maxImages: 2000, epochs: 1, ngf: 32 },
  default: { maxImages: 6000, epochs: 3, ngf: 64 },
  full: { maxImages: undefined, epochs: 15, ngf: 64 },
  tiny: { maxImages: 300, epochs: 1, ngf: 8 },
} as const;

/** Live tfjs tensors and bytes, the wasm heap (never shrinks) and RSS, after a class. */
function memory() {
  const m = tf.memory();
  const wasm = tf.getBackend() === 'wasm' ? (tf.backend() as unknown as { wasm: { HEAPU8: Uint8Array } }).wasm.HEAPU8.length : undefined;
  return { tensors: m.numTensors, tfjsBytes: m.numBytes, wasmHeapBytes: wasm, rssBytes: process.memoryUsage.rss() };
}

const { values: a } = parseArgs({
  options: {
    budget: { type: 'string', default: 'default' },
    classes: { type: 'string', default: '0,1,2,3,4,5,6,7,8,9' },
    seed: { type: 'string', default: '0' },
    backend: { type: 'string', default: 'auto' },
    out: { type: 'string' },
  },
});
const budgetName = a.budget as keyof typeof BUDGETS;
const budget = BUDGETS[budgetName];
if (!budget) throw new Error(`--budget must be one of ${Object.keys(BUDGETS).join(', ')}`);
const seed = Number(a.seed);
const classes = a.classes!.split(',').map(Number);
const work = mkdtempSync(path.join(os.tmpdir(), 'ganomaly-accuracy-'));
const out = a.out ?? `bench/results/accuracy-${budgetName}.json`;

interface Row { cls: number; name: string; fusedKernels: boolean; aucLatent: number; aucBaseline: number; apLatent: number; apBaseline: number; trainSeconds: number; split: unknown; backend: string; aucFp16: number; aucInt8: number; memoryAfter: ReturnType<typeof memory> }
const rows: Row[] = [];
const t0 = Date.now();
for (const cls of classes) {
  const runDir = path.join(work, `run-${cls}`);
  const modelDir = path.join(work, `model-${cls}`);
  const ts = Date.now();
  const r = await train({
    ...DEFAULT_TRAIN_CONFIG,
    data: 'fashion-mnist', abnormalClass: String(cls), out: runDir,
    epochs: budget.epochs, maxImages: budget.maxImages, seed,
    model: { ...DEFAULT_TRAIN_CONFIG.model, ngf: budget.ngf, ndf: budget.ngf },
    backend: a.backend as typeof DEFAULT_TRAIN_CONFIG.backend,
  }, {
    onProgress: (e) => { if (e.kind === 'epoch') process.stderr.write(`class ${cls}: epoch ${e.summary.epoch + 1}/${budget.epochs} ${e.summary.seconds.toFixed(0)} s\n`); },
  });
  const trainSeconds = (Date.now() - ts) / 1000;
  await exportRun(runDir, { out: modelDir, force: true });
  const { report } = await evaluateModel({ model: modelDir });
  // The FP16/INT8 variants export writes, on the same split.
  const variants = {
    fp16: (await evaluateModel({ model: modelDir, precision: 'fp16' })).report.ganomaly,
    int8: (await evaluateModel({ model: modelDir, precision: 'int8' })).report.ganomaly,
  };
  rows.push({
    cls, name: FASHION_MNIST_CLASSES[cls]!, backend: r.backend, fusedKernels: fusedKernelsActive(), trainSeconds, split: report.split,
    aucLatent: report.ganomaly.rocAuc, aucBaseline: report.baseline.rocAuc,
    apLatent: report.ganomaly.averagePrecision, apBaseline: report.baseline.averagePrecision,
    aucFp16: variants.fp16.rocAuc, aucInt8: variants.int8.rocAuc,
    memoryAfter: memory(),
  });
  const mem = rows.at(-1)!.memoryAfter;
  const mib = (b: number | undefined) => (b === undefined ? '-' : (b / 2 ** 20).toFixed(1));
  process.stderr.write(`memory after class ${cls}: ${mem.tensors} tensors, ${mib(mem.tfjsBytes)} MiB tfjs, wasm heap ${mib(mem.wasmHeapBytes)} MiB, RSS ${mib(mem.rssBytes)} MiB\n`);
  process.stderr.write(`class ${cls} (${FASHION_MNIST_CLASSES[cls]}): AUC latent ${report.ganomaly.rocAuc.toFixed(4)}, baseline ${report.baseline.rocAuc.toFixed(4)}\n`);
}
const mean = (k: 'aucLatent' | 'aucBaseline' | 'apLatent' | 'apBaseline') => rows.reduce((s, r) => s + r[k], 0) / rows.length;

console.log(`\nFashion-MNIST, one class abnormal, seed ${seed}, budget '${budgetName}' (${JSON.stringify(budget)}), ${((Date.now() - t0) / 60000).toFixed(1)} min`);
console.log(`${'abnormal class'.padEnd(16)} ${'AUC latent'.padStart(10)} ${'AUC pixel'.padStart(10)} ${'AP latent'.padStart(10)} ${'AP pixel'.padStart(10)} ${'AUC fp16'.padStart(9)} ${'AUC int8'.padStart(9)} ${'train s'.padStart(8)} ${'tensors'.padStart(8)} ${'wasm MiB'.padStart(9)} ${'RSS MiB'.padStart(8)}`);
for (const r of rows) {
  const m = r.memoryAfter;
  console.log(`${`${r.cls} ${r.name}`.padEnd(16)} ${r.aucLatent.toFixed(4).padStart(10)} ${r.aucBaseline.toFixed(4).padStart(10)} ${r.apLatent.toFixed(4).padStart(10)} ${r.apBaseline.toFixed(4).padStart(10)} ${r.aucFp16.toFixed(4).padStart(9)} ${r.aucInt8.toFixed(4).padStart(9)} ${r.trainSeconds.toFixed(0).padStart(8)} ` +
    `${String(m.tensors).padStart(8)} ${(m.wasmHeapBytes === undefined ? '-' : (m.wasmHeapBytes / 2 ** 20).toFixed(1)).padStart(9)} ${(m.rssBytes / 2 ** 20).toFixed(0).padStart(8)}`);
}
console.log(`${'mean'.padEnd(16)} ${mean('aucLatent').toFixed(4).padStart(10)} ${mean('aucBaseline').toFixed(4).padStart(10)} ${mean('apLatent').toFixed(4).padStart(10)} ${mean('apBaseline').toFixed(4).padStart(10)}`);
mkdirSync(path.dirname(out), { recursive: true });
writeFileSync(out, `${JSON.stringify({
  date: new Date().toISOString(),
  machine: { cpu: os.cpus()[0]?.model, cores: os.cpus().length, node: process.version },
  protocol: 'reference: normals pooled (train+t10k), 80/20 train/test, all abnormal to test, 10% of train normals for validation/calibration; test never used for selection',
  budget: { name: budgetName, ...budget, batchSize: DEFAULT_TRAIN_CONFIG.batchSize, seed },
  rows,
  mean: { aucLatent: mean('aucLatent'), aucBaseline: mean('aucBaseline'), apLatent: mean('apLatent'), apBaseline: mean('apBaseline') },
}, null, 2)}\n`);
console.log(`wrote ${out}`);
