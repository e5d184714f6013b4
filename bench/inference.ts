// Inference speed of an exported model on CPU: the Node runtime against a bare onnxruntime-node
// session on the same detector.onnx (so the runtime's overhead is a ratio), the three separate
// graphs against the fused one, onnxruntime-web's WASM build in Node, and the tfjs model's own
// forward pass. Each section runs in its own child process, one after another, so every section's
// peak RSS is its own and onnxruntime-web's process-wide thread count can differ per section.
//
// Run (offline, with what the project installs):
//   npx esbuild bench/inference.ts --bundle --platform=node --format=esm --packages=external \
//     --outfile=.tmp/bench-inference.mjs && node .tmp/bench-inference.mjs [--model <dir>] [--run <dir>] [--quick] [--out <file>]
// --model: an exported model folder (default: the one folder under models/ with a manifest.json)
// --run:   a training run folder whose checkpoint the tfjs section loads (default: random weights of
//          the manifest's architecture; speed does not depend on weight values)
// --out:   where the JSON goes (default bench/results/inference.json)
// --only:  comma-separated sections to run (default all; see SECTIONS)
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { createHash } from 'node:crypto';
import type { Manifest } from '../src/types.js';

interface Args { model: string; run?: string; quick: boolean; out: string; section?: string; only?: string[] }

interface Row {
  batch: number; runs: number; medianMs: number; minMs: number; p90Ms: number;
  /** Score of the first image in the last run: every variant on the same weights must agree. */
  firstScore: number;
}

interface SectionResult {
  section: string;
  variant: string;
  note?: string;
  rows: Row[];
  /** process.resourceUsage().maxRSS of the section's child process, MiB. */
  peakRssMiB: number;
  error?: string;
  /** Why the section did not apply here (not a failure). */
  skipped?: string;
}

/** Section name → what the table calls it. Order = run order. */
const SECTIONS: Record<string, string> = {
  'ort-node': 'onnxruntime-node, detector.onnx (bare session)',
  'runtime-raw': 'runtime createDetector, raw pixels',
  'runtime-png': 'runtime createDetector, PNG files',
  'ort-node-chain': 'onnxruntime-node, GE → GD → E chained + JS score',
  'ort-web-1': 'onnxruntime-web wasm, 1 thread',
  'ort-web-2': 'onnxruntime-web wasm, 2 threads',
  'tfjs-wasm': 'tfjs wasm backend (XNNPACK), GanomalyModel.score',
  'tfjs-wasm-onednn': 'tfjs wasm backend + oneDNN addon, GanomalyModel.score',
  'tfjs-cpu': 'tfjs cpu backend, GanomalyModel.score',
};

const BATCHES = [1, 8, 64];

/** Environment per section: the plain wasm row keeps the optional native oneDNN kernels off. */
const SECTION_ENV: Record<string, Record<string, string>> = { 'tfjs-wasm': { GANOMALY_NATIVE: '0' } };

/** A section that does not apply on this machine (e.g. the native addon is not built). */
class SkipSection extends Error {
  override name = 'SkipSection';
}

function parse(): Args {
  const { values } = parseArgs({
    options: {
      model: { type: 'string' }, run: { type: 'string' }, quick: { type: 'boolean' },
      out: { type: 'string' }, section: { type: 'string' }, only: { type: 'string' },
    },
  });
  return {
    model: values.model ?? defaultModel(),
    run: values.run,
    quick: Boolean(values.quick),
    out: values.out ?? 'bench/results/inference.json',
    section: values.section,
    only: values.only?.split(',').map((x) => x.trim()),
  };
}

function defaultModel(): string {
  const dirs = existsSync('models')
    ? readdirSync('models').filter((d) => existsSync(path.join('models', d, 'manifest.json'))).sort()
    : [];
  if (dirs.length === 0) throw new Error('no model folder under models/; pass --model <dir> (an exported model folder)');
  return path.join('models', dirs[0]!);
}

/**
 * Runs `fn` after warm-up and returns the timings of the timed runs. Counts shrink for slow
 * variants: warm-up stops after ~3 s, timing after ~15 s (but never fewer than 5 timed runs).
 */
