// The tfjs backend a page trains on: WebGPU when the browser gives an adapter, else WebAssembly
// with the project's fast convolution-gradient kernels (src/backend/wasm-kernels.ts), else
// the pure-JS cpu backend. Each choice is reported with the reason the faster ones were skipped.
import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { registerFastWasmKernels } from '../backend/wasm-kernels.js';

const BROWSER_BACKEND_REQUESTS = ['auto', 'webgpu', 'wasm', 'cpu'] as const;

export type BrowserBackendRequest = (typeof BROWSER_BACKEND_REQUESTS)[number];

export interface BrowserBackend {
  name: 'webgpu' | 'wasm' | 'cpu';
  reason: string;
  skipped: { name: string; why: string }[];
}

export interface BrowserBackendOptions {
  /**
   * Folder URL (ending in '/') holding tfjs-backend-wasm's .wasm files (tfjs-backend-wasm.wasm,
   * -simd.wasm, -threaded-simd.wasm from node_modules/@tensorflow/tfjs-backend-wasm/dist).
   * Default: tfjs's own lookup, next to the script. (onnxruntime-web's files are the runtime's
   * `wasmPaths`, a different folder of different files.)
   */
  tfjsWasmPaths?: string;
  /** @deprecated Renamed tfjsWasmPaths (the runtime's `wasmPaths` names onnxruntime-web's files). */
  wasmPaths?: string;
}

/** The tfjs wasm folder from the option or its deprecated name; both given and different is a TypeError. */
export function tfjsWasmFolder(opts: BrowserBackendOptions): string | undefined {
  if (opts.tfjsWasmPaths !== undefined && opts.wasmPaths !== undefined && opts.tfjsWasmPaths !== opts.wasmPaths) {
    throw new TypeError('give tfjsWasmPaths (wasmPaths is its deprecated name), not both');
  }
  const folder = opts.tfjsWasmPaths ?? opts.wasmPaths;
  if (folder !== undefined && typeof folder !== 'string') throw new TypeError(`tfjsWasmPaths must be a folder URL string; got ${typeof folder}`);
  return folder;
}

const firstLine = (e: unknown) => (e instanceof Error ? e.message : String(e)).split('\n')[0]!;

async function activate(name: string): Promise<string | null> {
  try {
    if (await tf.setBackend(name)) {
      await tf.ready();
      return null;
    }
    return `tf.setBackend('${name}') failed`;
  } catch (e) {
    return firstLine(e);
  }
}

async function tryWebGpu(): Promise<string | null> {
  const gpu = (globalThis.navigator as { gpu?: { requestAdapter(): Promise<unknown> } } | undefined)?.gpu;
  if (!gpu) return 'this browser has no navigator.gpu';
  const adapter = await gpu.requestAdapter().catch(() => null);
  if (!adapter) return 'no WebGPU adapter (a blocklisted or software GPU)';
  try {
    await import('@tensorflow/tfjs-backend-webgpu');
  } catch (e) {
    return `@tensorflow/tfjs-backend-webgpu could not be loaded: ${firstLine(e)}`;
  }
  return activate('webgpu');
}

let wasmPathsSet: string | undefined;

async function tryWasm(opts: BrowserBackendOptions): Promise<string | null> {
  const folder = tfjsWasmFolder(opts);
  if (folder !== undefined && folder !== wasmPathsSet) {
    setWasmPaths(folder);
    wasmPathsSet = folder;
  }
  registerFastWasmKernels();
  return activate('wasm');
}

/** Makes the chosen backend tfjs's active one; an explicit request that fails is an error. */
export async function selectBrowserBackend(request: BrowserBackendRequest = 'auto', opts: BrowserBackendOptions = {}): Promise<BrowserBackend> {
  // Checked up front: an unknown name would otherwise fall through to the cpu branch below.
  if (typeof request !== 'string') throw new TypeError(`backend request must be a string; got ${typeof request}`);
  if (!(BROWSER_BACKEND_REQUESTS as readonly string[]).includes(request)) {
    throw new RangeError(`backend request must be one of ${BROWSER_BACKEND_REQUESTS.join(', ')}; got '${request}'`);
  }
  const order: BrowserBackend['name'][] = request === 'auto' ? ['webgpu', 'wasm', 'cpu'] : [request];
  const skipped: BrowserBackend['skipped'] = [];
  for (const name of order) {
    const why = name === 'webgpu' ? await tryWebGpu() : name === 'wasm' ? await tryWasm(opts) : await activate('cpu');
    if (why === null) {
      const reason = name === 'webgpu' ? 'tfjs WebGPU' : name === 'wasm' ? 'tfjs WebAssembly with fast conv-gradient kernels' : 'tfjs cpu (pure JavaScript; slow)';
      return { name, reason, skipped };
    }
    skipped.push({ name, why });
  }
  throw new Error(`no tfjs backend could start: ${skipped.map((s) => `${s.name}: ${s.why}`).join('; ')}`);
}
