// Builder, weight checks and structural validator of the ONNX writer, without running a model.
import { describe, expect, it } from 'vitest';
import { toBinary } from '@bufbuild/protobuf';
import type { ModelConfig } from '../../../src/types.js';
import { ConfigError } from '../../../src/train/architecture.js';
import { ModelProtoSchema, type ModelProto } from '../../../src/export/proto/onnx_pb.js';
import {
  GraphBuilder, OnnxBuildError, OnnxValidationError, WeightMapError, attr, buildDetector, buildDiscriminator,
  buildGD, buildGE, decodeModel, irVersionForOpset, permute3201, validateModel, validateModelBytes,
} from '../../../src/export/onnx/index.js';
import { randomWeights } from '../../fixtures/random-weights.js';

const cfg: ModelConfig = { isize: 32, nc: 1, nz: 16, ngf: 8, ndf: 8, scoreKind: 'l2' };
const w = randomWeights(cfg, 3);

function broken(mutate: (m: ModelProto) => void): ModelProto {
  const m = decodeModel(buildDetector(cfg, w));
  mutate(m);
  return m;
}

function validationError(m: ModelProto): OnnxValidationError {
  try {
    validateModel(m);
  } catch (e) {
    expect(e).toBeInstanceOf(OnnxValidationError);
    return e as OnnxValidationError;
  }
  throw new Error('validator accepted a broken model');
}

describe('model header', () => {
  it('writes producer, versions, doc string, metadata and a symbolic batch dimension', () => {
    const m = validateModelBytes(buildGE(cfg, w, {
      producerVersion: '1.2.3', docString: 'GE of run X', metadata: { run: 'X', isize: '32' },
    }));
    expect(m.producerName).toBe('ganomaly-edge');
    expect(m.producerVersion).toBe('1.2.3');
    expect(m.docString).toBe('GE of run X');
    expect(m.irVersion).toBe(8n);
    expect(m.opsetImport.map((o) => [o.domain, o.version])).toEqual([['', 17n]]);
    expect(Object.fromEntries(m.metadataProps.map((p) => [p.key, p.value]))).toEqual({ run: 'X', isize: '32' });
    const dims = m.graph!.input[0]!.type!.value.value as { shape: { dim: { value: { case: string; value: unknown } }[] } };
    expect(dims.shape.dim.map((d) => d.value.value)).toEqual(['N', 1n, 32n, 32n]);
    expect(m.graph!.output.map((o) => o.name)).toEqual(['z']);
  });

  it('maps opsets to the lowest IR that carries them and refuses others', () => {
    expect([13, 15, 17, 18, 19, 21].map(irVersionForOpset)).toEqual([7, 8, 8, 8, 9, 10]);
    for (const bad of [12, 22, 17.5, Number.NaN]) {
      expect(() => buildGE(cfg, w, { opset: bad })).toThrow(OnnxBuildError);
    }
  });

  it('stores float32 initializers as little-endian raw data', () => {
    const g = new GraphBuilder('t');
    g.addInput('a', ['N', 2]);
    g.addInitializer('b', [2], new Float32Array([1.5, -2]));
    g.addNode('Sub', ['a', 'b'], ['c']);
    g.addOutput('c', ['N', 2]);
    const t = decodeModel(g.serialize()).graph!.initializer[0]!;
    expect(Array.from(t.rawData)).toEqual([0, 0, 0xc0, 0x3f, 0, 0, 0, 0xc0]);
    expect(() => g.addNode('Abs', ['missing'], ['d'])).toThrow(OnnxBuildError);
    expect(() => g.addInitializer('b', [1], new Float32Array(1))).toThrow(/used twice/);
    expect(() => g.addInitializer('e', [3], new Float32Array(2))).toThrow(OnnxBuildError);
    expect(attr.int(1)).toEqual({ type: 'int', value: 1 });
  });
});

