// quantize end to end on a model folder built by export's own builder (seeded weights, the real
// Fashion-MNIST split the manifest names): the rule the variants are thresholded by, recovered from
// old manifests too; the lock and staged swap it shares with export; and the CLI.
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_TRAIN_CONFIG, type TrainConfig } from '../../src/config/train-config.js';
import { loadDataset } from '../../src/data/index.js';
import { ExportError } from '../../src/export/errors.js';
import { sha256Hex } from '../../src/export/hash.js';
import { buildModelFolder } from '../../src/export/model-folder.js';
import { nodeOrt } from '../../src/export/ortNode.js';
import { quantizeModel } from '../../src/export/variants.js';
import type { StageEvent } from '../../src/progress.js';
import { createDetector } from '../../src/runtime/node.js';
import type { Manifest, ModelConfig } from '../../src/types.js';
import { bundleCli } from '../helpers/cli-bundle.js';
import { randomWeights } from '../helpers/make-model.js';

const model: ModelConfig = { isize: 16, nc: 1, nz: 8, ngf: 4, ndf: 4, scoreKind: 'l2' };
const config: TrainConfig = { ...DEFAULT_TRAIN_CONFIG, data: 'fashion-mnist', abnormalClass: '0', out: 'unused', maxImages: 240, seed: 5, model };
const tmp = () => fs.mkdtemp(path.join(os.tmpdir(), 'ganomaly-quantize-'));

let base = '';
let val: { images: Float32Array; count: number };

/** A fresh copy of the float32-only model folder, alone in a new parent folder. */
async function copyModel(): Promise<{ parent: string; dir: string }> {
  const parent = await tmp();
  const dir = path.join(parent, 'm');
  await fs.cp(base, dir, { recursive: true });
  return { parent, dir };
}

const readManifest = async (dir: string) => JSON.parse(await fs.readFile(path.join(dir, 'manifest.json'), 'utf8')) as Manifest;
const editManifest = async (dir: string, edit: (m: Manifest) => void) => {
  const m = await readManifest(dir);
  edit(m);
  await fs.writeFile(path.join(dir, 'manifest.json'), JSON.stringify(m, null, 2));
};

/** The q-quantile (linear interpolation) of a graph's validation scores through a plain ORT session. */
async function quantileOf(file: string, q: number): Promise<number> {
  const n = val.count;
  const s = await ort.InferenceSession.create(file);
  const scores = (await s.run({ x: new ort.Tensor('float32', val.images, [n, 1, 16, 16]) })).score!.data as Float32Array;
  await s.release();
  const sorted = Array.from(scores).sort((a, b) => a - b);
  const pos = (n - 1) * q;
  const lo = Math.floor(pos);
  return sorted[lo]! + (sorted[Math.min(lo + 1, n - 1)]! - sorted[lo]!) * (pos - lo);
}

beforeAll(async () => {
  await tf.setBackend('cpu');
  const data = await loadDataset(config.data, { isize: 16, nc: 1, abnormalClass: '0', maxImages: 240, seed: 5, validationFraction: config.validationFraction });
  val = data.validation;
  const folder = await buildModelFolder({
    name: 'm', config, weights: randomWeights(model, 21), validation: val, trained: { epochs: 1, stepsInEpoch: 0 },
    split: data.split, runner: nodeOrt, sha256: sha256Hex, producerVersion: 'test', tools: {},
  }, { precisions: ['fp32'], threshold: { quantile: 0.95 }, parityImages: 4 });
  base = path.join(await tmp(), 'base');
  await fs.mkdir(base);
  for (const [f, bytes] of Object.entries(folder.files)) await fs.writeFile(path.join(base, f), bytes);
});

