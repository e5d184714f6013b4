// FP16 and INT8 detector variants: the number formats themselves, the converted graphs in
// onnxruntime-node and onnxruntime-web (WASM) against float32, the official checker at opset 13
// and 17, and the runtime's choice of variant (file, calibration, threshold, integrity).
import { spawnSync } from 'node:child_process';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ortNode from 'onnxruntime-node';
import * as ortWeb from 'onnxruntime-web';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  buildDetector,
  convertDetectorPrecision,
  decodeModel,
  float16BitsToFloat32,
  float32ToFloat16Bits,
  quantizePerChannel,
  validateModelBytes,
  VARIANT_FILES,
} from '../../../src/export/onnx/index.js';
import { parsePrecisions } from '../../../src/export/variants.js';
import { TensorProto_DataType } from '../../../src/export/proto/onnx_pb.js';
import sharp from 'sharp';
import { createDetector, IntegrityError, ManifestError, parseManifest } from '../../../src/runtime/node.js';
import { startServer } from '../../../src/gateway/serve/index.js';
import type { ModelConfig } from '../../../src/types.js';
import { randomImages, randomWeights, seededRandom } from '../../fixtures/random-weights.js';
import { makeModelFolder, testImage, type TestModel } from '../../helpers/make-model.js';

const PYTHON = '/usr/bin/python3';
const hasOnnxChecker = spawnSync(PYTHON, ['-c', 'import onnx'], { stdio: 'ignore' }).status === 0;
const tmp = mkdtempSync(join(tmpdir(), 'ganomaly-precision-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const cfg: ModelConfig = { isize: 32, nc: 1, nz: 16, ngf: 8, ndf: 8, scoreKind: 'l2' };
const cfgRgb: ModelConfig = { isize: 48, nc: 3, nz: 20, ngf: 8, ndf: 8, scoreKind: 'l1' };

async function outputs(ort: typeof ortNode, bytes: Uint8Array, x: Float32Array, dims: number[]) {
  const s = await ort.InferenceSession.create(bytes, { executionProviders: [ort === ortNode ? 'cpu' : 'wasm'] });
  try {
    const out = await s.run({ x: new ort.Tensor('float32', x, dims) });
    return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, v.data as Float32Array]));
  } finally {
    await s.release();
  }
}

const maxAbs = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);

describe('number formats', () => {
  it('float16: exact values, rounding to nearest even, subnormals, overflow, NaN', () => {
    const cases: [number, number][] = [
      [0, 0x0000], [-0, 0x8000], [1, 0x3c00], [-2, 0xc000], [0.5, 0x3800], [65504, 0x7bff], [65520, 0x7c00],
      [1e6, 0x7c00], [-Infinity, 0xfc00], [2 ** -24, 0x0001], [2 ** -25, 0x0000], [3 * 2 ** -25, 0x0002],
      [2 ** -14, 0x0400], [1 + 2 ** -11, 0x3c00], [1 + 3 * 2 ** -11, 0x3c02], [0.1, 0x2e66],
    ];
    for (const [v, bits] of cases) expect(float32ToFloat16Bits(v), String(v)).toBe(bits);
    expect(Number.isNaN(float16BitsToFloat32(float32ToFloat16Bits(NaN)))).toBe(true);
    // Every half value round-trips, and random normals land within half an ulp (2^-11 relative).
    for (let h = 0; h < 0x7c00; h++) expect(float32ToFloat16Bits(float16BitsToFloat32(h))).toBe(h);
    const rand = seededRandom(3);
    for (let i = 0; i < 10_000; i++) {
      const v = (rand() - 0.5) * 2 ** (Math.floor(rand() * 20) - 10);
      const back = float16BitsToFloat32(float32ToFloat16Bits(v));
      if (Math.abs(v) >= 2 ** -14) expect(Math.abs(back - v) / Math.abs(v)).toBeLessThanOrEqual(2 ** -11);
    }
  });

  it('int8 per channel: symmetric, |w − q·s| ≤ s/2, along the given axis, zero channels safe', () => {
    const dims = [3, 4, 2, 2];
    const data = Float32Array.from({ length: 48 }, (_, i) => Math.sin(i) * (1 + (i % 4)));
    for (const axis of [0, 1]) {
      const { q, scales } = quantizePerChannel(data, dims, axis);
      expect(scales.length).toBe(dims[axis]);
      const inner = dims.slice(axis + 1).reduce((a, b) => a * b, 1);
      for (let i = 0; i < data.length; i++) {
        const c = Math.floor(i / inner) % dims[axis]!;
        expect(Math.abs(q[i]!)).toBeLessThanOrEqual(127);
        expect(Math.abs(data[i]! - q[i]! * scales[c]!)).toBeLessThanOrEqual(scales[c]! / 2 + 1e-7);
      }
      // The largest magnitude of each channel maps to ±127.
      for (let c = 0; c < dims[axis]!; c++) {
        let m = 0;
        for (let i = 0; i < data.length; i++) if (Math.floor(i / inner) % dims[axis]! === c) m = Math.max(m, Math.abs(q[i]!));
        expect(m).toBe(127);
      }
    }
    const zero = quantizePerChannel(new Float32Array(8), [2, 1, 2, 2], 0);
    expect(Array.from(zero.scales)).toEqual([1, 1]);
    expect(Array.from(zero.q)).toEqual(new Array(8).fill(0));
  });

  it('--precision lists parse in a fixed order and always keep fp32', () => {
    expect(parsePrecisions('int8,fp16')).toEqual(['fp32', 'fp16', 'int8']);
    expect(parsePrecisions(['int8'])).toEqual(['fp32', 'int8']);
    expect(() => parsePrecisions('fp8')).toThrow(/unknown precision 'fp8'/);
  });
});

