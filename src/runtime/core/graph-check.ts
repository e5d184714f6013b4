// Accepts only graphs `ganomaly export` could have written, before ONNX Runtime sees them. A
// correct sha256 proves only that the manifest and graph travelled together: a 517-byte graph
// (ConstantOfShape [40000, 40000] → ReduceSum) takes a process to 6.4 GiB, a 4 KB one to seconds
// per image. So: the exporter's operators with the attributes it writes, initializers stored in
// the file (raw_data, sizes matching their dims), the manifest's input and outputs, and every
// tensor's shape inferred from the manifest's input shape, with caps on each tensor, on what is
// alive at once and on the work per image. The first thing outside that is an UntrustedGraphError
// naming it.
import type { Manifest } from '../../types.js';
import { ModelLoadError, UntrustedGraphError } from './errors.js';
import { readOnnxModel, type OnnxGraph, type OnnxNode, type OnnxTensor } from './onnx-reader.js';

/** ONNX TensorProto data types the exporter stores or computes in. */
const FLOAT = 1;
const INT8 = 3;
const INT64 = 7;
const FLOAT16 = 10;
const ELEMENT_BYTES: Record<number, number> = { [FLOAT]: 4, [INT8]: 1, [INT64]: 8, [FLOAT16]: 2 };

/** AttributeProto types. */
const F = 1;
const I = 2;
const S = 3;
const INTS = 7;

const CONV_ATTRS = { auto_pad: S, kernel_shape: INTS, strides: INTS, pads: INTS, dilations: INTS, group: I };

/**
 * Every operator the exporter writes (src/export/onnx: lower.ts for GE, GD, E, D and the detector,
 * precision.ts for the fp16 and int8 variants), the attributes it may carry and its input count.
 * Anything else — ConstantOfShape, Expand, Tile, Resize, Loop, If, Scan, custom domains — is refused.
 */
export const GRAPH_OPS: Readonly<Record<string, { attrs: Readonly<Record<string, number>>; inputs: number }>> = {
  Conv: { attrs: CONV_ATTRS, inputs: 2 },
  ConvTranspose: { attrs: { ...CONV_ATTRS, output_padding: INTS }, inputs: 2 },
  BatchNormalization: { attrs: { epsilon: F, momentum: F, training_mode: I }, inputs: 5 },
  LeakyRelu: { attrs: { alpha: F }, inputs: 1 },
  Relu: { attrs: {}, inputs: 1 },
  Tanh: { attrs: {}, inputs: 1 },
  Sigmoid: { attrs: {}, inputs: 1 },
  Abs: { attrs: {}, inputs: 1 },
  Sub: { attrs: {}, inputs: 2 },
  Mul: { attrs: {}, inputs: 2 },
  Flatten: { attrs: { axis: I }, inputs: 1 },
  Reshape: { attrs: { allowzero: I }, inputs: 2 },
  // One input before opset 18 (axes an attribute), two from 18 (axes an input).
  ReduceMean: { attrs: { axes: INTS, keepdims: I, noop_with_empty_axes: I }, inputs: 1 },
  Cast: { attrs: { to: I }, inputs: 1 },
  DequantizeLinear: { attrs: { axis: I }, inputs: 3 },
};

/** Default-domain opsets and IR versions the exporter writes (src/export/onnx/builder.ts). */
export const GRAPH_OPSETS = { min: 13, max: 21 } as const;
export const GRAPH_IR_VERSIONS = { min: 7, max: 10 } as const;

/**
 * Caps per image. The exporter's RGB detector with ngf 64 has, at isize 32 / 64 / 128, its largest
 * tensor at 16 K / 64 K / 256 K elements and costs 0.05 / 0.31 / 1.66 G multiply-adds (each
 * doubling of isize ~5×; at isize 256 the graph is ~0.6 GB). The caps leave room for far larger
 * models; the work cap is about 1 s per image at the ~70 G multiply-adds/s onnxruntime-node reaches
 * on 2 CPU cores (FACTS.md: batch 64 of the isize-32 detector in 50 ms).
 */
export const GRAPH_LIMITS = {
  /** Elements of any one tensor (2^27: 512 MiB of float32). */
  tensorElements: 2 ** 27,
  /** Elements of all tensors alive at once, in node order (2^28: 1 GiB of float32). */
  liveElements: 2 ** 28,
  /** Multiply-adds (convolutions) plus element operations (2^36 ≈ 69 G). */
  work: 2 ** 36,
} as const;

