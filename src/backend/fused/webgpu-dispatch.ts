// Records one compute dispatch with several outputs into tfjs-backend-webgpu's command stream.
// tfjs's own path (backend.runWebGPUProgram) binds exactly one output per program, so a kernel
// with three outputs (BatchNorm's y, mean and variance; Adam's p′, m′ and v′) would cost three
// dispatches and re-read its inputs three times. This records the same way recordAndSubmit does
// (same command encoder and compute pass, same deferred-submit batching, same ownership set that
// delays freeing a buffer until the queue has been submitted), with every output bound
// read_write. Nothing here imports tfjs-backend-webgpu: the backend object is reached through the
// members it has in 4.22 (typed structurally below), so the browser package can keep loading it
// lazily.
import * as tf from '@tensorflow/tfjs';

/** The parts of WebGPU's API this file calls (structural: the project does not pull in @webgpu/types globally). */
interface GpuBuffer { readonly size: number }
interface GpuPipeline { getBindGroupLayout(i: number): unknown }
interface GpuPass {
  setPipeline(p: GpuPipeline): void;
  setBindGroup(i: number, g: unknown): void;
  dispatchWorkgroups(x: number, y?: number, z?: number): void;
  end(): void;
}
interface GpuDevice {
  createShaderModule(d: { code: string; label?: string }): unknown;
  createComputePipeline(d: { layout: 'auto'; label?: string; compute: { module: unknown; entryPoint: string } }): GpuPipeline;
  createBindGroup(d: { layout: unknown; entries: { binding: number; resource: unknown }[] }): unknown;
  createCommandEncoder(): { beginComputePass(d?: object): GpuPass };
}

/** tfjs-backend-webgpu 4.22's WebGPUBackend, the members used here. */
export interface WebGpuBackendLike {
  device: GpuDevice;
  commandEncoder: { beginComputePass(d?: object): GpuPass } | null;
  computePassEncoder: GpuPass | null;
  commandQueueOwnedIds: WeakSet<object>;
  dispatchCountInPass: number;
  activeTimers?: unknown[] | null;
  tensorMap: { get(dataId: object): { resource?: unknown } | undefined };
  makeTensorInfo(shape: number[], dtype: 'float32'): tf.TensorInfo;
  uploadToGPU(dataId: object): void;
  makeUniforms(u: { type: 'float32' | 'int32' | 'uint32'; data: number[] }[]): { offset: number; size: number; buffer: GpuBuffer };
  ensureCommandEncoderReady(): void;
  endComputePassEncoder(): void;
  submitQueue(): void;
  disposeData(dataId: object, force?: boolean): boolean;
}

/** True when `backend` has every member this file relies on (a tfjs-backend-webgpu other than 4.22 may not). */
export function isWebGpuBackendLike(backend: unknown): backend is WebGpuBackendLike {
  const b = backend as Partial<WebGpuBackendLike> | null;
  return b !== null && typeof b === 'object' && typeof b.device?.createComputePipeline === 'function'
    && typeof b.makeUniforms === 'function' && typeof b.uploadToGPU === 'function' && typeof b.ensureCommandEncoderReady === 'function'
    && typeof b.endComputePassEncoder === 'function' && typeof b.submitQueue === 'function' && b.commandQueueOwnedIds instanceof WeakSet;
}

export type Uniform = { type: 'float32' | 'uint32'; data: number[] };

export interface Dispatch {
  /** Names the pipeline in the cache: one WGSL source per key. */
  key: string;
  wgsl: () => string;
  /** Bound read_write at bindings 0…, then the inputs read-only, then the uniforms. */
  outputs: tf.TensorInfo[];
  inputs: tf.TensorInfo[];
  uniforms: Uniform[];
  workgroups: [number, number, number];
}

const pipelines = new WeakMap<GpuDevice, Map<string, GpuPipeline>>();

/** Counts every dispatch this module records (the dispatch-count instrumentation reads it). */
export const fusedDispatchCounter = { count: 0 };

function pipelineFor(device: GpuDevice, key: string, wgsl: () => string): GpuPipeline {
  let cache = pipelines.get(device);
  if (cache === undefined) pipelines.set(device, (cache = new Map()));
  let p = cache.get(key);
  if (p === undefined) {
    const module = device.createShaderModule({ code: wgsl(), label: key });
    p = device.createComputePipeline({ layout: 'auto', label: key, compute: { module, entryPoint: 'main' } });
    cache.set(key, p);
  }
  return p;
}

/** Allocates a float32 output of `shape` on the backend (its GPU buffer is made when recorded). */
export function makeOutput(b: WebGpuBackendLike, shape: number[]): tf.TensorInfo {
  return b.makeTensorInfo(shape, 'float32');
}

/** Records one dispatch; outputs must be fresh tensors made with makeOutput. */
export function record(b: WebGpuBackendLike, d: Dispatch): void {
  const bound = [...d.outputs, ...d.inputs];
  for (const t of bound) b.uploadToGPU(t.dataId);
  const pipeline = pipelineFor(b.device, d.key, d.wgsl);
  // One entry per scalar: makeUniforms aligns a 3–6 element entry to 16 bytes (a vecN), while
  // the WGSL structs here are all 4-byte scalars laid out back to back.
  const uniform = b.makeUniforms(d.uniforms.flatMap((u) => u.data.map((v) => ({ type: u.type, data: [v] }))));
  const entries = bound.map((t, i) => ({ binding: i, resource: { buffer: b.tensorMap.get(t.dataId)!.resource } }));
  entries.push({ binding: bound.length, resource: uniform });
  const bindGroup = b.device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries });
  // A buffer in the open command stream must not go back to the pool before the submit.
  for (const t of bound) b.commandQueueOwnedIds.add(t.dataId);
  b.ensureCommandEncoderReady();
  if (b.computePassEncoder === null) b.computePassEncoder = b.commandEncoder!.beginComputePass({});
  const pass = b.computePassEncoder;
  pass.setPipeline(pipeline);
  pass.setBindGroup(0, bindGroup);
  pass.dispatchWorkgroups(...d.workgroups);
  fusedDispatchCounter.count++;
  b.dispatchCountInPass++;
  // As recordAndSubmit: while tfjs profiles (activeTimers set) each program ends its own pass.
  if (b.activeTimers != null || Number(tf.env().get('WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE')) <= b.dispatchCountInPass) {
    b.endComputePassEncoder();
    b.submitQueue();
  }
}

/** Frees a temporary made inside a kernel (the backend delays it until the queue is submitted). */
export function disposeTemp(b: WebGpuBackendLike, t: tf.TensorInfo): void {
  b.disposeData(t.dataId);
}

/** Workgroups for `n` invocations of a 1-D kernel of `size` threads: x·y ≥ n/size, each ≤ 65535. */
export function grid1d(n: number, size: number): [number, number, number] {
  const groups = Math.max(1, Math.ceil(n / size));
  if (groups <= 65535) return [groups, 1, 1];
  const x = 32768;
  return [x, Math.ceil(groups / x), 1];
}
