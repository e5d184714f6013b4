// Loads the optional oneDNN convolution addon (native/, built by `npm run build:native`). It is
// looked for next to the package: walking up from this module finds it both from src/ (tests,
// benches) and from the bundled dist/. Absent or unloadable means: train on the wasm kernels.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** What native/src/addon.cc exports. Geometry: [n, h, w, cin, oh, ow, cout, kh, kw, sh, sw, top, left]. */
export interface NativeConvAddon {
  /** pass 0: out = conv(a = x, b = w); 1: out = dx(a = dy, b = w); 2: out = dw(a = x, b = dy). */
  conv(pass: 0 | 1 | 2, geometry: number[], a: Float32Array, b: Float32Array, out: Float32Array): void;
  /** out[j] = Σ_r x[r·width + j] in float32, in row order (÷ rows when mean); absent in older builds. */
  sumRows?(x: Float32Array, rows: number, width: number, out: Float32Array, mean: boolean): void;
  /** The fused training kernels (src/backend/fused); absent in older builds. */
  bnActForward?(x: Float32Array, gamma: Float32Array, beta: Float32Array, eps: number, slope: number, y: Float32Array, mean: Float32Array, variance: Float32Array): void;
  bnActBackward?(
    dy: Float32Array, x: Float32Array, y: Float32Array, gamma: Float32Array, mean: Float32Array, variance: Float32Array,
    eps: number, slope: number, dx: Float32Array, dGamma: Float32Array, dBeta: Float32Array,
  ): void;
  activationBackward?(dy: Float32Array, y: Float32Array, slope: number, dx: Float32Array): void;
  leakyRelu?(x: Float32Array, alpha: number, y: Float32Array): void;
  /** hyper: [lr, beta1, beta2, eps, bc1, bc2]. */
  adam?(p: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, hyper: Float64Array, pOut: Float32Array, mOut: Float32Array, vOut: Float32Array): void;
  impl(pass: 0 | 1 | 2, geometry: number[]): string;
  setThreads(n: number): void;
  getThreads(): number;
  version(): string;
}

export type NativeLoad = { ok: true; addon: NativeConvAddon; file: string } | { ok: false; why: string };

export const ADDON_RELATIVE = path.join('native', 'build', 'Release', 'ganomaly_dnnl.node');

/** Env GANOMALY_NATIVE=0 turns the addon off (to compare against, or to rule it out). */
export function nativeDisabledByEnv(): boolean {
  return process.env.GANOMALY_NATIVE === '0';
}

function findAddon(): string | null {
  const explicit = process.env.GANOMALY_NATIVE_ADDON;
  if (explicit) return explicit;
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const candidate = path.join(dir, ADDON_RELATIVE);
    if (existsSync(candidate)) return candidate;
    const up = path.dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return null;
}

/** Env `variable` when set to a positive integer, else os.availableParallelism(). */
export function threadsFromEnv(variable: string): number {
  const n = Number(process.env[variable]);
  return Number.isInteger(n) && n > 0 ? n : os.availableParallelism();
}

/** os.availableParallelism(), or env GANOMALY_NATIVE_THREADS when set to a positive integer. */
export function nativeThreads(): number {
  return threadsFromEnv('GANOMALY_NATIVE_THREADS');
}

let loaded: NativeLoad | undefined;

/** Loads the addon once per process and sets its thread count to the machine's parallelism. */
export function loadNativeConv(): NativeLoad {
  if (loaded !== undefined) return loaded;
  if (nativeDisabledByEnv()) return (loaded = { ok: false, why: 'disabled by GANOMALY_NATIVE=0' });
  const file = findAddon();
  if (file === null) return (loaded = { ok: false, why: `not built (${ADDON_RELATIVE}; run npm run build:native)` });
  // libgomp reads this when the addon loads it. Spinning OpenMP workers fight whatever else runs
  // on a small machine (a second training, the data loader); sleeping costs microseconds per
  // convolution that takes milliseconds.
  process.env.OMP_WAIT_POLICY ??= 'PASSIVE';
  try {
    const addon = createRequire(import.meta.url)(file) as NativeConvAddon;
    addon.setThreads(nativeThreads());
    loaded = { ok: true, addon, file };
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    loaded = { ok: false, why: `failed to load ${file}: ${msg.split('\n')[0]!.slice(0, 160)}` };
  }
  return loaded;
}
