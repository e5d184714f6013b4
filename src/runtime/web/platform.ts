// The browser platform: onnxruntime-web sessions (WebGPU, WASM), models fetched by URL, WebCrypto.
import { sha256Hex } from '../core/sha256.js';
import { fetchModelFiles } from '../core/model-source.js';
import { createOrtHandle, type OrtModuleLike } from '../core/ort-adapter.js';
import type { ExecutionProvider, InferenceHandle, RuntimePlatform } from '../core/platform.js';
import { decodeWebImage } from './decode.js';

export const WEB_DEFAULT_PROVIDERS = ['webgpu', 'wasm'] as const;

/** Where onnxruntime-web finds its .wasm/.mjs files: a folder URL, or one URL per file. */
export type WasmPaths = string | { wasm?: string | URL; mjs?: string | URL };

export interface OrtWebModuleLike extends OrtModuleLike {
  env: { wasm: { wasmPaths?: WasmPaths; numThreads?: number } };
}

/**
 * Which onnxruntime-web build a page loads. 'wasm' (onnxruntime-web/wasm: 14 MB .wasm, the
 * smallest JS) when every provider asked for is WASM; otherwise 'webgpu' (onnxruntime-web/webgpu:
 * the WebGPU EP plus WASM, a 26.8 MB .wasm).
 */
export type OrtWebBuild = 'wasm' | 'webgpu';

const WASM_ONLY = new Set(['wasm', 'cpu']);

export function ortWebBuildFor(providers: readonly ExecutionProvider[]): OrtWebBuild {
  return providers.every((p) => WASM_ONLY.has(typeof p === 'string' ? p : p.name)) ? 'wasm' : 'webgpu';
}

/** Loads one onnxruntime-web build; bundlers split each into its own chunk, so a page fetches only one. */
export type OrtWebLoader = (build: OrtWebBuild) => Promise<OrtWebModuleLike>;

export interface WebPlatformOptions {
  /**
   * Where ORT loads its .wasm (and, in the extern-wasm builds, .mjs) files from. Default: ORT's own
   * resolution, `new URL(file, import.meta.url)`, which bundlers (Vite, webpack, esbuild with
   * --loader:.wasm=file) turn into self-hosted assets. Set it to self-host them elsewhere; never a CDN by default.
   */
  wasmPaths?: WasmPaths;
  /** WASM threads; default ORT's (up to 4 when the page is cross-origin isolated, else 1). */
  numThreads?: number;
  sessionOptions?: Record<string, unknown>;
}

// ORT web initialises its WASM module once per page; concurrent first sessions race on it, so
// sessions are created one after another (transformers.js does the same).
let creating: Promise<unknown> = Promise.resolve();

/** sha256 hex through WebCrypto, or the JS implementation where crypto.subtle is missing. */
export async function webSha256(bytes: Uint8Array): Promise<string> {
  // crypto.subtle exists only in secure contexts (https, localhost); plain-http gateways get the JS one.
  const subtle = globalThis.crypto?.subtle;
  if (!subtle) return sha256Hex(bytes);
  const digest = await subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}

export function webPlatform(loadOrt: OrtWebLoader, build: OrtWebBuild, opts: WebPlatformOptions = {}): RuntimePlatform {
  return {
    name: 'web',
    defaultProviders: WEB_DEFAULT_PROVIDERS,
    createSession(model, provider) {
      const next = creating.then(async () => {
        const ort = await loadOrt(build);
        // Settings apply when ORT loads its WASM (the first session of the page); set them each time anyway.
        if (opts.wasmPaths !== undefined) ort.env.wasm.wasmPaths = opts.wasmPaths;
        if (opts.numThreads !== undefined) ort.env.wasm.numThreads = opts.numThreads;
        return createOrtHandle(ort, model, provider, opts.sessionOptions);
      });
      creating = next.catch(() => undefined);
      return next as Promise<InferenceHandle>;
    },
    openModel: (ref, options) => fetchModelFiles(ref, globalThis.location?.href, options?.timeoutMs),
    sha256: webSha256,
    decodeImage: decodeWebImage,
  };
}
