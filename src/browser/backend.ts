// The tfjs backend a page trains on: WebGPU when the browser gives an adapter, else WebAssembly
// with the project's fast convolution-gradient kernels (src/backend/wasm-kernels.ts), else
// the pure-JS cpu backend. Each choice is reported with the reason the faster ones were skipped,
// and on WASM with the threads XNNPACK runs on and why (threads need a cross-origin isolated page).
import * as tf from '@tensorflow/tfjs';
import { getThreadsCount, setThreadsCount, setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { registerFastWasmKernels } from '../backend/wasm-kernels.js';
import { BROWSER_RANGES, checkOptionalRange } from '../option-ranges.js';

const BROWSER_BACKEND_REQUESTS = ['auto', 'webgpu', 'wasm', 'cpu'] as const;

export type BrowserBackendRequest = (typeof BROWSER_BACKEND_REQUESTS)[number];

export interface BrowserBackend {
  name: 'webgpu' | 'wasm' | 'cpu';
  reason: string;
  skipped: { name: string; why: string }[];
  /** CPU threads the backend computes with: XNNPACK's on wasm, 1 on cpu; absent on webgpu. */
  threads?: number;
  /** Why that many threads, e.g. "page not cross-origin isolated (COOP/COEP headers missing): 1 thread". */
  threadsWhy?: string;
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
  /**
   * XNNPACK threads on WASM, 1 to 8 (default: every core, navigator.hardwareConcurrency, at most 8).
   * More than 1 needs a cross-origin isolated page; 1 runs tfjs's single-threaded build. Fixed when
   * the page first starts tfjs's WASM backend.
   */
  wasmThreads?: number;
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

/** What decides whether tfjs's threaded WASM build can run: read from the page (see wasmThreadsEnvironment). */
export interface WasmThreadsEnvironment {
  /** globalThis.crossOriginIsolated; undefined outside a browser (Node). */
  crossOriginIsolated: boolean | undefined;
  /** Whether SharedArrayBuffer exists (browsers hide it in pages that are not isolated). */
  sharedArrayBuffer: boolean;
  /** tfjs's own probe (WASM_HAS_MULTITHREAD_SUPPORT): shared memory can be posted and a threaded module validates. */
  wasmThreads: boolean;
  /** navigator.hardwareConcurrency; undefined where there is none. */
  cores: number | undefined;
}

export interface WasmThreadsPlan {
  threads: number;
  why: string;
}

const MAX_WASM_THREADS = BROWSER_RANGES.wasmThreads.max;
const plural = (n: number) => `${n} thread${n === 1 ? '' : 's'}`;

/** How many XNNPACK threads to start tfjs's WASM backend with, and why: every core when the page allows threads. */
export function planWasmThreads(env: WasmThreadsEnvironment, requested: number | undefined): WasmThreadsPlan {
  if (!env.wasmThreads) {
    const cause = env.crossOriginIsolated === undefined
      ? 'not a browser page (no crossOriginIsolated); tfjs runs its single-threaded build here'
      : !env.crossOriginIsolated
        ? 'page not cross-origin isolated (COOP/COEP headers missing)'
        : !env.sharedArrayBuffer
          ? 'no SharedArrayBuffer in this page'
          : "this browser's WebAssembly has no threads";
    return { threads: 1, why: `${cause}: 1 thread${requested !== undefined && requested > 1 ? ` (wasmThreads ${requested} not possible)` : ''}` };
  }
  if (requested !== undefined) return { threads: requested, why: `wasmThreads: ${plural(requested)}` };
  const cores = env.cores !== undefined && Number.isSafeInteger(env.cores) && env.cores >= 1 ? env.cores : 1;
  const threads = Math.min(MAX_WASM_THREADS, cores);
  const capped = cores > MAX_WASM_THREADS ? ` (tfjs's pool holds ${MAX_WASM_THREADS})` : '';
  return { threads, why: `page cross-origin isolated: every core (navigator.hardwareConcurrency ${env.cores ?? 'unknown'}): ${plural(threads)}${capped}` };
}

/** The page's facts for planWasmThreads (tfjs's multithread probe included). */
export async function wasmThreadsEnvironment(): Promise<WasmThreadsEnvironment> {
  const g = globalThis as { crossOriginIsolated?: boolean; navigator?: { hardwareConcurrency?: number } };
  return {
    crossOriginIsolated: typeof g.crossOriginIsolated === 'boolean' ? g.crossOriginIsolated : undefined,
    sharedArrayBuffer: typeof SharedArrayBuffer === 'function',
    wasmThreads: (await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT')) === true,
    cores: g.navigator?.hardwareConcurrency,
  };
}

/** The plan applied, for a backend not yet started: tfjs reads both when its WASM module starts. */
async function configureWasmThreads(requested: number | undefined): Promise<WasmThreadsPlan> {
  const env = await wasmThreadsEnvironment();
  const plan = planWasmThreads(env, requested);
  // Without threads tfjs starts a single-threaded build and the count means nothing (in Node the
  // toolkit may have registered its own threaded build: its count is left alone).
  if (!env.wasmThreads) return plan;
  // One thread: tfjs's single-threaded build (no shared memory, no idle pthread workers).
  if (plan.threads === 1) tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
  else setThreadsCount(plan.threads);
  return plan;
}

/**
 * tfjs's threaded build caps its XNNPACK pool at navigator.hardwareConcurrency / 2 whatever
 * setThreadsCount asks (it assumes two hyperthreads per core: on a 2-core machine, 1 thread).
 * It reads the count while its module starts, so the page's navigator reports 2 × threads for
 * that long; the returned function puts the real value back.
 */
function lendCoreCount(threads: number): () => void {
  const nav = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator;
  if (threads < 2 || nav === undefined || Object.prototype.hasOwnProperty.call(nav, 'hardwareConcurrency')) return () => {};
  try {
    Object.defineProperty(nav, 'hardwareConcurrency', { value: Math.max(2 * threads, nav.hardwareConcurrency ?? 0), configurable: true });
  } catch {
    return () => {}; // a locked-down navigator: the backend then reports the count it really got
  }
  return () => void delete (nav as { hardwareConcurrency?: number }).hardwareConcurrency;
}

async function tryWasm(opts: BrowserBackendOptions): Promise<{ why: string } | WasmThreadsPlan> {
  const folder = tfjsWasmFolder(opts);
  if (folder !== undefined && folder !== wasmPathsSet) {
    setWasmPaths(folder);
    wasmPathsSet = folder;
  }
  registerFastWasmKernels();
  const requested = checkOptionalRange(BROWSER_RANGES.wasmThreads, opts.wasmThreads, 'wasmThreads');
  const plan = tf.engine().registry.wasm === undefined ? await configureWasmThreads(requested) : null;
  const restore = lendCoreCount(plan?.threads ?? 1);
  let failed: string | null;
  try {
    failed = await activate('wasm');
  } finally {
    restore();
  }
  if (failed !== null) return { why: failed };
  const threads = getThreadsCount();
  if (plan !== null) return plan.threads === threads ? plan : { threads, why: `${plan.why}, but tfjs started ${plural(threads)}` };
  // Started earlier in this page (tfjs keeps one WASM module per page): its count stands.
  const asked = requested !== undefined && requested !== threads ? ` (wasmThreads ${requested} not applied)` : '';
  return { threads, why: `tfjs's WASM backend was already running in this page with ${plural(threads)}; the count is fixed when it starts${asked}` };
}

/** Makes the chosen backend tfjs's active one; an explicit request that fails is an error. */
export async function selectBrowserBackend(request: BrowserBackendRequest = 'auto', opts: BrowserBackendOptions = {}): Promise<BrowserBackend> {
  // Checked up front: an unknown name would otherwise fall through to the cpu branch below.
  if (typeof request !== 'string') throw new TypeError(`backend request must be a string; got ${typeof request}`);
  if (!(BROWSER_BACKEND_REQUESTS as readonly string[]).includes(request)) {
    throw new RangeError(`backend request must be one of ${BROWSER_BACKEND_REQUESTS.join(', ')}; got '${request}'`);
  }
  // Before any backend starts, so a bad count never leaves a half-chosen backend behind.
  checkOptionalRange(BROWSER_RANGES.wasmThreads, opts.wasmThreads, 'wasmThreads');
  const order: BrowserBackend['name'][] = request === 'auto' ? ['webgpu', 'wasm', 'cpu'] : [request];
  const skipped: BrowserBackend['skipped'] = [];
  for (const name of order) {
    if (name === 'wasm') {
      const r = await tryWasm(opts);
      if ('threads' in r) {
        const build = r.threads > 1 ? `threaded SIMD build, ${plural(r.threads)}` : 'single-threaded';
        return { name, reason: `tfjs WebAssembly (${build}) with fast conv-gradient kernels`, skipped, threads: r.threads, threadsWhy: r.why };
      }
      skipped.push({ name, why: r.why });
      continue;
    }
    const why = name === 'webgpu' ? await tryWebGpu() : await activate('cpu');
    if (why === null) {
      return name === 'webgpu'
        ? { name, reason: 'tfjs WebGPU', skipped }
        : { name, reason: 'tfjs cpu (pure JavaScript; slow)', skipped, threads: 1, threadsWhy: 'tfjs cpu runs on the calling thread: 1 thread' };
    }
    skipped.push({ name, why });
  }
  throw new Error(`no tfjs backend could start: ${skipped.map((s) => `${s.name}: ${s.why}`).join('; ')}`);
}