/** The per-image shape of each output the runtime reads, from the manifest. */
function outputShapes(m: Manifest): Record<string, number[]> {
  const [, c, h, w] = m.input.shape;
  return { score: [], z: [m.model.nz], z_hat: [m.model.nz], x_hat: [c, h, w], anomaly_map: [1, h, w] };
}

interface Value {
  shape: number[];
  type: number;
  /** The values of a small int64 initializer (Reshape shapes, ReduceMean axes). */
  ints?: number[];
}

const product = (dims: readonly number[]) => dims.reduce((a, b) => a * b, 1);
const sameSet = (a: readonly string[], b: readonly string[]) => a.length === b.length && new Set(a).size === a.length && a.every((x) => b.includes(x));

class Refusal {
  constructor(readonly subject: string, readonly message: string, readonly mismatch: boolean) {}
}

function refuse(subject: string, message: string): never {
  throw new Refusal(subject, message, false);
}

/**
 * A graph that may be the exporter's, but not for this manifest (another input size, other
 * outputs): a ModelLoadError, as when ONNX Runtime finds the same at its first run.
 */
function mismatch(subject: string, message: string): never {
  throw new Refusal(subject, message, true);
}

/**
 * Throws unless `bytes` is a graph the exporter writes for `manifest`: UntrustedGraphError for
 * anything outside the exporter's operators, initializer storage or GRAPH_LIMITS; ModelLoadError
 * for bytes that are not ONNX, and for inputs or outputs (names, shapes) other than the manifest's.
 */
export function checkGraph(bytes: Uint8Array, manifest: Manifest, file = 'detector.onnx'): GraphSummary {
  const model = readOnnxModel(bytes, file);
  try {
    return checkModel(model, manifest, file);
  } catch (e) {
    if (!(e instanceof Refusal)) throw e;
    if (e.mismatch) throw new ModelLoadError(e.message.startsWith(file) ? e.message : `${file} does not match manifest.json: ${e.subject ? `${e.subject} ` : ''}${e.message}; the graph and manifest.json do not belong together — re-export the model`);
    throw new UntrustedGraphError(file, e.subject, `${file} is not a graph this runtime accepts: ${e.subject ? `${e.subject}: ` : ''}${e.message}; only graphs \`ganomaly export\` writes are loaded — re-export the model`);
  }
}

/** What an accepted graph costs per image, as checked against GRAPH_LIMITS. */
export interface GraphSummary {
  nodes: number;
  /** Elements of the largest tensor. */
  tensorElements: number;
  /** Most elements alive at once. */
  liveElements: number;
  /** Multiply-adds plus element operations. */
  work: number;
}

