// What tiles are for: a whole-frame model (the 128×128 frame resized to the 32×32 input) against a
// patch model (32×32 tiles, worst tile decides) at the same training budget (steps × batch), on
// Fashion-MNIST frames made at run time (scripts/patch-frames.ts): anomaly kinds 'item' (one cell
// is an item of the held-out class) and 'defect' (a scratch or blob of a few pixels on one item).
// Train → export → eval through the runtime, frame-level ROC AUC and AP per kind, localisation
// (worst tile holds the anomaly), and the cost per frame on onnxruntime-node (CPU) and
// onnxruntime-web (WASM, run in Node: the browser's WASM build, without the browser around it).
//
//   npm run bench:patch -- [--classes 1,8] [--seeds 0,1,2] [--normal-frames 1000]
//     [--abnormal-frames 200] [--ngf 64] [--out bench/results/patch-models.json]
//     [--keep <dir>] [--reuse]   (--reuse: models already in --keep are evaluated, not retrained)
//
// For the patch model it also measures the tile-level ROC AUC (the anomalous tile of each abnormal
// test frame against every tile of the normal test frames): what the frame's max over 16 tiles starts from.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { createDetector, type RawImage } from '../src/runtime/node.js';
import { Detector } from '../src/runtime/core/detector.js';
import { webPlatform, type OrtWebModuleLike } from '../src/runtime/web/platform.js';
import { decodeImageFile, FASHION_MNIST_CLASSES, NAMED_DATASETS } from '../src/data/index.js';
import { evaluateModel } from '../src/eval/index.js';
import { rocAuc } from '../src/eval/metrics.js';
import { holdsCentre } from '../src/eval/localisation.js';
import { exportRun } from '../src/export/index.js';
import { DEFAULT_TRAIN_CONFIG, train } from '../src/train/trainer.js';
import { FRAME, makePatchFrames } from '../scripts/patch-frames.js';
import type { Tiling } from '../src/types.js';

const { values: a } = parseArgs({
  options: {
    classes: { type: 'string', default: '1,8' },
    seeds: { type: 'string', default: '0,1,2' },
    'normal-frames': { type: 'string', default: '1000' },
    'abnormal-frames': { type: 'string', default: '200' },
    ngf: { type: 'string', default: '64' },
    'batch-size': { type: 'string', default: '64' },
    out: { type: 'string', default: 'bench/results/patch-models.json' },
    keep: { type: 'string' },
    reuse: { type: 'boolean' },
  },
});
const classes = a.classes!.split(',').map(Number);
const seeds = a.seeds!.split(',').map(Number);
const normalFrames = Number(a['normal-frames']);
const abnormalFrames = Number(a['abnormal-frames']);
const ngf = Number(a.ngf);
const batchSize = Number(a['batch-size']);
const work = a.keep ?? mkdtempSync(path.join(os.tmpdir(), 'ganomaly-patch-'));
const idxDir = process.env[NAMED_DATASETS['fashion-mnist'].env] || NAMED_DATASETS['fashion-mnist'].dir;

const TILE = 32;
const tiling: Tiling = { tile: TILE, stride: TILE, frame: { width: FRAME, height: FRAME }, reduce: 'max' };
const tilesPerFrame = (FRAME / TILE) ** 2;
// The loader's split of the normal frames (split.ts): 20 % test, 10 % of the rest validation.
const nTest = Math.round(normalFrames * 0.2);
const nTrainFrames = normalFrames - nTest - Math.round((normalFrames - nTest) * 0.1);
const tiledSteps = Math.floor((nTrainFrames * tilesPerFrame) / batchSize);
const wholeStepsPerEpoch = Math.floor(nTrainFrames / batchSize);
const wholeEpochs = Math.ceil(tiledSteps / wholeStepsPerEpoch);
const budget = { ngf, batchSize, trainFrames: nTrainFrames, tiled: { epochs: 1, steps: tiledSteps }, whole: { epochs: wholeEpochs, steps: wholeEpochs * wholeStepsPerEpoch } };

type Kind = 'item' | 'defect';
interface Row {
  heldOut: string; seed: number; model: 'whole' | 'tiled'; trainSeconds: number; steps: number;
  auc: Record<Kind, number>; ap: Record<Kind, number>; localisation: Record<Kind, number | null>;
  /** Patch model: ROC AUC of single tiles (the anomaly's tile vs normal frames' tiles). */
  tileAuc?: Record<Kind, number>;
}
const rows: Row[] = [];
// --reuse keeps the training times an earlier run of this bench wrote.
const previous: Row[] = a.reuse && existsSync(a.out!) ? (JSON.parse(readFileSync(a.out!, 'utf8')) as { rows: Row[] }).rows : [];
let cost: Record<string, unknown> | null = null;
const t0 = Date.now();

