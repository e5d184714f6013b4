// The runtime's graph check (src/runtime/core/graph-check.ts) on its own, no ONNX Runtime: every
// graph the exporter writes passes it (all precisions, opsets and a spread of model shapes), and
// hand-built graphs outside that are refused with an UntrustedGraphError naming what is wrong.
// The bounded reader under it never throws anything but ModelLoadError or UntrustedGraphError.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { describe, expect, it } from 'vitest';
import {
  attr,
  buildDetector,
  buildDiscriminator,
  buildE,
  buildGD,
  buildGE,
  convertDetectorPrecision,
  GRAPH_IO,
  irVersionForOpset,
  KNOWN_OPS,
  MAX_OPSET,
  MIN_OPSET,
} from '../../../src/export/onnx/index.js';
import {
  AttributeProto_AttributeType,
  AttributeProtoSchema,
  GraphProtoSchema,
  ModelProtoSchema,
  NodeProtoSchema,
  OperatorSetIdProtoSchema,
  StringStringEntryProtoSchema,
  TensorProto_DataLocation,
} from '../../../src/export/proto/onnx_pb.js';
import { ModelLoadError, UntrustedGraphError } from '../../../src/runtime/core/errors.js';
import { checkGraph, GRAPH_IR_VERSIONS, GRAPH_LIMITS, GRAPH_OPS, GRAPH_OPSETS } from '../../../src/runtime/core/graph-check.js';
import { defaultPreprocessing } from '../../../src/runtime/core/pixels.js';
import { ONNX_READ_LIMITS, readOnnxModel } from '../../../src/runtime/core/onnx-reader.js';
import { MANIFEST_SCHEMA_VERSION, type Manifest, type ModelConfig } from '../../../src/types.js';
import { constantOfShapeBomb, convChain, expandAtLoad, finishWithScore, serialize, start } from '../../helpers/hostile-graphs.js';
import { randomWeights, seededRandom } from '../../fixtures/random-weights.js';

const TINY: ModelConfig = { isize: 32, nc: 1, nz: 16, ngf: 8, ndf: 8, scoreKind: 'l2' };

/** A manifest for `cfg` whose `file` entry lists `outputs` (the exporter's detector outputs by default). */
function manifestFor(cfg: ModelConfig, opts: { file?: string; outputs?: string[]; batch?: number | 'N' } = {}): Manifest {
  const file = opts.file ?? 'detector.onnx';
  const entry = { sha256: 'a'.repeat(64), bytes: 1, inputs: ['x'], outputs: opts.outputs ?? [...GRAPH_IO.detector.outputs] };
  return {
    schemaVersion: MANIFEST_SCHEMA_VERSION,
    name: 'graph-check',
    createdAt: '2026-01-01T00:00:00.000Z',
    input: { name: 'x', shape: [opts.batch ?? 'N', cfg.nc, cfg.isize, cfg.isize], dtype: 'float32' },
    preprocessing: defaultPreprocessing(cfg.isize, cfg.nc),
    score: { kind: cfg.scoreKind, description: '' },
    calibration: { count: 1, min: 0, max: 1, mean: 0, std: 0, p50: 0, p95: 0, p99: 0 },
    threshold: { value: 0.5, rule: 'test' },
    files: { 'detector.onnx': entry, [file]: entry },
    model: cfg,
    training: {},
    split: null,
    opset: 17,
    tools: {},
    parity: null,
  };
}

/** The ModelLoadError `fn` throws for a graph that is not for this manifest (fails the test on anything else). */
function mismatchError(fn: () => unknown): ModelLoadError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ModelLoadError);
    expect(e).not.toBeInstanceOf(UntrustedGraphError);
    expect((e as Error).message).not.toContain('\n');
    expect((e as Error).message).toMatch(/the graph and manifest\.json do not belong together/);
    return e as ModelLoadError;
  }
  throw new Error('the graph was accepted');
}

/** The UntrustedGraphError `fn` throws (fails the test if it throws anything else or nothing). */
function refusal(fn: () => unknown): UntrustedGraphError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(UntrustedGraphError);
    const u = e as UntrustedGraphError;
    expect(u.code).toBe('model_untrusted_graph');
    expect(u.message).not.toContain('\n');
    return u;
  }
  throw new Error('the graph was accepted');
}