function checkModel(model: ReturnType<typeof readOnnxModel>, manifest: Manifest, file: string): GraphSummary {
  const { irVersion, opsets, graph } = model;
  if (irVersion < GRAPH_IR_VERSIONS.min || irVersion > GRAPH_IR_VERSIONS.max) {
    refuse('', `IR version ${irVersion} (the exporter writes ${GRAPH_IR_VERSIONS.min}-${GRAPH_IR_VERSIONS.max})`);
  }
  const [opset] = opsets;
  if (opsets.length !== 1 || (opset!.domain !== '' && opset!.domain !== 'ai.onnx')) {
    refuse('', `opset imports ${JSON.stringify(opsets.map((o) => o.domain || 'ai.onnx'))} (the exporter imports the default ONNX domain only)`);
  }
  if (opset!.version < GRAPH_OPSETS.min || opset!.version > GRAPH_OPSETS.max) {
    refuse('', `opset ${opset!.version} (the exporter writes ${GRAPH_OPSETS.min}-${GRAPH_OPSETS.max})`);
  }
  if (model.functions > 0 || model.trainingInfo > 0) refuse('', 'model-local functions or training info');
  if (!graph) return refuse('', 'no graph');
  if (graph.sparseInitializers > 0) refuse('', 'sparse initializers');
  const entry = manifest.files[file];
  if (!entry) return refuse('', `the manifest does not list ${file}`);

  const [n] = manifest.input.shape;
  const fixed = typeof n === 'number' ? n : undefined;
  const inputOk = graph.inputs.length === 1 && sameSet(entry.inputs, [manifest.input.name]);
  const input = graph.inputs[0];
  if (!inputOk || input?.name !== manifest.input.name) {
    mismatch('', `graph inputs ${JSON.stringify(graph.inputs.map((v) => v.name))}; the manifest has ${JSON.stringify(entry.inputs)} with input.name '${manifest.input.name}'`);
  }
  const perImage = manifest.input.shape.slice(1) as number[];
  try {
    checkDeclared(input, perImage, fixed, `input '${input.name}'`);
  } catch (e) {
    if (!(e instanceof Refusal)) throw e;
    // Worded as the probe run at load words it (detector.ts), which found this before.
    mismatch(e.subject, `${file} cannot run the manifest's input shape [${[fixed ?? 1, ...perImage].join(', ')}]: ${e.subject} ${e.message}; the graph and manifest.json do not belong together — re-export the model`);
  }
  const outputNames = graph.outputs.map((v) => v.name);
  if (!sameSet(outputNames, entry.outputs)) mismatch('', `graph outputs ${JSON.stringify(outputNames)}; the manifest lists ${JSON.stringify(entry.outputs)}`);
  const expected = outputShapes(manifest);
  for (const o of graph.outputs) {
    const shape = Object.hasOwn(expected, o.name) ? expected[o.name] : undefined;
    if (!shape) refuse(`output '${o.name}'`, `not an output the exporter writes (${Object.keys(expected).join(', ')})`);
    checkDeclared(o, shape, fixed, `output '${o.name}'`);
  }

  // Shapes at two batch sizes: every per-image output must follow the batch and nothing else.
  const batches = fixed === undefined ? [1, 2] : [fixed];
  let summary: GraphSummary | undefined;
  for (const b of batches) {
    const { values, ...cost } = infer(graph, [b, ...manifest.input.shape.slice(1)] as number[], opset!.version, b);
    for (const o of graph.outputs) {
      const got = values.get(o.name);
      if (!got) return refuse(`output '${o.name}'`, 'is not produced by any node');
      const want = [b, ...expected[o.name]!];
      if (got.shape.join() !== want.join()) {
        mismatch(`output '${o.name}'`, `computes shape [${got.shape.join(', ')}] for a batch of ${b}; the manifest implies [${want.join(', ')}]`);
      }
      if (got.type !== FLOAT) refuse(`output '${o.name}'`, `computes data type ${got.type}, not float32`);
    }
    summary ??= { nodes: graph.nodes.length, ...cost };
  }
  return summary!;
}

/** A graph input or output as declared: a float32 tensor, [batch, ...perImage], batch symbolic unless fixed. */
function checkDeclared(v: OnnxGraph['inputs'][number], perImage: readonly number[], fixed: number | undefined, label: string): void {
  const dims = v.dims;
  const batchOk = dims !== undefined && (fixed === undefined ? typeof dims[0] === 'string' && dims[0] !== '' : dims[0] === fixed);
  if (v.kind !== 'tensor' || v.elemType !== FLOAT || !dims || !batchOk || dims.slice(1).join() !== perImage.join() || dims.length !== perImage.length + 1) {
    const shown = dims ? `[${dims.map((d) => (d === undefined ? '?' : String(d))).join(', ')}]` : 'no shape';
    mismatch(label, `is declared as ${v.kind || 'untyped'} of type ${v.elemType} with ${shown}; the manifest implies float32 [${fixed ?? 'N'}, ${perImage.join(', ')}]`);
  }
}

function initializerValue(t: OnnxTensor): Value {
  const label = `initializer '${t.name}'`;
  const size = ELEMENT_BYTES[t.dataType];
  if (size === undefined) refuse(label, `data type ${t.dataType} (the exporter stores float32, float16, int8 and int64)`);
  if (t.external || t.typedValues > 0) refuse(label, 'data outside raw_data (external files or typed fields)');
  if (t.dims.length > 8 || t.dims.some((d) => !Number.isSafeInteger(d) || d < 0)) refuse(label, `dims [${t.dims.join(', ')}]`);
  const count = product(t.dims);
  if (count > GRAPH_LIMITS.tensorElements) refuse(label, `${count} elements, over the cap of ${GRAPH_LIMITS.tensorElements}`);
  if (t.raw.length !== count * size) refuse(label, `dims [${t.dims.join(', ')}] need ${count * size} bytes; raw_data holds ${t.raw.length}`);
  const value: Value = { shape: t.dims, type: t.dataType };
  if (t.dataType === INT64 && count <= 16) {
    const view = new DataView(t.raw.buffer, t.raw.byteOffset, t.raw.byteLength);
    value.ints = Array.from({ length: count }, (_, i) => Number(view.getBigInt64(i * 8, true)));
  }
  return value;
}