async function measure(fn: () => Promise<ArrayLike<number>>, batch: number, quick: boolean): Promise<Row> {
  const [warm, timed] = quick ? (batch === 1 ? [5, 15] : [2, 6]) : batch === 1 ? [20, 50] : batch === 8 ? [10, 30] : [5, 15];
  const warmUntil = performance.now() + 3000;
  for (let i = 0; i < warm && (i < 1 || performance.now() < warmUntil); i++) await fn();
  const times: number[] = [];
  let last: ArrayLike<number> = [NaN];
  const timeUntil = performance.now() + (quick ? 5000 : 15000);
  while (times.length < timed && (times.length < 5 || performance.now() < timeUntil)) {
    const t0 = performance.now();
    last = await fn();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  const q = (p: number) => times[Math.min(times.length - 1, Math.floor(p * times.length))]!;
  const median = times.length % 2 ? q(0.5) : (times[times.length / 2 - 1]! + times[times.length / 2]!) / 2;
  return { batch, runs: times.length, medianMs: median, minMs: times[0]!, p90Ms: q(0.9), firstScore: last[0]! };
}

/** Deterministic 8-bit test pixels (content does not change the speed of these graphs). */
function pixels(n: number, size: number): Uint8Array[] {
  let s = 12345;
  return Array.from({ length: n }, () => Uint8Array.from({ length: size }, () => ((s = (s * 1103515245 + 12345) >>> 0) >>> 24)));
}

interface Ctx { args: Args; manifest: Manifest; dir: string }

/** The float input every ORT/tfjs variant gets: the shared preprocessing of the same pixels. */
async function floatBatch(ctx: Ctx, n: number, layout: 'CHW' | 'HWC'): Promise<Float32Array> {
  const { preprocessImage } = await import('../src/runtime/core/pixels.js');
  const pre = ctx.manifest.preprocessing;
  const { isize, nc } = ctx.manifest.model;
  const per = isize * isize * nc;
  const out = new Float32Array(n * per);
  pixels(n, per).forEach((data, i) => preprocessImage({ data, width: isize, height: isize, channels: nc }, pre, layout, out, i * per));
  return out;
}

type Section = (ctx: Ctx) => Promise<{ rows: Row[]; note?: string }>;

const ORT_OPTIONS = { executionProviders: ['cpu'], graphOptimizationLevel: 'all', logSeverityLevel: 3 } as const;

/** The minimal scoring loop shared by both ONNX Runtime packages: float NCHW in, 'score' out. */
interface OrtLike {
  Tensor: new (type: 'float32', data: Float32Array, dims: number[]) => unknown;
}
interface ScoreSession {
  run(feeds: Record<string, unknown>, fetches: string[]): Promise<Record<string, { data: unknown }>>;
  release(): Promise<void>;
}
async function scoreOnlyRows(ctx: Ctx, ort: OrtLike, s: ScoreSession): Promise<Row[]> {
  const { isize, nc } = ctx.manifest.model;
  const rows: Row[] = [];
  for (const b of BATCHES) {
    const x = await floatBatch(ctx, b, 'CHW');
    const run = async () => (await s.run({ x: new ort.Tensor('float32', x, [b, nc, isize, isize]) }, ['score'])).score!.data as Float32Array;
    rows.push(await measure(run, b, ctx.args.quick));
  }
  await s.release();
  return rows;
}

const ortNode: Section = async (ctx) => {
  const ort = await import('onnxruntime-node');
  const s = await ort.InferenceSession.create(readFileSync(path.join(ctx.dir, 'detector.onnx')), { ...ORT_OPTIONS });
  return { rows: await scoreOnlyRows(ctx, ort as unknown as OrtLike, s as unknown as ScoreSession), note: "fetches only 'score', as the runtime does; default intra-op threads" };
};
const ortNodeChain: Section = async (ctx) => {
  const ort = await import('onnxruntime-node');
  const { isize, nc, nz, scoreKind } = ctx.manifest.model;
  const load = (f: string) => ort.InferenceSession.create(readFileSync(path.join(ctx.dir, f)), { ...ORT_OPTIONS });
  const [ge, gd, e] = await Promise.all(['GE.onnx', 'GD.onnx', 'E.onnx'].map(load));
  const rows: Row[] = [];
  for (const b of BATCHES) {
    const x = await floatBatch(ctx, b, 'CHW');
    rows.push(await measure(async () => {
      const z = (await ge!.run({ x: new ort.Tensor('float32', x, [b, nc, isize, isize]) })).z!.data as Float32Array;
      const xHat = (await gd!.run({ z: new ort.Tensor('float32', z, [b, nz]) })).x_hat!;
      const zHat = (await e!.run({ x_hat: xHat })).z_hat!.data as Float32Array;
      const scores = new Float32Array(b);
      for (let i = 0; i < b; i++) {
        let acc = 0;
        for (let k = i * nz; k < (i + 1) * nz; k++) acc += scoreKind === 'l2' ? (z[k]! - zHat[k]!) ** 2 : Math.abs(z[k]! - zHat[k]!);
        scores[i] = acc / nz;
      }
      return scores;
    }, b, ctx.args.quick));
  }
  await Promise.all([ge, gd, e].map((s) => s!.release()));
  return { rows };
};

const runtimeRaw: Section = async (ctx) => {
  const { createDetector } = await import('../src/runtime/node.js');
  const { isize, nc } = ctx.manifest.model;
  const det = await createDetector({ model: ctx.dir, executionProviders: ['cpu'], maxBatch: 64, logger: null });
  const rows: Row[] = [];
  for (const b of BATCHES) {
    const imgs = pixels(b, isize * isize * nc).map((data) => ({ data, width: isize, height: isize, channels: nc }));
    rows.push(await measure(async () => (b === 1 ? [(await det.score(imgs[0]!)).score] : (await det.score(imgs)).map((r) => r.score)), b, ctx.args.quick));
  }
  await det.dispose();
  return { rows, note: `raw ${isize}x${isize}x${nc} pixels: preprocessing and batching included, decoding excluded` };
};

const runtimePng: Section = async (ctx) => {
  const { createDetector } = await import('../src/runtime/node.js');
  const sharp = (await import('sharp')).default;
  const { isize, nc } = ctx.manifest.model;
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'ganomaly-bench-'));
  try {
    const files: string[] = [];
    for (const [i, data] of pixels(64, isize * isize * nc).entries()) {
      const f = path.join(tmp, `img-${i}.png`);
      await sharp(Buffer.from(data), { raw: { width: isize, height: isize, channels: nc } }).png().toFile(f);
      files.push(f);
    }
    const det = await createDetector({ model: ctx.dir, executionProviders: ['cpu'], maxBatch: 64, logger: null });
    const rows: Row[] = [];
    for (const b of [1, 64]) {
      rows.push(await measure(async () => (b === 1 ? [(await det.score(files[0]!)).score] : (await det.score(files.slice(0, b))).map((r) => r.score)), b, ctx.args.quick));
    }
    await det.dispose();
    return { rows, note: `${isize}x${isize} PNG files on disk: read + sharp decode included` };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
};

