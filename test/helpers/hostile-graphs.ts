// Hand-built graphs that pass every integrity check (a manifest with their sha256 and byte count,
// the manifest core's hash stamped in their metadata) but are not graphs the exporter writes: the
// three of issue 23, and the smaller cases graph-check.test.ts refuses one by one. They are built
// with the exporter's GraphBuilder and, where it has no helper (tensor attributes, float16 data),
// by editing the ModelProto it returns.
import { createHash } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { create, toBinary } from '@bufbuild/protobuf';
import { attr, GraphBuilder, type Dim } from '../../src/export/onnx/index.js';
import {
  AttributeProto_AttributeType,
  AttributeProtoSchema,
  ModelProtoSchema,
  StringStringEntryProtoSchema,
  TensorProto_DataType,
  TensorProtoSchema,
  type ModelProto,
} from '../../src/export/proto/onnx_pb.js';
import { MANIFEST_CORE_METADATA_KEY, manifestCoreSha256 } from '../../src/runtime/core/manifest-core.js';
import type { Manifest, Precision } from '../../src/types.js';

export interface HostileGraph {
  /** The file it is shipped as: detector.onnx, or a variant's file. */
  file: string;
  precision: Precision;
  bytes: Uint8Array;
  /** Its graph outputs, as its manifest lists them. */
  outputs: string[];
}

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** A builder with the manifest's input ('x', [N, nc, isize, isize]). */
export function start(manifest: Manifest, name = 'hostile', opset = 17): GraphBuilder {
  const g = new GraphBuilder(name, opset);
  const [, c, h, w] = manifest.input.shape;
  g.addInput(manifest.input.name, ['N', c, h, w]);
  return g;
}

/** score [N] = mean of x over everything but the batch, optionally plus `extra` (a scalar or [N]) through `op`. */
export function finishWithScore(g: GraphBuilder, manifest: Manifest, extra?: string, op = 'Add'): ModelProto {
  g.addNode('ReduceMean', [manifest.input.name], ['x.mean'], { axes: attr.ints([1, 2, 3]), keepdims: attr.int(0) });
  if (extra) g.addNode(op, ['x.mean', extra], ['score']);
  else g.addNode('Relu', ['x.mean'], ['score']);
  g.addOutput('score', ['N'] as Dim[]);
  return g.toModel({ metadata: { [MANIFEST_CORE_METADATA_KEY]: manifestCoreSha256(manifest) } });
}

export const serialize = (m: ModelProto) => toBinary(ModelProtoSchema, m);

/**
 * Issue 23's first graph: the fp16 variant whose ConstantOfShape [20000, 20000] (float16 ones,
 * 800 MB; the issue's 40000² took a process to 6.4 GiB) feeds a ReduceSum. A few hundred bytes.
 */
export function constantOfShapeBomb(manifest: Manifest, side = 20_000): HostileGraph {
  const g = start(manifest, 'bomb');
  g.addInt64Initializer('bomb.shape', [side, side]);
  g.addNode('ConstantOfShape', ['bomb.shape'], ['bomb'], {}, 'bomb/ConstantOfShape');
  g.addNode('ReduceSum', ['bomb'], ['bomb.sum'], { keepdims: attr.int(0) }, 'bomb/ReduceSum');
  g.addNode('Cast', ['bomb.sum'], ['bomb.sum.f32'], { to: attr.int(TensorProto_DataType.FLOAT) });
  const model = finishWithScore(g, manifest, 'bomb.sum.f32');
  const node = model.graph!.node.find((n) => n.opType === 'ConstantOfShape')!;
  node.attribute.push(create(AttributeProtoSchema, {
    name: 'value',
    type: AttributeProto_AttributeType.TENSOR,
    t: create(TensorProtoSchema, { dims: [1n], dataType: TensorProto_DataType.FLOAT16, rawData: new Uint8Array([0x00, 0x3c]) }),
  }));
  model.metadataProps.push(create(StringStringEntryProtoSchema, { key: 'ganomaly.precision', value: 'fp16' }));
  return { file: 'detector.fp16.onnx', precision: 'fp16', bytes: serialize(model), outputs: ['score'] };
}

