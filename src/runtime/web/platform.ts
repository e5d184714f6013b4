// The browser platform: onnxruntime-web sessions (WebGPU, WASM), models fetched by URL, WebCrypto.
import { sha256Hex } from '../core/sha256.js';
import { fetchModelFiles } from '../core/model-source.js';
import { createOrtHandle, type OrtModuleLike } from '../core/ort-adapter.js';
import type { InferenceHandle, RuntimePlatform } from '../core/platform.js';
import { decodeWebImage } from './decode.js';

export const WEB_DEFAULT_PROVIDERS = ['webgpu', 'wasm'] as const;

/** Where onnxruntime-web finds its .wasm/.mjs files: a folder URL, or one URL per file. */
export type WasmPaths = string | { wasm?: string | URL; mjs?: string | URL };

export interface OrtWebModuleLike extends OrtModuleLike {
  env: { wasm: { wasmPaths?: WasmPaths; numThreads?: number } };
}

export interface WebPlatformOptions {
  /** Default: the page's own folder, so the files are self-hosted next to the page, never a CDN. */
  wasmPaths?: WasmPaths;
  /** WASM threads; default ORT's (up to 4 when the page is cross-origin isolated, else 1). */
  numThreads?: number;
  sessionOptions?: Record<string, unknown>;
}

function pageFolder(): string | undefined {
  const href = (globalThis as { document?: { baseURI?: string } }).document?.baseURI ?? globalThis.location?.href;
  return href ? new URL('./', href).href : undefined;
}

// ORT web initialises its WASM module once per page; concurrent first sessions race on it, so
// sessions are created one after another (transformers.js does the same).
let creating: Promise<unknown> = Promise.resolve();

async function sha256(bytes: Uint8Array): Promise<string> {
  // crypto.subtle exists only in secure contexts (https, localhost); plain-http gateways get the JS one.
  const subtle = globalThis.crypto?.subtle;
  if (!subtle) return sha256Hex(bytes);
  const digest = await subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}

export function webPlatform(ort: OrtWebModuleLike, opts: WebPlatformOptions = {}): RuntimePlatform {
  return {
    name: 'web',
    defaultProviders: WEB_DEFAULT_PROVIDERS,
    createSession(model, provider) {
      // Settings apply when ORT loads its WASM (the first session of the page); set them each time anyway.
      const wasmPaths = opts.wasmPaths ?? pageFolder();
      if (wasmPaths !== undefined) ort.env.wasm.wasmPaths = wasmPaths;
      if (opts.numThreads !== undefined) ort.env.wasm.numThreads = opts.numThreads;
      const next = creating.then(() => createOrtHandle(ort, model, provider, opts.sessionOptions));
      creating = next.catch(() => undefined);
      return next as Promise<InferenceHandle>;
    },
    openModel: (ref) => fetchModelFiles(ref, globalThis.location?.href),
    sha256,
    decodeImage: decodeWebImage,
  };
}
