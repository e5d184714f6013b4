// A model folder → a Triton Inference Server model repository entry, for fleets that outgrow one
// `ganomaly serve` process: Triton's onnxruntime backend runs detector.onnx with its own dynamic
// batcher, on CPU or GPU instances. Layout (Triton's model repository convention):
//
//   <out>/<name>/config.pbtxt      platform, batching, tensor names/types/shapes
//   <out>/<name>/1/model.onnx      byte copy of detector.onnx (sha256-checked against the manifest)
//   <out>/<name>/manifest.json     preprocessing, calibration and threshold for clients
//
// Triton owns the batch dimension when max_batch_size > 0, so every dims below omits it.
import { checkOptionalRange, checkRange, TRITON_RANGES } from '../option-ranges.js';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { Manifest } from '../types.js';
import { ExportError } from './errors.js';
import { readExportedModel } from './read-model.js';
import { DETECTOR_FILE, MANIFEST_CORE_METADATA_KEY, MANIFEST_FILE, manifestCoreSha256, onnxMetadataValue } from '@ganomaly-edge/runtime/node';

export interface TritonOptions {
  /** Triton model name and folder name. Default: the manifest's name, made safe. */
  name?: string;
  /** Largest batch Triton may form, 1-4096. Default 32. Ignored (0) for a graph with a fixed batch size. */
  maxBatchSize?: number;
  /** How long Triton's dynamic batcher holds a request to fill a batch, 0-60000000 µs. Default 2000 µs. */
  maxQueueDelayMicroseconds?: number;
  /** Instances (count 1-1024) and where they run; omitted = Triton's default (one per GPU, else one CPU). */
  instanceGroup?: { count: number; kind: 'KIND_CPU' | 'KIND_GPU' };
}

export interface TensorConfig {
  name: string;
  dataType: 'TYPE_FP32';
  /** Shape without the batch dimension. */
  dims: number[];
  /** Shape the backend really uses when it differs from dims (a [batch]-only tensor). */
  reshape?: number[];
}

export interface TritonConfig {
  name: string;
  platform: 'onnxruntime_onnx';
  maxBatchSize: number;
  inputs: TensorConfig[];
  outputs: TensorConfig[];
  maxQueueDelayMicroseconds: number | null;
  instanceGroup?: TritonOptions['instanceGroup'];
}

/** Per-image shape of each detector output (src/export/onnx/lower.ts buildDetector). */
function outputShape(name: string, m: Manifest['model']): number[] {
  switch (name) {
    case 'score': return [];
    case 'z':
    case 'z_hat': return [m.nz];
    case 'x_hat': return [m.nc, m.isize, m.isize];
    case 'anomaly_map': return [1, m.isize, m.isize];
    default: throw new ExportError(`detector.onnx output '${name}' has no known shape; this writer knows score, z, z_hat, x_hat, anomaly_map`);
  }
}

/** Triton needs non-empty dims: a per-image scalar is written dims [1], reshaped to []. */
function tensor(name: string, shape: number[]): TensorConfig {
  return shape.length === 0 ? { name, dataType: 'TYPE_FP32', dims: [1], reshape: [] } : { name, dataType: 'TYPE_FP32', dims: shape };
}

export function tritonModelName(manifest: Manifest): string {
  return manifest.name.replace(/[^A-Za-z0-9_.-]/g, '_').replace(/^[.]+/, '_') || 'ganomaly';
}

/** The numbers against their ranges (option-ranges.ts TRITON_RANGES, as the CLI checks them), before anything is read. */
function checkTritonOptions(opts: TritonOptions): void {
  const R = TRITON_RANGES;
  checkOptionalRange(R.maxBatchSize, opts.maxBatchSize, 'maxBatchSize');
  checkOptionalRange(R.maxQueueDelayUs, opts.maxQueueDelayMicroseconds, 'maxQueueDelayMicroseconds');
  if (opts.instanceGroup) checkRange(R.instances, opts.instanceGroup.count, 'instanceGroup.count');
}