const ortWeb = (threads: number): Section => async (ctx) => {
  const ort = await import('onnxruntime-web');
  ort.env.wasm.numThreads = threads;
  const s = await ort.InferenceSession.create(readFileSync(path.join(ctx.dir, 'detector.onnx')), { executionProviders: ['wasm'], graphOptimizationLevel: 'all' });
  return { rows: await scoreOnlyRows(ctx, ort as unknown as OrtLike, s as unknown as ScoreSession), note: `env.wasm.numThreads = ${ort.env.wasm.numThreads}` };
};

const tfjs = (backend: 'wasm' | 'cpu', wantNative = false): Section => async (ctx) => {
  const tf = await import('@tensorflow/tfjs');
  const { selectBackend } = await import('../src/backend/index.js');
  const { GanomalyModel } = await import('../src/train/model.js');
  const sel = await selectBackend(backend);
  // select.ts names the native path 'wasm + oneDNN …'; the fallback's reason says why oneDNN is off.
  if (wantNative && !sel.reason.startsWith('wasm + oneDNN')) throw new SkipSection(`native oneDNN kernels not active: ${sel.reason}`);
  let model: import('../src/train/model.js').GanomalyModel;
  let weights: string;
  if (ctx.args.run) {
    const { readRunFolder } = await import('../src/export/runFolder.js');
    const run = await readRunFolder(ctx.args.run);
    model = GanomalyModel.fromWeights(run.config.model, run.weights);
    weights = `checkpoint of ${ctx.args.run}`;
  } else {
    model = GanomalyModel.create(ctx.manifest.model, 0);
    weights = "random weights of the manifest's architecture (speed does not depend on weight values)";
  }
  const { isize, nc } = model.config;
  const rows: Row[] = [];
  for (const b of backend === 'cpu' ? [1] : BATCHES) {
    const x = await floatBatch(ctx, b, 'HWC');
    rows.push(await measure(async () => {
      const input = tf.tensor4d(x, [b, isize, isize, nc]);
      const s = model.score(input);
      const out = await s.data();
      input.dispose();
      s.dispose();
      return out;
    }, b, ctx.args.quick));
  }
  model.dispose();
  return { rows, note: `${sel.reason}; ${weights}${backend === 'cpu' ? '; batch 1 only (pure JS is slow)' : ''}` };
};