/**
 * Infers every tensor's shape for a graph input of `inputShape`, checking each node on the way, and
 * the caps (per image: divided by `batch`). Returns the values by name.
 */
function infer(graph: OnnxGraph, inputShape: number[], opset: number, batch: number): Omit<GraphSummary, 'nodes'> & { values: Map<string, Value> } {
  const values = new Map<string, Value>();
  const define = (name: string, v: Value, label: string) => {
    if (!name) refuse(label, 'an empty tensor name');
    if (values.has(name)) refuse(label, `tensor name '${name}' is defined twice`);
    values.set(name, v);
  };
  for (const t of graph.initializers) define(t.name, initializerValue(t), `initializer '${t.name}'`);
  define(graph.inputs[0]!.name, { shape: inputShape, type: FLOAT }, 'graph input');

  // When each node output is last read (graph outputs: never freed), for the live-memory cap.
  const lastUse = new Map<string, number>();
  graph.nodes.forEach((node, i) => node.inputs.forEach((x) => lastUse.set(x, i)));
  for (const o of graph.outputs) lastUse.set(o.name, Infinity);

  const perImage = (elements: number) => elements / batch;
  let live = product(inputShape);
  let work = 0;
  let peak = live;
  let largest = live;
  const alive = new Map<string, number>([[graph.inputs[0]!.name, live]]);
  graph.nodes.forEach((node, index) => {
    const label = `node '${node.name || `#${index}`}' (${node.opType || 'no op_type'})`;
    const out = inferNode(node, values, opset, label);
    const elements = product(out.shape);
    if (!out.shape.every((d) => Number.isSafeInteger(d) && d >= 1) || perImage(elements) > GRAPH_LIMITS.tensorElements) {
      refuse(label, `makes a tensor of shape [${out.shape.join(', ')}] (cap: ${GRAPH_LIMITS.tensorElements} elements per image)`);
    }
    work += out.work;
    if (perImage(work) > GRAPH_LIMITS.work) refuse(label, `brings the work per image past ${GRAPH_LIMITS.work} multiply-adds`);
    define(node.outputs[0]!, { shape: out.shape, type: out.type }, label);
    live += elements;
    alive.set(node.outputs[0]!, elements);
    peak = Math.max(peak, live);
    largest = Math.max(largest, elements);
    if (perImage(live) > GRAPH_LIMITS.liveElements) refuse(label, `brings the elements alive at once past ${GRAPH_LIMITS.liveElements} per image`);
    for (const x of node.inputs) {
      if (lastUse.get(x) === index && alive.has(x)) {
        live -= alive.get(x)!;
        alive.delete(x);
      }
    }
    // An output nobody reads is freed at once.
    if (!lastUse.has(node.outputs[0]!)) live -= alive.get(node.outputs[0]!) ?? 0;
  });
  return { values, tensorElements: perImage(largest), liveElements: perImage(peak), work: perImage(work) };
}

interface NodeResult {
  shape: number[];
  type: number;
  work: number;
}

function attrsOf(node: OnnxNode, label: string, allowed: Readonly<Record<string, number>>): Map<string, OnnxNode['attributes'][number]> {
  const out = new Map<string, OnnxNode['attributes'][number]>();
  for (const a of node.attributes) {
    if (!Object.hasOwn(allowed, a.name)) refuse(label, `attribute '${a.name}' is not one the exporter writes`);
    if (a.type !== allowed[a.name] || a.nested) refuse(label, `attribute '${a.name}' has type ${a.type}`);
    if (out.has(a.name)) refuse(label, `attribute '${a.name}' is given twice`);
    out.set(a.name, a);
  }
  return out;
}

const normAxis = (axis: number, rank: number, label: string, inclusive = false) => {
  const a = axis < 0 ? axis + rank : axis;
  if (!Number.isInteger(a) || a < 0 || a > rank || (a === rank && !inclusive)) refuse(label, `axis ${axis} is out of range for rank ${rank}`);
  return a;
};

