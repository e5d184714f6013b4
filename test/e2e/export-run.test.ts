// End to end: train a tiny real model, export it, load every graph in onnxruntime-node and
// onnxruntime-web, and check the manifest against independent computations.
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import * as ortNode from 'onnxruntime-node';
import * as ortWeb from 'onnxruntime-web';
import { beforeAll, describe, expect, it } from 'vitest';
import { checkParity, ExportError, exportRun, quantizeModel } from '../../src/export/index.js';
import { buildDetector, buildE, buildGD, buildGE } from '../../src/export/onnx/index.js';
import { nhwcToNchw } from '../../src/export/layout.js';
import { nodeOrt } from '../../src/export/ortNode.js';
import { loadDataset } from '../../src/data/index.js';
import { GanomalyModel } from '../../src/train/model.js';
import { scoreSet, train } from '../../src/train/trainer.js';
import { quantileSorted } from '../../src/stats.js';
import type { Manifest, ModelConfig } from '../../src/types.js';
import { tinyTrainConfig } from '../helpers/tiny-run.js';

ortWeb.env.wasm.numThreads = 1;
const tmp = () => fs.mkdtemp(path.join(os.tmpdir(), 'ganomaly-export-'));

describe('exportRun', () => {
  const cfg = tinyTrainConfig({ epochs: 1, maxImages: 300 });
  let outDir = '';
  let manifest: Manifest;

  beforeAll(async () => {
    await train(cfg);
    outDir = path.join(await tmp(), 'tiny');
    ({ manifest } = await exportRun(cfg.out, { out: outDir, backend: 'cpu' }));
  }, 240_000);

  it('writes the graphs and a manifest whose hashes, calibration and threshold check out', async () => {
    const files = (await fs.readdir(outDir)).sort();
    expect(files).toEqual(['E.onnx', 'GD.onnx', 'GE.onnx', 'detector.fp16.onnx', 'detector.int8.onnx', 'detector.onnx', 'manifest.json']);
    for (const [f, info] of Object.entries(manifest.files)) {
      const bytes = await fs.readFile(path.join(outDir, f));
      expect(createHash('sha256').update(bytes).digest('hex')).toBe(info.sha256);
      expect(bytes.length).toBe(info.bytes);
    }
    expect(manifest.schemaVersion).toBe(1);
    expect(manifest.input.shape).toEqual(['N', 1, 16, 16]);
    expect(manifest.opset).toBe(17);
    expect(manifest.split!.seed).toBe(cfg.seed);
    for (const [k, v] of Object.entries(manifest.parity!)) if (k.includes('.')) expect(v).toBeLessThanOrEqual(1e-4);

    // Independent calibration: score the validation split with the tfjs model from the checkpoint.
    const data = await loadDataset(cfg.data, { isize: 16, nc: 1, abnormalClass: cfg.abnormalClass, maxImages: cfg.maxImages, seed: cfg.seed, validationFraction: 0.1 });
    const { readRunFolder } = await import('../../src/export/runFolder.js');
    const run = await readRunFolder(cfg.out);
    await tf.setBackend('cpu');
    const model = GanomalyModel.fromWeights(cfg.model, run.weights);
    const { scores } = await scoreSet(model, data.validation, 32);
    model.dispose();
    const sorted = Float64Array.from(scores).sort();
    expect(manifest.calibration.count).toBe(data.validation.count);
    expect(manifest.calibration.max).toBeCloseTo(sorted[sorted.length - 1]!, 5);
    expect(manifest.threshold.value).toBeCloseTo(quantileSorted(sorted, 0.99), 5);
    expect(manifest.threshold.value / manifest.calibration.p99).toBeCloseTo(1, 6);
  });

  it('FP16/INT8 variants: own calibration measured through ORT (not copied), reproduced by quantizeModel', async () => {
    const data = await loadDataset(cfg.data, { isize: 16, nc: 1, abnormalClass: cfg.abnormalClass, maxImages: cfg.maxImages, seed: cfg.seed, validationFraction: 0.1 });
    const n = data.validation.count;
    const x = nhwcToNchw(data.validation.images, n, 16, 16, 1);
    for (const p of ['fp16', 'int8'] as const) {
      const v = manifest.variants![p]!;
      expect(v.file).toBe(`detector.${p}.onnx`);
      const s = await ortNode.InferenceSession.create(await fs.readFile(path.join(outDir, v.file)));
      const scores = (await s.run({ x: new ortNode.Tensor('float32', x, [n, 1, 16, 16]) })).score!.data as Float32Array;
      await s.release();
      const sorted = Float64Array.from(scores).sort();
      expect(v.calibration.count).toBe(n);
      expect(v.calibration.max).toBeCloseTo(sorted[n - 1]!, 6);
      expect(v.threshold.value).toBeCloseTo(quantileSorted(sorted, 0.99), 6);
      expect(v.calibration.max).not.toBe(manifest.calibration.max);
      expect(v.parityVsFp32.images).toBe(16);
      expect(v.parityVsFp32.score).toBeGreaterThan(0);
    }
    // Adding variants to a folder afterwards gives the same files and numbers.
    const again = path.join(await tmp(), 'again');
    await exportRun(cfg.out, { out: again, name: 'tiny', backend: 'cpu', precisions: ['fp32'] });
    expect((await fs.readFile(path.join(again, 'detector.onnx'))).equals(await fs.readFile(path.join(outDir, 'detector.onnx')))).toBe(true);
    expect((await fs.readdir(again)).filter((f) => f.startsWith('detector'))).toEqual(['detector.onnx']);
    const q = await quantizeModel(again, { data: cfg.data });
    for (const p of ['fp16', 'int8'] as const) {
      const file = manifest.variants![p]!.file;
      expect(q.files[file]!.sha256).toBe(manifest.files[file]!.sha256);
      expect(q.variants![p]!.calibration).toEqual(manifest.variants![p]!.calibration);
      expect(q.variants![p]!.threshold).toEqual(manifest.variants![p]!.threshold);
    }
  });

  it('the chain GE → GD → E equals detector.onnx in onnxruntime-node and onnxruntime-web, batch 1 and 7', async () => {
    const load = async (ort: typeof ortNode | typeof ortWeb, f: string) =>
      ort.InferenceSession.create(new Uint8Array(await fs.readFile(path.join(outDir, f))));
    for (const ort of [ortNode, ortWeb] as const) {
      const [ge, gd, e, det] = await Promise.all(['GE.onnx', 'GD.onnx', 'E.onnx', 'detector.onnx'].map((f) => load(ort, f)));
      for (const n of [1, 7]) {
        const x = Float32Array.from({ length: n * 256 }, (_, i) => Math.sin(i * 0.37));
        const T = ort.Tensor as typeof ortNode.Tensor;
        const run = async (s: typeof ge, name: string, data: Float32Array, dims: number[]) => (await s!.run({ [name]: new T('float32', data, dims) }));
        const d = await run(det, 'x', x, [n, 1, 16, 16]);
        const z = (await run(ge, 'x', x, [n, 1, 16, 16])).z!;
        const xh = (await run(gd, 'z', z.data as Float32Array, [n, 8])).x_hat!;
        const zh = (await run(e, 'x_hat', xh.data as Float32Array, [n, 1, 16, 16])).z_hat!;
        const close = (a: ArrayLike<number>, b: ArrayLike<number>) => {
          expect(a.length).toBe(b.length);
          for (let i = 0; i < a.length; i++) expect(Math.abs(a[i]! - b[i]!)).toBeLessThanOrEqual(1e-5);
        };
        close(z.data as Float32Array, d.z!.data as Float32Array);
        close(xh.data as Float32Array, d.x_hat!.data as Float32Array);
        close(zh.data as Float32Array, d.z_hat!.data as Float32Array);
        const zd = z.data as Float32Array;
        const zhd = zh.data as Float32Array;
        const score = Array.from({ length: n }, (_, b) => { let s = 0; for (let k = 0; k < 8; k++) s += (zd[b * 8 + k]! - zhd[b * 8 + k]!) ** 2; return s / 8; });
        close(score, d.score!.data as Float32Array);
        expect(d.score!.dims).toEqual([n]);
        expect(d.anomaly_map!.dims).toEqual([n, 1, 16, 16]);
      }
      await Promise.all([ge, gd, e, det].map((s) => s!.release()));
    }
  }, 120_000);

  it('refuses corrupt or incomplete run folders with a clear error', async () => {
    await expect(exportRun(path.join(os.tmpdir(), 'no-such-run-xyz'), { out: await tmp() })).rejects.toThrow(/does not exist/);
    const broken = await tmp();
    await expect(exportRun(broken, { out: await tmp() })).rejects.toThrow(ExportError);
    for (const f of await fs.readdir(cfg.out)) await fs.copyFile(path.join(cfg.out, f), path.join(broken, f));
    const bin = (await fs.readdir(broken)).find((f) => f.endsWith('.bin'))!;
    const bytes = await fs.readFile(path.join(broken, bin));
    await fs.writeFile(path.join(broken, bin), bytes.subarray(0, bytes.length - 100));
    await expect(exportRun(broken, { out: await tmp() })).rejects.toThrow(/truncated/);
    await fs.writeFile(path.join(broken, 'checkpoint.json'), '{"format":1,');
    await expect(exportRun(broken, { out: await tmp() })).rejects.toThrow(/not valid JSON/);
    await expect(exportRun(cfg.out, { out: await tmp(), opset: 99 })).rejects.toThrow(/opset/);
  });
});

