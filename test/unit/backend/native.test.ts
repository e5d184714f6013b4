// The oneDNN convolution kernels (native/, optional) against the cpu backend's reference kernels,
// and a short GANomaly training run with them against the plain wasm kernels. Skipped when the
// addon is not built, unless GANOMALY_REQUIRE_NATIVE=1 (CI builds it and sets that).
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { relErr, runKernel, values } from '../../helpers/kernels.js';
import { disableNativeConvKernels, enableNativeConvKernels, selectBackend } from '../../../src/backend/index.js';
import { loadNativeConv, type NativeConvAddon } from '../../../src/backend/native-addon.js';
import { geometryOf } from '../../../src/backend/native-kernels.js';
import { GanomalyModel } from '../../../src/train/model.js';
import { GanomalyStep, type StepLosses } from '../../../src/train/step.js';
import { setFusedKernels } from '../../../src/backend/fused/ops.js';

type Pad = 'same' | 'valid' | number | [[number, number], [number, number], [number, number], [number, number]];
interface Case { n: number; h: number; w: number; ci: number; co: number; k: number; s: number | [number, number]; pad: Pad; label: string }
type Shape4 = [number, number, number, number];

const CASES: Case[] = [
  // The GANomaly layers at 32×32×1, ngf 64 (batch cut to 1-4 to keep the cpu reference quick).
  { n: 4, h: 32, w: 32, ci: 1, co: 64, k: 4, s: 2, pad: 'same', label: 'GANomaly conv0 32²×1→16²×64' },
  { n: 2, h: 16, w: 16, ci: 64, co: 128, k: 4, s: 2, pad: 'same', label: 'GANomaly conv1 16²×64→8²×128' },
  { n: 1, h: 8, w: 8, ci: 128, co: 256, k: 4, s: 2, pad: 'same', label: 'GANomaly conv2 8²×128→4²×256' },
  { n: 2, h: 4, w: 4, ci: 256, co: 100, k: 4, s: 1, pad: 'valid', label: 'GANomaly final 4²×256→1²×100 (convT0 mirrored)' },
  // Odd geometries.
  { n: 3, h: 9, w: 7, ci: 3, co: 5, k: 4, s: 2, pad: 'same', label: '4x4 s2 same, odd sizes (asymmetric pad)' },
  { n: 2, h: 5, w: 6, ci: 8, co: 3, k: 3, s: 1, pad: 'valid', label: '3x3 s1 valid' },
  { n: 1, h: 7, w: 7, ci: 2, co: 9, k: 3, s: 1, pad: 'same', label: '3x3 s1 same' },
  { n: 2, h: 9, w: 9, ci: 4, co: 4, k: 5, s: 3, pad: 'same', label: 'k5 s3 same' },
  { n: 2, h: 8, w: 8, ci: 3, co: 6, k: 3, s: 2, pad: [[0, 0], [1, 0], [1, 3], [0, 0]], label: 'explicit asymmetric pads' },
  { n: 2, h: 8, w: 8, ci: 3, co: 6, k: 3, s: 2, pad: [[0, 0], [2, 0], [1, 3], [0, 0]], label: 'explicit pads, last row unused (wasm fallback)' },
  { n: 2, h: 9, w: 10, ci: 5, co: 7, k: 3, s: [2, 3], pad: 'same', label: 'unequal strides' },
  { n: 2, h: 11, w: 10, ci: 3, co: 4, k: 3, s: 2, pad: 'valid', label: 's2 valid with unused last rows (wasm fallback)' },
];

