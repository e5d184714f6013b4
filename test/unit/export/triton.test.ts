// `ganomaly triton`: the generated config.pbtxt is parsed back (a small protobuf-text parser
// below) and every field is checked against the manifest and against the graph itself.
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, writeFile, cp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { UsageError } from '../../../src/cli-args.js';
import { run } from '../../../src/cli/triton.js';
import { ExportError } from '../../../src/export/errors.js';
import { writeTritonRepository } from '../../../src/export/triton.js';
import { makeModelFolder, TINY_CONFIG, type TestModel } from '../../helpers/make-model.js';

type PbValue = string | number | PbMessage | PbValue[];
interface PbMessage {
  [field: string]: PbValue[];
}

/** Parses protobuf text format (the subset config.pbtxt uses): fields, sub-messages, lists. */
function parsePbtxt(text: string): PbMessage {
  const tokens = text.match(/"(?:[^"\\]|\\.)*"|[{}[\]:,]|[^\s{}[\]:,"]+/g) ?? [];
  let i = 0;
  const peek = () => tokens[i];
  const take = (want?: string) => {
    const t = tokens[i++];
    if (t === undefined || (want !== undefined && t !== want)) throw new Error(`pbtxt: expected ${want ?? 'a token'} at token ${i - 1}, got ${t}`);
    return t;
  };
  const scalar = (t: string): string | number => (t.startsWith('"') ? JSON.parse(t) : /^-?\d+(\.\d+)?$/.test(t) ? Number(t) : t);
  const value = (): PbValue => {
    if (peek() === '{') {
      take('{');
      const m = message('}');
      take('}');
      return m;
    }
    if (peek() === '[') {
      take('[');
      const list: PbValue[] = [];
      while (peek() !== ']') {
        list.push(value());
        if (peek() === ',') take(',');
      }
      take(']');
      return list;
    }
    return scalar(take());
  };
  const message = (end?: string): PbMessage => {
    const m: PbMessage = {};
    while (i < tokens.length && peek() !== end) {
      const name = take();
      if (!/^[A-Za-z_]\w*$/.test(name)) throw new Error(`pbtxt: bad field name ${name}`);
      if (peek() === ':') take(':');
      const v = value();
      // `field [ a, b ]` of messages is the same as repeating the field.
      const values = Array.isArray(v) && v.every((x) => typeof x === 'object' && !Array.isArray(x)) && v.length > 0 ? v : [v];
      (m[name] ??= []).push(...values);
      if (peek() === ',' || peek() === ';') take();
    }
    return m;
  };
  const m = message();
  if (i !== tokens.length) throw new Error('pbtxt: trailing tokens');
  return m;
}

const one = (m: PbMessage, f: string) => {
  expect(m[f], f).toHaveLength(1);
  return m[f]![0]!;
};

let model: TestModel;
beforeAll(async () => {
  model = await makeModelFolder({ ...TINY_CONFIG, nz: 12 });
});
afterEach(() => vi.restoreAllMocks());

