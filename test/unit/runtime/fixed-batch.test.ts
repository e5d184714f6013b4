// A graph whose batch dimension is a number (some converters and accelerators produce these): the
// detector must pad every run to that batch and hand back results for the real images only, equal
// to scoring them with the same weights in a graph with a free batch dimension.
import { mkdtemp } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { toBinary } from '@bufbuild/protobuf';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildDetector, decodeModel } from '../../../src/export/onnx/index.js';
import { ModelProtoSchema } from '../../../src/export/proto/onnx_pb.js';
import { createDetector, createOrtHandle, preprocessPixels, type NodeDetector, type ScoreResult } from '../../../src/runtime/node.js';
import { Batcher } from '../../../src/runtime/core/batcher.js';
import type { Manifest } from '../../../src/types.js';
import { makeModelFolder, randomWeights, testImage, TINY_CONFIG, writeModelFolder, type TestModel } from '../../helpers/make-model.js';

const FIXED = 4;
const cfg = TINY_CONFIG;

/** The same graph with the batch dimension of every input and output set to `n`. */
function withFixedBatch(bytes: Uint8Array, n: number): Uint8Array {
  const m = decodeModel(bytes);
  for (const v of [...m.graph!.input, ...m.graph!.output]) {
    const dim = v.type!.value.case === 'tensorType' ? v.type!.value.value.shape!.dim[0]! : undefined;
    if (!dim) throw new Error(`${v.name} is not a tensor`);
    dim.value = { case: 'dimValue', value: BigInt(n) };
  }
  return toBinary(ModelProtoSchema, m);
}

const images = Array.from({ length: 6 }, (_, i) => testImage(32, 32, 1, 40 + i));

let free: TestModel;
let fixedBytes: Uint8Array;
let freeDet: NodeDetector;
let fixedDet: NodeDetector;

beforeAll(async () => {
  free = await makeModelFolder(cfg, 11);
  expect(free.detector).toEqual(buildDetector(cfg, randomWeights(cfg, 11)));
  fixedBytes = withFixedBatch(free.detector, FIXED);
  const manifest: Manifest = structuredClone(free.manifest);
  manifest.input.shape = [FIXED, cfg.nc, cfg.isize, cfg.isize];
  manifest.files['detector.onnx'] = { ...manifest.files['detector.onnx']!, sha256: createHash('sha256').update(fixedBytes).digest('hex'), bytes: fixedBytes.length };
  const dir = await mkdtemp(join(tmpdir(), 'ganomaly-fixed-'));
  await writeModelFolder(dir, manifest, fixedBytes);
  freeDet = await createDetector({ model: free.dir, executionProviders: ['cpu'], logger: null });
  fixedDet = await createDetector({ model: dir, executionProviders: ['cpu'], logger: null, maxBatch: 16 });
});

afterAll(async () => {
  await freeDet?.dispose();
  await fixedDet?.dispose();
});

const same = (got: ScoreResult[], want: ScoreResult[]) => {
  expect(got).toHaveLength(want.length);
  got.forEach((r, i) => {
    expect(r.score).toBeCloseTo(want[i]!.score, 6);
    const { channels, height, width } = r.anomalyMap!;
    expect({ channels, height, width }).toEqual({ channels: 1, height: 32, width: 32 });
    const a = r.anomalyMap!.data;
    const b = want[i]!.anomalyMap!.data;
    let worst = 0;
    for (let k = 0; k < a.length; k++) worst = Math.max(worst, Math.abs(a[k]! - b[k]!));
    expect(worst).toBeLessThan(1e-5);
  });
};

describe('a detector graph with a fixed batch dimension', () => {
  it('the graph itself refuses any other batch (so the runtime has to pad)', async () => {
    const s = await ort.InferenceSession.create(fixedBytes);
    const x = (n: number) => new ort.Tensor('float32', new Float32Array(n * 32 * 32), [n, 1, 32, 32]);
    await expect(s.run({ x: x(3) })).rejects.toThrow(/dimension|shape/i);
    expect((await s.run({ x: x(FIXED) })).score!.dims).toEqual([FIXED]);
    await s.release();
  });

  it('maxBatch is the fixed batch, whatever was asked for', () => {
    expect(fixedDet.maxBatch).toBe(FIXED);
    expect(freeDet.maxBatch).toBe(16);
  });

  it.each([1, 3, 4, 6])('%i image(s): one result per image, equal to unpadded scoring', async (n) => {
    const got = (await fixedDet.score(images.slice(0, n), { outputs: ['anomalyMap'] })) as ScoreResult[];
    const want = (await freeDet.score(images.slice(0, n), { outputs: ['anomalyMap'] })) as ScoreResult[];
    same(got, want);
  });

  it('concurrent calls that do not fit one run each get their own images’ results', async () => {
    const [a, b] = await Promise.all([
      fixedDet.score(images.slice(0, 3), { outputs: ['anomalyMap'] }),
      fixedDet.score(images.slice(3, 6), { outputs: ['anomalyMap'] }),
    ]);
    same([...(a as ScoreResult[]), ...(b as ScoreResult[])], (await freeDet.score(images, { outputs: ['anomalyMap'] })) as ScoreResult[]);
  });

  it('the batcher runs the session at the fixed batch every time, zero rows after the real ones', async () => {
    const handle = await createOrtHandle(ort, fixedBytes, 'cpu');
    const runs: { dims: number[]; tail: Float32Array }[] = [];
    const item = 32 * 32;
    const recording = {
      ...handle,
      inputNames: handle.inputNames,
      outputNames: handle.outputNames,
      run: (name: string, input: { data: Float32Array; dims: number[] }, fetch: readonly string[]) => {
        runs.push({ dims: [...input.dims], tail: input.data.slice(2 * item) });
        return handle.run(name, input, fetch);
      },
    };
    const batcher = new Batcher(recording, { inputName: 'x', itemShape: [1, 32, 32], maxBatch: FIXED, fixedBatch: FIXED });
    const pre = free.manifest.preprocessing;
    const out = await batcher.submit([preprocessPixels(images[0]!, pre), preprocessPixels(images[1]!, pre)], ['score']);
    expect(out).toHaveLength(2);
    expect(out.map((o) => o.score!.dims)).toEqual([[], []]);
    expect(runs).toEqual([{ dims: [FIXED, 1, 32, 32], tail: new Float32Array((FIXED - 2) * item) }]);
    await batcher.close();
    await handle.release();
  });
});
