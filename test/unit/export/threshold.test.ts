// The threshold rule as data: what export writes for each threshold option, how bad options are
// refused before any work, and how thresholdRuleOf recovers the rule from new and old manifests.
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import * as ort from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_TRAIN_CONFIG } from '../../../src/config/train-config.js';
import { thresholdRuleOf } from '../../../src/export/calibrate.js';
import { exportRun } from '../../../src/export/exportRun.js';
import { buildModelFolder, type ModelFolderOptions } from '../../../src/export/model-folder.js';
import { sha256Hex } from '../../../src/export/hash.js';
import { nodeOrt } from '../../../src/export/ortNode.js';
import type { ModelConfig, Threshold } from '../../../src/types.js';
import { randomWeights, seededRandom } from '../../helpers/make-model.js';

const cfg: ModelConfig = { isize: 16, nc: 1, nz: 8, ngf: 4, ndf: 4, scoreKind: 'l2' };
const N = 24;
const rand = seededRandom(9);
// nc = 1: NHWC and NCHW are the same bytes, so the reference below feeds them to ORT as they are.
const images = Float32Array.from({ length: N * 16 * 16 }, () => rand() * 2 - 1);

function build(opts: ModelFolderOptions) {
  return buildModelFolder({
    name: 'thresholds',
    config: { ...DEFAULT_TRAIN_CONFIG, data: 'fashion-mnist', out: 'unused', model: cfg },
    weights: randomWeights(cfg, 4),
    validation: { images, count: N },
    trained: { epochs: 1, stepsInEpoch: 0 },
    split: null,
    runner: nodeOrt,
    sha256: sha256Hex,
    producerVersion: 'test',
    tools: {},
  }, { precisions: ['fp32', 'int8'], parityImages: 4, ...opts });
}

/** Scores of the validation images through a plain ORT session, and their q-quantile (linear interpolation). */
async function reference(detector: Uint8Array, q: number): Promise<number> {
  const s = await ort.InferenceSession.create(detector);
  const scores = (await s.run({ x: new ort.Tensor('float32', images, [N, 1, 16, 16]) })).score!.data as Float32Array;
  await s.release();
  const sorted = Array.from(scores).sort((a, b) => a - b);
  const pos = (N - 1) * q;
  const lo = Math.floor(pos);
  return sorted[lo]! + (sorted[Math.min(lo + 1, N - 1)]! - sorted[lo]!) * (pos - lo);
}

describe('export threshold options → manifest threshold', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  it('thresholdQuantile: method quantile, the quantile, over how many scores, its value and the sentence; variants follow it', async () => {
    const { manifest, files } = await build({ threshold: { quantile: 0.9 } });
    const t = manifest.threshold;
    expect({ ...t, value: undefined }).toEqual({ method: 'quantile', quantile: 0.9, of: N, value: undefined, rule: `quantile 0.9 of ${N} validation-normal scores` });
    expect(t.value).toBeCloseTo(await reference(files['detector.onnx']!, 0.9), 6);
    const v = manifest.variants!.int8!;
    expect(v.threshold).toMatchObject({ method: 'quantile', quantile: 0.9, of: N, rule: t.rule });
    expect(v.threshold.value).toBeCloseTo(await reference(files[v.file]!, 0.9), 6);
  });

  it('no option: quantile 0.99', async () => {
    const { manifest, files } = await build({});
    expect(manifest.threshold).toMatchObject({ method: 'quantile', quantile: 0.99, of: N, rule: `quantile 0.99 of ${N} validation-normal scores` });
    expect(manifest.threshold.value).toBeCloseTo(await reference(files['detector.onnx']!, 0.99), 6);
  });

  it('absolute threshold: method absolute, the value as given, no quantile; variants keep the same value', async () => {
    const { manifest } = await build({ threshold: { value: 0.125 } });
    expect(manifest.threshold).toEqual({ value: 0.125, rule: 'absolute (set with --threshold)', method: 'absolute' });
    expect(manifest.variants!.int8!.threshold).toEqual(manifest.threshold);
  });

  // The run folder does not exist and the output's parent stays empty: the options were refused
  // before the run was read or the lock and staging folder were made.
  it.each([
    [{ thresholdQuantile: 0.9, threshold: 0.1 }, TypeError],
    [{ thresholdQuantile: 0 }, RangeError],
    [{ thresholdQuantile: 1.5 }, RangeError],
    [{ thresholdQuantile: Number.NaN }, RangeError],
    [{ threshold: Number.POSITIVE_INFINITY }, RangeError],
  ] as const)('exportRun(%o) → %o before any work', async (opts, kind) => {
    const parent = await fs.mkdtemp(path.join(os.tmpdir(), 'ganomaly-threshold-'));
    await expect(exportRun(path.join(parent, 'no-such-run'), { out: path.join(parent, 'model'), ...opts })).rejects.toThrow(kind);
    expect(await fs.readdir(parent)).toEqual([]);
  });

  it('buildModelFolder refuses the same before building anything', async () => {
    await expect(build({ threshold: { quantile: 0.5, value: 1 } })).rejects.toThrow(TypeError);
    await expect(build({ threshold: { quantile: -0.1 } })).rejects.toThrow(RangeError);
  });
});

describe('thresholdRuleOf', () => {
  const t = (over: Partial<Threshold>): Threshold => ({ value: 0.25, rule: '', ...over });

  it('reads the data fields', () => {
    expect(thresholdRuleOf(t({ method: 'quantile', quantile: 0.95, of: 40, rule: 'quantile 0.95 of 40 validation-normal scores' }))).toEqual({ quantile: 0.95 });
    expect(thresholdRuleOf(t({ method: 'absolute', rule: 'absolute (set with --threshold)' }))).toEqual({ value: 0.25 });
  });

  it('the data fields win over a sentence that says otherwise', () => {
    expect(thresholdRuleOf(t({ method: 'quantile', quantile: 0.9, rule: 'quantile 0.5 of 10 validation-normal scores' }))).toEqual({ quantile: 0.9 });
    expect(thresholdRuleOf(t({ method: 'absolute', rule: 'quantile 0.5 of 10 validation-normal scores' }))).toEqual({ value: 0.25 });
  });

  it('old manifests: parses the sentence', () => {
    expect(thresholdRuleOf(t({ rule: 'quantile 0.95 of 1200 validation-normal scores' }))).toEqual({ quantile: 0.95 });
    expect(thresholdRuleOf(t({ rule: 'quantile 1 of 12 validation-normal scores' }))).toEqual({ quantile: 1 });
    expect(thresholdRuleOf(t({ rule: 'absolute (set with --threshold)' }))).toEqual({ value: 0.25 });
  });

  it('a sentence it cannot read, or a quantile out of range, falls back to 0.99', () => {
    expect(thresholdRuleOf(t({ rule: 'chosen by hand' }))).toEqual({ quantile: 0.99 });
    expect(thresholdRuleOf(t({ rule: 'quantile 7 of 10 validation-normal scores' }))).toEqual({ quantile: 0.99 });
  });
});