describe('weights', () => {
  it('permutes [3,2,0,1]: tfjs HWIO index (h,w,i,o) lands at OIHW (o,i,h,w)', () => {
    const shape = [2, 3, 4, 5];
    const src = Float32Array.from({ length: 120 }, (_, i) => i);
    const { dims, data } = permute3201(src, shape);
    expect(dims).toEqual([5, 4, 2, 3]);
    for (const [h, ww, i, o] of [[0, 0, 0, 0], [1, 2, 3, 4], [1, 0, 2, 3], [0, 2, 1, 0]] as const) {
      expect(data[((o * 4 + i) * 2 + h) * 3 + ww]).toBe(src[((h * 3 + ww) * 4 + i) * 5 + o]);
    }
  });

  it('names the missing, misshapen or non-finite tensor', () => {
    const { ['GE.conv1.bn.var']: _drop, ...missing } = w;
    expect(() => buildGE(cfg, missing)).toThrow(/GE\.conv1\.bn\.var: missing/);
    const misshapen = { ...w, 'GD.convt0.w': { shape: [4, 4, 16, 64], data: new Float32Array(4096) } };
    expect(() => buildGD(cfg, misshapen)).toThrow(WeightMapError);
    const nan = { ...w, 'D.final.w': { shape: w['D.final.w']!.shape, data: w['D.final.w']!.data.map((v, i) => (i === 3 ? NaN : v)) } };
    expect(() => buildDiscriminator(cfg, nan)).toThrow(/D\.final\.w: value 3 is NaN/);
    const negVar = { ...w, 'GE.conv1.bn.var': { shape: [16], data: new Float32Array(16).fill(-1) } };
    expect(() => buildGE(cfg, negVar)).toThrow(/negative/);
  });

  it('refuses an invalid model config', () => {
    expect(() => buildGE({ ...cfg, isize: 40 }, w)).toThrow(ConfigError);
    expect(() => buildDetector({ ...cfg, scoreKind: 'l3' as 'l2' }, w)).toThrow(ConfigError);
  });
});

describe('structural validator', () => {
  it('accepts every graph the writer produces', () => {
    for (const opset of [13, 17, 18, 21]) expect(() => validateModelBytes(buildDetector(cfg, w, { opset }))).not.toThrow();
    expect(() => validateModelBytes(buildDiscriminator(cfg, w))).not.toThrow();
  });

  it('rejects a dangling node input, naming the node', () => {
    const e = validationError(broken((m) => { m.graph!.node[3]!.input[0] = 'nowhere'; }));
    expect(e.subject).toBe(decodeModel(buildDetector(cfg, w)).graph!.node[3]!.name);
    expect(e.message).toMatch(/'nowhere'/);
  });

  it('rejects nodes out of topological order', () => {
    const e = validationError(broken((m) => { m.graph!.node.reverse(); }));
    expect(e.message).toMatch(/not a graph input, an initializer or an earlier node's output/);
  });

  it('rejects an initializer whose raw data does not match its dims, naming it', () => {
    const e = validationError(broken((m) => {
      const t = m.graph!.initializer.find((i) => i.name === 'GE.conv1.w')!;
      t.rawData = t.rawData.subarray(0, t.rawData.length - 4);
    }));
    expect(e.subject).toBe('GE.conv1.w');
  });

  it('rejects a model without the default opset import', () => {
    const bytes = toBinary(ModelProtoSchema, broken((m) => { m.opsetImport = []; }));
    expect(() => validateModelBytes(bytes)).toThrow(/no opset_import/);
  });

  it('rejects unknown ops, missing explicit attributes, duplicate names and unproduced outputs', () => {
    expect(validationError(broken((m) => { m.graph!.node[0]!.opType = 'Gelu'; })).message).toMatch(/outside the supported subset/);
    const bn = validationError(broken((m) => {
      const node = m.graph!.node.find((n) => n.opType === 'BatchNormalization')!;
      node.attribute = node.attribute.filter((a) => a.name !== 'epsilon');
    }));
    expect(bn.message).toMatch(/'epsilon' must be written explicitly/);
    expect(validationError(broken((m) => { m.graph!.node[1]!.output[0] = m.graph!.node[0]!.output[0]!; })).message)
      .toMatch(/reuses an existing tensor name/);
    expect(validationError(broken((m) => { m.graph!.output[0]!.name = 'ghost'; })).subject).toBe('ghost');
    expect(() => decodeModel(new Uint8Array([0xff, 0xff, 0xff]))).toThrow(OnnxValidationError);
  });
});