for (const cls of classes) {
  for (const seed of seeds) {
    const dataDir = path.join(work, `data-${cls}-${seed}`);
    const frames = a.reuse && existsSync(dataDir)
      ? { item: `folder:${path.join(dataDir, 'item')}`, defect: `folder:${path.join(dataDir, 'defect')}` }
      : await makePatchFrames({ idxDir, heldOut: cls, normalFrames, abnormalFrames, seed, out: dataDir });
    for (const model of ['whole', 'tiled'] as const) {
      const run = path.join(work, `run-${cls}-${seed}-${model}`);
      const dir = path.join(work, `model-${cls}-${seed}-${model}`);
      const reused = a.reuse && existsSync(path.join(dir, 'manifest.json'));
      let steps = 0;
      let trainSeconds = previous.find((r) => r.heldOut === FASHION_MNIST_CLASSES[cls] && r.seed === seed && r.model === model)?.trainSeconds ?? NaN;
      if (!reused) {
        const ts = Date.now();
        await train({
          ...DEFAULT_TRAIN_CONFIG, data: frames.item, out: run, seed, batchSize,
          epochs: model === 'tiled' ? 1 : wholeEpochs,
          model: { ...DEFAULT_TRAIN_CONFIG.model, ngf, ndf: ngf },
          ...(model === 'tiled' ? { tiling } : {}),
        }, { onProgress: (e) => { if (e.kind === 'step') steps++; } });
        trainSeconds = (Date.now() - ts) / 1000;
        await exportRun(run, { out: dir, force: true, precisions: ['fp32'], parityImages: 4 });
      } else steps = model === 'tiled' ? tiledSteps : wholeEpochs * wholeStepsPerEpoch;
      const row: Row = { heldOut: FASHION_MNIST_CLASSES[cls]!, seed, model, trainSeconds, steps, auc: {} as Row['auc'], ap: {} as Row['ap'], localisation: {} as Row['localisation'] };
      for (const kind of ['item', 'defect'] as const) {
        const result = await evaluateModel({ model: dir, data: frames[kind] });
        const { report } = result;
        row.auc[kind] = report.ganomaly.rocAuc;
        row.ap[kind] = report.ganomaly.averagePrecision;
        row.localisation[kind] = report.localisation?.share ?? null;
        if (model === 'tiled') (row.tileAuc ??= {} as Record<Kind, number>)[kind] = await tileAuc(dir, frames[kind], result.test);
      }
      rows.push(row);
      process.stderr.write(`${row.heldOut} seed ${seed} ${model}: ${steps} steps ${trainSeconds.toFixed(0)} s; AUC item ${row.auc.item.toFixed(3)} defect ${row.auc.defect.toFixed(3)}${row.tileAuc ? `; tile AUC item ${row.tileAuc.item.toFixed(3)} defect ${row.tileAuc.defect.toFixed(3)}` : ''}\n`);
    }
    cost ??= await measureCost(path.join(work, `model-${cls}-${seed}-whole`), path.join(work, `model-${cls}-${seed}-tiled`), frames.item);
  }
}

/**
 * Tile-level ROC AUC on the eval's test frames: positives are the tiles holding each abnormal
 * frame's anomaly (anomalies.json), negatives every tile of the normal frames.
 */
async function tileAuc(model: string, spec: string, test: { labels: Uint8Array; sources: string[] }): Promise<number> {
  const dir = spec.replace(/^folder:/, '');
  const boxes = JSON.parse(readFileSync(path.join(dir, 'anomalies.json'), 'utf8')) as Record<string, { x: number; y: number; width: number; height: number }>;
  const d = await createDetector({ model, executionProviders: ['cpu'], logger: null });
  const scores: number[] = [];
  const labels: number[] = [];
  try {
    const results = await d.score(test.sources.map((s) => path.join(dir, s)), { outputs: ['tiles'] });
    results.forEach((r, i) => {
      const truth = boxes[test.sources[i]!];
      for (const t of r.tiles!) {
        if (test.labels[i] === 0) {
          scores.push(t.score);
          labels.push(0);
        } else if (truth && holdsCentre(t.box, truth)) {
          scores.push(t.score);
          labels.push(1);
        }
      }
    });
  } finally {
    await d.dispose();
  }
  return rocAuc(Float64Array.from(scores), Uint8Array.from(labels));
}