describe('parity against tfjs for isize 32/64 and nc 1/3 (random weights, inference-mode BN)', () => {
  for (const isize of [32, 64]) {
    for (const nc of [1, 3] as const) {
      it(`isize ${isize} nc ${nc}`, async () => {
        await tf.setBackend('cpu');
        const mc: ModelConfig = { isize, nc, nz: 16, ngf: 8, ndf: 8, scoreKind: 'l2' };
        const m = GanomalyModel.create(mc, isize + nc);
        // Non-trivial moving statistics, as after training.
        for (const [k, v] of m.vars) {
          if (k.endsWith('.bn.mean')) v.assign(tf.randomNormal(v.shape, 0, 0.1, 'float32', 1));
          if (k.endsWith('.bn.var')) v.assign(tf.randomUniform(v.shape, 0.5, 2, 'float32', 2));
        }
        const w = m.getWeights();
        m.dispose();
        const graphs = { GE: buildGE(mc, w), GD: buildGD(mc, w), E: buildE(mc, w), detector: buildDetector(mc, w) };
        const n = 3;
        const imgs = Float32Array.from({ length: n * isize * isize * nc }, (_, i) => Math.cos(i * 0.013) * 0.9);
        const r = await checkParity(mc, w, graphs, imgs, n, nodeOrt);
        for (const v of Object.values(r.maxAbsDiff)) expect(v).toBeLessThanOrEqual(1e-4);
        // The layout the graphs were fed: the same values as tfjs' own NHWC → NCHW transpose.
        const nchw = tf.tidy(() => tf.tensor4d(imgs, [n, isize, isize, nc]).transpose([0, 3, 1, 2]).dataSync());
        expect(Array.from(nhwcToNchw(imgs, n, isize, isize, nc))).toEqual(Array.from(nchw));
      }, 60_000);
    }
  }
});