describe('graphs the exporter writes', () => {
  const configs: ModelConfig[] = [
    TINY,
    { isize: 48, nc: 3, nz: 8, ngf: 4, ndf: 4, scoreKind: 'l1' }, // final map 3×3: a 3×3 final kernel
    { isize: 64, nc: 1, nz: 10, ngf: 4, ndf: 4, scoreKind: 'l2' },
  ];

  it('every detector passes, in fp32, fp16 and int8, at every opset the exporter writes', () => {
    for (const cfg of configs) {
      const w = randomWeights(cfg, 3);
      for (let opset = MIN_OPSET; opset <= MAX_OPSET; opset++) {
        const fp32 = buildDetector(cfg, w, { opset });
        for (const [file, bytes] of [
          ['detector.onnx', fp32],
          ['detector.fp16.onnx', convertDetectorPrecision(fp32, 'fp16')],
          ['detector.int8.onnx', convertDetectorPrecision(fp32, 'int8')],
        ] as const) {
          const summary = checkGraph(bytes, manifestFor(cfg, { file }), file);
          expect(summary.work).toBeGreaterThan(0);
          expect(summary.tensorElements).toBeLessThanOrEqual(GRAPH_LIMITS.tensorElements);
        }
      }
    }
  });

  it('a detector whose batch dimension is fixed passes under a manifest with that batch, and only then', () => {
    const bytes = buildDetector(TINY, randomWeights(TINY, 3));
    const m = fromBinary(ModelProtoSchema, bytes);
    for (const v of [...m.graph!.input, ...m.graph!.output]) {
      const t = v.type!.value;
      if (t.case === 'tensorType') t.value.shape!.dim[0]!.value = { case: 'dimValue', value: 4n };
    }
    const fixed = toBinary(ModelProtoSchema, m);
    expect(checkGraph(fixed, manifestFor(TINY, { batch: 4 })).nodes).toBeGreaterThan(10);
    expect(mismatchError(() => checkGraph(fixed, manifestFor(TINY))).message).toMatch(/^detector\.onnx cannot run the manifest's input shape \[1, 1, 32, 32\]: input 'x' is declared as tensor of type 1 with \[4, 1, 32, 32\]; the manifest implies float32 \[N, 1, 32, 32\]/);
  });

  it('GE, GD, E and D use only allowed operators and attributes; the allow-list is the exporter\'s operator list', () => {
    expect(Object.keys(GRAPH_OPS).sort()).toEqual([...KNOWN_OPS].sort());
    expect(GRAPH_OPSETS).toEqual({ min: MIN_OPSET, max: MAX_OPSET });
    for (let opset = MIN_OPSET; opset <= MAX_OPSET; opset++) {
      const ir = irVersionForOpset(opset);
      expect(ir >= GRAPH_IR_VERSIONS.min && ir <= GRAPH_IR_VERSIONS.max).toBe(true);
    }
    const w = randomWeights(TINY, 5);
    for (const opset of [MIN_OPSET, 17, 18, MAX_OPSET]) {
      const graphs = { GE: buildGE(TINY, w, { opset }), GD: buildGD(TINY, w, { opset }), E: buildE(TINY, w, { opset }), D: buildDiscriminator(TINY, w, { opset }) };
      for (const [name, bytes] of Object.entries(graphs)) {
        const model = readOnnxModel(bytes, name);
        expect(model.opsets).toEqual([{ domain: '', version: opset }]);
        for (const node of model.graph!.nodes) {
          const spec = GRAPH_OPS[node.opType];
          expect(spec, `${name}: ${node.opType}`).toBeDefined();
          for (const a of node.attributes) expect([node.opType, a.name, a.type]).toEqual([node.opType, a.name, spec!.attrs[a.name]]);
        }
      }
    }
  });

  it('the model shipped in models/ passes in every precision', async () => {
    const dir = 'models/fashion-mnist-trouser';
    const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as Manifest;
    for (const file of ['detector.onnx', 'detector.fp16.onnx', 'detector.int8.onnx']) {
      const s = checkGraph(new Uint8Array(await readFile(join(dir, file))), manifest, file);
      // GANomaly at isize 32, nc 1, ngf 64: the largest feature map is 64×16×16; the variants also
      // decode their kernels in the graph, the largest 128×256×4×4.
      expect(s.tensorElements).toBe(file === 'detector.onnx' ? 16_384 : 524_288);
      expect(s.work).toBeGreaterThan(40e6);
      expect(s.work).toBeLessThan(60e6);
    }
  });
});

describe('graphs the exporter does not write', () => {
  const manifest = manifestFor(TINY, { outputs: ['score'] });
  const tiny = () => start(manifest);
  const check = (bytes: Uint8Array, m = manifest) => () => checkGraph(bytes, m);

  it('issue 23: ConstantOfShape → ReduceSum (an fp16 variant of a few hundred bytes)', () => {
    const g = constantOfShapeBomb(manifest);
    expect(g.bytes.length).toBeLessThan(1024);
    const e = refusal(() => checkGraph(g.bytes, manifestFor(TINY, { file: g.file, outputs: ['score'] }), g.file));
    expect(e.subject).toBe("node 'bomb/ConstantOfShape' (ConstantOfShape)");
    expect(e.file).toBe('detector.fp16.onnx');
    expect(e.message).toMatch(/^detector\.fp16\.onnx is not a graph this runtime accepts: node 'bomb\/ConstantOfShape' \(ConstantOfShape\): operator ConstantOfShape is not one the exporter writes/);
  });

  it('issue 23: an Expand that ONNX Runtime would fold into a 20000² constant at load', () => {
    expect(refusal(check(expandAtLoad(manifest).bytes)).subject).toBe("node 'expand/Expand' (Expand)");
  });

  it('issue 23: the exporter\'s own operators, chained until the work per image passes the cap (a ~6 KB file)', () => {
    const g = convChain(manifest);
    expect(g.bytes.length).toBeLessThan(8 * 1024);
    const e = refusal(check(g.bytes));
    expect(e.subject).toMatch(/^node 'slow\/mix\d+' \(Conv\)$/);
    expect(e.message).toMatch(/brings the work per image past 68719476736 multiply-adds/);
    // The same construction, short: allowed (merely slow; serve's readiness probe is for those).
    expect(checkGraph(convChain(manifest, 4, 512).bytes, manifest).work).toBeGreaterThan(5e8);
  });

  it('an initializer whose dims claim more than its bytes hold', () => {
    const g = tiny();
    const build = (dims: bigint[]) => {
      const g = tiny();
      g.addInitializer('w', [1, 1, 1, 1], new Float32Array([1]));
      g.addNode('Mul', ['x', 'w'], ['xw']);
      g.addNode('ReduceMean', ['xw'], ['xw.mean'], { axes: attr.ints([1, 2, 3]), keepdims: attr.int(0) });
      const m = finishWithScore(g, manifest, 'xw.mean');
      m.graph!.initializer[0]!.dims = dims;
      return serialize(m);
    };
    const huge = refusal(check(build([20000n, 20000n])));
    expect(huge.subject).toBe("initializer 'w'");
    expect(huge.message).toMatch(/initializer 'w': 400000000 elements, over the cap of 134217728/);
    expect(refusal(check(build([1000n, 1000n]))).message).toMatch(/initializer 'w': dims \[1000, 1000\] need 4000000 bytes; raw_data holds 4/);
  });

  it('initializer data outside raw_data: external files, typed fields', () => {
    for (const edit of ['external', 'typed'] as const) {
      const g = tiny();
      g.addInitializer('w', [1], new Float32Array([2]));
      g.addNode('Mul', ['x', 'w'], ['xw']);
      const m = finishWithScore(g, manifest);
      const t = m.graph!.initializer[0]!;
      if (edit === 'external') {
        t.dataLocation = TensorProto_DataLocation.EXTERNAL;
        t.externalData = [create(StringStringEntryProtoSchema, { key: 'location', value: '/etc/passwd' })];
        t.rawData = new Uint8Array(0);
      } else {
        t.rawData = new Uint8Array(0);
        t.floatData = [2];
      }
      expect(refusal(check(serialize(m))).message).toMatch(/initializer 'w': data outside raw_data/);
    }
  });

  it('an allowed operator asked for a huge output: ConvTranspose with stride 4096', () => {
    const g = tiny();
    g.addInitializer('k', [1, 1, 1, 1], new Float32Array([1]));
    g.addNode('ConvTranspose', ['x', 'k'], ['huge'], {
      auto_pad: attr.string('NOTSET'), kernel_shape: attr.ints([1, 1]), strides: attr.ints([4096, 4096]), pads: attr.ints([0, 0, 0, 0]),
      dilations: attr.ints([1, 1]), group: attr.int(1), output_padding: attr.ints([0, 0]),
    }, 'stride/ConvTranspose');
    g.addNode('ReduceMean', ['huge'], ['huge.mean'], { axes: attr.ints([1, 2, 3]), keepdims: attr.int(0) });
    const e = refusal(check(serialize(finishWithScore(g, manifest, 'huge.mean'))));
    expect(e.subject).toBe("node 'stride/ConvTranspose' (ConvTranspose)");
    expect(e.message).toMatch(/makes a tensor of shape \[1, 1, 126977, 126977\]/);
  });

  it('custom domains, control flow with subgraphs, unknown attributes, foreign opsets', () => {
    const custom = finishWithScore(tiny(), manifest);
    custom.graph!.node[1]!.domain = 'com.example';
    expect(refusal(check(serialize(custom))).message).toMatch(/domain 'com\.example'/);

    const withIf = finishWithScore(tiny(), manifest);
    withIf.graph!.node.splice(1, 0, create(NodeProtoSchema, {
      name: 'branch', opType: 'If', input: ['x.mean'], output: ['branch.out'],
      attribute: [create(AttributeProtoSchema, { name: 'then_branch', type: AttributeProto_AttributeType.GRAPH, g: create(GraphProtoSchema, { name: 'g' }) })],
    }));
    expect(refusal(check(serialize(withIf))).subject).toBe("node 'branch' (If)");

    const extraAttr = finishWithScore(tiny(), manifest);
    extraAttr.graph!.node[0]!.attribute.push(create(AttributeProtoSchema, { name: 'select_last_index', type: AttributeProto_AttributeType.INT, i: 1n }));
    expect(refusal(check(serialize(extraAttr))).message).toMatch(/attribute 'select_last_index' is not one the exporter writes/);

    const foreign = finishWithScore(tiny(), manifest);
    foreign.opsetImport.push(create(OperatorSetIdProtoSchema, { domain: 'com.microsoft', version: 1n }));
    expect(refusal(check(serialize(foreign))).message).toMatch(/opset imports/);
    const newer = finishWithScore(tiny(), manifest);
    newer.opsetImport[0]!.version = 22n;
    expect(refusal(check(serialize(newer))).message).toMatch(/opset 22/);
  });

  it('a node hidden in a second `graph` field is seen, as protobuf merges the two (and ONNX Runtime with it)', () => {
    const base = serialize(finishWithScore(tiny(), manifest));
    const hidden = toBinary(ModelProtoSchema, create(ModelProtoSchema, {
      graph: create(GraphProtoSchema, { node: [create(NodeProtoSchema, { name: 'hidden', opType: 'ConstantOfShape', input: ['x.mean'], output: ['h'] })] }),
    }));
    const both = new Uint8Array([...base, ...hidden]);
    expect(fromBinary(ModelProtoSchema, both).graph!.node.map((n) => n.name)).toContain('hidden');
    expect(refusal(check(both)).subject).toBe("node 'hidden' (ConstantOfShape)");
  });

  it('inputs and outputs that are not the manifest\'s: a ModelLoadError, as before the check', () => {
    // Input shape: 64×64 under a 32×32 manifest.
    const big = manifestFor({ ...TINY, isize: 64 }, { outputs: ['score'] });
    expect(mismatchError(check(serialize(finishWithScore(start(big), big)))).message).toMatch(/cannot run the manifest's input shape \[1, 1, 32, 32\]: input 'x' is declared as tensor of type 1 with \[N, 1, 64, 64\]/);
    // An output the manifest does not list.
    const extra = tiny();
    extra.addNode('Relu', ['x'], ['secret']);
    extra.addOutput('secret', ['N', 1, 32, 32]);
    expect(mismatchError(check(serialize(finishWithScore(extra, manifest)))).message).toMatch(/graph outputs \["secret","score"\]; the manifest lists \["score"\]/);
    // A second graph input (an initializer listed as an input, old IR style).
    const two = finishWithScore(tiny(), manifest);
    two.graph!.input.push({ ...two.graph!.input[0]!, name: 'y' });
    expect(mismatchError(check(serialize(two))).message).toMatch(/graph inputs \["x","y"\]/);
    // x_hat declared with the wrong size.
    const withXhat = manifestFor(TINY, { outputs: ['score', 'x_hat'] });
    const g = start(withXhat);
    g.addNode('Relu', ['x'], ['x_hat']);
    g.addOutput('x_hat', ['N', 1, 32, 16]);
    expect(mismatchError(check(serialize(finishWithScore(g, withXhat)), withXhat)).message).toMatch(/^detector\.onnx does not match manifest\.json: output 'x_hat' is declared as tensor of type 1 with \[N, 1, 32, 16\]; the manifest implies float32 \[N, 1, 32, 32\]/);
    // An output name the runtime does not know: not the exporter's.
    const odd = manifestFor(TINY, { outputs: ['score', 'extra'] });
    const h = start(odd);
    h.addNode('Relu', ['x'], ['extra']);
    h.addOutput('extra', ['N', 1, 32, 32]);
    expect(refusal(check(serialize(finishWithScore(h, odd)), odd)).subject).toBe("output 'extra'");
  });

  it('a graph that folds the batch into another dimension (right at batch 1, wrong at 2)', () => {
    const g = tiny();
    g.addInt64Initializer('flat', [1, -1]);
    g.addNode('Reshape', ['x', 'flat'], ['x.flat'], { allowzero: attr.int(0) });
    g.addNode('ReduceMean', ['x.flat'], ['score'], { axes: attr.ints([1]), keepdims: attr.int(0) });
    g.addOutput('score', ['N']);
    const e = mismatchError(check(g.serialize()));
    expect(e.message).toMatch(/output 'score' computes shape \[1\] for a batch of 2; the manifest implies \[2\]/);
  });

  it('nodes out of order, a tensor defined twice', () => {
    const m = finishWithScore(tiny(), manifest);
    m.graph!.node.reverse();
    expect(refusal(check(serialize(m))).message).toMatch(/input 'x\.mean' is not a graph input, an initializer or an earlier node's output/);
    const twice = finishWithScore(tiny(), manifest);
    twice.graph!.node[1]!.output = ['x.mean'];
    expect(refusal(check(serialize(twice))).message).toMatch(/tensor name 'x\.mean' is defined twice/);
  });
});

describe('the reader on garbage', () => {
  const manifest = manifestFor(TINY);
  const good = buildDetector(TINY, randomWeights(TINY, 9));

  /** Only ModelLoadError or UntrustedGraphError, or acceptance. */
  const typedOnly = (bytes: Uint8Array) => {
    try {
      checkGraph(bytes, manifest);
      return 'accepted';
    } catch (e) {
      if (e instanceof ModelLoadError || e instanceof UntrustedGraphError) return e.name;
      throw e;
    }
  };

  it('truncations, flipped bytes and random bytes end in typed errors', () => {
    expect(typedOnly(good)).toBe('accepted');
    const outcomes = new Set<string>();
    for (let cut = 0; cut < good.length; cut += 97) outcomes.add(typedOnly(good.subarray(0, cut)));
    const rand = seededRandom(23);
    // Flips in the graph's structure (its first and last KB: nodes, inputs, outputs, metadata) and anywhere.
    for (let i = 0; i < 600; i++) {
      const bytes = good.slice();
      const at = i % 3 === 0 ? Math.floor(rand() * bytes.length) : i % 3 === 1 ? Math.floor(rand() * 1024) : bytes.length - 1 - Math.floor(rand() * 1024);
      bytes[at] = Math.floor(rand() * 256);
      outcomes.add(typedOnly(bytes));
    }
    for (let i = 0; i < 200; i++) outcomes.add(typedOnly(Uint8Array.from({ length: 1 + Math.floor(rand() * 4096) }, () => Math.floor(rand() * 256))));
    expect([...outcomes].sort()).toEqual(['ModelLoadError', 'UntrustedGraphError', 'accepted']);
  });

  it('caps counts and lengths (a graph of 10 001 empty nodes, a 5000-byte name) and malformed varints', () => {
    // ModelProto field 7 (graph) holding 10 001 × field 1 (node) of length 0.
    const nodes = new Uint8Array(2 * (ONNX_READ_LIMITS.nodes + 1)).map((_, i) => (i % 2 === 0 ? 0x0a : 0));
    const lenBytes = [0xa2, 0x9c, 0x01]; // varint 20002
    const many = new Uint8Array([0x3a, ...lenBytes, ...nodes]);
    expect(() => readOnnxModel(many)).toThrow(UntrustedGraphError);
    expect(() => readOnnxModel(many)).toThrow(/more than 10000 nodes/);
    const longName = new Uint8Array([0x3a, 0x8e, 0x27, 0x0a, 0x8b, 0x27, 0x1a, 0x88, 0x27, ...new Uint8Array(5000).fill(0x61)]); // graph { node { name: 'a' × 5000 } }
    expect(() => readOnnxModel(longName)).toThrow(/node name is 5000 bytes long/);
    expect(() => readOnnxModel(new Uint8Array(11).fill(0xff))).toThrow(ModelLoadError);
    expect(() => readOnnxModel(new Uint8Array([0x3a, 0x05, 0x0a]))).toThrow(/protobuf: length past the end/);
  });
});