/**
 * Issue 23's second graph: an Expand of a one-element initializer to [side, side], which ONNX
 * Runtime folds into a constant while it creates the session (the issue's 12 KB graph kept
 * `serve` from listening for 40 s at 5 GB).
 */
export function expandAtLoad(manifest: Manifest, side = 20_000): HostileGraph {
  const g = start(manifest, 'expand');
  g.addInitializer('one', [1], new Float32Array([1]));
  g.addInt64Initializer('expand.shape', [side, side]);
  g.addNode('Expand', ['one', 'expand.shape'], ['big'], {}, 'expand/Expand');
  g.addNode('ReduceSum', ['big'], ['big.sum'], { keepdims: attr.int(0) });
  return { file: 'detector.onnx', precision: 'fp32', bytes: serialize(finishWithScore(g, manifest, 'big.sum')), outputs: ['score'] };
}

/**
 * Issue 23's third graph, with the exporter's own operators only: x is upsampled by stride-2
 * ConvTransposes to 2048² and run through `convs` 8→8 3×3 Convs that all share one kernel, so a
 * ~6 KB file asks for ~2.4 G multiply-adds per Conv per image (the issue's took 9.7 s per image).
 * With 4 Convs on a `side` of 512 it is a small graph that is merely slow (~0.6 G).
 */
export function convChain(manifest: Manifest, convs = 30, side = 2048): HostileGraph {
  const g = start(manifest, 'slow');
  const [, c, h] = manifest.input.shape;
  g.addInitializer('up0.w', [c, 1, 2, 2], new Float32Array(c * 4).fill(0.25));
  g.addInitializer('up.w', [1, 1, 2, 2], new Float32Array(4).fill(0.25));
  g.addInitializer('widen.w', [8, 1, 3, 3], new Float32Array(72).fill(1 / 9));
  g.addInitializer('mix.w', [8, 8, 3, 3], new Float32Array(576).fill(1 / 72));
  const conv = { pads: attr.ints([1, 1, 1, 1]) }; // ONNX defaults for the rest, to keep the file small
  let t = manifest.input.name;
  for (let size = h, i = 0; size < side; size *= 2, i++) {
    [t] = g.addNode('ConvTranspose', [t, i === 0 ? 'up0.w' : 'up.w'], [`up${i}`], {
      auto_pad: attr.string('NOTSET'), kernel_shape: attr.ints([2, 2]), strides: attr.ints([2, 2]), pads: attr.ints([0, 0, 0, 0]),
      dilations: attr.ints([1, 1]), group: attr.int(1), output_padding: attr.ints([0, 0]),
    }, `slow/up${i}`);
  }
  [t] = g.addNode('Conv', [t, 'widen.w'], ['widened'], conv, 'slow/widen');
  for (let i = 0; i < convs; i++) [t] = g.addNode('Conv', [t, 'mix.w'], [`mix${i}`], conv, `slow/mix${i}`);
  g.addNode('ReduceMean', [t], ['slow.mean'], { axes: attr.ints([1, 2, 3]), keepdims: attr.int(0) });
  return { file: 'detector.onnx', precision: 'fp32', bytes: serialize(finishWithScore(g, manifest, 'slow.mean', 'Mul')), outputs: ['score'] };
}

/** `base` with `graph` in its folder and the manifest entry made to match it (sha256, bytes, outputs). */
export async function folderWithGraph(base: { manifest: Manifest; detector: Uint8Array }, graph: HostileGraph): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'ganomaly-hostile-'));
  const m = structuredClone(base.manifest);
  const entry = { sha256: sha256(graph.bytes), bytes: graph.bytes.length, inputs: [m.input.name], outputs: graph.outputs };
  m.files[graph.file] = entry;
  if (graph.precision !== 'fp32') {
    m.variants = { ...m.variants, [graph.precision]: { file: graph.file, weights: 'hand-built', calibration: m.calibration, threshold: m.threshold, parityVsFp32: { images: 0 } } };
  }
  await writeFile(join(dir, 'manifest.json'), JSON.stringify(m, null, 2));
  await writeFile(join(dir, 'detector.onnx'), graph.file === 'detector.onnx' ? graph.bytes : base.detector);
  if (graph.file !== 'detector.onnx') await writeFile(join(dir, graph.file), graph.bytes);
  return dir;
}