describe('writeTritonRepository', () => {
  it('writes config.pbtxt, 1/model.onnx and manifest.json that agree with the manifest and the graph', async () => {
    const out = await mkdtemp(join(tmpdir(), 'ganomaly-triton-'));
    const { modelDir, config } = await writeTritonRepository(model.dir, out, { maxBatchSize: 16, maxQueueDelayMicroseconds: 500, name: 'anomaly' });
    expect(modelDir).toBe(join(out, 'anomaly'));
    expect(createHash('sha256').update(await readFile(join(modelDir, '1', 'model.onnx'))).digest('hex')).toBe(model.manifest.files['detector.onnx']!.sha256);
    expect(JSON.parse(await readFile(join(modelDir, 'manifest.json'), 'utf8'))).toEqual(model.manifest);

    const pb = parsePbtxt(await readFile(join(modelDir, 'config.pbtxt'), 'utf8'));
    expect(Object.keys(pb).sort()).toEqual(['dynamic_batching', 'input', 'max_batch_size', 'name', 'output', 'platform']);
    expect(one(pb, 'name')).toBe('anomaly');
    expect(one(pb, 'platform')).toBe('onnxruntime_onnx');
    expect(one(pb, 'max_batch_size')).toBe(16);
    expect(one(one(pb, 'dynamic_batching') as PbMessage, 'max_queue_delay_microseconds')).toBe(500);

    const { nc, isize, nz } = model.cfg;
    const inputs = pb.input as PbMessage[];
    expect(inputs).toHaveLength(1);
    expect(one(inputs[0]!, 'name')).toBe(model.manifest.input.name);
    expect(one(inputs[0]!, 'data_type')).toBe('TYPE_FP32');
    expect(one(inputs[0]!, 'dims')).toEqual(model.manifest.input.shape.slice(1));
    expect(one(inputs[0]!, 'dims')).toEqual([nc, isize, isize]);

    const outputs = pb.output as PbMessage[];
    expect(outputs.map((o) => one(o, 'name'))).toEqual(model.manifest.files['detector.onnx']!.outputs);
    const expected: Record<string, number[]> = { score: [], z: [nz], z_hat: [nz], x_hat: [nc, isize, isize], anomaly_map: [1, isize, isize] };
    for (const o of outputs) {
      const name = one(o, 'name') as string;
      expect(one(o, 'data_type')).toBe('TYPE_FP32');
      if (name === 'score') {
        expect(one(o, 'dims')).toEqual([1]); // Triton needs non-empty dims …
        expect(one(one(o, 'reshape') as PbMessage, 'shape')).toEqual([]); // … reshaped to the graph's per-image scalar
      } else {
        expect(one(o, 'dims')).toEqual(expected[name]);
        expect(o.reshape).toBeUndefined();
      }
    }
    expect(config.outputs.map((o) => o.name)).toEqual(outputs.map((o) => one(o, 'name')));

    // The graph itself: a batch of 3 through model.onnx gives [3, ...per-image shape] per output.
    const session = await ort.InferenceSession.create(join(modelDir, '1', 'model.onnx'), { executionProviders: ['cpu'] });
    try {
      const dims = one(inputs[0]!, 'dims') as number[];
      const x = new ort.Tensor('float32', new Float32Array(3 * dims.reduce((a, b) => a * b, 1)), [3, ...dims]);
      const res = await session.run({ [one(inputs[0]!, 'name') as string]: x });
      for (const o of outputs) {
        const reshape = o.reshape ? (one(one(o, 'reshape') as PbMessage, 'shape') as number[]) : (one(o, 'dims') as number[]);
        expect(res[one(o, 'name') as string]!.dims).toEqual([3, ...reshape]);
      }
    } finally {
      await session.release();
    }
  });

  it('a fixed-batch graph gets max_batch_size 0, the batch in dims, and no dynamic batching', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ganomaly-triton-fixed-'));
    await cp(model.dir, dir, { recursive: true });
    await writeFile(join(dir, 'manifest.json'), JSON.stringify({ ...model.manifest, input: { ...model.manifest.input, shape: [4, 1, 32, 32] } }));
    const out = await mkdtemp(join(tmpdir(), 'ganomaly-triton-'));
    const { modelDir } = await writeTritonRepository(dir, out);
    const pb = parsePbtxt(await readFile(join(modelDir, 'config.pbtxt'), 'utf8'));
    expect(one(pb, 'name')).toBe(model.manifest.name);
    expect(one(pb, 'max_batch_size')).toBe(0);
    expect(pb.dynamic_batching).toBeUndefined();
    expect(one((pb.input as PbMessage[])[0]!, 'dims')).toEqual([4, 1, 32, 32]);
    const score = (pb.output as PbMessage[]).find((o) => one(o, 'name') === 'score')!;
    expect(one(score, 'dims')).toEqual([4]);
    expect(score.reshape).toBeUndefined();
  });

  it('refuses a detector.onnx that differs from the manifest, a missing folder, and a bad name', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ganomaly-triton-bad-'));
    await cp(model.dir, dir, { recursive: true });
    const bytes = await readFile(join(dir, 'detector.onnx'));
    bytes[bytes.length - 1] ^= 1;
    await writeFile(join(dir, 'detector.onnx'), bytes);
    const out = await mkdtemp(join(tmpdir(), 'ganomaly-triton-'));
    await expect(writeTritonRepository(dir, out)).rejects.toThrow(ExportError);
    await expect(writeTritonRepository(dir, out)).rejects.toThrow(/sha256/);
    await expect(writeTritonRepository(join(dir, 'nope'), out)).rejects.toThrow(/cannot read/);
    await expect(writeTritonRepository(model.dir, out, { name: '../escape' })).rejects.toThrow(/model name/);
    await expect(writeTritonRepository(model.dir, out, { maxBatchSize: 0 })).rejects.toThrow(/maxBatchSize/);
  });
});

describe('ganomaly triton', () => {
  it('writes the repository and reports it; bad usage is a UsageError', async () => {
    const out = await mkdtemp(join(tmpdir(), 'ganomaly-triton-cli-'));
    const lines: string[] = [];
    vi.spyOn(console, 'log').mockImplementation((s) => void lines.push(String(s)));
    expect(await run(['--model', model.dir, '--out', out, '--max-batch-size', '8', '--instances', '2', '--kind', 'cpu'])).toBe(0);
    expect(lines[0]).toContain(join(out, model.manifest.name));
    const pb = parsePbtxt(await readFile(join(out, model.manifest.name, 'config.pbtxt'), 'utf8'));
    expect(one(pb, 'max_batch_size')).toBe(8);
    expect(pb.instance_group).toEqual([{ count: [2], kind: ['KIND_CPU'] }]);
    await expect(run(['--out', out])).rejects.toThrow(UsageError);
    await expect(run(['--model', model.dir])).rejects.toThrow(UsageError);
    await expect(run(['--model', model.dir, '--out', out, '--kind', 'tpu', '--instances', '1'])).rejects.toThrow(UsageError);
    expect(await run(['--help'])).toBe(0);
  });
});

describe('triton: the manifest is validated like the runtime does (issue 13)', () => {
  it('refuses schemaVersion 99 and a string in input.shape instead of writing them into config.pbtxt', async () => {
    const { mkdtemp, readFile: read, writeFile: write, copyFile } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const m = await makeModelFolder();
    for (const edit of [(x: Record<string, any>) => (x.schemaVersion = 99), (x: Record<string, any>) => (x.input.shape = ['N', 1, '32 } evil {', 32])]) { // eslint-disable-line @typescript-eslint/no-explicit-any
      const dir = await mkdtemp(join(tmpdir(), 'ganomaly-triton-bad-'));
      const manifest = JSON.parse(await read(join(m.dir, 'manifest.json'), 'utf8')) as Record<string, unknown>;
      edit(manifest);
      await write(join(dir, 'manifest.json'), JSON.stringify(manifest));
      await copyFile(join(m.dir, 'detector.onnx'), join(dir, 'detector.onnx'));
      const out = await mkdtemp(join(tmpdir(), 'ganomaly-triton-out-'));
      await expect(writeTritonRepository(dir, out)).rejects.toThrow(ExportError);
      await expect(writeTritonRepository(dir, out)).rejects.toThrow(/schemaVersion 99|input\.shape/);
    }
  });
});
