// Training speed per tfjs backend: seconds per GANomaly step (one G + one D update) and images/s,
// medians after warm-up, every backend in one process run so the ratios hold on a noisy machine;
// each tfjs backend with the fused training kernels (src/backend/fused) and without, and the same
// step in PyTorch (bench/torch-step.py, Debian's python3-torch) as the side-by-side reference.
// Kernel launches per step are counted from tfjs's own profile of one step (tf.profile); on webgpu
// also the GPU dispatches one step records, per kernel name (one kernel can record several).
// --software-webgpu accepts a software WebGPU adapter (SwiftShader) for the webgpu rows, which are
// then labelled as such: for kernel counts and correctness on a machine without a GPU, never speed.
//
//   npx esbuild bench/train-speed.ts --bundle --platform=node --format=esm --packages=external \
//     --outfile=.tmp/train-speed.mjs && node .tmp/train-speed.mjs [--backends wasm,native,torch,webgpu,cpu]
//     [--stock-wasm] [--software-webgpu] [--batch 64] [--ngf 64] [--isize 32] [--steps 8] [--warmup 2] [--out bench/results/train-speed.json]
import * as tf from '@tensorflow/tfjs';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import {
  disableNativeConvKernels, selectBackend, unregisterFastWasmKernels, registerFastWasmKernels, type BackendRequest,
} from '../src/backend/index.js';
import { GanomalyModel } from '../src/train/model.js';
import { GanomalyStep } from '../src/train/step.js';
import { fusedKernelsActive, setFusedKernels } from '../src/backend/fused/ops.js';
import { getThreadsCount } from '@tensorflow/tfjs-backend-wasm';
import { allowSoftwareWebGpuAdapter } from '../src/backend/webgpu-adapter.js';
import { countWebGpuDispatches } from '../src/backend/fused/webgpu-dispatch-count.js';

const { values: a } = parseArgs({
  options: {
    backends: { type: 'string', default: 'tensorflow,webgpu,wasm,native,torch' },
    batch: { type: 'string', default: '64' },
    ngf: { type: 'string', default: '64' },
    isize: { type: 'string', default: '32' },
    steps: { type: 'string', default: '8' },
    warmup: { type: 'string', default: '2' },
    out: { type: 'string', default: 'bench/results/train-speed.json' },
    'stock-wasm': { type: 'boolean', default: false },
    'software-webgpu': { type: 'boolean', default: false },
  },
});
if (a['software-webgpu']) allowSoftwareWebGpuAdapter();
const batch = Number(a.batch);
const ngf = Number(a.ngf);
const isize = Number(a.isize);
const steps = Number(a.steps);
const warmup = Number(a.warmup);