function inferNode(node: OnnxNode, values: Map<string, Value>, opset: number, label: string): NodeResult {
  if (node.domain !== '' && node.domain !== 'ai.onnx') refuse(label, `domain '${node.domain}' (the exporter writes the default ONNX domain only)`);
  const spec = Object.hasOwn(GRAPH_OPS, node.opType) ? GRAPH_OPS[node.opType] : undefined;
  if (!spec) refuse(label, `operator ${node.opType} is not one the exporter writes`);
  const inputCount = node.opType === 'ReduceMean' && opset >= 18 ? 2 : spec.inputs;
  if (node.inputs.length !== inputCount || node.outputs.length !== 1) {
    refuse(label, `${node.inputs.length} input(s) and ${node.outputs.length} output(s); the exporter writes ${inputCount} and 1`);
  }
  const attrs = attrsOf(node, label, spec.attrs);
  const ins = node.inputs.map((name) => {
    const v = values.get(name);
    if (!v) refuse(label, `input '${name}' is not a graph input, an initializer or an earlier node's output`);
    return v;
  });
  const x = ins[0]!;
  const floats = (...vs: Value[]) => {
    if (vs.some((v) => v.type !== FLOAT)) refuse(label, 'an input that is not float32');
  };
  const ints = (name: string, fallback: number[]) => attrs.get(name)?.ints ?? fallback;
  const int = (name: string, fallback: number) => attrs.get(name)?.i ?? fallback;
  const same = (work = product(x.shape)): NodeResult => ({ shape: x.shape, type: FLOAT, work });

  switch (node.opType) {
    case 'Conv':
    case 'ConvTranspose':
      floats(...ins);
      return conv(node.opType === 'ConvTranspose', x.shape, ins[1]!.shape, attrs, label);
    case 'BatchNormalization': {
      floats(...ins);
      if (int('training_mode', 0) !== 0) refuse(label, 'training_mode is on');
      const c = x.shape[1];
      if (x.shape.length < 2 || ins.slice(1).some((v) => v.shape.join() !== String(c))) refuse(label, `statistics that do not match ${c} channels`);
      return same();
    }
    case 'LeakyRelu':
    case 'Relu':
    case 'Tanh':
    case 'Sigmoid':
    case 'Abs':
      floats(x);
      return same();
    case 'Sub':
    case 'Mul': {
      floats(...ins);
      const shape = broadcast(x.shape, ins[1]!.shape, label);
      return { shape, type: FLOAT, work: product(shape) };
    }
    case 'Flatten': {
      floats(x);
      const axis = normAxis(int('axis', 1), x.shape.length, label, true);
      return { shape: [product(x.shape.slice(0, axis)), product(x.shape.slice(axis))], type: FLOAT, work: 0 };
    }
    case 'Reshape': {
      floats(x);
      if (int('allowzero', 0) !== 0) refuse(label, 'allowzero is on');
      const target = ins[1]!.ints;
      if (!target || ins[1]!.type !== INT64 || ins[1]!.shape.length !== 1) refuse(label, 'its shape is not a small int64 initializer');
      const shape = target.map((d, i) => (d === 0 ? x.shape[i] ?? NaN : d));
      const free = shape.filter((d) => d === -1).length;
      const known = product(shape.filter((d) => d !== -1));
      if (free > 1 || shape.some((d) => !Number.isInteger(d) || d < -1 || d === 0) || (free === 1 && product(x.shape) % known !== 0)) {
        refuse(label, `shape [${target.join(', ')}] cannot hold [${x.shape.join(', ')}]`);
      }
      const resolved = shape.map((d) => (d === -1 ? product(x.shape) / known : d));
      if (product(resolved) !== product(x.shape)) refuse(label, `shape [${target.join(', ')}] cannot hold [${x.shape.join(', ')}]`);
      return { shape: resolved, type: FLOAT, work: 0 };
    }
    case 'ReduceMean': {
      floats(x);
      let axes: number[] | undefined;
      if (opset >= 18) {
        if (attrs.has('axes')) refuse(label, 'axes as an attribute from opset 18');
        if (ins[1]!.type !== INT64 || ins[1]!.shape.length !== 1) refuse(label, 'its axes are not a small int64 initializer');
        axes = ins[1]!.ints;
      } else {
        if (attrs.has('noop_with_empty_axes')) refuse(label, 'noop_with_empty_axes before opset 18');
        axes = attrs.get('axes')?.ints;
      }
      if (!axes || axes.length === 0) refuse(label, 'no axes (the exporter always names them)');
      const norm = new Set(axes.map((a) => normAxis(a, x.shape.length, label)));
      if (norm.size !== axes.length) refuse(label, `axes [${axes.join(', ')}] repeat`);
      const keep = int('keepdims', 1);
      const shape = x.shape.flatMap((d, i) => (norm.has(i) ? (keep ? [1] : []) : [d]));
      return { shape, type: FLOAT, work: product(x.shape) };
    }
    case 'Cast':
      if (int('to', 0) !== FLOAT || (x.type !== FLOAT16 && x.type !== FLOAT)) refuse(label, `a cast from type ${x.type} to ${int('to', 0)} (the exporter casts float16 to float32)`);
      return same();
    case 'DequantizeLinear': {
      const [, scale, zero] = ins as [Value, Value, Value];
      const axis = normAxis(int('axis', 1), x.shape.length, label);
      const channels = String(x.shape[axis]);
      if (x.type !== INT8 || scale.type !== FLOAT || zero.type !== INT8 || scale.shape.join() !== channels || zero.shape.join() !== channels) {
        refuse(label, 'not int8 per-channel dequantization as the exporter writes it');
      }
      return same();
    }
  }
  return refuse(label, `operator ${node.opType} is not one the exporter writes`);
}