/** Forward, input gradient and filter gradient of one case on the active backend. */
function passes(c: Case): { y: Float32Array; dx: Float32Array; dw: Float32Array } {
  const xShape: Shape4 = [c.n, c.h, c.w, c.ci];
  const wShape: Shape4 = [c.k, c.k, c.ci, c.co];
  const info = tf.backend_util.computeConv2DInfo(xShape, wShape, c.s, 1, c.pad);
  const dyShape: Shape4 = [c.n, info.outHeight, info.outWidth, c.co];
  const seed = c.h * 1000 + c.ci * 10 + c.co;
  return tf.tidy(() => {
    const x = tf.tensor4d(values(xShape.reduce((a, b) => a * b), seed), xShape);
    const w = tf.tensor4d(values(wShape.reduce((a, b) => a * b), seed + 1), wShape);
    const dy = tf.tensor4d(values(dyShape.reduce((a, b) => a * b), seed + 2), dyShape);
    const attrs = { strides: c.s, pad: c.pad, dataFormat: 'NHWC', dimRoundingMode: undefined };
    return {
      y: runKernel('Conv2D', { x, filter: w }, { ...attrs, dilations: 1 }),
      dx: runKernel('Conv2DBackpropInput', { dy, filter: w }, { ...attrs, inputShape: xShape }),
      dw: runKernel('Conv2DBackpropFilter', { x, dy }, { ...attrs, filterShape: wShape }),
    };
  });
}

const load = loadNativeConv();
const required = process.env.GANOMALY_REQUIRE_NATIVE === '1';
if (!load.ok) {
  const msg = `native oneDNN kernels: ${load.why}`;
  if (required) throw new Error(`${msg} (GANOMALY_REQUIRE_NATIVE=1)`);
  console.warn(`${msg}; skipping test/unit/backend/native.test.ts`);
}

/** The addon with a call counter, so a test can tell that oneDNN (not the fallback) ran. */
let calls = 0;
const counting: NativeConvAddon | null = load.ok
  ? { ...load.addon, conv: (...args) => { calls++; load.addon.conv(...args); } }
  : null;