const RUNNERS: Record<string, Section> = {
  'ort-node': ortNode,
  'runtime-raw': runtimeRaw,
  'runtime-png': runtimePng,
  'ort-node-chain': ortNodeChain,
  'ort-web-1': ortWeb(1),
  'ort-web-2': ortWeb(2),
  'tfjs-wasm': tfjs('wasm'),
  'tfjs-wasm-onednn': tfjs('wasm', true),
  'tfjs-cpu': tfjs('cpu'),
};

function readManifest(dir: string): Manifest {
  return JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as Manifest;
}

/** Child mode: run one section, print its result as the last stdout line. */
async function child(args: Args, name: string): Promise<void> {
  const runner = RUNNERS[name];
  if (!runner) throw new Error(`unknown section '${name}'`);
  const ctx = { args, manifest: readManifest(args.model), dir: args.model };
  let res: SectionResult;
  try {
    const { rows, note } = await runner(ctx);
    res = { section: name, variant: SECTIONS[name]!, note, rows, peakRssMiB: process.resourceUsage().maxRSS / 1024 };
  } catch (e) {
    if (!(e instanceof SkipSection)) throw e;
    res = { section: name, variant: SECTIONS[name]!, rows: [], peakRssMiB: 0, skipped: e.message };
  }
  process.stdout.write(`\n${JSON.stringify(res)}\n`);
  // onnxruntime-web's worker threads can keep the process alive.
  process.exit(0);
}

function runChild(args: Args, name: string): Promise<SectionResult> {
  const argv = [process.argv[1]!, '--section', name, '--model', args.model, ...(args.run ? ['--run', args.run] : []), ...(args.quick ? ['--quick'] : [])];
  return new Promise((resolve) => {
    const p = spawn(process.execPath, argv, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...SECTION_ENV[name] } });
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => (out += d));
    p.stderr.on('data', (d: Buffer) => (err += d));
    p.on('close', (code) => {
      const last = out.trim().split('\n').pop() ?? '';
      try {
        if (code !== 0) throw new Error(`exit ${code}`);
        resolve(JSON.parse(last) as SectionResult);
      } catch (e) {
        const why = err.trim().split('\n').filter(Boolean).slice(-3).join(' | ') || (e as Error).message;
        resolve({ section: name, variant: SECTIONS[name]!, rows: [], peakRssMiB: 0, error: why });
      }
    });
  });
}

/** Same weights, same pixels: every variant must give image 0 this score (float32 reordering only). */
const AGREEMENT_TOLERANCE = 1e-4;

function checkAgreement(results: SectionResult[], tfjsHasWeights: boolean) {
  const excluded = tfjsHasWeights ? [] : results.filter((r) => r.section.startsWith('tfjs')).map((r) => r.section);
  const rows = results.filter((r) => !excluded.includes(r.section)).flatMap((r) => r.rows);
  const reference = results.find((r) => r.section === 'ort-node')?.rows[0]?.firstScore ?? NaN;
  const maxAbsDiff = rows.reduce((m, r) => Math.max(m, Math.abs(r.firstScore - reference)), 0);
  return { reference, maxAbsDiff: Number.isNaN(reference) ? NaN : maxAbsDiff, tolerance: AGREEMENT_TOLERANCE, excluded };
}

const f = (x: number, d = 2) => (x >= 100 ? x.toFixed(0) : x.toFixed(d));

