// Exported ONNX graphs against an independent tfjs forward pass, in onnxruntime-node and
// onnxruntime-web (WASM), plus the official ONNX checker where python3-onnx is installed.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import * as ortNode from 'onnxruntime-node';
import * as ortWeb from 'onnxruntime-web';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ModelConfig, NetName, WeightMap } from '../../../src/types.js';
import { decoderPlan, encoderPlan, type LayerPlan } from '../../../src/train/architecture.js';
import {
  buildDetector, buildDiscriminator, buildE, buildGD, buildGE, decodeModel, validateModelBytes,
} from '../../../src/export/onnx/index.js';
import { randomImages, randomWeights } from '../../fixtures/random-weights.js';

type Ort = typeof ortNode;
type Feeds = Record<string, { data: Float32Array; dims: number[] }>;
type Results = Record<string, { data: Float32Array; dims: number[] }>;

const PYTHON = '/usr/bin/python3';
const hasOnnxChecker = spawnSync(PYTHON, ['-c', 'import onnx'], { stdio: 'ignore' }).status === 0;
if (!hasOnnxChecker) console.warn(`NOTE: ${PYTHON} cannot import onnx; the official checker test is skipped (apt-get install python3-onnx)`);

const tmp = mkdtempSync(join(tmpdir(), 'ganomaly-onnx-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

beforeAll(async () => {
  await tf.setBackend('cpu');
  ortWeb.env.wasm.numThreads = 1;
});

async function run(ort: Ort | typeof ortWeb, model: Uint8Array, feeds: Feeds): Promise<Results> {
  const session = await (ort as Ort).InferenceSession.create(model);
  const inputs: Record<string, ortNode.Tensor> = {};
  for (const [k, v] of Object.entries(feeds)) inputs[k] = new (ort as Ort).Tensor('float32', v.data, v.dims);
  const out = await session.run(inputs);
  const res: Results = {};
  for (const [k, v] of Object.entries(out)) res[k] = { data: v.data as Float32Array, dims: [...v.dims] };
  await session.release();
  return res;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

// ---- independent reference: the GANomaly forward pass written directly in tfjs ops (NHWC) ----

function refLayers(h: tf.Tensor4D, net: NetName, layers: LayerPlan[], w: WeightMap): tf.Tensor4D {
  const t = (name: string): tf.Tensor => tf.tensor(w[name]!.data, w[name]!.shape);
  for (const l of layers) {
    const k = t(`${net}.${l.name}.w`) as tf.Tensor4D;
    const pad = l.pad === 0 ? 'valid' : 'same';
    h = l.kind === 'conv'
      ? tf.conv2d(h, k, l.stride, pad)
      : tf.conv2dTranspose(h, k, [h.shape[0], l.outSize, l.outSize, l.outChannels], l.stride, pad);
    if (l.batchNorm) {
      const bn = (p: string) => t(`${net}.${l.name}.bn.${p}`) as tf.Tensor1D;
      h = tf.batchNorm(h, bn('mean'), bn('var'), bn('beta'), bn('gamma'), 1e-5);
    }
    if (l.activation === 'lrelu') h = tf.leakyRelu(h, 0.2);
    else if (l.activation === 'relu') h = tf.relu(h);
    else if (l.activation === 'tanh') h = tf.tanh(h);
  }
  return h;
}

const nchw = (t: tf.Tensor4D): Float32Array => t.transpose([0, 3, 1, 2]).dataSync() as Float32Array;

function reference(cfg: ModelConfig, w: WeightMap, xNchw: Float32Array, n: number) {
  return tf.tidy(() => {
    const x = tf.tensor4d(xNchw, [n, cfg.nc, cfg.isize, cfg.isize]).transpose([0, 2, 3, 1]) as tf.Tensor4D;
    const enc = (net: 'GE' | 'E', input: tf.Tensor4D) =>
      refLayers(input, net, encoderPlan(net, cfg, cfg.nz, cfg.ngf).layers, w).reshape([n, cfg.nz]);
    const z = enc('GE', x);
    const xHat = refLayers(z.reshape([n, 1, 1, cfg.nz]), 'GD', decoderPlan(cfg).layers, w);
    const zHat = enc('E', xHat);
    const d = z.sub(zHat);
    const score = (cfg.scoreKind === 'l2' ? d.square() : d.abs()).mean(1);
    const map = x.sub(xHat).abs().mean(3, true) as tf.Tensor4D;
    const dLayers = encoderPlan('D', cfg, 1, cfg.ndf).layers;
    const features = refLayers(x, 'D', dLayers.slice(0, -1), w);
    const prob = refLayers(features, 'D', dLayers.slice(-1), w).sigmoid().reshape([n]);
    return {
      z: z.dataSync() as Float32Array,
      z_hat: zHat.dataSync() as Float32Array,
      x_hat: nchw(xHat),
      score: score.dataSync() as Float32Array,
      anomaly_map: nchw(map),
      prob: prob.dataSync() as Float32Array,
      features: nchw(features),
    };
  });
}

// ---- the configurations under test ----

const base = { ngf: 8, ndf: 8, nz: 16 };
const configs: ModelConfig[] = [
  { ...base, isize: 32, nc: 1, scoreKind: 'l2' },
  { ...base, isize: 32, nc: 3, scoreKind: 'l1' },
  { ...base, isize: 64, nc: 1, scoreKind: 'l1' },
  { ...base, isize: 64, nc: 3, scoreKind: 'l2' },
  // Not a power of two: the encoder stops at 3x3 and the final kernel is 3 with pad 0.
  { ...base, isize: 48, nc: 3, scoreKind: 'l2' },
];

const runtimes = [['onnxruntime-node', ortNode], ['onnxruntime-web', ortWeb]] as const;

describe.each(configs)('isize $isize nc $nc ($scoreKind)', (cfg) => {
  const w = randomWeights(cfg, cfg.isize * 10 + cfg.nc);
  const opts = { opset: 17, producerVersion: 'test', docString: 'export test', metadata: { isize: String(cfg.isize) } };
  const graphs = {
    GE: buildGE(cfg, w, opts),
    GD: buildGD(cfg, w, opts),
    E: buildE(cfg, w, opts),
    detector: buildDetector(cfg, w, opts),
    discriminator: buildDiscriminator(cfg, w, opts),
  };

  it('passes the structural validator', () => {
    for (const bytes of Object.values(graphs)) {
      expect(validateModelBytes(bytes).producerName).toBe('ganomaly-edge');
    }
  });

  it.each(runtimes)('matches the tfjs reference in %s at batch 1 and 7', async (_label, ort) => {
    for (const n of [1, 7]) {
      const x = randomImages(n, cfg, n);
      const ref = reference(cfg, w, x, n);
      const img = [n, cfg.nc, cfg.isize, cfg.isize];
      const det = await run(ort, graphs.detector, { x: { data: x, dims: img } });
      expect(det.score!.dims).toEqual([n]);
      expect(det.z!.dims).toEqual([n, cfg.nz]);
      expect(det.z_hat!.dims).toEqual([n, cfg.nz]);
      expect(det.x_hat!.dims).toEqual(img);
      expect(det.anomaly_map!.dims).toEqual([n, 1, cfg.isize, cfg.isize]);
      for (const k of ['z', 'z_hat', 'x_hat', 'score', 'anomaly_map'] as const) {
        expect(maxAbsDiff(det[k]!.data, ref[k]), `${k} at batch ${n}`).toBeLessThanOrEqual(1e-4);
      }
      // The separate graphs chained by hand give the fused graph's numbers.
      const z = (await run(ort, graphs.GE, { x: { data: x, dims: img } })).z!;
      const xHat = (await run(ort, graphs.GD, { z })).x_hat!;
      const zHat = (await run(ort, graphs.E, { x_hat: xHat })).z_hat!;
      expect(maxAbsDiff(z.data, det.z!.data)).toBeLessThanOrEqual(1e-5);
      expect(maxAbsDiff(xHat.data, det.x_hat!.data)).toBeLessThanOrEqual(1e-5);
      expect(maxAbsDiff(zHat.data, det.z_hat!.data)).toBeLessThanOrEqual(1e-5);

      const d = await run(ort, graphs.discriminator, { x: { data: x, dims: img } });
      expect(d.prob!.dims).toEqual([n]);
      expect(maxAbsDiff(d.prob!.data, ref.prob)).toBeLessThanOrEqual(1e-4);
      expect(maxAbsDiff(d.features!.data, ref.features)).toBeLessThanOrEqual(1e-4);
    }
  });
});

describe('official ONNX checker (opset 17, full_check)', () => {
  it.skipIf(!hasOnnxChecker)('accepts every exported graph', () => {
    const checkerFiles: string[] = [];
    for (const cfg of configs) {
      const w = randomWeights(cfg, 1);
      for (const build of [buildGE, buildGD, buildE, buildDetector, buildDiscriminator]) {
        const path = join(tmp, `${build.name}-${cfg.isize}-${cfg.nc}.onnx`);
        writeFileSync(path, build(cfg, w, { opset: 17 }));
        checkerFiles.push(path);
      }
    }
    const script = [
      'import sys, onnx',
      'for p in sys.argv[1:]:',
      '    onnx.checker.check_model(onnx.load(p), full_check=True)',
      'print("checked", len(sys.argv) - 1)',
    ].join('\n');
    const r = spawnSync(PYTHON, ['-c', script, ...checkerFiles], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toBe(`checked ${checkerFiles.length}`);
  });
});

describe('opset choice', () => {
  const cfg: ModelConfig = { ...base, isize: 32, nc: 1, scoreKind: 'l1' };
  const w = randomWeights(cfg, 5);
  const x = randomImages(3, cfg, 9);
  const feeds = { x: { data: x, dims: [3, 1, 32, 32] } };

  it('gives the same numbers at opsets 13, 18 and 21 (ReduceMean axes as input from 18)', async () => {
    const at17 = await run(ortNode, buildDetector(cfg, w, { opset: 17 }), feeds);
    for (const opset of [13, 18, 21]) {
      const bytes = buildDetector(cfg, w, { opset });
      const model = validateModelBytes(bytes);
      expect(Number(model.opsetImport[0]!.version)).toBe(opset);
      const reduce = model.graph!.node.filter((n) => n.opType === 'ReduceMean');
      expect(reduce.every((n) => n.input.length === (opset >= 18 ? 2 : 1))).toBe(true);
      const out = await run(ortNode, bytes, feeds);
      for (const k of ['score', 'anomaly_map', 'x_hat'] as const) {
        expect(maxAbsDiff(out[k]!.data, at17[k]!.data), `${k} at opset ${opset}`).toBeLessThanOrEqual(1e-6);
      }
    }
  });

  it.skipIf(!hasOnnxChecker)('opset 13 also passes the official checker', () => {
    const path = join(tmp, 'detector-13.onnx');
    writeFileSync(path, buildDetector(cfg, w, { opset: 13 }));
    const r = spawnSync(PYTHON, ['-c', 'import sys, onnx; onnx.checker.check_model(onnx.load(sys.argv[1]), full_check=True)', path], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('decoded graphs carry the GANomaly constants as explicit attributes', () => {
    const model = decodeModel(buildDetector(cfg, w));
    const attrOf = (op: string, name: string) =>
      model.graph!.node.filter((n) => n.opType === op).map((n) => n.attribute.find((a) => a.name === name));
    expect(attrOf('BatchNormalization', 'epsilon').every((a) => a && Math.abs(a.f - 1e-5) < 1e-12)).toBe(true);
    expect(attrOf('LeakyRelu', 'alpha').every((a) => a && Math.abs(a.f - 0.2) < 1e-7)).toBe(true);
    // No bias input on any convolution: GANomaly's convs have none.
    const convs = model.graph!.node.filter((n) => n.opType === 'Conv' || n.opType === 'ConvTranspose');
    expect(convs.length).toBeGreaterThan(0);
    expect(convs.every((n) => n.input.length === 2)).toBe(true);
  });
});