const median = (xs: number[]) => {
  const s = [...xs].sort((p, q) => p - q);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

interface Row {
  variant: string; backend: string; detail: string; fused?: boolean; sPerStep: number | null; minSPerStep?: number;
  imagesPerSec: number | null; samples: number[]; errG: number[];
  /** Kernels tfjs ran for one step (registered kernels in tf.profile's list), and the busiest ones. */
  kernels?: number; topKernels?: [string, number][]; note?: string;
  /** webgpu: GPU dispatches one step records, and per kernel name; whether the adapter is a software one. */
  dispatches?: number; dispatchesByKernel?: Record<string, number>; softwareAdapter?: boolean;
}
const rows: Row[] = [];

/** Kernel launches of one step from tfjs's profile; customGrad scopes appear there too, so only registered kernels count. */
async function countKernels(step: GanomalyStep, x: tf.Tensor4D): Promise<{ kernels: number; topKernels: [string, number][] }> {
  const prof = await tf.profile(async () => {
    await step.run(x);
  });
  const backend = tf.getBackend();
  const counts = new Map<string, number>();
  for (const k of prof.kernels) if (tf.getKernel(k.name, backend) !== undefined) counts.set(k.name, (counts.get(k.name) ?? 0) + 1);
  // webgpu rows keep every name, to set against the dispatches each kernel recorded.
  const topKernels = [...counts].sort((p, q) => q[1] - p[1]).slice(0, backend === 'webgpu' ? undefined : 8);
  return { kernels: [...counts.values()].reduce((p, q) => p + q, 0), topKernels };
}

async function measure(variantIn: string, request: BackendRequest, fused: boolean, before?: () => string | void): Promise<void> {
  let variant = variantIn;
  let sel;
  try {
    sel = await selectBackend(request);
  } catch (e) {
    rows.push({ variant, backend: request, detail: (e as Error).message.split('\n')[0]!.slice(0, 160), sPerStep: null, imagesPerSec: null, samples: [], errG: [], note: 'unavailable' });
    return;
  }
  const detail = before?.() ?? sel.reason;
  setFusedKernels(fused);
  const fusedOn = fusedKernelsActive();
  const model = GanomalyModel.create({ isize, nc: 1, nz: 100, ngf, ndf: ngf, scoreKind: 'l2' }, 1);
  const step = new GanomalyStep(model, { adv: 1, con: 50, enc: 1 }, { lr: 2e-4, beta1: 0.5, beta2: 0.999 }, 1);
  const x = tf.randomUniform([batch, isize, isize, 1], -1, 1, 'float32', 3) as tf.Tensor4D;
  const samples: number[] = [];
  // Same seed, same data on every backend: the G losses show whether the backends compute the same thing.
  const errG: number[] = [];
  let note: string | undefined;
  let counted: { kernels: number; topKernels: [string, number][] } | undefined;
  let gpu: { dispatches: number; dispatchesByKernel: Record<string, number> } | undefined;
  const softwareAdapter = sel.name === 'webgpu' && /software adapter/.test(sel.reason);
  if (softwareAdapter) variant = variant.replace(/^webgpu/, 'webgpu (SOFTWARE adapter)');
  try {
    for (let i = 0; i < warmup + steps; i++) {
      const t0 = performance.now();
      // webgpu: the last timed step also counts its GPU dispatches (wrapping adds microseconds; a step saved on slow adapters).
      const run = () => step.run(x);
      const last = i === warmup + steps - 1 && sel.name === 'webgpu';
      const losses = last ? await countWebGpuDispatches(run) : { result: await run() };
      if ('dispatches' in losses) gpu = { dispatches: losses.dispatches, dispatchesByKernel: Object.fromEntries([...losses.byKernel].sort((p, q) => q[1] - p[1])) };
      errG.push(losses.result.errG); // reads the losses back, so the step has finished on any backend
      const dt = (performance.now() - t0) / 1000;
      if (i >= warmup) samples.push(dt);
      process.stderr.write(`${variant}: step ${i + 1}/${warmup + steps} ${dt.toFixed(3)} s\n`);
    }
    counted = await countKernels(step, x);
  } catch (e) {
    note = `failed: ${(e as Error).message.split('\n')[0]!.slice(0, 160)}`;
  } finally {
    x.dispose();
    step.dispose();
    model.dispose();
  }
  const s = samples.length ? median(samples) : null;
  // The fastest step is the better estimate on a shared machine: other load only ever adds time.
  const min = samples.length ? Math.min(...samples) : undefined;
  rows.push({
    variant, backend: sel.name, detail, fused: fusedOn, sPerStep: s, minSPerStep: min, imagesPerSec: s ? batch / s : null,
    samples, errG, ...counted, ...gpu, ...(sel.name === 'webgpu' ? { softwareAdapter } : {}), note: note ?? (fused && !fusedOn ? 'no fused kernels for this backend: ran the unfused ops' : undefined),
  });
}

/** Which BLAS Debian's torch would load: generic reference BLAS makes its transposed convolutions ~10x slower. */
function blasOf(): string {
  try {
    return realpathSync('/etc/alternatives/libblas.so.3-x86_64-linux-gnu');
  } catch {
    return 'unknown';
  }
}

/** PyTorch rows (1 and 2 threads, NCHW and channels_last) from bench/torch-step.py, or one row saying why not. */
function measureTorch(): void {
  const py = '/usr/bin/python3';
  const file = 'bench/torch-step.py'; // from the repository root, like every other path here
  const r = existsSync(py)
    ? spawnSync(py, [file, '--batch', String(batch), '--isize', String(isize), '--ngf', String(ngf), '--steps', String(steps), '--warmup', String(warmup)], { encoding: 'utf8', maxBuffer: 16 << 20 })
    : undefined;
  if (r === undefined || r.status !== 0) {
    const why = r === undefined ? `${py} not found` : (r.stderr.trim().split('\n').pop() ?? `exit ${r.status}`);
    rows.push({ variant: 'pytorch', backend: 'pytorch', detail: why.slice(0, 160), sPerStep: null, imagesPerSec: null, samples: [], errG: [], note: `skipped (apt-get install python3-torch): ${why.slice(0, 120)}` });
    return;
  }
  const out = JSON.parse(r.stdout) as { torch: string; rows: { threads: number; layout: string; samples: number[]; errG: number[] }[] };
  const blas = blasOf();
  for (const t of out.rows) {
    const sPer = median(t.samples);
    rows.push({
      variant: `pytorch ${t.threads} thread${t.threads > 1 ? 's' : ''}, ${t.layout}`, backend: 'pytorch',
      detail: `torch ${out.torch}, BLAS ${blas}`, sPerStep: sPer, minSPerStep: Math.min(...t.samples), imagesPerSec: batch / sPer,
      samples: t.samples, errG: t.errG,
    });
  }
}

for (const b of a.backends!.split(',').map((s) => s.trim()).filter(Boolean)) {
  if (b === 'wasm') {
    // What a user without the oneDNN addon gets (a fresh process: tfjs cannot switch wasm builds
    // once started): tfjs's single-threaded build, as before, and the threaded one (the default
    // now), each unfused and fused.
    for (const threads of ['1', '']) {
      const out = path.join(os.tmpdir(), `train-speed-wasm-${process.pid}-${threads || 'all'}.json`);
      const child = spawnSync(process.execPath, [
        process.argv[1]!, '--backends', 'wasm-in-process', '--batch', String(batch), '--ngf', String(ngf), '--isize', String(isize),
        '--steps', String(steps), '--warmup', String(warmup), '--out', out, ...(a['stock-wasm'] && threads === '1' ? ['--stock-wasm'] : []),
      ], { env: { ...process.env, GANOMALY_NATIVE: '0', GANOMALY_WASM_THREADS: threads }, stdio: ['ignore', 'ignore', 'inherit'] });
      if (child.status !== 0 || !existsSync(out)) {
        rows.push({ variant: `wasm (${threads ? `${threads} thread` : 'all threads'})`, backend: 'wasm', detail: `child exited ${child.status}`, sPerStep: null, imagesPerSec: null, samples: [], errG: [], note: 'failed' });
        continue;
      }
      rows.push(...(JSON.parse(readFileSync(out, 'utf8')) as { rows: Row[] }).rows);
      rmSync(out, { force: true });
    }
  } else if (b === 'wasm-in-process') {
    if (a['stock-wasm']) {
      // "Before": the stock wasm kernels (no Conv2DBackpropFilter at all, slow Conv2DBackpropInput).
      await measure('wasm (stock kernels)', 'wasm', false, () => {
        disableNativeConvKernels();
        unregisterFastWasmKernels();
        return 'tfjs wasm (XNNPACK), stock kernels';
      });
      registerFastWasmKernels();
    }
    for (const fused of [false, true]) {
      await measure(`wasm, ${fused ? 'fused' : 'unfused'}`, 'wasm', fused, () => {
        disableNativeConvKernels();
      });
      const r = rows[rows.length - 1]!;
      const threads = getThreadsCount();
      r.variant = `wasm ${threads} thread${threads > 1 ? 's' : ''}, ${fused ? 'fused' : 'unfused'}`;
    }
  } else if (b === 'native') {
    // selectBackend('wasm') turns the oneDNN kernels on when the addon loads.
    for (const fused of [false, true]) {
      await measure(`wasm + oneDNN, ${fused ? 'fused' : 'unfused'}`, 'wasm', fused);
      const r = rows[rows.length - 1]!;
      if (!r.detail.startsWith('wasm + oneDNN')) {
        r.note = `addon not active: ${r.detail}`;
        r.sPerStep = null;
        r.imagesPerSec = null;
      }
    }
  } else if (b === 'torch') {
    measureTorch();
  } else {
    for (const fused of [false, true]) await measure(`${b}, ${fused ? 'fused' : 'unfused'}`, b as BackendRequest, fused);
  }
}

const torchBest = rows.filter((r) => r.backend === 'pytorch' && r.sPerStep !== null).sort((p, q) => p.sPerStep! - q.sPerStep!)[0];
const unfusedOf = (r: Row) => rows.find((u) => u.fused === false && u.variant === r.variant.replace(', fused', ', unfused'));
console.log(`\nGANomaly training step, batch ${batch}, ${isize}x${isize}x1, nz 100, ngf ${ngf}; median of ${steps} steps after ${warmup} warm-up`);
console.log(`${'variant'.padEnd(36)} ${'s/step'.padStart(8)} ${'fastest'.padStart(8)} ${'img/s'.padStart(7)} ${'kernels'.padStart(8)} ${'GPU disp'.padStart(8)} ${'vs torch'.padStart(9)}  detail`);
for (const r of rows) {
  const ratio = r.sPerStep && torchBest ? `${(r.sPerStep / torchBest.sPerStep!).toFixed(2)}x` : '';
  console.log(`${r.variant.padEnd(36)} ${(r.sPerStep?.toFixed(3) ?? '-').padStart(8)} ${(r.minSPerStep?.toFixed(3) ?? '-').padStart(8)} ${(r.imagesPerSec?.toFixed(1) ?? '-').padStart(7)} ${String(r.kernels ?? '-').padStart(8)} ${String(r.dispatches ?? '-').padStart(8)} ${ratio.padStart(9)}  ${r.note ?? r.detail}`);
}
if (torchBest) console.log(`vs torch: s/step over the fastest PyTorch row (${torchBest.variant})`);
if (rows.some((r) => r.softwareAdapter)) console.log('webgpu (SOFTWARE adapter) rows ran on a CPU emulation of a GPU: their kernel and dispatch counts hold for any adapter, their times say nothing about a GPU');
const result = {
  date: new Date().toISOString(),
  machine: { cpu: os.cpus()[0]?.model, cores: os.cpus().length, node: process.version, platform: `${os.platform()} ${os.arch()}` },
  config: { batch, isize, nc: 1, nz: 100, ngf, ndf: ngf, steps, warmup },
  // Other processes compete for the cores: the 1/5/15-minute load averages when the run ended.
  loadAverage: os.loadavg(),
  rows,
};
console.log(`load average at the end (1/5/15 min): ${os.loadavg().map((l) => l.toFixed(2)).join(' / ')} on ${os.cpus().length} cores`);
// Fused against unfused on the same backend, same seed: how far the G losses drift apart.
const drift: { variant: string; steps: number; maxRelErrG: number; kernelRatio?: number; dispatchRatio?: number }[] = [];
for (const r of rows) {
  const u = r.fused ? unfusedOf(r) : undefined;
  if (!u || r.errG.length === 0 || u.errG.length === 0) continue;
  const n = Math.min(r.errG.length, u.errG.length);
  let worst = 0;
  for (let i = 0; i < n; i++) worst = Math.max(worst, Math.abs(r.errG[i]! - u.errG[i]!) / Math.max(1e-12, Math.abs(u.errG[i]!)));
  const kernelRatio = r.kernels && u.kernels ? r.kernels / u.kernels : undefined;
  const dispatchRatio = r.dispatches && u.dispatches ? r.dispatches / u.dispatches : undefined;
  drift.push({ variant: r.variant, steps: n, maxRelErrG: worst, kernelRatio, dispatchRatio });
  console.log(`${r.variant} vs unfused over ${n} steps: errG max relative difference ${worst.toExponential(2)}; kernels ${r.kernels} vs ${u.kernels}${kernelRatio ? ` (${kernelRatio.toFixed(3)}x)` : ''}${dispatchRatio ? `; GPU dispatches ${r.dispatches} vs ${u.dispatches} (${dispatchRatio.toFixed(3)}x)` : ''}`);
}
mkdirSync(path.dirname(a.out!), { recursive: true });
writeFileSync(a.out!, `${JSON.stringify({ ...result, drift }, null, 2)}\n`);
console.log(`wrote ${a.out}`);