function table(results: SectionResult[]): string {
  const bare = new Map(results.find((r) => r.section === 'ort-node')?.rows.map((r) => [r.batch, r.medianMs]) ?? []);
  const lines = [
    '| variant | batch | median ms/batch | ms/image | images/s | × bare ORT | runs | peak RSS MiB |',
    '|---|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const s of results) {
    if (s.error || s.skipped) {
      const why = (s.error ? `failed: ${s.error}` : `not run: ${s.skipped}`).replace(/\|/g, '/');
      lines.push(`| ${s.variant} | – | ${why} | | | | | |`);
      continue;
    }
    for (const r of s.rows) {
      const ref = bare.get(r.batch);
      const ratio = ref ? (r.medianMs / ref).toFixed(2) : '–';
      lines.push(`| ${s.variant} | ${r.batch} | ${f(r.medianMs)} | ${f(r.medianMs / r.batch)} | ${f((1000 * r.batch) / r.medianMs, 0)} | ${ratio} | ${r.runs} | ${s.peakRssMiB.toFixed(0)} |`);
    }
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const args = parse();
  if (args.section) return child(args, args.section);
  const manifest = readManifest(args.model);
  const detectorBytes = readFileSync(path.join(args.model, 'detector.onnx'));
  const cpus = os.cpus();
  const { version: ortNodeVersion } = JSON.parse(readFileSync('node_modules/onnxruntime-node/package.json', 'utf8')) as { version: string };
  const { version: ortWebVersion } = JSON.parse(readFileSync('node_modules/onnxruntime-web/package.json', 'utf8')) as { version: string };
  const { version: tfjsVersion } = JSON.parse(readFileSync('node_modules/@tensorflow/tfjs/package.json', 'utf8')) as { version: string };
  const machine = {
    cpuModel: cpus[0]?.model ?? 'unknown',
    cpuCount: cpus.length,
    totalMemGiB: +(os.totalmem() / 2 ** 30).toFixed(1),
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    loadAverageAtStart: os.loadavg().map((x) => +x.toFixed(2)),
  };
  console.log(`model ${args.model} (${manifest.name}: isize ${manifest.model.isize}, nc ${manifest.model.nc}, nz ${manifest.model.nz}, ngf ${manifest.model.ngf})`);
  console.log(`${machine.cpuCount} x ${machine.cpuModel}, ${machine.os}, node ${machine.node}, load ${machine.loadAverageAtStart.join(' ')}${args.quick ? ' (--quick)' : ''}`);
  const results: SectionResult[] = [];
  const unknown = args.only?.filter((n) => !(n in SECTIONS)) ?? [];
  if (unknown.length > 0) throw new Error(`unknown section(s) ${unknown.join(', ')}; choose from ${Object.keys(SECTIONS).join(', ')}`);
  for (const name of Object.keys(SECTIONS).filter((n) => !args.only || args.only.includes(n))) {
    process.stdout.write(`  ${name} … `);
    const r = await runChild(args, name);
    console.log(r.error ? `failed: ${r.error}` : r.skipped ? `not run: ${r.skipped}` : r.rows.map((x) => `b${x.batch} ${f(x.medianMs)} ms`).join(', '));
    results.push(r);
  }
  const agreement = checkAgreement(results, Boolean(args.run));
  const md = table(results);
  console.log(`\n${md}\n`);
  for (const r of results) if (r.note) console.log(`- ${r.variant}: ${r.note}`);
  console.log(`\nscore of image 0: ${agreement.reference}; largest difference between variants and batch sizes ${agreement.maxAbsDiff.toExponential(1)}${agreement.excluded.length ? ` (${agreement.excluded.join(', ')} excluded: random weights)` : ''}`);
  const json = {
    date: new Date().toISOString(),
    machine: { ...machine, loadAverageAtEnd: os.loadavg().map((x) => +x.toFixed(2)) },
    versions: { 'onnxruntime-node': ortNodeVersion, 'onnxruntime-web': ortWebVersion, '@tensorflow/tfjs': tfjsVersion },
    model: {
      dir: args.model, name: manifest.name, config: manifest.model, opset: manifest.opset,
      detectorBytes: detectorBytes.length, detectorSha256: createHash('sha256').update(detectorBytes).digest('hex'),
    },
    method: {
      statistic: 'median wall time per call over the timed runs, after warm-up; ratio = median / bare onnxruntime-node median at the same batch',
      runs: args.quick ? 'quick: warm-up 5 (batch 1) / 2, timed 15 / 6' : 'warm-up 20 (batch 1) / 10 (batch 8) / 5 (batch 64), timed 50 / 30 / 15; slow variants: warm-up capped at ~3 s, timing at ~15 s, at least 5 timed runs',
      processes: 'one child process per section, run one after another; peakRssMiB = that child\'s process.resourceUsage().maxRSS (includes Node itself)',
      tfjsWeights: args.run ? `checkpoint of ${args.run}` : 'random weights of the manifest architecture (speed does not depend on weight values)',
    },
    agreement,
    results,
    table: md,
  };
  mkdirSync(path.dirname(args.out), { recursive: true });
  writeFileSync(args.out, `${JSON.stringify(json, null, 2)}\n`);
  console.log(`\nwrote ${args.out}`);
  if (!(agreement.maxAbsDiff <= AGREEMENT_TOLERANCE)) {
    console.error(`the variants disagree on the score by ${agreement.maxAbsDiff} (> ${AGREEMENT_TOLERANCE}): they do not compute the same thing, so their timings are not comparable`);
    process.exitCode = 1;
  }
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
