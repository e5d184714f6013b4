// WebGPU in Node comes from the optional `webgpu` package (Dawn). Training on a software
// adapter (SwiftShader, llvmpipe/lavapipe) is far slower than the wasm backend, so only a
// hardware adapter is accepted — unless a test or bench opts in (allowSoftwareWebGpuAdapter), to
// check the WebGPU kernels' results on a machine without a GPU.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/** The adapter fields this check reads (GPUAdapterInfo plus Dawn's and older spellings). */
export interface AdapterFacts {
  vendor?: string;
  architecture?: string;
  device?: string;
  description?: string;
  /** Dawn reports 'cpu' | 'discrete GPU' | 'integrated GPU' | 'unknown'. */
  adapterType?: string;
  isFallbackAdapter?: boolean;
}

const SOFTWARE = /swiftshader|llvmpipe|lavapipe|softpipe|software|basic render|warp\b/i;

/** Null for a hardware adapter; otherwise why it is rejected. */
export function softwareAdapterReason(a: AdapterFacts): string | null {
  if (a.isFallbackAdapter === true) return 'software adapter (isFallbackAdapter)';
  if (a.adapterType !== undefined && /^cpu$/i.test(a.adapterType)) return 'software adapter (adapterType cpu)';
  const text = [a.vendor, a.architecture, a.device, a.description].filter(Boolean).join(' ');
  const m = SOFTWARE.exec(text);
  if (m !== null) return `software adapter (${m[0]})`;
  return null;
}

export function describeAdapter(a: AdapterFacts): string {
  const parts = [a.vendor, a.architecture, a.device, a.description].filter((s) => s !== undefined && s !== '');
  return parts.length > 0 ? [...new Set(parts)].join(' / ') : 'unnamed adapter';
}

/** Chromium ships SwiftShader as a Vulkan driver; Dawn accepts it where Mesa's lavapipe is refused. */
export const SWIFTSHADER_VULKAN_ICDS = ['/usr/lib/chromium/vk_swiftshader_icd.json', '/opt/google/chrome/vk_swiftshader_icd.json'];

let softwareAllowed = false;

/**
 * For tests and benches only: let probeNodeWebGpu accept a software adapter (its description then
 * says so). Where no Vulkan driver is chosen (VK_ICD_FILENAMES unset) and Chromium's SwiftShader
 * driver exists, Dawn is pointed at it: Dawn refuses Debian 12's lavapipe ("Vulkan
 * shaderUniform*ArrayDynamicIndexing required"). Must run before the first probe creates Dawn's
 * instance. Returns the driver file chosen, if any.
 */
export function allowSoftwareWebGpuAdapter(): string | undefined {
  softwareAllowed = true;
  if (process.env.VK_ICD_FILENAMES !== undefined) return process.env.VK_ICD_FILENAMES;
  const icd = SWIFTSHADER_VULKAN_ICDS.find((f) => existsSync(f));
  if (icd !== undefined) process.env.VK_ICD_FILENAMES = icd;
  return icd;
}

interface GpuLike {
  requestAdapter(o?: { powerPreference?: string }): Promise<AdapterLike | null>;
}
interface AdapterLike {
  info?: AdapterFacts;
  isFallbackAdapter?: boolean;
}

/** Loads `webgpu`, exposes it as navigator.gpu (what tfjs-backend-webgpu looks for) and probes it. */
export async function probeNodeWebGpu(): Promise<{ ok: true; adapter: string; software?: true } | { ok: false; why: string }> {
  const g = globalThis as { navigator?: { gpu?: GpuLike } };
  if (g.navigator?.gpu === undefined) {
    // Dawn needs the Vulkan loader on Linux; without it, it prints a native warning on every
    // probe and finds nothing. Checking first keeps `--backend auto` quiet on CPU-only machines.
    if (process.platform === 'linux' && !hasVulkanLoader()) {
      return { ok: false, why: 'no Vulkan loader (libvulkan.so.1) on this machine, so Dawn can see no GPU' };
    }
    const pkg = 'webgpu'; // a variable: optional, so neither the bundler nor tsc may resolve it
    let mod: { create: (flags: string[]) => GpuLike; globals: object };
    try {
      mod = (await import(pkg)) as typeof mod;
    } catch (e) {
      const missing = /cannot find (module|package)/i.test(firstLine(e));
      return {
        ok: false,
        why: missing
          ? `${pkg} is not installed (opt-in: npm install webgpu@0.6.2 @tensorflow/tfjs-backend-webgpu@4.22.0; needs libvulkan1 and the GPU vendor's Vulkan driver)`
          : `${pkg} package not loadable: ${firstLine(e)}`,
      };
    }
    // GPUBufferUsage, GPUMapMode, … are globals in browsers and are used by tfjs-backend-webgpu.
    for (const [k, v] of Object.entries(mod.globals)) {
      if (!(k in globalThis)) Object.defineProperty(globalThis, k, { value: v, configurable: true, writable: true });
    }
    const gpu = mod.create([]);
    if (g.navigator === undefined) g.navigator = { gpu };
    else Object.defineProperty(g.navigator, 'gpu', { value: gpu, configurable: true });
  }
  const adapter = await g.navigator!.gpu!.requestAdapter({ powerPreference: 'high-performance' });
  if (adapter === null) {
    // Seen on a Linux GPU server: Dawn needs the Vulkan loader (libvulkan1) and, for NVIDIA's
    // Vulkan driver, libglvnd (libGLdispatch); without them it finds no adapter at all.
    return { ok: false, why: 'no WebGPU adapter (Dawn found no GPU driver; on Linux it needs libvulkan1 and the GPU vendor\'s Vulkan driver)' };
  }
  // GPUAdapterInfo fields are prototype getters: copy them one by one (a spread sees none).
  const i = adapter.info ?? {};
  const facts: AdapterFacts = {
    vendor: i.vendor, architecture: i.architecture, device: i.device, description: i.description,
    adapterType: i.adapterType, isFallbackAdapter: i.isFallbackAdapter ?? adapter.isFallbackAdapter,
  };
  const soft = softwareAdapterReason(facts);
  if (soft !== null && !softwareAllowed) return { ok: false, why: `${soft}: ${describeAdapter(facts)}` };
  if (soft !== null) return { ok: true, adapter: `${describeAdapter(facts)} — ${soft}, allowed for tests/benches`, software: true };
  return { ok: true, adapter: describeAdapter(facts) };
}

/** The Vulkan loader in the dynamic linker's cache, or on LD_LIBRARY_PATH. */
export function hasVulkanLoader(): boolean {
  const dirs = [
    ...(process.env.LD_LIBRARY_PATH ?? '').split(':').filter(Boolean),
    '/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib64', '/usr/lib', '/lib/x86_64-linux-gnu', '/lib64', '/usr/local/lib',
  ];
  if (dirs.some((d) => existsSync(`${d}/libvulkan.so.1`))) return true;
  try {
    return /libvulkan\.so\.1/.test(execFileSync('ldconfig', ['-p'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }));
  } catch {
    return false;
  }
}

export function firstLine(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  return msg.split('\n')[0]!.slice(0, 200);
}