/** The configuration Triton needs, derived from the manifest alone. */
function tritonConfig(manifest: Manifest, opts: TritonOptions = {}): TritonConfig {
  const file = manifest.files[DETECTOR_FILE];
  if (!file) throw new ExportError('the manifest lists no detector.onnx');
  const [batch, ...item] = manifest.input.shape;
  const fixed = typeof batch === 'number';
  checkTritonOptions(opts);
  const maxBatchSize = fixed ? 0 : (opts.maxBatchSize ?? 32);
  const delay = opts.maxQueueDelayMicroseconds ?? 2000;
  const lead = fixed ? [batch] : [];
  if (!file.inputs.includes(manifest.input.name)) throw new ExportError(`detector.onnx's inputs (${file.inputs.join(', ')}) lack the manifest's input '${manifest.input.name}'`);
  return {
    name: opts.name ?? tritonModelName(manifest),
    platform: 'onnxruntime_onnx',
    maxBatchSize,
    inputs: [tensor(manifest.input.name, [...lead, ...(item as number[])])],
    outputs: file.outputs.map((o) => tensor(o, [...lead, ...outputShape(o, manifest.model)])),
    // Dynamic batching only makes sense when Triton owns the batch dimension.
    maxQueueDelayMicroseconds: fixed ? null : delay,
    instanceGroup: opts.instanceGroup,
  };
}

const dimsText = (d: number[]) => (d.length === 0 ? '[ ]' : `[ ${d.join(', ')} ]`);

function tensorText(t: TensorConfig): string {
  const lines = [`    name: ${JSON.stringify(t.name)}`, `    data_type: ${t.dataType}`, `    dims: ${dimsText(t.dims)}`];
  if (t.reshape) lines.push(`    reshape: { shape: ${dimsText(t.reshape)} }`);
  return `  {\n${lines.join('\n')}\n  }`;
}

/** config.pbtxt text (protobuf text format of Triton's ModelConfig). */
function renderTritonConfig(c: TritonConfig): string {
  const out = [
    `name: ${JSON.stringify(c.name)}`,
    `platform: ${JSON.stringify(c.platform)}`,
    `max_batch_size: ${c.maxBatchSize}`,
    `input [\n${c.inputs.map(tensorText).join(',\n')}\n]`,
    `output [\n${c.outputs.map(tensorText).join(',\n')}\n]`,
  ];
  if (c.maxQueueDelayMicroseconds !== null) out.push(`dynamic_batching {\n  max_queue_delay_microseconds: ${c.maxQueueDelayMicroseconds}\n}`);
  if (c.instanceGroup) out.push(`instance_group [\n  {\n    count: ${c.instanceGroup.count}\n    kind: ${c.instanceGroup.kind}\n  }\n]`);
  return `${out.join('\n')}\n`;
}

export interface TritonRepositoryResult {
  /** <out>/<name> */
  modelDir: string;
  config: TritonConfig;
}

/** Writes `<outDir>/<name>/{config.pbtxt, 1/model.onnx, manifest.json}` from an exported model folder. */
export async function writeTritonRepository(modelDir: string, outDir: string, opts: TritonOptions = {}): Promise<TritonRepositoryResult> {
  checkTritonOptions(opts);
  const { manifestText, manifest, detector: onnx } = await readExportedModel(modelDir);
  const config = tritonConfig(manifest, opts);
  if (!/^[A-Za-z0-9_.-]+$/.test(config.name) || /^\.+$/.test(config.name)) {
    throw new ExportError(`model name '${config.name}' must be letters, digits, '_', '.', '-' (it names a folder)`);
  }
  // The graph carries the hash of the manifest it was exported with; an edited manifest differs.
  const stamped = onnxMetadataValue(onnx, MANIFEST_CORE_METADATA_KEY);
  if (stamped !== undefined && stamped !== manifestCoreSha256(manifest)) {
    throw new ExportError(`manifest.json in ${modelDir} was changed after export (its core hash differs from the one detector.onnx carries: input, preprocessing, score, model, name or opset); re-export the model`);
  }
  const dir = path.join(path.resolve(outDir), config.name);
  await fs.mkdir(path.join(dir, '1'), { recursive: true });
  await fs.writeFile(path.join(dir, '1', 'model.onnx'), onnx);
  await fs.writeFile(path.join(dir, 'config.pbtxt'), renderTritonConfig(config));
  await fs.writeFile(path.join(dir, MANIFEST_FILE), manifestText);
  return { modelDir: dir, config };
}
