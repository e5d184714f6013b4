// tfjs's multi-threaded SIMD wasm build, in Node. tfjs-backend-wasm ships it but starts only its
// single-threaded build in Node (tensorflow/tfjs#3830: its pthread workers are Blob URLs, which
// Node's worker_threads cannot load), which leaves all but one core idle when the oneDNN addon
// is not built. Here the same build starts with Node-loadable workers: a data: URL module that
// evaluates the build's own worker source, and the build's script as a file path. XNNPACK then
// runs every convolution on a pthreadpool (measured: 1.85x on 2 cores).
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { BackendWasm, setThreadsCount } from '@tensorflow/tfjs-backend-wasm';

const require = createRequire(import.meta.url);

interface EmscriptenModule {
  cwrap(name: string, ret: string | null, args: string[]): (...a: number[]) => number;
  tfjs?: Record<string, (...a: number[]) => number>;
  PThread?: { unusedWorkers: { unref?(): void }[]; runningWorkers: { unref?(): void }[] };
}
type Factory = (config: Record<string, unknown>) => Promise<EmscriptenModule>;

/** The worker as an ES module: a CommonJS require for the worker source, which expects require, __filename and "\n"s escaped as tfjs's own loader does. */
function workerUrl(workerSource: string): URL {
  const code = [
    "import { createRequire } from 'node:module';",
    `const require = createRequire(${JSON.stringify(workerSource)});`,
    `const __filename = ${JSON.stringify(workerSource)};`,
    `const { wasmWorkerContents } = require(${JSON.stringify(workerSource)});`,
    "eval(wasmWorkerContents.replace(/\\n/g, '\\\\n'));",
  ].join('\n');
  return new URL(`data:text/javascript,${encodeURIComponent(code)}`);
}

const START_TIMEOUT_MS = 30_000;

/** tfjs-backend-wasm's own factory (its single-threaded build in Node), kept to fall back on. */
let stock: (() => tf.KernelBackend | Promise<tf.KernelBackend>) | undefined;

/** Puts tfjs's own 'wasm' factory back (after the threaded build failed to start). */
export function useSingleThreadedWasm(): void {
  if (stock === undefined) return;
  tf.removeBackend('wasm');
  tf.registerBackend('wasm', stock, 2);
}

/**
 * Registers the threaded build as the 'wasm' backend factory, to run with `threads` XNNPACK
 * threads. Only before tfjs has started a 'wasm' backend in this process (tensors cannot move
 * between builds); returns false, changing nothing, otherwise or when the build is missing.
 */
export function useThreadedWasm(threads: number): boolean {
  if (threads < 2 || tf.engine().registry.wasm !== undefined) return false;
  let script: string;
  let workerSource: string;
  try {
    script = require.resolve('@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-threaded-simd.js');
    workerSource = require.resolve('@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-threaded-simd.worker.js');
  } catch {
    return false;
  }
  const binary = path.join(path.dirname(script), '..', 'dist', 'tfjs-backend-wasm-threaded-simd.wasm');
  stock ??= tf.findBackendFactory('wasm') ?? undefined;
  if (stock === undefined) return false;
  setThreadsCount(threads);
  tf.removeBackend('wasm');
  tf.registerBackend('wasm', async () => {
    const factory = require(script) as Factory;
    // The build caps its pool at os.cpus().length / 2, assuming two hyperthreads per core; on
    // small VMs (2 vCPUs) that is one thread. It reads the count once, while starting.
    const cpus = os.cpus;
    os.cpus = () => [...cpus(), ...cpus()];
    let module: EmscriptenModule;
    let timer: NodeJS.Timeout | undefined;
    try {
      // The module resolves once all its pool workers have loaded; a worker that never loads
      // would leave it pending forever. (One that throws while loading is rethrown by the build
      // itself as an uncaught error; GANOMALY_WASM_THREADS=1 is the way around either.)
      module = await Promise.race([
        factory({
          locateFile: (p: string) => (p.endsWith('.worker.js') ? workerUrl(workerSource) : p.endsWith('.wasm') ? binary : p),
          mainScriptUrlOrBlob: script,
        }),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`its pthread workers did not start within ${START_TIMEOUT_MS / 1000} s`)), START_TIMEOUT_MS);
        }),
      ]);
    } finally {
      clearTimeout(timer);
      os.cpus = cpus;
    }
    // What tfjs-backend-wasm's own loader binds before handing the module to BackendWasm.
    module.tfjs = {
      init: module.cwrap('init', null, []),
      initWithThreadsCount: module.cwrap('init_with_threads_count', null, ['number']),
      getThreadsCount: module.cwrap('get_threads_count', 'number', []),
      registerTensor: module.cwrap('register_tensor', null, ['number', 'number', 'number']),
      disposeData: module.cwrap('dispose_data', null, ['number']),
      dispose: module.cwrap('dispose', null, []),
    };
    const backend = new BackendWasm(module as never); // starts the pthreadpool
    // Idle pool workers and the pool's own (parked in Atomics.wait) must not keep Node running.
    for (const w of [...(module.PThread?.unusedWorkers ?? []), ...(module.PThread?.runningWorkers ?? [])]) w.unref?.();
    return backend;
  }, 2);
  return true;
}
