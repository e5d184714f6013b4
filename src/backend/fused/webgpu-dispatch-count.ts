// Counts the compute dispatches the webgpu backend records while `fn` runs, and which registered
// kernel recorded each. tf.profile counts kernel calls, but on webgpu one kernel can record
// several programs (and a reshape none), and dispatches are what a GPU step pays for. For
// benches and tests: it wraps the device's command encoders and the webgpu kernels' functions
// for the duration of `fn` and restores them afterwards.
import * as tf from '@tensorflow/tfjs';
import { isWebGpuBackendLike } from './webgpu-dispatch.js';

export interface DispatchCount<T> {
  result: T;
  dispatches: number;
  /** Dispatches per kernel name (the innermost registered kernel running when it was recorded). */
  byKernel: Map<string, number>;
}

type Encoder = { beginComputePass(d?: object): { dispatchWorkgroups(...a: number[]): void } };

export async function countWebGpuDispatches<T>(fn: () => Promise<T>): Promise<DispatchCount<T>> {
  const backend = tf.backend();
  if (tf.getBackend() !== 'webgpu' || !isWebGpuBackendLike(backend)) throw new Error('countWebGpuDispatches: the active backend is not webgpu');
  const device = backend.device as unknown as { createCommandEncoder: (d?: object) => Encoder };
  const byKernel = new Map<string, number>();
  const running: string[] = [];
  let dispatches = 0;
  const createEncoder = device.createCommandEncoder;
  const ownMethod = Object.hasOwn(device, 'createCommandEncoder');
  device.createCommandEncoder = function (this: unknown, d?: object) {
    const enc = createEncoder.call(this, d);
    const begin = enc.beginComputePass;
    enc.beginComputePass = function (this: unknown, pd?: object) {
      const pass = begin.call(this, pd);
      const dispatch = pass.dispatchWorkgroups;
      pass.dispatchWorkgroups = function (this: unknown, ...a: number[]) {
        dispatches++;
        const name = running[running.length - 1] ?? '(outside any kernel)';
        byKernel.set(name, (byKernel.get(name) ?? 0) + 1);
        return dispatch.apply(this, a);
      };
      return pass;
    };
    return enc;
  };
  // The registry hands out its own config objects, and the engine reads kernelFunc at each call.
  const configs = tf.getKernelsForBackend('webgpu') as { kernelName: string; kernelFunc: tf.KernelFunc }[];
  const originals = configs.map((c) => c.kernelFunc);
  configs.forEach((c, i) => {
    const f = originals[i]!;
    c.kernelFunc = (args) => {
      running.push(c.kernelName);
      try {
        return f(args);
      } finally {
        running.pop();
      }
    };
  });
  // An encoder opened before the count keeps its unwrapped passes: start from a clean stream.
  backend.endComputePassEncoder();
  if (backend.commandEncoder !== null) backend.submitQueue();
  try {
    const result = await fn();
    return { result, dispatches, byKernel };
  } finally {
    configs.forEach((c, i) => {
      c.kernelFunc = originals[i]!;
    });
    if (ownMethod) device.createCommandEncoder = createEncoder;
    else delete (device as { createCommandEncoder?: unknown }).createCommandEncoder;
  }
}
