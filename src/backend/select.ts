// Picks the TensorFlow.js backend training runs on. 'auto' walks from fastest to always-there:
// libtensorflow with CUDA, libtensorflow on CPU, a hardware WebGPU adapter, then wasm with the
// fast convolution-gradient kernels. tfjs-node(-gpu) and webgpu are opt-in packages (the toolkit
// does not install them: tfjs-node(-gpu) download libtensorflow at install time), so each is
// imported dynamically and every skip is reported with its reason and how to get it.
import os from 'node:os';
import * as tf from '@tensorflow/tfjs';
import { getThreadsCount } from '@tensorflow/tfjs-backend-wasm';
import { registerFastWasmKernels } from './wasm-kernels.js';
import { enableNativeConvKernels } from './native-kernels.js';
import { loadNativeConv, threadsFromEnv } from './native-addon.js';
import { useSingleThreadedWasm, useThreadedWasm } from './wasm-threads.js';
import { firstLine, probeNodeWebGpu } from './webgpu-adapter.js';
import { GanomalyError } from '@ganomaly-edge/runtime';

export type BackendRequest = 'auto' | 'tensorflow' | 'webgpu' | 'wasm' | 'cpu';
export type BackendName = Exclude<BackendRequest, 'auto'>;
export const BACKEND_REQUESTS: readonly BackendRequest[] = ['auto', 'tensorflow', 'webgpu', 'wasm', 'cpu'];

export interface BackendSkip {
  /** Candidate that was tried: a package name or a backend name. */
  name: string;
  why: string;
}

export interface BackendSelection {
  name: BackendName;
  /** Human-readable: which package/device and why it was chosen. */
  reason: string;
  skipped: BackendSkip[];
  /** CPU threads the backend computes with; absent for GPU backends. */
  threads?: number;
}

export class BackendError extends GanomalyError {
  override name = 'BackendError';
  readonly code = 'backend_unavailable';
  constructor(message: string, readonly request: BackendRequest, readonly skipped: BackendSkip[] = []) {
    super(message);
  }
}

type Attempt = { ok: true; reason: string; threads?: number } | { ok: false; why: string };

/** One import per package per process: a failed native load does not get better on retry. */
const imports = new Map<string, Promise<{ ok: true } | { ok: false; why: string }>>();

