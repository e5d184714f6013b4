// FP32 vs FP16 vs INT8 detectors of one model folder, side by side in one run: file size (raw and
// gzip), test-split ROC AUC / AP through the Node runtime (the same split as training, via
// evaluateModel), and ONNX Runtime speed per precision — session creation and batch 1 / 64 runs on
// onnxruntime-node (CPU) and onnxruntime-web (WASM, 1 thread, in Node). Medians.
// Prints a table and writes bench/results/precision.json.
//
//   npm run bench:precision [-- --model models/<name>] [--quick]
import { readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';
import * as ortNode from 'onnxruntime-node';
import * as ortWeb from 'onnxruntime-web';
import { evaluateModel } from '../src/eval/index.js';
import { ORT_CONFIG_ENTRIES, parseManifest } from '../src/runtime/node.js';
import type { Precision } from '../src/types.js';

const { values } = parseArgs({
  options: { model: { type: 'string', default: 'models/fashion-mnist-trouser' }, out: { type: 'string', default: 'bench/results/precision.json' }, quick: { type: 'boolean' } },
});
const dir = resolve(values.model!);
const manifest = parseManifest(await readFile(join(dir, 'manifest.json'), 'utf8'));
const { isize, nc } = manifest.model;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const RUNS = values.quick ? { create: 2, b1: 10, b64: 3 } : { create: 5, b1: 50, b64: 10 };
ortWeb.env.wasm.numThreads = 1;

type Ort = typeof ortNode;

async function speed(ort: Ort, provider: string, bytes: Uint8Array) {
  const create: number[] = [];
  let session!: ortNode.InferenceSession;
  for (let i = 0; i < RUNS.create; i++) {
    const t0 = performance.now();
    const s = await ort.InferenceSession.create(bytes, { executionProviders: [provider], graphOptimizationLevel: 'all', extra: ORT_CONFIG_ENTRIES });
    create.push(performance.now() - t0);
    if (i < RUNS.create - 1) await s.release();
    else session = s;
  }
  const run = async (batch: number, n: number) => {
    const x = new Float32Array(batch * nc * isize * isize).map((_, i) => Math.sin(i * 0.01));
    const feeds = { x: new ort.Tensor('float32', x, [batch, nc, isize, isize]) };
    await session.run(feeds); // warm-up
    const ms: number[] = [];
    for (let i = 0; i < n; i++) {
      const t0 = performance.now();
      await session.run(feeds);
      ms.push(performance.now() - t0);
    }
    return median(ms);
  };
  const r = { createMs: median(create), batch1Ms: await run(1, RUNS.b1), batch64Ms: await run(64, RUNS.b64) };
  await session.release();
  return r;
}

const rows: Record<string, unknown>[] = [];
const precisions: Precision[] = ['fp32', ...(Object.keys(manifest.variants ?? {}) as Precision[])];
for (const precision of precisions) {
  const file = precision === 'fp32' ? 'detector.onnx' : manifest.variants![precision as 'fp16' | 'int8']!.file;
  const bytes = new Uint8Array(await readFile(join(dir, file)));
  process.stderr.write(`${precision}: evaluating…\n`);
  const { report } = await evaluateModel({ model: dir, precision, executionProviders: ['cpu'] });
  process.stderr.write(`${precision}: timing…\n`);
  rows.push({
    precision, file, bytes: bytes.length, gzipBytes: gzipSync(bytes).length,
    rocAuc: report.ganomaly.rocAuc, averagePrecision: report.ganomaly.averagePrecision,
    threshold: report.threshold.value, recallAtThreshold: report.ganomaly.atThreshold?.recall ?? null,
    calibrationCheck: report.calibrationCheck?.ok ?? null,
    ortNode: await speed(ortNode, 'cpu', bytes),
    ortWebWasm1Thread: await speed(ortWeb as unknown as Ort, 'wasm', bytes),
  });
}

const fp32 = rows[0] as { bytes: number; rocAuc: number; averagePrecision: number };
const result = {
  date: new Date().toISOString(),
  machine: '2 cores, Node 20; ORT node CPU EP and ORT web WASM (1 thread) in Node; medians',
  model: manifest.name,
  split: manifest.split,
  runs: RUNS,
  rows,
};
await writeFile(values.out!, `${JSON.stringify(result, null, 2)}\n`);

console.log(`\n${manifest.name}: precision variants (test split ${manifest.split?.testNormal} normal + ${manifest.split?.testAbnormal} abnormal)`);
console.log('| precision | bytes | % of fp32 | gzip | ROC AUC | Δ AUC | AP | Δ AP | ORT-node create | batch 1 | batch 64 | ORT-web wasm batch 1 | batch 64 |');
console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
for (const r of rows as { precision: string; bytes: number; gzipBytes: number; rocAuc: number; averagePrecision: number; ortNode: { createMs: number; batch1Ms: number; batch64Ms: number }; ortWebWasm1Thread: { batch1Ms: number; batch64Ms: number } }[]) {
  const mb = (b: number) => `${(b / 1e6).toFixed(2)} MB`;
  const d = (x: number) => `${x >= 0 ? '+' : '−'}${Math.abs(x).toFixed(4)}`;
  console.log(
    `| ${r.precision} | ${mb(r.bytes)} | ${((100 * r.bytes) / fp32.bytes).toFixed(1)} % | ${mb(r.gzipBytes)} | ${r.rocAuc.toFixed(4)} | ${d(r.rocAuc - fp32.rocAuc)} | ${r.averagePrecision.toFixed(4)} | ${d(r.averagePrecision - fp32.averagePrecision)} | ` +
      `${r.ortNode.createMs.toFixed(0)} ms | ${r.ortNode.batch1Ms.toFixed(2)} ms | ${r.ortNode.batch64Ms.toFixed(1)} ms | ${r.ortWebWasm1Thread.batch1Ms.toFixed(2)} ms | ${r.ortWebWasm1Thread.batch64Ms.toFixed(0)} ms |`,
  );
}
console.log(`\nwrote ${values.out}`);