describe('converted detectors', () => {
  for (const c of [cfg, cfgRgb]) {
    const fp32 = buildDetector(c, randomWeights(c, 11));
    const x = randomImages(4, c, 12);
    const dims = [4, c.nc, c.isize, c.isize];

    it(`isize ${c.isize} nc ${c.nc}: fp16 ≈ 50 %, int8 ≈ 25 % of the bytes; both run in ORT node and web and track fp32`, async () => {
      const ref = await outputs(ortNode, fp32, x, dims);
      for (const p of ['fp16', 'int8'] as const) {
        const bytes = convertDetectorPrecision(fp32, p);
        const model = validateModelBytes(bytes);
        const ratio = bytes.length / fp32.length;
        expect(ratio).toBeLessThan(p === 'fp16' ? 0.55 : 0.3);
        expect(ratio).toBeGreaterThan(p === 'fp16' ? 0.45 : 0.2);
        // Inputs, outputs and metadata are the float32 graph's; only kernels changed type.
        expect(model.graph!.output.map((o) => o.name)).toEqual(decodeModel(fp32).graph!.output.map((o) => o.name));
        expect(model.metadataProps.find((m) => m.key === 'ganomaly.precision')?.value).toBe(p);
        const kinds = new Set(model.graph!.initializer.map((t) => t.dataType));
        expect(kinds.has(p === 'fp16' ? TensorProto_DataType.FLOAT16 : TensorProto_DataType.INT8)).toBe(true);
        const node = await outputs(ortNode, bytes, x, dims);
        const web = await outputs(ortWeb as unknown as typeof ortNode, bytes, x, dims);
        for (const k of ['score', 'z', 'z_hat', 'x_hat', 'anomaly_map']) {
          expect(maxAbs(web[k]!, node[k]!), `${p} ${k} web vs node`).toBeLessThanOrEqual(1e-4);
        }
        // Relative score error against float32: fp16 rounding of weights is ~1e-3 relative, int8 ~1e-2.
        const rel = Math.max(...Array.from(node.score!, (s, i) => Math.abs(s - ref.score![i]!) / Math.abs(ref.score![i]!)));
        expect(rel, `${p} score relative error`).toBeLessThan(p === 'fp16' ? 5e-3 : 0.1);
        expect(rel).toBeGreaterThan(0); // the weights really changed
      }
    });
  }

  it('refuses a graph with no float32 kernels (converting twice)', () => {
    const once = convertDetectorPrecision(buildDetector(cfg, randomWeights(cfg, 1)), 'int8');
    expect(() => convertDetectorPrecision(once, 'fp16')).toThrow(/no float32 Conv\/ConvTranspose kernels/);
  });

  it.skipIf(!hasOnnxChecker)('the official checker passes both variants at opsets 13 and 17', () => {
    const files: string[] = [];
    for (const opset of [13, 17]) {
      const fp32 = buildDetector(cfgRgb, randomWeights(cfgRgb, 2), { opset });
      for (const p of ['fp16', 'int8'] as const) {
        const path = join(tmp, `detector-${opset}.${p}.onnx`);
        writeFileSync(path, convertDetectorPrecision(fp32, p));
        files.push(path);
      }
    }
    const script = 'import sys, onnx\nfor p in sys.argv[1:]:\n    onnx.checker.check_model(onnx.load(p), full_check=True)\nprint("checked", len(sys.argv) - 1)';
    const r = spawnSync(PYTHON, ['-c', script, ...files], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe(`checked ${files.length}`);
  });
});

describe('runtime: precision', () => {
  let model: TestModel;
  const images = [testImage(40, 36, 1, 5), testImage(32, 32, 1, 6)];
  beforeAll(async () => {
    model = await makeModelFolder(cfg, 7, { variants: true });
  });

  it('loads each variant with its own calibration and threshold; fp32 stays the default', async () => {
    const results: Record<string, number[]> = {};
    for (const precision of [undefined, 'fp32', 'fp16', 'int8'] as const) {
      const d = await createDetector({ model: model.dir, executionProviders: ['cpu'], precision, logger: null });
      const want = precision === 'fp16' || precision === 'int8' ? model.manifest.variants![precision]! : model.manifest;
      expect(d.precision).toBe(precision ?? 'fp32');
      expect(d.threshold).toBe(want.threshold.value);
      expect(d.manifest.calibration).toEqual(want.calibration);
      const r = await d.score(images);
      results[precision ?? 'default'] = r.map((x) => x.score);
      // normalized uses this variant's calibration min/max
      const { min, max } = want.calibration;
      expect(r[0]!.normalized).toBeCloseTo(Math.min(1, Math.max(0, (r[0]!.score - min) / (max - min))), 6);
      await d.dispose();
    }
    expect(results.default).toEqual(results.fp32);
    expect(results.fp16).not.toEqual(results.fp32);
    expect(results.int8).not.toEqual(results.fp16);
  });

  it('model URLs carry their precision; a mismatch with the option is an error', async () => {
    const manifest = new URL(`file://${model.dir}/manifest.json`);
    const detector = new URL(`file://${model.dir}/${VARIANT_FILES.int8}`);
    const d = await createDetector({ model: { manifest, detector, precision: 'int8' }, executionProviders: ['cpu'], logger: null });
    expect(d.precision).toBe('int8');
    expect(d.threshold).toBe(model.manifest.variants!.int8!.threshold.value);
    await d.dispose();
    await expect(createDetector({ model: { manifest, detector, precision: 'int8' }, precision: 'fp16' })).rejects.toThrow(/'fp16' was asked for/);
    // The int8 file passed as fp32 fails the fp32 integrity check instead of scoring with the wrong calibration.
    await expect(createDetector({ model: { manifest, detector }, executionProviders: ['cpu'] })).rejects.toBeInstanceOf(IntegrityError);
  });

  it('a missing variant, a tampered variant file and a bad variants block are typed errors', async () => {
    const plain = await makeModelFolder(cfg, 8);
    await expect(createDetector({ model: plain.dir, precision: 'int8' })).rejects.toThrow(ManifestError);
    await expect(createDetector({ model: plain.dir, precision: 'int8' })).rejects.toThrow(/no int8 variant \(it has fp32\)/);
    await expect(createDetector({ model: plain.dir, precision: 'bf16' as 'fp16' })).rejects.toThrow(TypeError);
    const file = join(model.dir, VARIANT_FILES.fp16);
    const good = await readFile(file);
    try {
      const bad = Buffer.from(good);
      bad[bad.length - 10] ^= 0xff;
      await writeFile(file, bad);
      await expect(createDetector({ model: model.dir, precision: 'fp16' })).rejects.toThrow(/detector\.fp16\.onnx sha256/);
    } finally {
      await writeFile(file, good);
    }
    const m = structuredClone(model.manifest);
    expect(() => parseManifest({ ...m, variants: { fp8: m.variants!.fp16 } })).toThrow(/variants\.fp8: unknown precision/);
    expect(() => parseManifest({ ...m, variants: { fp16: { ...m.variants!.fp16!, file: 'missing.onnx' } } })).toThrow(/'missing\.onnx' is not listed in files/);
    expect(() => parseManifest({ ...m, variants: { int8: { ...m.variants!.int8!, file: '../x.onnx' } } })).toThrow(/variants\.int8\.file must name/);
    expect(() => parseManifest({ ...m, variants: { int8: { ...m.variants!.int8!, threshold: { value: 'x' } } } })).toThrow(/variants\.int8\.threshold\.value/);
    await rm(plain.dir, { recursive: true, force: true });
  });

  it('serve --precision int8: /readyz and /v1/score report the variant and its threshold', async () => {
    const png = await sharp(Buffer.from(images[0]!.data), { raw: { width: 40, height: 36, channels: 1 } }).png().toBuffer();
    const d = await createDetector({ model: model.dir, executionProviders: ['cpu'], precision: 'int8', logger: null });
    const want = await d.score(new Uint8Array(png));
    await d.dispose();
    const s = await startServer({ model: model.dir, port: 0, providers: ['cpu'], precision: 'int8', log: () => {} });
    try {
      expect(await (await fetch(`${s.url}/readyz`)).json()).toMatchObject({ status: 'ready', precision: 'int8' });
      const r = (await (await fetch(`${s.url}/v1/score`, { method: 'POST', headers: { 'content-type': 'image/png' }, body: png })).json()) as { score: number; threshold: number };
      expect(r.threshold).toBe(model.manifest.variants!.int8!.threshold.value);
      expect(Math.abs(r.score - want.score)).toBeLessThanOrEqual(1e-6);
    } finally {
      await s.close();
    }
  });
});