function conv(transpose: boolean, x: number[], w: number[], attrs: ReturnType<typeof attrsOf>, label: string): NodeResult {
  if (x.length !== 4 || w.length !== 4) refuse(label, `a 2-D convolution of [${x.join(', ')}] by [${w.join(', ')}] only`);
  const kernel = w.slice(2);
  const get = (name: string, fallback: number[], length: number) => {
    const v = attrs.get(name)?.ints ?? fallback;
    if (v.length !== length || v.some((d) => !Number.isSafeInteger(d) || d < 0 || d > 2 ** 20)) refuse(label, `${name} [${v.join(', ')}]`);
    return v;
  };
  const autoPad = attrs.get('auto_pad')?.s ?? 'NOTSET';
  if (autoPad !== 'NOTSET') refuse(label, `auto_pad '${autoPad}' (the exporter writes explicit pads)`);
  const ks = get('kernel_shape', kernel, 2);
  const strides = get('strides', [1, 1], 2);
  const dilations = get('dilations', [1, 1], 2);
  const pads = get('pads', [0, 0, 0, 0], 4);
  const outPad = get('output_padding', [0, 0], 2);
  const group = attrs.get('group')?.i ?? 1;
  if (ks.join() !== kernel.join() || strides.includes(0) || dilations.includes(0)) refuse(label, `kernel_shape, strides or dilations do not fit a [${w.join(', ')}] kernel`);
  const [n, c] = x as [number, number];
  const inPerGroup = transpose ? c / group : w[1]!;
  const outChannels = transpose ? w[1]! * group : w[0]!;
  const channelsOk = transpose ? w[0] === c : w[1]! * group === c;
  if (!Number.isInteger(group) || group < 1 || !channelsOk || c % group !== 0 || outChannels % group !== 0) {
    refuse(label, `a [${w.join(', ')}] kernel with group ${group} does not fit ${c} input channels`);
  }
  const spatial = [0, 1].map((i) => {
    const extent = dilations[i]! * (kernel[i]! - 1) + 1;
    const size = x[2 + i]!;
    if (transpose) {
      if (outPad[i]! >= Math.max(strides[i]!, dilations[i]!)) refuse(label, `output_padding [${outPad.join(', ')}]`);
      return strides[i]! * (size - 1) + outPad[i]! + extent - pads[i]! - pads[i + 2]!;
    }
    return Math.floor((size + pads[i]! + pads[i + 2]! - extent) / strides[i]!) + 1;
  });
  if (!transpose && attrs.has('output_padding')) refuse(label, 'output_padding on a Conv');
  const shape = [n, outChannels, ...spatial];
  // Multiply-adds: each output element of a Conv reads (C/group)·kh·kw inputs; each input element of
  // a ConvTranspose writes (M/group)·kh·kw outputs.
  const work = transpose ? product(x) * (outChannels / group) * product(kernel) : product(shape) * inPerGroup * product(kernel);
  return { shape, type: FLOAT, work };
}

function broadcast(a: number[], b: number[], label: string): number[] {
  const rank = Math.max(a.length, b.length);
  return Array.from({ length: rank }, (_, i) => {
    const da = a[a.length - rank + i] ?? 1;
    const db = b[b.length - rank + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) refuse(label, `shapes [${a.join(', ')}] and [${b.join(', ')}] do not broadcast`);
    return Math.max(da, db);
  });
}