describe('quantizeModel', () => {
  it('an old manifest (rule sentence only, quantile 0.95): the variant gets quantile 0.95 of its own scores, as data; StageEvents; one swap', async () => {
    const { parent, dir } = await copyModel();
    await editManifest(dir, (m) => {
      expect(m.threshold.method).toBe('quantile');
      m.threshold = { value: m.threshold.value, rule: m.threshold.rule };
    });
    expect((await readManifest(dir)).threshold.rule).toBe(`quantile 0.95 of ${val.count} validation-normal scores`);
    const events: StageEvent[] = [];
    const q = await quantizeModel(dir, { precisions: ['int8'], onProgress: (e) => events.push(e) });

    const t = q.variants!.int8!.threshold;
    expect({ method: t.method, quantile: t.quantile, of: t.of, rule: t.rule }).toEqual({
      method: 'quantile', quantile: 0.95, of: val.count, rule: `quantile 0.95 of ${val.count} validation-normal scores`,
    });
    expect(t.value).toBeCloseTo(await quantileOf(path.join(dir, 'detector.int8.onnx'), 0.95), 6);

    expect(events.every((e) => e.kind === 'stage' && typeof e.stage === 'string')).toBe(true);
    expect(events[0]).toEqual({ kind: 'stage', stage: 'loading validation images' });
    expect(events.at(-1)).toEqual({ kind: 'stage', stage: 'done' });

    expect(await readManifest(dir)).toEqual(q);
    expect((await fs.readdir(dir)).sort()).toEqual(['E.onnx', 'GD.onnx', 'GE.onnx', 'detector.int8.onnx', 'detector.onnx', 'manifest.json']);
    expect(await fs.readdir(parent)).toEqual(['m']); // no staging folder or lock left behind
    const d = await createDetector({ model: dir, precision: 'int8', executionProviders: ['cpu'], logger: null });
    expect(d.threshold).toBe(t.value);
    await d.dispose();
  });

  it('an old manifest with an absolute threshold: the variant keeps the value, as method absolute', async () => {
    const { dir } = await copyModel();
    await editManifest(dir, (m) => {
      m.threshold = { value: 0.5, rule: 'absolute (set with --threshold)' };
    });
    const q = await quantizeModel(dir, { precisions: ['fp16'] });
    expect(q.variants!.fp16!.threshold).toEqual({ value: 0.5, rule: 'absolute (set with --threshold)', method: 'absolute' });
  });

  it('a failure after some variant was written leaves the folder exactly as it was', async () => {
    const { parent, dir } = await copyModel();
    // int8's file cannot be written (a folder holds its name), after fp16's was.
    await fs.mkdir(path.join(dir, 'detector.int8.onnx'));
    const before = (await fs.readdir(dir)).sort();
    const manifestBefore = await fs.readFile(path.join(dir, 'manifest.json'));
    await expect(quantizeModel(dir, { precisions: ['fp16', 'int8'] })).rejects.toThrow();
    expect((await fs.readdir(dir)).sort()).toEqual(before);
    expect((await fs.readFile(path.join(dir, 'manifest.json'))).equals(manifestBefore)).toBe(true);
    expect(await fs.readdir(parent)).toEqual(['m']);
  });

  it('two concurrent quantizes into one folder: one fails naming the other, the other completes', async () => {
    const { parent, dir } = await copyModel();
    const results = await Promise.allSettled([quantizeModel(dir, { precisions: ['int8'] }), quantizeModel(dir, { precisions: ['fp16'] })]);
    const failed = results.filter((r) => r.status === 'rejected') as PromiseRejectedResult[];
    expect(failed).toHaveLength(1);
    expect(failed[0]!.reason).toBeInstanceOf(ExportError);
    expect((failed[0]!.reason as Error).message).toMatch(/another quantize \(process \d+\) is writing/);
    const done = (results.find((r) => r.status === 'fulfilled') as PromiseFulfilledResult<Manifest>).value;
    expect(await readManifest(dir)).toEqual(done);
    expect(Object.keys(done.variants!)).toHaveLength(1);
    expect(await fs.readdir(parent)).toEqual(['m']);
  });

  it('a folder an export is writing (its lock, a live process) is refused without touching it', async () => {
    const { parent, dir } = await copyModel();
    await fs.writeFile(path.join(parent, '.m.export-lock'), `${process.pid} export\n`);
    await expect(quantizeModel(dir)).rejects.toThrow(/another export \(process \d+\) is writing/);
    expect(await fs.readdir(dir)).not.toContain('detector.int8.onnx');
    expect((await fs.readdir(parent)).sort()).toEqual(['.m.export-lock', 'm']);
  });

  it('bad options are refused before the folder is locked or read', async () => {
    const parent = await tmp();
    const missing = path.join(parent, 'missing');
    await expect(quantizeModel(missing, { thresholdQuantile: 2 })).rejects.toThrow(RangeError);
    await expect(quantizeModel(missing, { precisions: ['fp64' as 'fp16'] })).rejects.toThrow(RangeError);
    await expect(quantizeModel(missing)).rejects.toThrow(/does not exist/);
    expect(await fs.readdir(parent)).toEqual([]);
  });
});

describe('ganomaly quantize (CLI)', () => {
  let cli: Awaited<ReturnType<typeof bundleCli>>;
  beforeAll(async () => {
    cli = await bundleCli();
  });
  afterAll(async () => {
    await cli?.dispose();
  });

  it('--help prints the usage and exits 0', async () => {
    const r = await cli.run(['quantize', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Usage: ganomaly quantize --model <model dir>/);
  });

  it('adds the asked-for variant to an exported model and lists it', async () => {
    const { dir } = await copyModel();
    const r = await cli.run(['quantize', '--model', dir, '--precision', 'fp16']);
    expect(r.stderr).toContain('loading validation images…');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^fp16: detector\.fp16\.onnx .* % of fp32\), threshold /m);
    const m = await readManifest(dir);
    expect(Object.keys(m.variants!)).toEqual(['fp16']);
    expect(m.variants!.fp16!.threshold).toMatchObject({ method: 'quantile', quantile: 0.95 });
    expect(await fs.readdir(dir)).toContain('detector.fp16.onnx');
  });

  it.each([
    [['--model', 'x', '--precision', 'fp64'], /--precision takes a list of fp32, fp16, int8/],
    [['--precision', 'int8'], /--model <model dir> is required/],
    [['--model', 'x', '--precision', 'fp32'], /fp32 is detector\.onnx itself/],
  ])('%o: exits non-zero with one line', async (args, message) => {
    const r = await cli.run(['quantize', ...args]);
    expect(r.code).not.toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(message);
  });
});