describe.skipIf(!load.ok)('native oneDNN convolution kernels', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
    const sel = await selectBackend('wasm');
    expect(sel.reason).toMatch(/^wasm \+ oneDNN native conv kernels \(\d+ threads?; oneDNN \d/);
  });
  afterAll(() => {
    enableNativeConvKernels();
  });

  for (const c of CASES) {
    it(`match the cpu reference: ${c.label}`, async () => {
      await tf.setBackend('cpu');
      const ref = passes(c);
      await tf.setBackend('wasm');
      enableNativeConvKernels({ ok: true, addon: counting!, file: load.ok ? load.file : '' });
      calls = 0;
      const got = passes(c);
      // Each pass runs once in oneDNN; geometries it rejects reach the wasm kernels (which may
      // still hand their own stride-1 sub-convolutions to oneDNN) and must be right all the same.
      const native = geometryOf(tf.backend_util.computeConv2DInfo([c.n, c.h, c.w, c.ci], [c.k, c.k, c.ci, c.co], c.s, 1, c.pad)) !== null;
      expect(native).toBe(!c.label.includes('wasm fallback'));
      if (native) expect(calls).toBe(3);
      for (const k of ['y', 'dx', 'dw'] as const) expect(relErr(ref[k], got[k]), k).toBeLessThanOrEqual(1e-5);
    });
  }

  it('fall back to the wasm kernels, with one warning per geometry, when oneDNN fails', async () => {
    const c = CASES[4]!;
    await tf.setBackend('cpu');
    const ref = passes(c);
    await tf.setBackend('wasm');
    const failing: NativeConvAddon = { ...counting!, conv: () => { throw new Error('ganomaly_dnnl: oneDNN: could not create a primitive'); } };
    enableNativeConvKernels({ ok: true, addon: failing, file: '' });
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    try {
      // The wasm fallbacks run their own sub-convolutions, which oneDNN is offered (and fails) too.
      const warned: number[] = [];
      for (let i = 0; i < 2; i++) {
        const got = passes(c);
        for (const k of ['y', 'dx', 'dw'] as const) expect(relErr(ref[k], got[k]), k).toBeLessThanOrEqual(1e-5);
        warned.push(warn.mock.calls.length);
      }
      expect(warned[0]).toBeGreaterThanOrEqual(3);
      expect(warned[1]).toBe(warned[0]); // a refused geometry is not tried again
      expect(String(warn.mock.calls[0]![0])).toMatch(/oneDNN convolution .* failed, using the wasm kernel: .*could not create/);
    } finally {
      warn.mockRestore();
      enableNativeConvKernels();
    }
  });

  it('sum and average over the leading axes bit for bit like the wasm kernels', async () => {
    await tf.setBackend('wasm');
    let sums = 0;
    const addon = { ...counting!, sumRows: (...args: Parameters<NonNullable<NativeConvAddon['sumRows']>>) => { sums++; counting!.sumRows!(...args); } };
    const x = tf.tensor4d(values(64 * 8 * 8 * 32, 99), [64, 8, 8, 32]);
    const run = () => tf.tidy(() => [tf.sum(x, [0, 1, 2]), tf.mean(x, [0, 1, 2], true), tf.sum(x, 0), tf.mean(x, [1, 2])]
      .map((t) => ({ shape: t.shape, data: Array.from(t.dataSync()) })));
    try {
      disableNativeConvKernels();
      const wasm = run();
      enableNativeConvKernels({ ok: true, addon, file: '' });
      const native = run();
      expect(sums).toBe(3); // [1, 2] is not leading: the wasm kernel
      expect(native).toEqual(wasm);
    } finally {
      x.dispose();
      enableNativeConvKernels();
    }
  });

  it('rejects wrong buffer sizes and geometries with a clear error', () => {
    const addon = load.ok ? load.addon : null;
    const g = [1, 4, 4, 1, 2, 2, 1, 2, 2, 2, 2, 0, 0];
    expect(() => addon!.conv(0, g, new Float32Array(16), new Float32Array(4), new Float32Array(3)))
      .toThrow(/out has 3 elements, expected 4/);
    expect(() => addon!.conv(0, g.slice(1), new Float32Array(16), new Float32Array(4), new Float32Array(4)))
      .toThrow(/geometry must be an array of 13/);
    // 5 rows, 2x2 windows at stride 2: the last row is never read.
    expect(() => addon!.conv(0, [1, 5, 5, 1, 2, 2, 1, 2, 2, 2, 2, 0, 0], new Float32Array(25), new Float32Array(4), new Float32Array(4)))
      .toThrow(/negative padding after/);
  });

  // Two float32 implementations that sum in different orders cannot follow the same GAN
  // trajectory for long: Adam's first steps move every weight by ±lr whatever its gradient's size,
  // so gradients that are roundoff-sized flip directions. Measured on this config family (ngf 8,
  // batch 16, 20 steps): tfjs's own cpu and wasm backends drift to 4e-4 in errG and 4e-2 in
  // errGEnc; oneDNN vs wasm stays below 1e-6 for the first steps and 2e-4 in errG at step 20.
  // So: every loss to 1e-4 while the trajectories still coincide, the objective to 1e-3 after.
  it('train GANomaly to the same losses as the plain wasm kernels (20 steps)', async () => {
    await tf.setBackend('wasm');
    // The convolutions alone: with the fused kernels on, the addon's fused loops (float32, other
    // summation order) would differ from the JavaScript ones too; test/unit/backend/fused.test.ts covers those.
    setFusedKernels(false);
    const train = async (native: boolean): Promise<StepLosses[]> => {
      if (native) enableNativeConvKernels();
      else disableNativeConvKernels();
      const model = GanomalyModel.create({ isize: 32, nc: 1, nz: 16, ngf: 8, ndf: 8, scoreKind: 'l2' }, 5);
      const step = new GanomalyStep(model, { adv: 1, con: 50, enc: 1 }, { lr: 2e-4, beta1: 0.5, beta2: 0.999 }, 5);
      const x = tf.randomUniform([16, 32, 32, 1], -1, 1, 'float32', 7) as tf.Tensor4D;
      const out: StepLosses[] = [];
      for (let i = 0; i < 20; i++) out.push(await step.run(x));
      tf.dispose([x]);
      step.dispose();
      model.dispose();
      return out;
    };
    const plain = await train(false);
    const native = await train(true);
    setFusedKernels(true);
    const rel = (a: number, b: number) => Math.abs(a - b) / Math.max(Math.abs(a), 1e-3);
    for (let i = 0; i < plain.length; i++) {
      const keys = i < 8 ? (['errG', 'errGAdv', 'errGCon', 'errGEnc', 'errD', 'errDReal', 'errDFake'] as const) : (['errG'] as const);
      for (const k of keys) {
        const a = plain[i]![k];
        const b = native[i]![k];
        expect(rel(a, b), `step ${i} ${k}: ${a} vs ${b}`).toBeLessThanOrEqual(i < 8 ? 1e-4 : 1e-3);
      }
    }
  });
});