/** ms per frame at batch 1 and frames/s at batch 64, both models, node CPU and web WASM. */
async function measureCost(whole: string, tiled: string, spec: string): Promise<Record<string, unknown>> {
  const dir = spec.replace(/^folder:/, '');
  const frames: RawImage[] = [];
  for (let i = 0; i < 64; i++) frames.push(await decodeImageFile(path.join(dir, 'normal', `n${String(i).padStart(5, '0')}.png`)));
  const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
  const ortWeb = (await import('onnxruntime-web')) as unknown as OrtWebModuleLike;
  const out: Record<string, unknown> = {};
  for (const [name, model] of [['whole', whole], ['tiled', tiled]] as const) {
    for (const runtime of ['node-cpu', 'web-wasm'] as const) {
      const d = runtime === 'node-cpu'
        ? await createDetector({ model, executionProviders: ['cpu'], maxBatch: 64, logger: null })
        : await Detector.create<RawImage>(webPlatform(async () => ortWeb, 'wasm'), {
            model: { manifest: JSON.parse(readFileSync(path.join(model, 'manifest.json'), 'utf8')), detector: new Uint8Array(readFileSync(path.join(model, 'detector.onnx'))) },
            executionProviders: ['wasm'], maxBatch: 64, logger: null,
          });
      try {
        await d.score(frames.slice(0, 4));
        const one: number[] = [];
        for (let i = 0; i < 30; i++) {
          const s = performance.now();
          await d.score(frames[i]!);
          one.push(performance.now() - s);
        }
        const batch: number[] = [];
        for (let i = 0; i < 5; i++) {
          const s = performance.now();
          await d.score(frames);
          batch.push(performance.now() - s);
        }
        out[`${name}/${runtime}`] = { msPerFrameBatch1: median(one), framesPerSecBatch64: 64 / (median(batch) / 1000) };
      } finally {
        await d.dispose();
      }
    }
  }
  return out;
}

const kinds = ['item', 'defect'] as const;
const mean = (model: string, f: (r: Row) => number | null) => {
  const xs = rows.filter((r) => r.model === model).map(f).filter((x): x is number => x !== null);
  return xs.length ? xs.reduce((s, x) => s + x, 0) / xs.length : null;
};
const fmt = (x: number | null) => (x === null ? '-' : x.toFixed(3));
console.log(`\nPatch vs whole-frame, Fashion-MNIST frames ${FRAME}x${FRAME} (4x4 items), ${normalFrames} normal + ${abnormalFrames} per anomaly kind, budget ${JSON.stringify(budget)}, ${((Date.now() - t0) / 60000).toFixed(1)} min`);
console.log(`${'held out'.padEnd(10)} ${'seed'.padStart(4)} ${'model'.padEnd(6)} ${'AUC item'.padStart(9)} ${'AUC defect'.padStart(10)} ${'AP item'.padStart(8)} ${'AP defect'.padStart(9)} ${'loc item'.padStart(9)} ${'loc defect'.padStart(10)} ${'train s'.padStart(8)}`);
for (const r of rows) {
  console.log(`${r.heldOut.padEnd(10)} ${String(r.seed).padStart(4)} ${r.model.padEnd(6)} ${fmt(r.auc.item).padStart(9)} ${fmt(r.auc.defect).padStart(10)} ${fmt(r.ap.item).padStart(8)} ${fmt(r.ap.defect).padStart(9)} ${fmt(r.localisation.item).padStart(9)} ${fmt(r.localisation.defect).padStart(10)} ${r.trainSeconds.toFixed(0).padStart(8)}`);
}
const summary = Object.fromEntries(['whole', 'tiled'].map((m) => [m, Object.fromEntries(kinds.flatMap((k) => [
  [`auc_${k}`, mean(m, (r) => r.auc[k])], [`ap_${k}`, mean(m, (r) => r.ap[k])], [`localisation_${k}`, mean(m, (r) => r.localisation[k])],
  [`tileAuc_${k}`, mean(m, (r) => r.tileAuc?.[k] ?? null)],
]))]));
for (const [m, s] of Object.entries(summary)) console.log(`mean ${m.padEnd(6)} ${Object.entries(s).map(([k, v]) => `${k} ${fmt(v)}`).join('  ')}`);
console.log('cost:', JSON.stringify(cost));
mkdirSync(path.dirname(a.out!), { recursive: true });
writeFileSync(a.out!, `${JSON.stringify({
  date: new Date().toISOString(),
  machine: { cpu: os.cpus()[0]?.model, cores: os.cpus().length, node: process.version, note: process.env.BENCH_NOTE ?? null },
  data: { frame: FRAME, tile: TILE, normalFrames, abnormalFrames, kinds: { item: 'one cell replaced by an item of the held-out class', defect: 'a 1-px scratch (6-10 px) or a radius-2 blob on one item, contrasting colour' } },
  budget, rows, summary, cost,
}, null, 2)}\n`);
console.log(`wrote ${a.out}`);
