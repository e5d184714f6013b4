// Training speed per tfjs backend: seconds per GANomaly step (one G + one D update) and images/s,
// medians after warm-up, every backend in one process run so the ratios hold on a noisy machine.
//
//   npx esbuild bench/train-speed.ts --bundle --platform=node --format=esm --packages=external \
//     --outfile=.tmp/train-speed.mjs && node .tmp/train-speed.mjs [--backends wasm,native,webgpu,cpu] [--stock-wasm]
//     [--batch 64] [--ngf 64] [--isize 32] [--steps 8] [--warmup 2] [--out bench/results/train-speed.json]
import * as tf from '@tensorflow/tfjs';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import {
  disableNativeConvKernels, selectBackend, unregisterFastWasmKernels, registerFastWasmKernels, type BackendRequest,
} from '../src/train/backend/index.js';
import { GanomalyModel } from '../src/train/model.js';
import { GanomalyStep } from '../src/train/step.js';

const { values: a } = parseArgs({
  options: {
    backends: { type: 'string', default: 'tensorflow,webgpu,wasm,native' },
    batch: { type: 'string', default: '64' },
    ngf: { type: 'string', default: '64' },
    isize: { type: 'string', default: '32' },
    steps: { type: 'string', default: '8' },
    warmup: { type: 'string', default: '2' },
    out: { type: 'string', default: 'bench/results/train-speed.json' },
    'stock-wasm': { type: 'boolean', default: false },
  },
});
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

interface Row { variant: string; backend: string; detail: string; sPerStep: number | null; minSPerStep?: number; imagesPerSec: number | null; samples: number[]; errG: number[]; note?: string }
const rows: Row[] = [];

async function measure(variant: string, request: BackendRequest, before?: () => string | void): Promise<void> {
  let sel;
  try {
    sel = await selectBackend(request);
  } catch (e) {
    rows.push({ variant, backend: request, detail: (e as Error).message.split('\n')[0]!.slice(0, 160), sPerStep: null, imagesPerSec: null, samples: [], errG: [], note: 'unavailable' });
    return;
  }
  const detail = before?.() ?? sel.reason;
  const model = GanomalyModel.create({ isize, nc: 1, nz: 100, ngf, ndf: ngf, scoreKind: 'l2' }, 1);
  const step = new GanomalyStep(model, { adv: 1, con: 50, enc: 1 }, { lr: 2e-4, beta1: 0.5, beta2: 0.999 }, 1);
  const x = tf.randomUniform([batch, isize, isize, 1], -1, 1, 'float32', 3) as tf.Tensor4D;
  const samples: number[] = [];
  // Same seed, same data on every backend: the G losses show whether the backends compute the same thing.
  const errG: number[] = [];
  let note: string | undefined;
  try {
    for (let i = 0; i < warmup + steps; i++) {
      const t0 = performance.now();
      errG.push((await step.run(x)).errG); // reads the losses back, so the step has finished on any backend
      const dt = (performance.now() - t0) / 1000;
      if (i >= warmup) samples.push(dt);
      process.stderr.write(`${variant}: step ${i + 1}/${warmup + steps} ${dt.toFixed(3)} s\n`);
    }
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
  rows.push({ variant, backend: sel.name, detail, sPerStep: s, minSPerStep: min, imagesPerSec: s ? batch / s : null, samples, errG, note });
}

const PLAIN_WASM = 'tfjs wasm (XNNPACK) with fast conv-gradient kernels, native oneDNN off';
for (const b of a.backends!.split(',').map((s) => s.trim()).filter(Boolean)) {
  if (b === 'wasm') {
    if (a['stock-wasm']) {
      // "Before": the stock wasm kernels (no Conv2DBackpropFilter at all, slow Conv2DBackpropInput).
      await measure('wasm (stock kernels)', 'wasm', () => {
        disableNativeConvKernels();
        unregisterFastWasmKernels();
        return 'tfjs wasm (XNNPACK), stock kernels';
      });
      registerFastWasmKernels();
    }
    await measure('wasm (fast conv-gradient kernels)', 'wasm', () => {
      disableNativeConvKernels();
      return PLAIN_WASM;
    });
  } else if (b === 'native') {
    // selectBackend('wasm') turns the oneDNN kernels on when the addon loads.
    await measure('wasm + oneDNN native conv', 'wasm');
    const r = rows[rows.length - 1]!;
    if (!r.detail.startsWith('wasm + oneDNN')) {
      r.note = `addon not active: ${r.detail}`;
      r.sPerStep = null;
      r.imagesPerSec = null;
    }
  } else {
    await measure(b, b as BackendRequest);
  }
}

const base = rows.find((r) => r.variant.startsWith('wasm (fast'))?.sPerStep ?? null;
console.log(`\nGANomaly training step, batch ${batch}, ${isize}x${isize}x1, nz 100, ngf ${ngf}; median of ${steps} steps after ${warmup} warm-up`);
console.log(`${'variant'.padEnd(36)} ${'s/step'.padStart(9)} ${'fastest'.padStart(9)} ${'img/s'.padStart(9)} ${'vs wasm-fast'.padStart(13)}  detail`);
for (const r of rows) {
  const ratio = r.sPerStep && base ? `${(base / r.sPerStep).toFixed(2)}x` : '';
  console.log(`${r.variant.padEnd(36)} ${(r.sPerStep?.toFixed(3) ?? '-').padStart(9)} ${(r.minSPerStep?.toFixed(3) ?? '-').padStart(9)} ${(r.imagesPerSec?.toFixed(1) ?? '-').padStart(9)} ${ratio.padStart(13)}  ${r.note ?? r.detail}`);
}
const result = {
  date: new Date().toISOString(),
  machine: { cpu: os.cpus()[0]?.model, cores: os.cpus().length, node: process.version, platform: `${os.platform()} ${os.arch()}` },
  config: { batch, isize, nc: 1, nz: 100, ngf, ndf: ngf, steps, warmup },
  // Other processes compete for the cores: the 1/5/15-minute load averages when the run ended.
  loadAverage: os.loadavg(),
  rows,
};
console.log(`load average at the end (1/5/15 min): ${os.loadavg().map((l) => l.toFixed(2)).join(' / ')} on ${os.cpus().length} cores`);
mkdirSync(path.dirname(a.out!), { recursive: true });
writeFileSync(a.out!, `${JSON.stringify(result, null, 2)}\n`);
console.log(`wrote ${a.out}`);
const ref = rows.find((r) => r.errG.length > 0);
if (ref) {
  for (const r of rows) {
    if (r === ref || r.errG.length === 0) continue;
    const n = Math.min(r.errG.length, ref.errG.length);
    let worst = 0;
    for (let i = 0; i < n; i++) worst = Math.max(worst, Math.abs(r.errG[i]! - ref.errG[i]!) / Math.max(1e-12, Math.abs(ref.errG[i]!)));
    console.log(`G-loss agreement over ${n} steps, ${r.variant} vs ${ref.variant}: max relative difference ${worst.toExponential(2)}`);
  }
}