/** The package itself is absent (not: present but its native library failed to load). */
function isMissing(e: unknown, pkg: string): boolean {
  const code = (e as { code?: string }).code;
  return (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') && firstLine(e).includes(pkg);
}

/** What `--backend auto` tells a user who lacks an opt-in backend package. */
export const BACKEND_INSTALL_HINTS: Record<string, string> = {
  '@tensorflow/tfjs-node-gpu':
    'npm install @tensorflow/tfjs-node-gpu@4.22.0 (linux/x64; downloads libtensorflow 2.9.1 for GPU at install; needs CUDA 11.2 and cuDNN 8.1)',
  '@tensorflow/tfjs-node': 'npm install @tensorflow/tfjs-node@4.22.0 (downloads libtensorflow 2.9.1 for CPU at install)',
  '@tensorflow/tfjs-backend-webgpu': 'npm install @tensorflow/tfjs-backend-webgpu@4.22.0 webgpu@0.6.2 (needs libvulkan1 and the GPU vendor\'s Vulkan driver)',
};

function importOnce(pkg: string): Promise<{ ok: true } | { ok: false; why: string }> {
  let p = imports.get(pkg);
  if (p === undefined) {
    p = import(pkg).then(
      () => ({ ok: true as const }),
      (e: unknown) => ({
        ok: false as const,
        why: isMissing(e, pkg) ? `not installed${BACKEND_INSTALL_HINTS[pkg] ? ` (opt-in: ${BACKEND_INSTALL_HINTS[pkg]})` : ''}` : `failed to load: ${firstLine(e)}`,
      }),
    );
    imports.set(pkg, p);
  }
  return p;
}

async function activate(name: BackendName): Promise<string | null> {
  try {
    if (await tf.setBackend(name)) {
      await tf.ready();
      return null;
    }
    return `tf.setBackend('${name}') failed to initialise it`;
  } catch (e) {
    return `initialisation threw: ${firstLine(e)}`;
  }
}

/** tfjs-node and tfjs-node-gpu both register the 'tensorflow' backend when imported. */
async function tryTensorflow(pkg: '@tensorflow/tfjs-node-gpu' | '@tensorflow/tfjs-node'): Promise<Attempt> {
  const loaded = await importOnce(pkg);
  if (!loaded.ok) return loaded;
  if (tf.findBackendFactory('tensorflow') === null) {
    return { ok: false, why: 'loaded, but registered no tensorflow backend with this @tensorflow/tfjs (version mismatch?)' };
  }
  const failed = await activate('tensorflow');
  if (failed !== null) return { ok: false, why: failed };
  const gpu = (tf.backend() as { isUsingGpuDevice?: boolean }).isUsingGpuDevice;
  const device = gpu === true ? 'CUDA GPU' : gpu === false ? 'CPU (no usable CUDA device)' : 'native';
  return { ok: true, reason: `${pkg}: libtensorflow, ${device}`, threads: gpu === true ? undefined : os.availableParallelism() };
}

async function tryWebGpu(): Promise<Attempt> {
  const probe = await probeNodeWebGpu();
  if (!probe.ok) return probe;
  const loaded = await importOnce('@tensorflow/tfjs-backend-webgpu');
  if (!loaded.ok) return { ok: false, why: `@tensorflow/tfjs-backend-webgpu ${loaded.why}` };
  if (tf.findBackendFactory('webgpu') === null) {
    return { ok: false, why: '@tensorflow/tfjs-backend-webgpu registered no backend (navigator.gpu missing at import?)' };
  }
  const failed = await activate('webgpu');
  if (failed !== null) return { ok: false, why: failed };
  return { ok: true, reason: `WebGPU via Dawn on ${probe.adapter}` };
}

async function tryWasm(): Promise<Attempt> {
  registerFastWasmKernels();
  // Without the oneDNN addon XNNPACK does the convolutions: give it every core (Node's default
  // wasm build is single-threaded; GANOMALY_WASM_THREADS=n sets the count, 1 keeps that build,
  // at most the build's 8). With the addon its threads would only compete with oneDNN's.
  const threaded = !loadNativeConv().ok && useThreadedWasm(Math.min(8, threadsFromEnv('GANOMALY_WASM_THREADS')));
  let failed = await activate('wasm');
  let threadedFailed = '';
  if (failed !== null && threaded) {
    threadedFailed = `; the threaded build failed (${failed})`;
    useSingleThreadedWasm();
    failed = await activate('wasm');
  }
  if (failed !== null) return { ok: false, why: failed };
  const threads = getThreadsCount();
  const native = enableNativeConvKernels();
  if (native.active) {
    return {
      ok: true,
      reason: `wasm + oneDNN native conv kernels (${native.threads} thread${native.threads === 1 ? '' : 's'}; oneDNN ${native.version})`,
      threads: native.threads,
    };
  }
  return {
    ok: true,
    reason: `tfjs wasm (XNNPACK, ${threads === 1 ? 'single-threaded SIMD' : `${threads} threads`}) with fast conv-gradient kernels (native oneDNN: ${native.why})${threadedFailed}`,
    threads,
  };
}

async function tryCpu(): Promise<Attempt> {
  const failed = await activate('cpu');
  if (failed !== null) return { ok: false, why: failed };
  return { ok: true, reason: 'tfjs cpu (pure JavaScript; far too slow for real training)', threads: 1 };
}

const CANDIDATES: Record<BackendName, { name: string; tries: () => Promise<Attempt> }[]> = {
  tensorflow: [
    { name: '@tensorflow/tfjs-node-gpu', tries: () => tryTensorflow('@tensorflow/tfjs-node-gpu') },
    { name: '@tensorflow/tfjs-node', tries: () => tryTensorflow('@tensorflow/tfjs-node') },
  ],
  webgpu: [{ name: 'webgpu', tries: tryWebGpu }],
  wasm: [{ name: 'wasm', tries: tryWasm }],
  cpu: [{ name: 'cpu', tries: tryCpu }],
};

const AUTO_ORDER: BackendName[] = ['tensorflow', 'webgpu', 'wasm', 'cpu'];

export interface SelectOptions {
  /**
   * Seconds per training step of the run's network on the active backend (src/train/backend-probe.ts).
   * Given, 'auto' keeps a hardware WebGPU adapter only when it is faster than the CPU path (wasm)
   * on this machine; without it a usable adapter is taken as it is.
   */
  probe?: () => Promise<number>;
}

export interface ProbeTiming {
  name: BackendName;
  secondsPerStep: number;
}

const msPerStep = (t: ProbeTiming) => `${t.name} ${(t.secondsPerStep * 1000).toPrecision(3)} ms/step`;

/** The first of `backend`'s candidates that starts. */
async function start(backend: BackendName, skipped: BackendSkip[]): Promise<Extract<Attempt, { ok: true }> | null> {
  for (const c of CANDIDATES[backend]) {
    const r = await c.tries();
    if (r.ok) return r;
    skipped.push({ name: c.name, why: r.why });
  }
  return null;
}

/**
 * Starts each of `names` in turn, times a training step on it with `probe`, and leaves the fastest
 * active. A backend that does not start, or whose step throws, is skipped with the reason; the
 * slower ones are listed in `skipped` with both timings.
 */
export async function selectFastestBackend(
  names: BackendName[], probe: () => Promise<number>, skipped: BackendSkip[] = [],
): Promise<BackendSelection & { timings: ProbeTiming[] }> {
  const started: { name: BackendName; attempt: Extract<Attempt, { ok: true }>; timing: ProbeTiming }[] = [];
  for (const name of names) {
    const attempt = await start(name, skipped);
    if (attempt === null) continue;
    try {
      started.push({ name, attempt, timing: { name, secondsPerStep: await probe() } });
    } catch (e) {
      skipped.push({ name, why: `started, but a training step failed on it: ${firstLine(e)}` });
    }
  }
  if (started.length === 0) {
    throw new BackendError(`none of ${names.join(', ')} could run a training step (${skipped.map((s) => `${s.name}: ${s.why}`).join('; ')})`, 'auto', skipped);
  }
  const timings = started.map((s) => s.timing);
  const best = started.reduce((a, b) => (b.timing.secondsPerStep < a.timing.secondsPerStep ? b : a));
  const failed = await activate(best.name);
  if (failed !== null) throw new BackendError(`${best.name} started once, then failed: ${failed}`, 'auto', skipped);
  const measured = timings.map(msPerStep).join(', ');
  for (const s of started) if (s !== best) skipped.push({ name: s.name, why: `${s.attempt.reason}: slower on this machine's probe (${measured})` });
  const sel: BackendSelection & { timings: ProbeTiming[] } = {
    name: best.name, reason: `${best.attempt.reason}; fastest on this machine's probe at this run's size (${measured})`, skipped, timings,
  };
  if (best.attempt.threads !== undefined) sel.threads = best.attempt.threads;
  return sel;
}

/**
 * Makes the chosen backend tfjs's active one and says why. An explicit request that cannot be
 * met throws BackendError (with every attempt's reason); 'auto' only throws if nothing works.
 */
export async function selectBackend(request: BackendRequest = 'auto', opts: SelectOptions = {}): Promise<BackendSelection> {
  if (!BACKEND_REQUESTS.includes(request)) {
    throw new BackendError(`unknown backend '${String(request)}'; expected one of ${BACKEND_REQUESTS.join(', ')}`, request);
  }
  const order = request === 'auto' ? AUTO_ORDER : [request];
  const skipped: BackendSkip[] = [];
  for (const backend of order) {
    const r = await start(backend, skipped);
    if (r === null) continue;
    // A GPU is not faster by being a GPU: time it against the CPU path before keeping it.
    if (request === 'auto' && backend === 'webgpu' && opts.probe !== undefined) return selectFastestBackend(['webgpu', 'wasm'], opts.probe, skipped);
    const sel: BackendSelection = { name: backend, reason: r.reason, skipped };
    if (r.threads !== undefined) sel.threads = r.threads;
    return sel;
  }
  const detail = skipped.map((s) => `${s.name}: ${s.why}`).join('; ');
  throw new BackendError(
    request === 'auto' ? `no TensorFlow.js backend could start (${detail})` : `backend '${request}' is not available (${detail})`,
    request, skipped,
  );
}
